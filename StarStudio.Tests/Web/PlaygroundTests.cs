using Bunit;
using Microsoft.JSInterop;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Components.Pages;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The playground page in bUnit, on a real model host with the tiny random model.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class PlaygroundTests : PageTestContext
{
    [Fact]
    public void Controls_BindToTheRequest()
    {
        var cut = Render<Playground>();
        cut.Find("#prompt-field textarea").Input("a green star");
        cut.Find("#negative-field input").Change("blue");
        cut.Find("#cfg-field input").Change("2.5");
        cut.Find("#topk-field input").Change("40");
        cut.Find("#topp-field input").Change("0.5");
        cut.Find("#batch-field input").Change("3");
        cut.Find("#smooth-field input").Change(true);

        cut.WaitForAssertion(() => Assert.Equal("a green star", cut.Instance.Prompt));
        var r = cut.Instance.BuildRequest();
        Assert.Equal(["a green star", "a green star", "a green star"], r.Prompts);
        Assert.Equal(("blue", 2.5, 40, 0.5, true), (r.NegativePrompt, r.Cfg, r.TopK, r.TopP, r.MoreSmooth));
    }

    [Fact]
    public void Generate_RendersEveryScaleAsItArrives()
    {
        var cut = Render<Playground>();
        cut.Find("#prompt-field textarea").Input("a red circle");
        cut.Find("#generate").Click();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        var film = cut.FindAll(".ss-film-item");
        Assert.Equal(["0", "1", "2", "3"], film.Select(f => f.GetAttribute("data-scale")));
        Assert.Contains("4 · 4×4", film[^1].TextContent);
        // Each scale's PNG went to the browser as bytes, in scale order.
        var frames = JSInterop.InvocationsNow().Where(i => i.Identifier == "starstudio.frame").ToList();
        Assert.Equal([0, 1, 2, 3], frames.Select(i => (int)i.Arguments[0]!));
        Assert.All(frames, i => Assert.Equal(new byte[] { 137, 80, 78, 71 }, ((byte[])i.Arguments[2]!)[..4]));
        Assert.Contains("Inference time", cut.Find("#total").TextContent);
        Assert.Equal(1, HostFixture.History.Count());
        Assert.Equal(cut.Instance.Result!.Metadata[0].Seed, cut.Instance.Seed); // the used seed is shown
    }

    [Fact]
    public void Generate_FramesTheBrowserCannotTake_DoNotStopTheRun()
    {
        // As while the circuit's connection is down: JS calls fail (or time out) instead of drawing.
        JSInterop.SetupVoid("starstudio.frame", _ => true).SetException(new JSDisconnectedException("connection down"));
        var cut = Render<Playground>();
        cut.Find("#generate").Click();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        Assert.Equal(4, cut.FindAll(".ss-film-item").Count);
        Assert.Equal(1, HostFixture.History.Count());
        // Four scales, then the final image once more (it may have been lost).
        var frames = JSInterop.InvocationsNow().Where(i => i.Identifier == "starstudio.frame").Select(i => (int)i.Arguments[0]!).ToArray();
        Assert.Equal([0, 1, 2, 3, 3], frames);
    }

    [Fact]
    public void Validation_ShowsMessagesNextToTheControls()
    {
        var cut = Render<Playground>();
        cut.Find("#cfg-field input").Change("99");
        cut.Find("#topk-field input").Change("100000");
        cut.Find("#generate").Click();

        cut.WaitForAssertion(() => Assert.Contains("CFG must be between 0 and 20", cut.Find("#cfg-field").TextContent));
        Assert.Contains("Top-k must be between 0 (off) and the vocabulary size 64", cut.Find("#topk-field").TextContent);
        Assert.DoesNotContain("must be", cut.Find("#topp-field").TextContent);
        Assert.Equal(0, HostFixture.History.Count());
        Assert.Empty(cut.FindAll(".ss-film-item"));
    }

    [Fact]
    public async Task Stop_CancelsTheGeneration()
    {
        HostFixture.Host.Pause(); // keep the job in the queue so Stop has something to cancel
        var cut = Render<Playground>();
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.True(cut.Instance.Running));
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("#progress")));

        await cut.InvokeAsync(() => cut.Find("#stop").Click()); // find and click in one dispatch: frames re-render meanwhile
        cut.WaitForAssertion(() => Assert.False(cut.Instance.Running));
        // Running turns false before the render that shows the outcome: wait for that render too (it raced, now and then).
        cut.WaitForAssertion(() => Assert.Contains("Cancelled before it started", cut.Find("#outcome").TextContent));
        Assert.Equal(0, HostFixture.Host.QueueLength);
        HostFixture.Host.Resume();
        Assert.Equal(0, HostFixture.History.Count());
    }

    [Fact]
    public void Prompt_EmptyIsUnconditionalAndUnknownWordsAreFlagged()
    {
        var cut = Render<Playground>();
        Assert.Contains("Empty prompt: generates unconditionally", cut.Find("#prompt-field").TextContent);
        cut.Find("#prompt-field textarea").Input("a purple circle");
        cut.WaitForAssertion(() => Assert.Contains("purple", cut.Find("#unknown-words").TextContent));
        Assert.DoesNotContain("circle", cut.Find("#unknown-words").TextContent);
    }

    [Fact]
    public void Banner_SaysTheWeightsAreRandom()
    {
        var cut = Render<Playground>();
        Assert.Contains("Random weights (tiny-star)", cut.Find("#model-banner").TextContent);
    }

    [Fact]
    public void DroppedPng_RestoresItsParameters()
    {
        var meta = new GenerationMetadata
        {
            Model = "tiny-star", Prompt = "a blue star", NegativePrompt = "red", Seed = 31337, Cfg = 1.5, TopK = 12, TopP = 0.7, MoreSmooth = true,
        };
        var png = PngWriter.Encode(new RgbImage(1, 1, [1, 2, 3]), meta.ToPngText());
        var cut = Render<Playground>();
        cut.InvokeAsync(() => cut.Instance.OnPngDropped(png));

        cut.WaitForAssertion(() => Assert.Contains("Parameters restored", cut.Find(".ss-notice").TextContent));
        var r = cut.Instance.BuildRequest();
        Assert.Equal(["a blue star"], r.Prompts);
        Assert.Equal(("red", 31337L, 1.5, 12, 0.7, true), (r.NegativePrompt, r.Seed, r.Cfg, r.TopK, r.TopP, r.MoreSmooth));
        Assert.Equal(SeedMode.Fixed, cut.Instance.SeedMode);
        Assert.Equal("a blue star", cut.Find("#prompt-field textarea").GetAttribute("value") ?? cut.Find("#prompt-field textarea").TextContent);

        // Any other PNG changes nothing.
        cut.InvokeAsync(() => cut.Instance.OnPngDropped(PngWriter.Encode(new RgbImage(1, 1, [0, 0, 0]))));
        cut.WaitForAssertion(() => Assert.Contains("no StarStudio parameters", cut.Find(".ss-notice").TextContent));
        Assert.Equal(31337L, cut.Instance.BuildRequest().Seed);
    }

    [Fact]
    public async Task Queue_ShowsThePlaceAndKeepsItUpToDate()
    {
        HostFixture.Host.Pause();
        var ahead = HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 1, Cfg = 1 });
        var cut = Render<Playground>();
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.Contains("Queued: 1 ahead of you", cut.Find("#status").TextContent));

        HostFixture.Host.Resume();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        Assert.IsType<JobCompleted>(await ahead.RunToEndAsync());
        Assert.Equal(2, HostFixture.History.Count());
    }

    [Fact]
    public async Task Rerun_FromHistoryReproducesTheStoredImage()
    {
        var first = await HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a green triangle"], Seed = 99, Cfg = 2.5, TopK = 20 }).RunToEndAsync();
        long id = Assert.IsType<JobCompleted>(first).Result.HistoryIds.Single();

        Services.GetRequiredService<NavigationManager>().NavigateTo($"/?history={id}&run=true");
        var cut = Render<Playground>();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        var again = cut.Instance.Result!;
        Assert.Equal((99L, 2.5, 20, "a green triangle"), (again.Metadata[0].Seed, again.Metadata[0].Cfg, again.Metadata[0].TopK, again.Metadata[0].Prompt));
        Assert.Equal(PngWriter.Decode(HostFixture.History.GetPng(id)!).Pixels, PngWriter.Decode(again.Pngs[0]).Pixels);
        Assert.Equal(2, HostFixture.History.Count());
    }

    [Fact]
    public void Prompt_TooLongSaysItWillBeCut()
    {
        var cut = Render<Playground>();
        cut.Find("#prompt-field textarea").Input(string.Join(' ', Enumerable.Repeat("red circle", 20)));
        cut.WaitForAssertion(() => Assert.Contains("Too long: the end of the prompt is cut off", cut.Find("#prompt-field").TextContent));
    }
}

