// Makes TorchSharp load on Linux systems whose libstdc++ is older than the one TorchSharp's glue
// library (libLibTorchSharp.so) was linked against. TorchSharp 0.107 declares a need for
// GLIBCXX_3.4.32 only because of the GCC 13 link-time marker std::ios_base_library_init, which no
// relocation calls. Debian 12 and Ubuntu 22.04 stop at GLIBCXX_3.4.30, so the library refuses to load.
// Fix: mark that version need weak (VER_FLG_WEAK) in a private copy, and point TorchSharp at the copy.
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace StarStudio.Model.Runtime;

/// <summary>What <see cref="TorchNativeLoader.Ensure"/> found and did.</summary>
public sealed record TorchNativeStatus(bool Patched, string Message, string? PatchedLibraryPath = null);

public static class TorchNativeLoader
{
    /// <summary>Symbols whose missing version is known to be harmless: link-time markers never called at run time.</summary>
    static readonly HashSet<string> HarmlessSymbols = ["_ZSt21ios_base_library_initv"];

    const string GlueFileName = "libLibTorchSharp.so";
    static readonly Lock Gate = new();
    static TorchNativeStatus? _status;
    static IntPtr _patchedHandle;

    /// <summary>The outcome of the first call, or null before it.</summary>
    public static TorchNativeStatus? Status => _status;

    /// <summary>
    /// Call once before the first torch call. Does nothing on systems that don't need the fix (Windows,
    /// macOS, a libstdc++ new enough); otherwise patches a private copy and reports one line through log.
    /// </summary>
    public static TorchNativeStatus Ensure(Action<string>? log = null)
    {
        lock (Gate)
        {
            if (_status is not null) return _status;
            HoldCpuKernelsToAvx2();
            _status = Apply();
            if (_status.Patched) (log ?? (m => Console.Error.WriteLine(m)))(_status.Message);
            return _status;
        }
    }

