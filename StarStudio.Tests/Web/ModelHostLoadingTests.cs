using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>Several loaded models in one host: loading with progress, jobs bound to their model, unloading safely.</summary>
[Collection(TorchStateCollection.Name)]
public class ModelHostLoadingTests
{
    [Fact]
    public async Task LoadModel_ReportsProgressAndLeavesNothingLoading()
    {
        using var t = new TestHost();
        t.SaveModel("tiny-var");
        var seen = new List<ModelLoadState>();
        t.Host.Changed += () => { if (t.Host.Loading is { } s) lock (seen) seen.Add(s); };

        var info = await t.Host.LoadModelAsync("tiny-var", activate: false);

        Assert.Equal("tiny-var", info.Name);
        Assert.Equal("tiny-star", t.Host.ActiveModel); // not activated
        Assert.Null(t.Host.Loading);
        lock (seen)
        {
            Assert.True(seen.Count >= 3, $"only {seen.Count} progress reports");
            Assert.All(seen, s => Assert.Equal("tiny-var", s.Id));
            var fractions = seen.Select(s => s.Fraction).ToArray();
            Assert.Equal(fractions.Order(), fractions); // never goes back
            Assert.Equal(1.0, fractions[^1], 6);
        }
    }

    [Fact]
    public async Task LoadModel_TwiceUnderTheSameName_IsRefused()
    {
        using var t = new TestHost();
        t.SaveModel("tiny-star", id: "copy-of-startup");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => t.Host.LoadModelAsync("copy-of-startup"));
        Assert.Contains("'tiny-star' is already loaded", e.Message);
        Assert.Single(t.Host.Models);
    }

    [Fact]
    public async Task Unload_FailsQueuedJobsOfThatModelWithAMessage()
    {
        using var t = new TestHost();
        t.SaveModel("tiny-var");
        await t.Host.LoadModelAsync("tiny-var");
        t.Host.Pause();
        var job = t.Host.Submit(new GenerationRequest { ClassLabels = [1], Seed = 1 }); // the active model, fixed now
        t.Host.Unload("tiny-var");
        t.Host.Resume();

        var failed = Assert.IsType<JobFailed>(await job.RunToEndAsync());
        Assert.Equal("The model 'tiny-var' is not loaded any more.", failed.Message);
        Assert.Equal(0, t.History.Count());
    }

    [Fact]
    public async Task Unload_WhileItGenerates_LetsTheRunFinishFirst()
    {
        using var failing = new FailingModel { Hold = true };
        using var t = new TestHost(loader: failing.Load);
        t.SaveModel("tiny-var");
        await t.Host.LoadModelAsync("tiny-var", activate: false);
        var job = t.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 3 });
        Assert.True(failing.AtScale3.Wait(TimeSpan.FromSeconds(30)));

        t.Host.Unload("tiny-star");
        Assert.Equal("tiny-var", t.Host.ActiveModel);
        failing.Release.Set();

        var done = Assert.IsType<JobCompleted>(await job.RunToEndAsync());
        Assert.Equal("tiny-star", done.Result.Metadata[0].Model);
        Assert.Equal(["tiny-var"], t.Host.Models.Select(m => m.Name));
    }

    [Fact]
    public async Task FailedStartupModel_AModelLoadedLaterServesAgain()
    {
        var missing = Path.Combine(Path.GetTempPath(), "starstudio-no-model-" + Guid.NewGuid().ToString("N"));
        using var t = new TestHost(modelFolder: missing);
        Assert.Equal(ModelState.Failed, t.Host.State);
        t.SaveModel("tiny-star");

        await t.Host.LoadModelAsync("tiny-star");

        Assert.Equal(ModelState.Ready, t.Host.State);
        var done = await t.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = 2 }).RunToEndAsync();
        Assert.Equal("tiny-star", Assert.IsType<JobCompleted>(done).Result.Metadata[0].Model);
    }

    [Fact]
    public void Submit_UnknownModel_IsAFieldError()
    {
        using var t = new TestHost();
        var e = Assert.Throws<InvalidGenerationRequestException>(() => t.Host.Submit(new GenerationRequest { Prompts = ["x"] }, model: "nope"));
        var error = Assert.Single(e.Errors);
        Assert.Equal(("model", "No model named 'nope' is loaded. Loaded: tiny-star."), (error.Field, error.Message));
        Assert.Equal(0, t.Host.QueueLength);
    }
}
