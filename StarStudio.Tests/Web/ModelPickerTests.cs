using Bunit;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Components.Pages;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The playground's model picker, with a second text model loaded beside the startup one.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class ModelPickerTests : PageTestContext
{
    public ModelPickerTests()
    {
        HostFixture.SaveModel("tiny-star-sampler");
        HostFixture.Host.LoadModelAsync("tiny-star-sampler", activate: false).Wait(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Picker_ListsTheLoadedModelsWithTheActiveOneChosen()
    {
        var cut = Render<Playground>();
        var options = cut.FindAll("#model-select option");
        Assert.Equal(["tiny-star", "tiny-star-sampler"], options.Select(o => o.GetAttribute("value")));
        Assert.Equal("tiny-star", cut.Find("#model-select").GetAttribute("value"));
        Assert.Equal("tiny-star", cut.Instance.ModelName);
    }

    /// <summary>Loads a third model whose model.json recommends cfg 6, top-k 3, top-p 0.9, more smooth and stable sampling.</summary>
    async Task LoadTunedModelAsync()
    {
        string folder = Path.Combine(HostFixture.ModelRoot, "tuned");
        using (var model = RandomModels.Create("tiny-star-sampler"))
        {
            model.Recommended = new Model.Presets.SamplingDefaults(Cfg: 6, TopK: 3, TopP: 0.9, MoreSmooth: true, StableSampling: true);
            ModelStore.Save(model, folder);
        }
        string manifest = Path.Combine(folder, "model.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"name\": \"tiny-star-sampler\"", "\"name\": \"tuned\""));
        await HostFixture.Host.LoadModelAsync("tuned", activate: false);
    }

    [Fact]
    public async Task ChoosingAModel_StartsFromItsRecommendedSettings()
    {
        await LoadTunedModelAsync();
        var cut = Render<Playground>();
        Assert.Equal((4.0, 0, 0.8, false, false), Settings(cut.Instance)); // the active tiny-star recommends nothing
        Assert.Empty(cut.FindAll("#recommended-note"));
        Assert.Empty(cut.FindAll(".ss-smooth-note"));
        cut.Find("#model-select").Change("tuned");
        Assert.Contains("top-k and top-p do not apply", cut.Find(".ss-smooth-note").TextContent);
        Assert.Equal((6.0, 3, 0.9, true, true), Settings(cut.Instance));
        Assert.Equal("6", cut.Find("#cfg-field input").GetAttribute("value"));
        Assert.Contains("tuned's recommended settings", cut.Find("#recommended-note").TextContent);
        Assert.Empty(cut.FindAll("#use-recommended"));

        // Leaving them says what the model recommends, and one click goes back.
        cut.Find("#cfg-field input").Change("2");
        Assert.Contains("tuned recommends cfg 6 · top-k 3 · top-p 0.9 · smooth · stable", cut.Find("#recommended-note").TextContent);
        await cut.InvokeAsync(() => cut.Find("#use-recommended").Click());
        Assert.Equal((6.0, 3, 0.9, true, true), Settings(cut.Instance));
        Assert.True(cut.Instance.OnRecommended);

        static (double, int, double, bool, bool) Settings(Playground p) => (p.Cfg, p.TopK, p.TopP, p.MoreSmooth, p.StableSampling);
    }

    [Fact]
    public async Task Compare_QuickSetupsVaryTheChosenModelsRecommendedSettings()
    {
        await LoadTunedModelAsync();
        var cut = Render<Compare>();
        // tiny-star recommends nothing: StarStudio's general defaults.
        Assert.Equal([new SamplerSettings(Cfg: 2), new SamplerSettings(Cfg: 6)], cut.Instance.Columns);
        Assert.Contains("StarStudio's general defaults", cut.Find("#cmp-base").TextContent);

        cut.Find("#model-select").Change("tuned");
        var tuned = new SamplerSettings(Cfg: 6, TopK: 3, TopP: 0.9, MoreSmooth: true, StableSampling: true);
        Assert.Equal([tuned with { Cfg = 2 }, tuned], cut.Instance.Columns);
        Assert.Contains("tuned's recommended settings: cfg 6 · top-k 3 · top-p 0.9 · smooth · stable", cut.Find("#cmp-base").TextContent);

        await cut.InvokeAsync(() => cut.FindAll(".ss-preset").Single(b => b.TextContent.Contains("Smooth off vs on")).Click());
        Assert.Equal([tuned with { MoreSmooth = false }, tuned], cut.Instance.Columns);
    }

    [Fact]
    public void Generate_UsesTheChosenModel()
    {
        var cut = Render<Playground>();
        cut.Find("#model-select").Change("tiny-star-sampler");
        cut.Find("#prompt-field textarea").Input("a red circle");
        // Stable sampling needs a sampler head: only the chosen model has one, so validation passes only if the
        // request is checked against it.
        cut.Find("#stable-field input").Change(true);
        cut.Find("#generate").Click();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        Assert.Equal("tiny-star-sampler", cut.Instance.Result!.Metadata[0].Model);
        Assert.True(cut.Instance.Result.Metadata[0].StableSampling);
        Assert.Equal("tiny-star-sampler", HostFixture.History.Get(cut.Instance.Result.HistoryIds[0])!.Metadata.Model);
    }

    [Fact]
    public void Generate_WithTheDefaultModel_ChecksTheRequestAgainstIt()
    {
        var cut = Render<Playground>();
        cut.Find("#stable-field input").Change(true);
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.Contains("sampler head", cut.Find("#stable-field").TextContent));
        Assert.Equal(0, HostFixture.History.Count());
    }

    [Fact]
    public async Task ClassConditionalModel_ReplacesThePromptWithAClassLabel()
    {
        HostFixture.SaveModel("tiny-var");
        await HostFixture.Host.LoadModelAsync("tiny-var", activate: false);
        var cut = Render<Playground>();
        cut.Find("#negative-field input").Change("blue"); // typed for the text model, not sent to the class model
        cut.Find("#model-select").Change("tiny-var");
        Assert.Empty(cut.FindAll("#prompt-field"));
        Assert.Contains("Class label (0 to 9)", cut.Find("#class-field").TextContent);

        cut.Find("#class-field input").Change("10");
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.Contains("Class 10 is out of range: 0 to 9.", cut.Find("#class-field").TextContent));

        cut.Find("#class-field input").Change("7");
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.Result), TimeSpan.FromSeconds(30));
        var meta = cut.Instance.Result!.Metadata[0];
        Assert.Equal(("tiny-var", (int?)7, (string?)null), (meta.Model, meta.ClassLabel, meta.Prompt));
    }

    [Fact]
    public void Compare_RunsEveryColumnOnTheChosenModel()
    {
        var cut = Render<Compare>();
        cut.Find("#model-select").Change("tiny-star-sampler");
        cut.InvokeAsync(() => { cut.Instance.Prompt = "a red circle"; cut.Instance.Seed = 5; });
        cut.Find("#cmp-run").Click();
        cut.WaitForAssertion(() => Assert.StartsWith("Done", cut.Find("#cmp-status").TextContent), TimeSpan.FromSeconds(30));

        var models = HostFixture.History.List(10).Select(e => e.Metadata.Model).ToArray();
        Assert.Equal(["tiny-star-sampler", "tiny-star-sampler"], models);
    }

    [Fact]
    public void UnloadedChoice_IsShownAndRefusedNextToThePicker()
    {
        var cut = Render<Playground>();
        cut.Find("#model-select").Change("tiny-star-sampler");
        HostFixture.Host.Unload("tiny-star-sampler");
        cut.WaitForAssertion(() => Assert.Contains("tiny-star-sampler (not loaded)", cut.Find("#model-select").TextContent));
        cut.Find("#generate").Click();
        cut.WaitForAssertion(() => Assert.Contains("No model named 'tiny-star-sampler' is loaded", cut.Find("#model-field").TextContent));
        Assert.Equal(0, HostFixture.History.Count());
    }

    [Fact]
    public async Task Explorer_ReplaysAnImageWithTheModelThatMadeIt()
    {
        // Made by the second model while the startup model stays active.
        var job = HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a green square"], Seed = 4, Cfg = 3 }, model: "tiny-star-sampler");
        long id = Assert.IsType<JobCompleted>(await job.RunToEndAsync()).Result.HistoryIds.Single();
        Assert.Equal("tiny-star", HostFixture.Host.ActiveModel);

        var cut = Render<Explore>(p => p.Add(x => x.Id, id));
        cut.WaitForAssertion(() => Assert.StartsWith("4 scales", cut.Find("#explore-status").TextContent), TimeSpan.FromSeconds(30));
        // Same tokens through another VQ-VAE would decode to other pixels: the replay is exactly the stored image.
        var replayed = (byte[])JSInterop.InvocationsNow().Last(i => i.Identifier == "starstudio.put" && (string)i.Arguments[0]! == "exp-img-3").Arguments[1]!;
        Assert.Equal(PngWriter.Decode(HostFixture.History.GetPng(id)!).Pixels, PngWriter.Decode(replayed).Pixels);
    }
}
