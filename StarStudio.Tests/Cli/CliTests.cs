using StarStudio.Cli;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;

namespace StarStudio.Tests.Cli;

/// <summary>The real `starstudio` entry point, run in-process.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class CliTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "starstudio-cli-" + Guid.NewGuid().ToString("N"));
    public CliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Generate_WritesAPngWithItsParametersAndOneFramePerScale()
    {
        string png = Path.Combine(_dir, "out.png"), frames = Path.Combine(_dir, "frames");
        int rc = await CliApp.RunAsync(["generate", "--random", "tiny-star", "-p", "a red circle", "--seed", "7", "--cfg", "2.5", "--top-k", "10", "-o", png, "--frames", frames]);
        Assert.Equal(0, rc);
        var meta = GenerationMetadata.FromPng(File.ReadAllBytes(png));
        Assert.NotNull(meta);
        Assert.Equal(("a red circle", 7L, 2.5, 10), (meta.Prompt, meta.Seed, meta.Cfg, meta.TopK));
        Assert.Equal(4, Directory.GetFiles(frames, "*.png").Length);
        Assert.Equal(8, PngWriter.Decode(File.ReadAllBytes(png)).Width);
    }

    [Fact]
    public async Task Generate_AbsurdParameterFailsWithAClearMessageAndExitCode2()
    {
        var err = new StringWriter();
        var previous = Console.Error;
        Console.SetError(err);
        try
        {
            int rc = await CliApp.RunAsync(["generate", "--random", "tiny-star", "-p", "x", "--cfg", "99", "-o", Path.Combine(_dir, "x.png")]);
            Assert.Equal(2, rc);
        }
        finally { Console.SetError(previous); }
        Assert.Contains("CFG must be between 0 and 20", err.ToString());
        Assert.False(File.Exists(Path.Combine(_dir, "x.png")));
    }

    [Fact]
    public async Task Inspect_ListsTensorsOfASavedModel()
    {
        using (var model = RandomModels.Create("tiny-star")) ModelStore.Save(model, _dir);
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        int rc;
        try { rc = await CliApp.RunAsync(["inspect", Path.Combine(_dir, "transformer.safetensors")]); }
        finally { Console.SetOut(previous); }
        Assert.Equal(0, rc);
        Assert.Contains("head_logits.weight", output.ToString());
        Assert.Contains("parameters", output.ToString());
    }
}
