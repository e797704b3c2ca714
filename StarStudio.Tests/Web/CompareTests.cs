using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Components.Shared;
using StarStudio.Web.Components.Pages;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>Compare: columns run in step on one job; the first diverging scale is found from the token maps.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class CompareTests : PageTestContext
{
    /// <summary>The status must say Done; otherwise the whole status (a failure's full message) is the assertion's message.</summary>
    static void AssertDone(string status) => Assert.True(status.StartsWith("Done", StringComparison.Ordinal), $"status: {status}");

    /// <summary>Second path: each column alone through the pipeline, compared scale by scale.</summary>
    static int? FirstDivergenceByHand(IReadOnlyList<GenerationRequest> requests)
    {
        using var model = RandomModels.Create("tiny-star");
        var runs = requests.Select(r => new GenerationPipeline(model).Generate(r).Select(f => f.Tokens[0]).ToArray()).ToArray();
        for (int si = 0; si < runs[0].Length; si++)
            if (runs.Skip(1).Any(run => !run[si].SequenceEqual(runs[0][si]))) return si;
        return null;
    }

    [Fact]
    public void Run_PicturesTheBrowserCannotTake_DoNotStopTheRun()
    {
        // As while the circuit's connection is down: JS calls fail instead of drawing.
        JSInterop.SetupVoid("starstudio.put", _ => true).SetException(new Microsoft.JSInterop.JSDisconnectedException("connection down"));
        var cut = Render<Compare>();
        cut.InvokeAsync(() => { cut.Instance.Prompt = "a red circle"; cut.Instance.Seed = 5; });
        cut.Find("#cmp-run").Click();
        cut.WaitForAssertion(() => AssertDone(cut.Find("#cmp-status").TextContent), TimeSpan.FromSeconds(30));
        Assert.Equal(2, HostFixture.History.Count());
    }

    [Fact]
    public void Run_StreamsColumnsInStepAndMarksTheFirstDivergingScale()
    {
        var cut = Render<Compare>();
        cut.InvokeAsync(() => { cut.Instance.Prompt = "a red circle"; cut.Instance.Seed = 5; });
        cut.Find("#cmp-run").Click();
        cut.WaitForAssertion(() => AssertDone(cut.Find("#cmp-status").TextContent), TimeSpan.FromSeconds(30));

        // In step: scale k of both columns before scale k+1 of either.
        var keys = JSInterop.InvocationsNow().Where(i => i.Identifier == "starstudio.put").Select(i => (string)i.Arguments[0]!).ToArray();
        Assert.Equal(["cmp-0-0", "cmp-1-0", "cmp-0-1", "cmp-1-1", "cmp-0-2", "cmp-1-2", "cmp-0-3", "cmp-1-3"], keys);

        // Guidance ramps from 0 at scale 0, so cfg 2 and cfg 6 agree there and split later.
        int? expected = FirstDivergenceByHand(cut.Instance.BuildRequests());
        Assert.NotNull(expected);
        Assert.True(expected > 0);
        Assert.Equal(expected, cut.Instance.FirstDivergence);
        var marked = cut.Find("tr.ss-diverge");
        Assert.Equal(expected.ToString(), marked.GetAttribute("data-scale"));
        Assert.Equal(2, HostFixture.History.Count());
    }

    [Fact]
    public void Run_IdenticalColumnsNeverDiverge()
    {
        var cut = Render<Compare>();
        cut.InvokeAsync(() =>
        {
            cut.Instance.Columns.Clear();
            cut.Instance.Columns.AddRange([new SamplerSettings(Cfg: 3), new SamplerSettings(Cfg: 3), new SamplerSettings(Cfg: 3)]);
        });
        cut.Find("#cmp-run").Click();
        cut.WaitForAssertion(() => Assert.Contains("identical at every scale", cut.Find("#cmp-status").TextContent), TimeSpan.FromSeconds(30));
        Assert.Null(cut.Instance.FirstDivergence);
        Assert.Empty(cut.FindAll("tr.ss-diverge"));
        Assert.Equal(4, cut.FindAll("#cmp-scales tr").Count);
    }

    [Fact]
    public void Run_InvalidColumnShowsItsErrorAndRunsNothing()
    {
        var cut = Render<Compare>();
        cut.InvokeAsync(() => cut.Instance.Columns[1] = new SamplerSettings(TopK: 65));
        cut.Find("#cmp-run").Click();
        var second = cut.Find(".ss-compare-col[data-col='1']");
        Assert.Contains("Top-k must be between 0 (off) and the vocabulary size 64", second.TextContent);
        Assert.DoesNotContain("Top-k must be", cut.Find(".ss-compare-col[data-col='0']").TextContent);
        Assert.Equal(0, HostFixture.History.Count());
    }

    [Fact]
    public void Sweep_RunsTheXYGridAndEachCellIsItsOwnRequest()
    {
        var cut = Render<Compare>();
        cut.Find("#cmp-prompt input").Input("a red circle");
        var sweep = cut.FindComponent<SweepPanel>();
        sweep.InvokeAsync(() =>
        {
            sweep.Instance.XValues = "0, 3";
            sweep.Instance.YAxis = SweepAxis.Seed;
            sweep.Instance.YValues = "40 41";
        });
        cut.Find("#sweep-run").Click();
        cut.WaitForAssertion(() => Assert.Equal("Done: 4 images.", cut.Find("#sweep-status").TextContent), TimeSpan.FromSeconds(30));

        Assert.Equal(3, cut.FindAll("#sweep-grid tr").Count); // header + 2 seeds
        Assert.Contains("seed \\ CFG", cut.Find("#sweep-grid tr").TextContent);
        // Cell (seed 41, cfg 3) is index 3; its last frame equals that request run alone.
        var last = JSInterop.InvocationsNow().Last(i => i.Identifier == "starstudio.put" && (string)i.Arguments[0]! == "sweep-3");
        using var model = RandomModels.Create("tiny-star");
        var alone = new GenerationPipeline(model).Generate(new GenerationRequest { Prompts = ["a red circle"], Seed = 41, Cfg = 3, TopP = 0.8 }).Last();
        Assert.Equal(alone.Images![0].Pixels, PngWriter.Decode((byte[])last.Arguments[1]!).Pixels);
        Assert.Equal(4, HostFixture.History.Count());
    }

    [Fact]
    public void Sweep_RejectsBadValuesAndTooManyCells()
    {
        var cut = Render<Compare>();
        var sweep = cut.FindComponent<SweepPanel>();
        sweep.InvokeAsync(() => sweep.Instance.XValues = "1, two");
        cut.Find("#sweep-run").Click();
        Assert.Contains("'two' is not a number.", cut.Find("#sweep-x").TextContent);

        sweep.InvokeAsync(() =>
        {
            sweep.Instance.XValues = "1 2 3 4 5";
            sweep.Instance.YAxis = SweepAxis.TopP;
            sweep.Instance.YValues = "0.1 0.2 0.3 0.4";
        });
        cut.Find("#sweep-run").Click();
        Assert.Contains("20 images: at most 16", cut.Find("#sweep-x").TextContent);
        Assert.Equal(0, HostFixture.History.Count());
    }
}
