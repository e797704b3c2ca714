using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The model host: queue order and positions, cancellation, failures that stay with their job.</summary>
[Collection(TorchStateCollection.Name)]
public class ModelHostTests
{
    static GenerationRequest Request(long seed, string prompt = "a red circle") => new() { Prompts = [prompt], Seed = seed, Cfg = 2 };

    [Fact]
    public async Task Submit_QueuedJobsReportTheirPositionsAndRunInOrder()
    {
        using var t = new TestHost();
        t.Host.Pause();
        var jobs = Enumerable.Range(0, 3).Select(i => t.Host.Submit(Request(100 + i))).ToArray();
        Assert.Equal(3, t.Host.QueueLength);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(jobs[i].Updates.TryRead(out var first));
            Assert.Equal(i, Assert.IsType<JobQueued>(first).Ahead);
        }
        t.Host.Resume();

        var results = new List<GenerationResult>();
        foreach (var job in jobs)
        {
            var updates = new List<JobUpdate>();
            var final = await job.RunToEndAsync(u => { updates.Add(u); return Task.CompletedTask; });
            results.Add(Assert.IsType<JobCompleted>(final).Result);
            // Frames arrive in scale order, after Started.
            var frames = updates.OfType<JobFrame>().Select(f => f.Frame.ScaleIndex).ToArray();
            Assert.Equal([0, 1, 2, 3], frames);
            Assert.True(updates.FindIndex(u => u is JobStarted) < updates.FindIndex(u => u is JobFrame));
        }
        // History ids follow submission order; each image carries its own seed.
        var ids = results.Select(r => r.HistoryIds.Single()).ToArray();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal([100L, 101L, 102L], results.Select(r => r.Metadata[0].Seed));
        Assert.Equal(3, t.History.Count());
        Assert.False(double.IsNaN(t.Host.AverageMsPerRow));
    }

    [Fact]
    public async Task Cancel_WhileQueued_RemovesTheJobAndMovesOthersUp()
    {
        using var t = new TestHost();
        t.Host.Pause();
        using var cts = new CancellationTokenSource();
        var cancelled = t.Host.Submit(Request(1), cts.Token);
        var other = t.Host.Submit(Request(2));
        Assert.True(other.Updates.TryRead(out var initial));
        Assert.Equal(1, ((JobQueued)initial).Ahead);

        cts.Cancel();
        Assert.IsType<JobCancelled>(await cancelled.RunToEndAsync());
        Assert.Equal(1, t.Host.QueueLength);
        Assert.True(other.Updates.TryRead(out var moved));
        Assert.Equal(0, Assert.IsType<JobQueued>(moved).Ahead);

        t.Host.Resume();
        Assert.IsType<JobCompleted>(await other.RunToEndAsync());
        Assert.Equal(1, t.History.Count());
    }

    [Fact]
    public void Submit_InvalidRequest_ThrowsWithFieldErrorsBeforeQueueing()
    {
        using var t = new TestHost();
        var e = Assert.Throws<InvalidGenerationRequestException>(() => t.Host.Submit(Request(1) with { TopK = 65, StableSampling = true }));
        Assert.Equal(["top-k", "stable sampling"], e.Errors.Select(x => x.Field));
        Assert.Equal(0, t.Host.QueueLength);
    }

    [Fact]
    public void FailingModelLoad_ReportsTheErrorAndRefusesJobs()
    {
        var missing = Path.Combine(Path.GetTempPath(), "starstudio-no-model-" + Guid.NewGuid().ToString("N"));
        using var t = new TestHost(modelFolder: missing);
        Assert.Equal(ModelState.Failed, t.Host.State);
        Assert.Contains(missing, t.Host.LoadError);
        var e = Assert.Throws<InvalidOperationException>(() => t.Host.Submit(Request(1)));
        Assert.Contains("could not be loaded", e.Message);
    }

    [Fact]
    public void InspectPrompt_FlagsWordsTheModelDoesNotKnow()
    {
        using var t = new TestHost();
        var report = t.Host.InspectPrompt("a red zzyzx circle");
        Assert.NotNull(report);
        Assert.Equal(["zzyzx"], report.UnknownWords);
    }

    [Fact]
    public async Task EightConcurrentSubmitters_AllFinishInOrderWithNothingLost()
    {
        using var t = new TestHost();
        t.Host.Pause(); // let all eight queue up first, so the order is the submission order
        var jobs = new GenerationJob[8];
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => jobs[i] = t.Host.Submit(Request(500 + i)))));
        // Each job was told its place; together the places are 0..7 (the order the queue saw them in).
        var placed = jobs.Select(j => { Assert.True(j.Updates.TryRead(out var u)); return (Job: j, Ahead: Assert.IsType<JobQueued>(u).Ahead); }).ToArray();
        Assert.Equal(Enumerable.Range(0, 8), placed.Select(p => p.Ahead).Order());
        var order = placed.OrderBy(p => p.Ahead).Select(p => p.Job).ToArray();
        t.Host.Resume();

        var finals = await Task.WhenAll(order.Select(j => j.RunToEndAsync()));
        var ids = finals.Select(f => Assert.IsType<JobCompleted>(f).Result.HistoryIds.Single()).ToArray();
        Assert.Equal(ids.Order(), ids); // finished (and were stored) in queue order
        Assert.Equal(8, t.History.Count());
        Assert.Equal(order.Select(j => j.Request.Seed).Reverse(), t.History.List().Select(e => e.Metadata.Seed)); // newest first
    }

    [Fact]
    public async Task Dispose_CancelsWhatIsStillQueued()
    {
        var t = new TestHost();
        try
        {
            t.Host.Pause();
            var job = t.Host.Submit(Request(3));
            t.Host.Dispose();
            Assert.IsType<JobCancelled>(await job.RunToEndAsync());
        }
        finally { t.Dispose(); }
    }

    [Fact]
    public async Task FailingGeneration_FailsForItsOwnerOnlyAndTheQueueCarriesOn()
    {
        using var model = new FailingModel();
        using var t = new TestHost(loader: model.Load);
        model.Fail = true;
        var failing = t.Host.Submit(Request(1));
        var updates = new List<JobUpdate>();
        var final = await failing.RunToEndAsync(u => { updates.Add(u); return Task.CompletedTask; });
        Assert.Equal("simulated fault at scale 3", Assert.IsType<JobFailed>(final).Message);
        Assert.Equal([0, 1], updates.OfType<JobFrame>().Select(f => f.Frame.ScaleIndex)); // scales before the fault arrived

        model.Fail = false;
        Assert.IsType<JobCompleted>(await t.Host.Submit(Request(2)).RunToEndAsync());
        Assert.Equal(1, t.History.Count());
    }

    [Fact]
    public async Task BatchUsers_CompatibleRequestsShareOneBatchAndEachGetsItsOwnImages()
    {
        using var t = new TestHost(batchUsers: 4);
        t.Host.Pause();
        GenerationRequest[] requests =
        [
            Request(10, "a red circle"),
            Request(20, "a blue square") with { Seeds = [20, 77] , Prompts = ["a blue square", "a green star"] },
            Request(30, "a yellow triangle"),
            Request(40, "a red circle") with { Cfg = 5 }, // other settings: runs on its own
        ];
        var jobs = requests.Select(r => t.Host.Submit(r)).ToArray();
        t.Host.Resume();
        var results = new List<GenerationResult>();
        foreach (var job in jobs) results.Add(Assert.IsType<JobCompleted>(await job.RunToEndAsync()).Result);

        // The first three ran as one forward (they share one set of timings); the fourth alone.
        Assert.Equal(results[0].Timings, results[1].Timings);
        Assert.Equal(results[0].Timings, results[2].Timings);
        Assert.NotEqual(results[0].Timings, results[3].Timings);
        // Each user got exactly the images of their request run alone, with their own parameters.
        using var model = RandomModels.Create("tiny-star");
        var pipeline = new GenerationPipeline(model);
        for (int j = 0; j < requests.Length; j++)
        {
            var alone = pipeline.Generate(requests[j]).Last().Images!;
            Assert.Equal(alone.Count, results[j].Pngs.Count);
            for (int r = 0; r < alone.Count; r++)
            {
                Assert.Equal(alone[r].Pixels, StarStudio.Model.Imaging.PngWriter.Decode(results[j].Pngs[r]).Pixels);
                Assert.Equal(requests[j].SeedFor(r), results[j].Metadata[r].Seed);
                Assert.Equal(requests[j].Prompts[r], results[j].Metadata[r].Prompt);
            }
        }
        Assert.Equal(5, t.History.Count());
    }

    [Fact]
    public async Task BatchUsers_OneUserCancellingMidRunLeavesTheOthersRunning()
    {
        using var model = new FailingModel { Hold = true };
        using var t = new TestHost(loader: model.Load, batchUsers: 4);
        t.Host.Pause();
        using var cts = new CancellationTokenSource();
        var leaving = t.Host.Submit(Request(1, "a red circle"), cts.Token);
        var staying = t.Host.Submit(Request(2, "a blue square"));
        t.Host.Resume();
        Assert.True(model.AtScale3.Wait(TimeSpan.FromSeconds(30))); // both are inside one batch, at scale 3

        cts.Cancel();
        Assert.IsType<JobCancelled>(await leaving.RunToEndAsync()); // told at once, while the batch is still held
        model.Release.Set();
        var done = Assert.IsType<JobCompleted>(await staying.RunToEndAsync());
        Assert.Equal(2L, done.Result.Metadata.Single().Seed);
        Assert.Equal(1, t.History.Count());
    }
}
