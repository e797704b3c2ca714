using StarStudio.Cli;
using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Official;

/// <summary>`starstudio models add/list`, `convert`, `estimate`, run in-process.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class OfficialCliTests
{
    static async Task<(int Rc, string Out, string Err)> Run(params string[] args)
    {
        var (out_, err) = (new StringWriter(), new StringWriter());
        var (prevOut, prevErr) = (Console.Out, Console.Error);
        Console.SetOut(out_);
        Console.SetError(err);
        try { return (await CliApp.RunAsync(args), out_.ToString(), err.ToString()); }
        finally
        {
            Console.SetOut(prevOut);
            Console.SetError(prevErr);
        }
    }

    [Fact]
    public async Task ModelsAdd_WritesTheManifestThenGenerateUsesIt()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: true);
        var (rc, output, _) = await Run("models", "add", dir.Path, "--patch-nums", "1,2,3,4", "--name", "tiny");
        Assert.Equal(0, rc);
        Assert.Contains("star model", output);
        Assert.Contains("all", output); // "all N tensors match"
        Assert.Equal("tiny", ModelManifest.Load(dir.Path).Name);

        string png = Path.Combine(dir.Path, "out.png");
        (rc, _, var err) = await Run("generate", "--model", dir.Path, "-p", "a cat", "--seed", "3", "-o", png);
        Assert.True(rc == 0, err);
        Assert.True(File.Exists(png));
    }

    [Fact]
    public async Task Generate_OfficialModelSamplesWithItsPresetUnlessTold()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteStarFolder(dir.Path, sampler: true);
        Assert.Equal(0, (await Run("models", "add", dir.Path, "--patch-nums", "1,2,3,4")).Rc);
        var manifest = ModelManifest.Load(dir.Path);
        manifest.Preset = "star-d16-256-sampler"; // as if it were the released model: cfg 4, top-k 600, top-p 0.8, stable
        manifest.Save(dir.Path);

        string a = Path.Combine(dir.Path, "a.png"), b = Path.Combine(dir.Path, "b.png");
        Assert.Equal(0, (await Run("generate", "--model", dir.Path, "-p", "a cat", "-o", a)).Rc);
        Assert.Equal(0, (await Run("generate", "--model", dir.Path, "-p", "a cat", "--top-k", "7", "--cfg", "1.5", "-o", b)).Rc);
        var ma = Model.Generation.GenerationMetadata.FromPng(File.ReadAllBytes(a))!;
        var mb = Model.Generation.GenerationMetadata.FromPng(File.ReadAllBytes(b))!;
        Assert.Equal((4.0, 64, 0.8), (ma.Cfg, ma.TopK, ma.TopP)); // top-k 600 capped at this model's 64 codes
        Assert.Equal((1.5, 7, 0.8), (mb.Cfg, mb.TopK, mb.TopP));
    }

    [Fact]
    public async Task ModelsAdd_MismatchPrintsTheReportAndExits2()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteVarFolder(dir.Path);
        var (rc, output, err) = await Run("models", "add", dir.Path, "--preset", "var-d20");
        Assert.Equal(2, rc);
        Assert.Contains("FAIL", output);
        Assert.Contains("pos_start: checkpoint [1, 1, 128] vs module [1, 1, 1280]", output);
        Assert.Contains("was not added", err);
        Assert.False(File.Exists(Path.Combine(dir.Path, ModelManifest.FileName)));
    }

    [Fact]
    public async Task Convert_FolderAndSingleFile()
    {
        using var dir = new TempDir();
        OfficialFiles.WriteVarFolder(dir.Path);
        Assert.Equal(0, (await Run("models", "add", dir.Path, "--patch-nums", "1,2,3,4")).Rc);
        var (rc, output, _) = await Run("convert", dir.Path);
        Assert.Equal(0, rc);
        Assert.Contains("transformer.safetensors", output);
        Assert.Equal("vqvae.safetensors", ModelManifest.Load(dir.Path).Files[ModelFileRoles.VqVae]);

        string single = Path.Combine(dir.Path, "single.safetensors");
        (rc, _, _) = await Run("convert", Path.Combine(dir.Path, "var_d2.pth"), "-o", single);
        Assert.Equal(0, rc);
        Assert.Equal(CheckpointFormat.Safetensors, CheckpointFile.DetectFormat(single));
    }

    [Fact]
    public async Task ModelsList_ShowsStatusOfEachFolder()
    {
        using var root = new TempDir();
        OfficialFiles.WriteVarFolder(Path.Combine(root.Path, "var-raw"));
        var (rc, output, _) = await Run("models", "list", "--root", root.Path);
        Assert.Equal(0, rc);
        Assert.Contains("var-raw", output);
        Assert.Contains("needs", output);
        Assert.Contains("1 model folder(s)", output);
    }

    [Fact]
    public async Task Estimate_PrintsTheMemoryBreakdown()
    {
        var (rc, output, _) = await Run("estimate", "--preset", "var-d16", "--no-measure");
        Assert.True(rc is 0 or 3);
        Assert.Contains("KV cache (2 rows x 680 tokens)", output);
        Assert.Contains("peak", output);
        var (bad, _, err) = await Run("estimate", "--preset", "var-d17", "--no-measure");
        Assert.Equal(2, bad);
        Assert.Contains("Unknown preset 'var-d17'", err);
    }
}
