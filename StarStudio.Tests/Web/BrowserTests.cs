using StarStudio.Model.Imaging;
using System.Text.Json;
using Microsoft.Playwright;
using StarStudio.Model.Generation;

namespace StarStudio.Tests.Web;

/// <summary>
/// The real app in real headless Chromium (Debian's; test.sh installs it when missing). Skipped, with the reason,
/// where no Chromium is installed. Screenshots of every page go to TestResults/screenshots at the repository root.
/// </summary>
[Collection(TorchStateCollection.Name)]
public class BrowserTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    const string Chromium = "/usr/bin/chromium";

    internal static string ScreenshotFolder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "StarStudio.sln"))) dir = dir.Parent;
        var folder = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "TestResults", "screenshots");
        Directory.CreateDirectory(folder);
        return folder;
    }

    internal static async Task<(IPlaywright, IBrowser)> LaunchAsync()
    {
        if (!File.Exists(Chromium)) Assert.Skip($"No Chromium at {Chromium}: run test.sh as root (it installs it) or apt-get install chromium.");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return (playwright, browser);
    }

    /// <summary>
    /// Runs <paramref name="action"/> (if any), then waits until the host holds <paramref name="jobs"/> queued jobs
    /// (the host's Changed event; <paramref name="timeout"/> at most) and asserts it. Subscribed before the action, and
    /// checked once after it, so no change is missed: the page shows its progress bar as soon as the click is handled,
    /// and on a loaded machine that render can reach the browser before the job is in the host's queue.
    /// </summary>
    internal static async Task QueueReachesAsync(StarStudio.Web.Services.ModelHost host, int jobs, TimeSpan timeout, Func<Task>? action = null)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged() { if (host.QueueLength == jobs) reached.TrySetResult(); }
        host.Changed += OnChanged;
        try
        {
            if (action is not null) await action();
            OnChanged();
            await reached.Task.WaitAsync(timeout);
        }
        catch (TimeoutException) { } // the assertion below says what the queue held instead
        finally { host.Changed -= OnChanged; }
        Assert.Equal(jobs, host.QueueLength);
    }

    internal static async Task OpenPlaygroundAsync(IPage page, Uri baseAddress)
    {
        await page.GotoAsync(baseAddress.ToString());
        // The page is prerendered; wait until the circuit is live before typing.
        await page.WaitForSelectorAsync("#playground[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 30000 });
    }

    [Fact]
    public async Task Playground_CtrlEnterStreamsEveryScaleDownloadsAndShowsInHistory()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 }, AcceptDownloads = true });
        var page = await context.NewPageAsync();
        await OpenPlaygroundAsync(page, app.BaseAddress);

        await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("a yellow star on a green background");
        await page.Keyboard.PressAsync("Control+Enter");
        await page.WaitForSelectorAsync("#total", new() { Timeout = 30000 });

        // Every scale arrived, in order, and is shown through an object URL (no data URLs).
        var arrivals = await page.EvaluateAsync<JsonElement>("starstudio.arrivals()");
        Assert.Equal([0, 1, 2, 3], arrivals.EnumerateArray().Select(a => a.GetProperty("scale").GetInt32()));
        var filmSources = await page.Locator("img[data-film]").EvaluateAllAsync<string[]>("els => els.map(e => e.src)");
        Assert.Equal(4, filmSources.Length);
        Assert.All(filmSources, s => Assert.StartsWith("blob:", s));
        Assert.StartsWith("blob:", await page.Locator("img[data-main-row='0']").GetAttributeAsync("src"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "playground.png"), FullPage = true });

        // Download: the PNG carries its parameters.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#download"));
        var file = Path.Combine(Path.GetTempPath(), "starstudio-download-" + Guid.NewGuid().ToString("N") + ".png");
        try
        {
            await download.SaveAsAsync(file);
            var meta = GenerationMetadata.FromPng(await File.ReadAllBytesAsync(file));
            Assert.Equal("a yellow star on a green background", meta?.Prompt);
            Assert.StartsWith("starstudio-", download.SuggestedFilename);

            // History has it, with the same seed.
            await page.ClickAsync("#nav-history");
            var item = page.Locator(".ss-history-item", new() { HasText = "a yellow star on a green background" });
            await item.First.WaitForAsync(new() { Timeout = 15000 });
            Assert.Contains($"seed {meta!.Seed}", await item.First.InnerTextAsync());
            await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "history.png"), FullPage = true });

            // Scale explorer for it: every scale rebuilt, all four pictures per scale, then a fork from scale 2.
            await item.First.Locator(".ss-explore-link").ClickAsync();
            await page.Locator("#explore-status", new() { HasText = "4 scales" }).WaitForAsync(new() { Timeout = 30000 });
            var explorer = await page.Locator("#explore-scales img").EvaluateAllAsync<string[]>("els => els.map(e => e.src)");
            Assert.Equal(16, explorer.Length);
            Assert.All(explorer, s => Assert.StartsWith("blob:", s));
            await page.Locator(".ss-fork").Nth(1).ClickAsync();
            await page.ClickAsync("#fork-run");
            await page.Locator("#fork-open").WaitForAsync(new() { Timeout = 30000 });
            await page.EvaluateAsync("window.scrollTo(0, 0)");
            await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "explore.png"), FullPage = true });
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task Playground_ValidationAndThemesOnAPhone()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 } });
        await OpenPlaygroundAsync(page, app.BaseAddress);

        var cfg = page.Locator("#cfg-field input");
        await cfg.FillAsync("50");
        await cfg.PressAsync("Tab");
        await page.ClickAsync("#generate");
        await page.Locator("#cfg-field", new() { HasText = "CFG must be between 0 and 20" }).WaitForAsync(new() { Timeout = 10000 });
        // Nothing overflows sideways on a phone.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth + 1"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "playground-phone-dark.png"), FullPage = true });

        // Dropping a StarStudio PNG restores its parameters.
        var meta = new GenerationMetadata { Model = "tiny-star", Prompt = "a green circle", Seed = 777, Cfg = 1.5, TopP = 0.5 };
        var png = StarStudio.Model.Imaging.PngWriter.Encode(new RgbImage(1, 1, [9, 9, 9]), meta.ToPngText());
        await page.EvaluateAsync("""
            b64 => {
              const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
              const dt = new DataTransfer();
              dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
              document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
            """, Convert.ToBase64String(png));
        await page.Locator(".ss-notice", new() { HasText = "Parameters restored" }).WaitForAsync(new() { Timeout = 10000 });
        Assert.Equal("a green circle", await page.GetByLabel("Prompt", new() { Exact = true }).InputValueAsync());
        Assert.Equal("777", await page.Locator("#seed-field input").InputValueAsync());
        Assert.Equal("1.5", await page.Locator("#cfg-field input").InputValueAsync());

        await page.ClickAsync("#theme-toggle");
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "playground-phone-light.png"), FullPage = true });
    }

    [Fact]
    public async Task Compare_RunsFourColumnsInStepWithEveryScaleShown()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1000 } });
        await page.GotoAsync(new Uri(app.BaseAddress, "/compare").ToString());
        await page.WaitForSelectorAsync("#compare[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 30000 });

        await page.GetByRole(AriaRole.Button, new() { Name = "CFG 0 / 2 / 4 / 8" }).ClickAsync();
        await page.GetByLabel("Prompt (shared)").FillAsync("a blue triangle");
        await page.ClickAsync("#cmp-run");
        await page.Locator("#cmp-status", new() { HasText = "Done" }).WaitForAsync(new() { Timeout = 30000 });

        Assert.Equal(4, await page.Locator(".ss-compare-col").CountAsync());
        var sources = await page.Locator("#cmp-scales img").EvaluateAllAsync<string[]>("els => els.map(e => e.src)");
        Assert.Equal(16, sources.Length); // 4 scales x 4 columns
        Assert.All(sources, s => Assert.StartsWith("blob:", s));
        Assert.Equal(1, await page.Locator("tr.ss-diverge").CountAsync()); // cfg 0 vs 8 cannot agree at every scale

        // The X/Y sweep below: CFG 0, 2, 4, 8 by two seeds.
        await page.GetByRole(AriaRole.Radio, new() { Name = "seed" }).Last.CheckAsync();
        await page.GetByLabel("Y values").FillAsync("1, 2");
        await page.ClickAsync("#sweep-run");
        await page.Locator("#sweep-status", new() { HasText = "Done: 8 images." }).WaitForAsync(new() { Timeout = 30000 });
        var cells = await page.Locator("#sweep-grid img").EvaluateAllAsync<string[]>("els => els.map(e => e.src)");
        Assert.Equal(8, cells.Length);
        Assert.All(cells, s => Assert.StartsWith("blob:", s));
        await page.EvaluateAsync("window.scrollTo(0, 0)"); // the fixed app bar would land mid-page in a full-page shot
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder(), "compare.png"), FullPage = true });
    }

    [Fact]
    public async Task EightBrowserSessions_GeneratingAtOnce_AllFinishAndAllAreInHistory()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var history = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<StarStudio.Web.Services.HistoryStore>(app.App.Services);
        int before = history.Count();
        var pages = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            var context = await browser.NewContextAsync(); // a context per user: separate circuits
            var page = await context.NewPageAsync();
            await OpenPlaygroundAsync(page, app.BaseAddress);
            await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync($"a red square {i}");
            return page;
        }));
        await Task.WhenAll(pages.Select(p => p.ClickAsync("#generate")));
        await Task.WhenAll(pages.Select(p => p.Locator("#total").WaitForAsync(new() { Timeout = 60000 })));

        foreach (var page in pages)
        {
            var arrivals = await page.EvaluateAsync<JsonElement>("starstudio.arrivals()");
            Assert.Equal([0, 1, 2, 3], arrivals.EnumerateArray().Select(a => a.GetProperty("scale").GetInt32()));
        }
        var prompts = history.List(8).Select(e => e.Metadata.Prompt ?? "").ToHashSet();
        Assert.Equal(before + 8, history.Count());
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"a red square {i}").ToHashSet(), prompts);
    }

    [Fact]
    public async Task ClosingTheTab_CancelsThatUsersQueuedGeneration()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var host = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<StarStudio.Web.Services.ModelHost>(app.App.Services);
        var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await OpenPlaygroundAsync(page, app.BaseAddress);
        host.Pause(); // hold the job in the queue
        try
        {
            await page.ClickAsync("#generate");
            await page.Locator("#progress").WaitForAsync(new() { Timeout = 10000 });
            await QueueReachesAsync(host, 1, TimeSpan.FromSeconds(10));
            // Blazor tells the server the circuit is gone; its scope's generation service cancels the job.
            await QueueReachesAsync(host, 0, TimeSpan.FromSeconds(15), () => page.CloseAsync(new() { RunBeforeUnload = true }));
        }
        finally { host.Resume(); }
    }
}
