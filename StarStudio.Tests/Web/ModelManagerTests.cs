using Bunit;
using StarStudio.Model.Generation;
using StarStudio.Model.Models;
using StarStudio.Tests.Official;
using StarStudio.Web.Components.Pages;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The model manager page (/models) on a real host whose model root holds real tiny model folders.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class ModelManagerTests : PageTestContext
{
    static readonly TimeSpan Slow = TimeSpan.FromSeconds(30);

    static long FolderBytes(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    IRenderedComponent<Models> RenderLoaded()
    {
        var cut = Render<Models>();
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("#catalog, #no-models")), Slow); // listed off the render thread
        return cut;
    }

    [Fact]
    public void List_ShowsEachFolderWithSizeKindStatusAndEstimate()
    {
        HostFixture.SaveModel("tiny-var");
        var raw = Path.Combine(HostFixture.ModelRoot, "raw");
        Directory.CreateDirectory(raw);
        File.WriteAllBytes(Path.Combine(raw, "var_d16.pth"), [1, 2, 3]);
        var broken = Path.Combine(HostFixture.ModelRoot, "broken");
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, "model.json"), "{ not json");

        var cut = RenderLoaded();

        var ready = cut.Find("tr[data-model='tiny-var']");
        Assert.Contains("var", ready.TextContent);
        Assert.Equal("ready", ready.QuerySelector(".ss-status")!.TextContent.Trim());
        string folder = Path.Combine(HostFixture.ModelRoot, "tiny-var");
        Assert.Contains(MemoryEstimate.Format(FolderBytes(folder)), ready.TextContent);
        // The estimate is at least the runtime allowance plus the weights on disk (fp32 safetensors).
        var estimate = MemoryEstimator.ForManifest(Model.Checkpoints.ModelManifest.Load(folder), folder);
        Assert.True(estimate.TotalBytes > FolderBytes(folder));
        Assert.Equal(MemoryEstimate.Format(estimate.TotalBytes), ready.QuerySelector(".ss-memory")!.TextContent.Trim());
        Assert.Empty(ready.QuerySelectorAll(".ss-too-big")); // 64 GiB assumed available in tests
        Assert.Equal("64.0 GiB", cut.Find("#available-memory").TextContent);
        Assert.Contains("needs import", cut.Find("tr[data-model='raw'] .ss-status").TextContent);
        Assert.StartsWith("invalid", cut.Find("tr[data-model='broken'] .ss-status").TextContent.Trim());
        Assert.NotEmpty(cut.Find("tr[data-model='broken'] .ss-problem").TextContent);
    }

    [Fact]
    public async Task Load_MakesItTheActiveModelAndGenerationsUseIt()
    {
        HostFixture.SaveModel("tiny-var");
        var cut = RenderLoaded();
        cut.Find("tr[data-model='tiny-var'] .ss-load").Click();

        cut.WaitForAssertion(() => Assert.Contains("Loaded tiny-var", cut.Find("#models-message").TextContent), Slow);
        var host = HostFixture.Host;
        Assert.Equal("tiny-var", host.ActiveModel);
        Assert.Equal(["tiny-star", "tiny-var"], host.Models.Select(m => m.Name));
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("tr[data-loaded='tiny-var'] .ss-active")));

        // A request naming no model now draws with the class-conditional tiny-var: the same tokens as that model
        // generating directly, and its name in the image's parameters.
        var request = new GenerationRequest { ClassLabels = [3], Seed = 7, Cfg = 2 };
        var frames = new List<WebFrame>();
        var final = await host.Submit(request).RunToEndAsync(u => { if (u is JobFrame f) frames.Add(f.Frame); return Task.CompletedTask; });
        var done = Assert.IsType<JobCompleted>(final);
        Assert.Equal("tiny-var", done.Result.Metadata[0].Model);
        using var direct = ModelStore.Load(Path.Combine(HostFixture.ModelRoot, "tiny-var"));
        var expected = new GenerationPipeline(direct).Generate(request).Select(f => f.Tokens[0]).ToArray();
        Assert.Equal(expected, frames.Select(f => f.Tokens[0]).ToArray());
        // The startup model still serves requests that name it.
        var star = await host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 1 }, model: "tiny-star").RunToEndAsync();
        Assert.Equal("tiny-star", Assert.IsType<JobCompleted>(star).Result.Metadata[0].Model);
    }

    [Fact]
    public async Task Load_ShowsProgressWhileGenerationsGoOn()
    {
        HostFixture.SaveModel("tiny-var");
        using var reached = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        HostFixture.Host.LoadProgressHook = p =>
        {
            if (p.Fraction < 0.1 || reached.IsSet) return;
            reached.Set();
            release.Wait(Slow); // the load thread waits half-way
        };
        var cut = RenderLoaded();
        cut.Find("tr[data-model='tiny-var'] .ss-load").Click();
        Assert.True(reached.Wait(Slow));
        try
        {
            cut.WaitForAssertion(() => Assert.Contains("Loading tiny-var", cut.Find("#load-progress").TextContent));
            Assert.NotNull(cut.Find("#load-progress .mud-progress-linear"));
            Assert.True(cut.Find("tr[data-model='tiny-var'] .ss-load").HasAttribute("disabled"));
            // Meanwhile the startup model keeps serving.
            var done = await HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 9 }).RunToEndAsync();
            Assert.Equal("tiny-star", Assert.IsType<JobCompleted>(done).Result.Metadata[0].Model);
        }
        finally { release.Set(); }

        cut.WaitForAssertion(() => Assert.Contains("Loaded tiny-var", cut.Find("#models-message").TextContent), Slow);
        Assert.Empty(cut.FindAll("#load-progress"));
    }

    [Fact]
    public void Load_RefusesWithTheEstimateWhenMemoryIsShort()
    {
        HostFixture.SaveModel("tiny-var");
        HostFixture.Options.AssumeAvailableMemoryMiB = 100;
        var cut = RenderLoaded();
        cut.Find("tr[data-model='tiny-var'] .ss-load").Click();

        Assert.Contains("more than the 100 MiB available", cut.Find("tr[data-model='tiny-var'] .ss-memory").TextContent);
        cut.WaitForAssertion(() => Assert.Contains("Not enough memory", cut.Find("#models-message").TextContent), Slow);
        Assert.Contains("only 100 MiB is available", cut.Find("#models-message").TextContent);
        Assert.Equal(["tiny-star"], HostFixture.Host.Models.Select(m => m.Name));
        Assert.Equal("tiny-star", HostFixture.Host.ActiveModel);
        Assert.Null(HostFixture.Host.Loading);
    }

    [Fact]
    public async Task Load_BrokenWeights_SaysWhyAndTheAppKeepsServing()
    {
        HostFixture.SaveModel("tiny-var");
        var weights = Directory.GetFiles(Path.Combine(HostFixture.ModelRoot, "tiny-var"), "*.safetensors").Order().First();
        var bytes = await File.ReadAllBytesAsync(weights, Xunit.TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(weights, bytes[..(bytes.Length / 2)], Xunit.TestContext.Current.CancellationToken); // cut short
        var cut = RenderLoaded();
        cut.Find("tr[data-model='tiny-var'] .ss-load").Click();

        cut.WaitForAssertion(() => Assert.Contains("Could not load 'tiny-var'", cut.Find("#models-message").TextContent), Slow);
        Assert.Equal(["tiny-star"], HostFixture.Host.Models.Select(m => m.Name));
        Assert.Null(HostFixture.Host.Loading);
        var done = await HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 1 }).RunToEndAsync();
        Assert.IsType<JobCompleted>(done);
    }

    [Fact]
    public void Load_PathOutsideTheModelFolders_IsRefused()
    {
        using var outside = new TempFolder();
        using (var model = RandomModels.Create("tiny-var")) ModelStore.Save(model, outside.Path);
        var cut = RenderLoaded();

        foreach (var path in new[] { outside.Path, Path.Combine("..", "..", Path.GetFileName(outside.Path)) })
        {
            cut.Find("#folder-field input").Change(path);
            cut.Find("#load-folder").Click();
            cut.WaitForAssertion(() => Assert.Contains("is not a model folder inside the configured model roots", cut.Find("#models-message").TextContent));
        }
        Assert.Equal(["tiny-star"], HostFixture.Host.Models.Select(m => m.Name));
    }

    [Fact]
    public void Import_OfficialVarFiles_WritesTheManifestAndShowsTheReport()
    {
        OfficialFiles.WriteVarFolder(Path.Combine(HostFixture.ModelRoot, "var-official"));
        var cut = RenderLoaded();
        Assert.Contains("needs import", cut.Find("tr[data-model='var-official'] .ss-status").TextContent);

        cut.Find("#schedule-field input").Change("1,2,3,4");
        cut.Find("tr[data-model='var-official'] .ss-import").Click();

        cut.WaitForAssertion(() => Assert.Contains("model.json written", cut.Find("#models-message").TextContent), Slow);
        var report = cut.Find("#import-report").TextContent;
        Assert.Contains("var model", report);
        Assert.DoesNotContain("FAIL", report);
        cut.WaitForAssertion(() => Assert.Equal("ready", cut.Find("tr[data-model='var-official'] .ss-status").TextContent.Trim()));
    }

    [Fact]
    public void Import_WithAScheduleThatIsNotANumber_SaysWhy()
    {
        OfficialFiles.WriteVarFolder(Path.Combine(HostFixture.ModelRoot, "var-official"));
        var cut = RenderLoaded();
        cut.Find("#schedule-field input").Change("1,two");
        cut.Find("tr[data-model='var-official'] .ss-import").Click();
        cut.WaitForAssertion(() => Assert.Contains("'two' is not a positive whole number", cut.Find("#models-message").TextContent));
    }

    [Fact]
    public async Task Unload_FallsBackToTheStartupModelAndKeepsTheLastOne()
    {
        HostFixture.SaveModel("tiny-var");
        await HostFixture.Host.LoadModelAsync("tiny-var");
        var cut = RenderLoaded();
        cut.Find("tr[data-loaded='tiny-var'] .ss-unload").Click();

        cut.WaitForAssertion(() => Assert.Contains("Unloaded tiny-var", cut.Find("#models-message").TextContent));
        Assert.Equal("tiny-star", HostFixture.Host.ActiveModel);
        await cut.InvokeAsync(() => cut.Find("tr[data-loaded='tiny-star'] .ss-unload").Click()); // the table may still be re-rendering
        cut.WaitForAssertion(() => Assert.Contains("the only loaded model", cut.Find("#models-message").TextContent));
        Assert.Equal(["tiny-star"], HostFixture.Host.Models.Select(m => m.Name));
    }
}