/// <summary>A model that cannot be loaded: the page says why and offers nothing that would fail.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class PlaygroundWithoutModelTests : BunitContext
{
    readonly TestHost _host = new(modelFolder: Path.Combine(Path.GetTempPath(), "starstudio-missing-" + Guid.NewGuid().ToString("N")));

    public PlaygroundWithoutModelTests()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        Services.AddSingleton(_host.Host);
        Services.AddSingleton(_host.History);
        Services.AddScoped<GenerationService>();
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _host.Dispose();
    }

    // See PageTestContext: xunit takes the async path, which reaches Dispose(bool) with disposing false.
    protected override async ValueTask DisposeAsyncCore()
    {
        await base.DisposeAsyncCore();
        _host.Dispose();
    }

    [Fact]
    public void FailedModelLoad_ShowsTheErrorAndDisablesGenerate()
    {
        var cut = Render<Playground>();
        Assert.Contains("The model could not be loaded", cut.Find("#model-banner").TextContent);
        Assert.NotNull(cut.Find("#generate").GetAttribute("disabled"));
    }
}

/// <summary>A generation that throws: its page says so, nothing else breaks.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class PlaygroundFaultTests : BunitContext
{
    readonly FailingModel _model = new();
    readonly TestHost _host;

    public PlaygroundFaultTests()
    {
        _host = new TestHost(loader: _model.Load);
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        Services.AddSingleton(_host.Host);
        Services.AddSingleton(_host.History);
        Services.AddScoped<GenerationService>();
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) { _host.Dispose(); _model.Dispose(); }
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        await base.DisposeAsyncCore();
        _host.Dispose();
        _model.Dispose();
    }

    [Fact]
    public async Task FailingGeneration_ShowsTheErrorAndTheNextRunWorks()
    {
        _model.Fail = true;
        var cut = Render<Playground>();
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.Contains("Generation failed: simulated fault at scale 3", cut.Find("#outcome").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal(2, cut.FindAll(".ss-film-item").Count); // the scales that made it stay visible

        _model.Fail = false;
        // Find and click in one dispatch: the failed run's last renders may still be replacing the button's handler
        // (CI once clicked a handler id that a re-render had just removed).
        await cut.InvokeAsync(() => cut.Find("#generate").Click());
        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        Assert.Equal(4, cut.FindAll(".ss-film-item").Count);
    }

    [Fact]
    public async Task Stop_DuringARun_StopsBeforeTheNextScale()
    {
        _model.Hold = true;
        var cut = Render<Playground>();
        cut.Find("#generate").Click();
        Assert.True(_model.AtScale3.Wait(TimeSpan.FromSeconds(30))); // the model thread is inside scale 3

        await cut.InvokeAsync(() => cut.Find("#stop").Click()); // find and click in one dispatch: frames re-render meanwhile
        _model.Release.Set();
        cut.WaitForAssertion(() => Assert.Contains("Stopped after scale 3 of 4", cut.Find("#outcome").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal(["0", "1", "2"], cut.FindAll(".ss-film-item").Select(f => f.GetAttribute("data-scale")));
        Assert.Equal(0, _host.History.Count());
    }
}
