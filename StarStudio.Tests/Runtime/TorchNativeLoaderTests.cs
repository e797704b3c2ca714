using StarStudio.Model.Runtime;
using TorchSharp;

namespace StarStudio.Tests.Runtime;

public class TorchNativeLoaderTests
{
    static string GlueLibrary()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"expected TorchSharp's native library at {path}");
        return path;
    }

    [Fact]
    public void ReadNeeds_ListsLibStdCxxVersionsOfTheRealLibrary()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ELF libraries exist only on Linux.");
        var needs = ElfVersionNeeds.ReadNeeds(File.ReadAllBytes(GlueLibrary()));
        var cxx = needs.Where(n => n.File == "libstdc++.so.6").Select(n => n.Version).ToList();
        Assert.Contains("GLIBCXX_3.4.32", cxx);
        Assert.Contains("GLIBCXX_3.4.30", cxx);
        Assert.Contains(needs, n => n.File == "libc.so.6" && n.Version == "GLIBC_2.2.5");
        Assert.All(needs, n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void MarkWeak_SetsOnlyTheChosenFlagOnACopy()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ELF libraries exist only on Linux.");
        byte[] original = File.ReadAllBytes(GlueLibrary());
        byte[] copy = (byte[])original.Clone();
        var target = ElfVersionNeeds.ReadNeeds(copy).Single(n => n.Version == "GLIBCXX_3.4.32");

        ElfVersionNeeds.MarkWeak(copy, [target]);

        var after = ElfVersionNeeds.ReadNeeds(copy);
        Assert.True(after.Single(n => n.Version == "GLIBCXX_3.4.32").IsWeak);
        Assert.Equal(after.Count - 1, after.Count(n => !n.IsWeak));
        // Exactly one byte differs: the low byte of that vna_flags field.
        var diffs = Enumerable.Range(0, copy.Length).Where(i => copy[i] != original[i]).ToList();
        Assert.Equal([(int)target.FlagsOffset], diffs);
        Assert.Equal(original, File.ReadAllBytes(GlueLibrary()));
    }

    [Fact]
    public void SymbolsWithVersion_FindsTheLinkTimeMarkerOnly()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ELF libraries exist only on Linux.");
        byte[] elf = File.ReadAllBytes(GlueLibrary());
        var need = ElfVersionNeeds.ReadNeeds(elf).Single(n => n.Version == "GLIBCXX_3.4.32");
        Assert.Equal(["_ZSt21ios_base_library_initv"], ElfVersionNeeds.SymbolsWithVersion(elf, need.Index));
    }

    [Fact]
    public void PlanPatch_DetectsWhatTheSystemLibStdCxxLacks()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ELF libraries exist only on Linux.");
        string? libstdcxx = TorchNativeLoader.FindLoadedLibStdCxx();
        Assert.NotNull(libstdcxx);
        byte[] glue = File.ReadAllBytes(GlueLibrary());
        var provided = ElfVersionNeeds.ReadDefinitions(File.ReadAllBytes(libstdcxx));
        Assert.Contains("GLIBCXX_3.4.9", provided);

        var plan = TorchNativeLoader.PlanPatch(glue, File.ReadAllBytes(libstdcxx));

        var expected = ElfVersionNeeds.ReadNeeds(glue)
            .Where(n => n.File == "libstdc++.so.6" && !provided.Contains(n.Version)).Select(n => n.Version);
        Assert.Equal(expected, plan.Select(p => p.Version));
        // Once those needs are weak (the patched copy), the planner finds nothing left to do.
        byte[] patched = (byte[])glue.Clone();
        ElfVersionNeeds.MarkWeak(patched, plan);
        Assert.Empty(TorchNativeLoader.PlanPatch(patched, File.ReadAllBytes(libstdcxx)));
    }

    [Fact]
    public void Ensure_LoadsTorchAndRunsAMatmul()
    {
        var status = TorchNativeLoader.Ensure();
        using var a = torch.ones(3, 4);
        using var b = torch.ones(4, 2);
        using var c = torch.matmul(a, b);
        Assert.Equal(4f, c[1, 1].item<float>());
        if (status.Patched) Assert.True(File.Exists(status.PatchedLibraryPath));
    }

    [Fact]
    public void ReadNeeds_RejectsAFileThatIsNotElf()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.ReadNeeds(new byte[100]));
    }
}
