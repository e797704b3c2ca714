using System.Diagnostics;
using static TorchSharp.torch;

namespace StarStudio.Model.Benchmarks;

public static class Roofline
{
    /// <summary>Median GFLOP/s of an n x n x n fp32 matmul on the device (the roofline benchmarks compare against).</summary>
    public static double MatmulGflops(Device device, int n = 2048, int repeats = 7)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = randn(n, n, device: device);
        var b = randn(n, n, device: device);
        matmul(a, b).Dispose(); // warm-up: thread pool and allocator
        var rates = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            using var c = matmul(a, b);
            if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
            rates.Add(2.0 * n * n * n / sw.Elapsed.TotalSeconds / 1e9);
        }
        return Stats.Median(rates);
    }
}

public static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

public static class ProcessMemory
{
    /// <summary>Peak resident set size of this process in MiB (Linux VmHWM), or the working set elsewhere.</summary>
    public static double PeakRssMiB()
    {
        if (OperatingSystem.IsLinux())
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        }
        return Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
    }

    public static double CurrentRssMiB()
    {
        if (OperatingSystem.IsLinux())
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        }
        return Process.GetCurrentProcess().WorkingSet64 / (1024.0 * 1024.0);
    }
}
