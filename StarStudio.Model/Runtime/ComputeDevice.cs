using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Model.Runtime;

/// <summary>Numeric precision of the transformer's weights and activations.</summary>
public enum Precision
{
    Float32,
    /// <summary>CUDA only: this project's CPU runs bf16 matmuls hundreds of times slower than fp32.</summary>
    BFloat16,
    /// <summary>CUDA only.</summary>
    Float16,
}

/// <summary>Chooses where tensors live: CUDA when a CUDA backend is present and asked for (or "auto"), else the CPU.</summary>
public static class ComputeDevice
{
    /// <summary>"auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".</summary>
    public static Device Resolve(string? requested = "auto")
    {
        TorchNativeLoader.Ensure();
        string r = (requested ?? "auto").Trim().ToLowerInvariant();
        if (r is "auto" or "") return cuda.is_available() ? CUDA : CPU;
        if (r == "cpu") return CPU;
        if (r.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new InvalidOperationException(
                    "CUDA was requested but no CUDA device is usable: build with -p:StarStudioCuda=true (TorchSharp-cuda-linux/-windows) on a machine with an NVIDIA GPU, or use --device cpu.");
            return new Device(r);
        }
        throw new ArgumentException($"Unknown device '{requested}': use auto, cpu, cuda or cuda:N.");
    }

    public static ScalarType ScalarTypeFor(Precision precision, Device device)
    {
        if (precision != Precision.Float32 && device.type != DeviceType.CUDA)
            throw new ArgumentException($"{precision} runs only on CUDA: on the CPU it is hundreds of times slower than float32. Use float32.");
        return precision switch
        {
            Precision.BFloat16 => ScalarType.BFloat16,
            Precision.Float16 => ScalarType.Float16,
            _ => ScalarType.Float32,
        };
    }
}