    /// <summary>
    /// libtorch 2.10's oneDNN convolution backward returns wrong (at times NaN) input gradients on machines of this
    /// project's kind (AMD EPYC with AVX-512 BF16) when a conv's output channels are not a multiple of oneDNN's
    /// channel block: 16 with AVX-512, 8 with AVX2. Vae.SafeConv2d is the fix (it pads the channels); holding oneDNN to
    /// AVX2 was the first mitigation and stays, as it costs no measurable speed here. oneDNN reads ONEDNN_MAX_CPU_ISA
    /// once, when torch first runs a kernel, from the native environment, so it is set there (setenv; .NET's own
    /// environment block is not the C library's) unless the user chose a value.
    /// </summary>
    static void HoldCpuKernelsToAvx2()
    {
        if (!OperatingSystem.IsLinux()) return;
        // oneDNN runs the convolutions; MKL the matrix products of their fallback path (a 4 -> 4 conv at 8x8 gave NaN
        // gradients in 1 of 8 tries until MKL too was held to AVX2: most likely the same channel-block bug).
        foreach (var (name, value) in new[] { ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2") })
        {
            if (Environment.GetEnvironmentVariable(name) is not null) continue;
            try { SetEnv(name, value, 0); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return; }
        }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    static TorchNativeStatus Apply()
    {
        if (!OperatingSystem.IsLinux()) return new(false, "Not Linux: TorchSharp loads as shipped.");
        string? glue = FindGlueLibrary();
        if (glue is null) return new(false, "libLibTorchSharp.so not found beside the application (CUDA or custom layout): left to TorchSharp.");
        string? libstdcxx = FindLoadedLibStdCxx();
        if (libstdcxx is null) return new(false, "libstdc++.so.6 not found: left to TorchSharp.");

        byte[] elf = File.ReadAllBytes(glue);
        var plan = PlanPatch(elf, File.ReadAllBytes(libstdcxx));
        if (plan.Count == 0) return new(false, $"{libstdcxx} provides every version {glue} needs: no fix required.");

        ElfVersionNeeds.MarkWeak(elf, plan);
        string copy = WritePrivateCopy(elf);
        PreloadDependencies(Path.GetDirectoryName(glue)!);
        _patchedHandle = NativeLibrary.Load(copy);
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, ResolveGlue);
        string versions = string.Join(", ", plan.Select(p => p.Version));
        return new(true,
            $"StarStudio: this system's libstdc++ lacks {versions}; loaded a patched copy of TorchSharp's native library from {copy} (version need marked weak; the original is untouched).",
            copy);
    }

    /// <summary>
    /// The libstdc++ version needs of <paramref name="glueElf"/> that <paramref name="libStdCxxElf"/> does not define.
    /// Empty when nothing needs fixing. Throws when a missing version is bound to a symbol that could really be called.
    /// </summary>
    public static IReadOnlyList<ElfVersionNeed> PlanPatch(byte[] glueElf, byte[] libStdCxxElf)
    {
        var provided = ElfVersionNeeds.ReadDefinitions(libStdCxxElf);
        var missing = ElfVersionNeeds.ReadNeeds(glueElf)
            .Where(n => n.File.StartsWith("libstdc++", StringComparison.Ordinal) && !n.IsWeak && !provided.Contains(n.Version))
            .ToList();
        foreach (var need in missing)
        {
            var unsafeSymbols = ElfVersionNeeds.SymbolsWithVersion(glueElf, need.Index).Where(s => !HarmlessSymbols.Contains(s)).ToList();
            if (unsafeSymbols.Count > 0)
                throw new PlatformNotSupportedException(
                    $"TorchSharp's native library needs {need.Version} from libstdc++, which this system lacks, for symbols that may be called ({string.Join(", ", unsafeSymbols.Take(5))}). Install a newer libstdc++ (GCC 13 or later).");
        }
        return missing;
    }

    static IntPtr ResolveGlue(string name, Assembly assembly, DllImportSearchPath? path) =>
        name is "LibTorchSharp" or "libLibTorchSharp" or GlueFileName ? _patchedHandle : IntPtr.Zero;

    /// <summary>Under the user's cache folder, named by content hash so several versions can coexist.</summary>
    static string WritePrivateCopy(byte[] patched)
    {
        string hash = Convert.ToHexString(SHA256.HashData(patched))[..16].ToLowerInvariant();
        string root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        string dir = Path.Combine(root, "starstudio", "native", hash);
        string target = Path.Combine(dir, GlueFileName);
        if (File.Exists(target) && new FileInfo(target).Length == patched.Length) return target;
        Directory.CreateDirectory(dir);
        string temp = target + "." + Environment.ProcessId + ".tmp";
        File.WriteAllBytes(temp, patched);
        File.Move(temp, target, overwrite: true);
        return target;
    }

    /// <summary>The copy's RUNPATH ($ORIGIN) no longer reaches libtorch, so load its dependencies first by full path.</summary>
    static void PreloadDependencies(string nativeDir)
    {
        foreach (var lib in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            string full = Path.Combine(nativeDir, lib);
            if (File.Exists(full)) NativeLibrary.Load(full);
        }
    }

    static string? FindGlueLibrary()
    {
        string[] roots = [AppContext.BaseDirectory, Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? ""];
        foreach (var root in roots.Where(r => r.Length > 0).Distinct())
        {
            foreach (var candidate in new[]
                     {
                         Path.Combine(root, GlueFileName),
                         Path.Combine(root, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", GlueFileName),
                         Path.Combine(root, "runtimes", "linux-x64", "native", GlueFileName),
                     })
            {
                if (File.Exists(candidate) && HasLibTorchBeside(candidate)) return candidate;
            }
        }
        return null;
    }

    static bool HasLibTorchBeside(string glue) => File.Exists(Path.Combine(Path.GetDirectoryName(glue)!, "libtorch_cpu.so"));

    /// <summary>The libstdc++ this process uses: loaded (or loaded now), then found in /proc/self/maps.</summary>
    internal static string? FindLoadedLibStdCxx()
    {
        NativeLibrary.TryLoad("libstdc++.so.6", out _);
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                string path = line[slash..];
                if (Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        return null;
    }
}
