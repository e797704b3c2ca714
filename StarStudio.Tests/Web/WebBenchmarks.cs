using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>
/// Opt-in measurements (skipped unless asked for; results go to TestResults/ at the repository root):
/// STARSTUDIO_WEB_BENCH=&lt;model folder or random preset&gt; times click-to-first-frame and click-to-last-frame in
/// Chromium; STARSTUDIO_WEB_SOAK=&lt;generations&gt; runs that many through the host and records the process's memory.
/// </summary>
[Collection(TorchStateCollection.Name)]
public class WebBenchmarks
{
    static string ResultsFolder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "StarStudio.sln"))) dir = dir.Parent;
        var folder = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(folder);
        return folder;
    }

    static string[] ModelArgs(string model) => Directory.Exists(model)
        ? [$"--StarStudio:ModelFolder={model}"]
        : ["--StarStudio:ForceRandom=true", $"--StarStudio:RandomPreset={model}"];

    [Fact]
    public async Task Browser_ClickToFirstAndLastFrame()
    {
        var model = Environment.GetEnvironmentVariable("STARSTUDIO_WEB_BENCH");
        if (string.IsNullOrEmpty(model)) Assert.Skip("Set STARSTUDIO_WEB_BENCH to a model folder or a random preset to run the browser benchmark.");
        if (!File.Exists("/usr/bin/chromium")) Assert.Skip("No Chromium at /usr/bin/chromium.");
        int runs = int.TryParse(Environment.GetEnvironmentVariable("STARSTUDIO_WEB_BENCH_RUNS"), out var n) ? n : 5;

        var app = new WebAppFixture(ModelArgs(model));
        await app.InitializeAsync();
        try
        {
            var host = app.App.Services.GetRequiredService<ModelHost>();
            Assert.Equal(ModelState.Ready, host.State);
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = "/usr/bin/chromium", Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var page = await browser.NewPageAsync();
            await page.GotoAsync(app.BaseAddress.ToString());
            await page.WaitForSelectorAsync("#playground[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 60000 });
            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("a red circle on a blue background");

            var rows = new List<(double First, double Last, int Frames)>();
            int scales = host.Info!.Limits.ScaleCount;
            for (int i = 0; i <= runs; i++) // run 0 warms up
            {
                await page.ClickAsync("#generate"); // mousedown marks the start and clears the arrival log
                await page.WaitForFunctionAsync("n => starstudio.arrivals().length >= n", scales, new() { Timeout = 600000 });
                await page.Locator("#total").WaitForAsync(new() { Timeout = 600000 });
                var arrivals = (await page.EvaluateAsync<JsonElement>("starstudio.arrivals()")).EnumerateArray()
                    .Select(a => a.GetProperty("t").GetDouble()).ToArray();
                if (i > 0) rows.Add((arrivals[0], arrivals[^1], arrivals.Length));
                await page.Locator("#generate:not([disabled])").WaitForAsync();
            }
            Assert.All(rows, r => Assert.Equal(scales, r.Frames));
            var report = new
            {
                model = host.Info.Name, source = host.Info.Source, resolution = host.Info.Resolution, scales, runs,
                firstFrameMs = Stats(rows.Select(r => r.First)), lastFrameMs = Stats(rows.Select(r => r.Last)),
                framesPerRun = rows.Select(r => r.Frames).ToArray(),
            };
            var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
            await File.WriteAllTextAsync(Path.Combine(ResultsFolder(), "web-benchmark.json"), json);
            TestContext.Current.SendDiagnosticMessage(json);
        }
        finally { await app.DisposeAsync(); }
    }

    [Fact]
    public async Task Soak_MemoryStaysFlat()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("STARSTUDIO_WEB_SOAK"), out int count))
            Assert.Skip("Set STARSTUDIO_WEB_SOAK=<generations> (e.g. 200) to run the memory soak.");
        using var t = new TestHost();
        var samples = new List<object>();
        var process = Process.GetCurrentProcess();
        for (int i = 1; i <= count; i++)
        {
            var job = t.Host.Submit(new GenerationRequest { Prompts = ["a red circle"], Seed = i, Cfg = 3 });
            Assert.IsType<JobCompleted>(await job.RunToEndAsync());
            if (i % 20 == 0 || i == 1)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                process.Refresh();
                samples.Add(new { generation = i, workingSetMiB = process.WorkingSet64 / 1048576.0, managedMiB = GC.GetTotalMemory(true) / 1048576.0 });
            }
        }
        Assert.Equal(count, t.History.Count());
        var json = JsonSerializer.Serialize(new { generations = count, samples }, new JsonSerializerOptions { WriteIndented = true });
        await File.WriteAllTextAsync(Path.Combine(ResultsFolder(), "web-soak.json"), json);
        TestContext.Current.SendDiagnosticMessage(json);
    }

    [Fact]
    public async Task BatchUsers_ThroughputOfEightUsers()
    {
        var preset = Environment.GetEnvironmentVariable("STARSTUDIO_WEB_BATCH_BENCH");
        if (string.IsNullOrEmpty(preset)) Assert.Skip("Set STARSTUDIO_WEB_BATCH_BENCH=<random preset> to compare eight users one by one with eight users batched.");
        var report = new Dictionary<string, double>();
        foreach (int batchUsers in new[] { 1, 8, 1, 8 }) // twice each, interleaved, to even out machine load
        {
            using var t = new TestHost(batchUsers: batchUsers, loader: () => (RandomModels.Create(preset), preset, true));
            await t.Host.Submit(new GenerationRequest { Prompts = ["warm up"], Seed = 0, Cfg = 4 }).RunToEndAsync();
            t.Host.Pause();
            var jobs = Enumerable.Range(0, 8).Select(i => t.Host.Submit(new GenerationRequest { Prompts = [$"a red circle {i}"], Seed = i, Cfg = 4 })).ToArray();
            var clock = Stopwatch.StartNew();
            t.Host.Resume();
            foreach (var job in jobs) Assert.IsType<JobCompleted>(await job.RunToEndAsync());
            string key = batchUsers == 1 ? "oneByOneMs" : "batchedMs";
            report[key] = Math.Min(report.GetValueOrDefault(key, double.MaxValue), Math.Round(clock.Elapsed.TotalMilliseconds, 1));
        }
        var json = JsonSerializer.Serialize(new { preset, users = 8, report }, new JsonSerializerOptions { WriteIndented = true });
        await File.WriteAllTextAsync(Path.Combine(ResultsFolder(), "web-batch-users.json"), json);
        TestContext.Current.SendDiagnosticMessage(json);
    }

    static object Stats(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return new
        {
            median = Math.Round(v[v.Length / 2], 1),
            min = Math.Round(v[0], 1),
            max = Math.Round(v[^1], 1),
            mean = Math.Round(v.Average(), 1, MidpointRounding.AwayFromZero).ToString(CultureInfo.InvariantCulture),
        };
    }
}
