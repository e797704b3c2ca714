using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>What survives in a real browser: the theme across reloads, a generation across a dropped connection.</summary>
[Collection(TorchStateCollection.Name)]
public class BrowserSessionTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    // Keeps every WebSocket the page opens (so the test can drop the circuit's connection) and notes when Blazor's
    // reconnect UI is on screen. Runs before the page's own scripts.
    const string WatchConnection = """
        (() => {
          const Native = window.WebSocket;
          window.__sockets = [];
          window.WebSocket = class extends Native { constructor(...args) { super(...args); window.__sockets.push(this); } };
          window.__reconnectShown = false;
          new MutationObserver(() => {
            const m = document.getElementById('components-reconnect-modal');
            // Blazor's default reconnect UI: a host element shown with display:block, its text in a shadow root.
            if (m && m.isConnected && m.style.display === 'block') window.__reconnectShown = m.shadowRoot?.querySelector('p')?.textContent || 'shown';
          }).observe(document, { childList: true, subtree: true, attributes: true });
        })();
        """;

    [Fact]
    public async Task Theme_ChoiceSurvivesAReload()
    {
        var (playwright, browser) = await BrowserTests.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        await BrowserTests.OpenPlaygroundAsync(page, app.BaseAddress);
        await page.Locator("#theme-toggle[data-theme=dark]").WaitForAsync(new() { Timeout = 10000 });
        string darkBackground = await page.EvaluateAsync<string>("getComputedStyle(document.body).backgroundColor");

        await page.ClickAsync("#theme-toggle");
        await page.Locator("#theme-toggle[data-theme=light]").WaitForAsync(new() { Timeout = 10000 });
        await page.ReloadAsync();
        await BrowserTests.OpenPlaygroundAsync(page, app.BaseAddress);

        await page.Locator("#theme-toggle[data-theme=light]").WaitForAsync(new() { Timeout = 10000 });
        Assert.NotEqual(darkBackground, await page.EvaluateAsync<string>("getComputedStyle(document.body).backgroundColor"));
    }

    [Fact]
    public async Task DroppedConnection_ShowsTheReconnectUiAndTheGenerationFinishes()
    {
        var (playwright, browser) = await BrowserTests.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var host = app.App.Services.GetRequiredService<ModelHost>();
        var history = app.App.Services.GetRequiredService<HistoryStore>();
        var context = await browser.NewContextAsync();
        await context.AddInitScriptAsync(WatchConnection);
        var page = await context.NewPageAsync();
        await BrowserTests.OpenPlaygroundAsync(page, app.BaseAddress);
        await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("a red circle after a reconnect");
        int before = history.Count();

        host.Pause(); // the job waits in the queue while the connection drops
        try
        {
            await page.ClickAsync("#generate");
            await page.Locator("#progress").WaitForAsync(new() { Timeout = 10000 });
            int dropped = await page.EvaluateAsync<int>("window.__sockets.filter(s => s.readyState === 1).map(s => s.close()).length");
            Assert.True(dropped > 0, "no open WebSocket to drop");

            await page.WaitForFunctionAsync("window.__reconnectShown", null, new() { Timeout = 15000 });
            Assert.Equal("Rejoining the server...", await page.EvaluateAsync<string>("window.__reconnectShown"));
            // Reconnected: a new socket is open and the reconnect UI is hidden again.
            await page.WaitForFunctionAsync("""
                window.__sockets.some(s => s.readyState === 1)
                  && document.getElementById('components-reconnect-modal')?.style.display === 'none'
                """, null, new() { Timeout = 30000 });
        }
        finally { host.Resume(); }

        // The same circuit goes on: the queued generation runs, streams every scale and is kept once.
        await page.Locator("#total").WaitForAsync(new() { Timeout = 30000 });
        var arrivals = await page.EvaluateAsync<JsonElement>("starstudio.arrivals()");
        Assert.Equal([0, 1, 2, 3], arrivals.EnumerateArray().Select(a => a.GetProperty("scale").GetInt32()));
        Assert.Equal(before + 1, history.Count());
        Assert.Equal("a red circle after a reconnect", history.List(1).Single().Metadata.Prompt);
    }

    [Fact]
    public async Task ConnectionGoneForGood_CancelsTheGenerationAndTheNewPageWorks()
    {
        // Its own app: the server forgets a disconnected page after one second instead of three minutes. Made before
        // the browser so the browser closes first (an open circuit would hold the server's shutdown for 30 s).
        await using var shortLived = new WebAppFixture([
            "--StarStudio:ForceRandom=true", "--StarStudio:RandomPreset=tiny-star", "--Circuit:DisconnectedCircuitRetentionPeriod=00:00:01",
        ]);
        await shortLived.InitializeAsync();
        var (playwright, browser) = await BrowserTests.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var host = shortLived.App.Services.GetRequiredService<ModelHost>();
        var history = shortLived.App.Services.GetRequiredService<HistoryStore>();
        var context = await browser.NewContextAsync();
        await context.AddInitScriptAsync(WatchConnection);
        var page = await context.NewPageAsync();
        await BrowserTests.OpenPlaygroundAsync(page, shortLived.BaseAddress);

        host.Pause();
        try
        {
            await page.ClickAsync("#generate");
            await page.Locator("#progress").WaitForAsync(new() { Timeout = 10000 });
            await BrowserTests.QueueReachesAsync(host, 1, TimeSpan.FromSeconds(10));
            // The circuit is disposed after the retention period: its queued generation is cancelled.
            await BrowserTests.QueueReachesAsync(host, 0, TimeSpan.FromSeconds(30), async () =>
            {
                await context.SetOfflineAsync(true); // reconnecting fails until the server has given up on the circuit
                await page.EvaluateAsync("window.__sockets.filter(s => s.readyState === 1).forEach(s => s.close())");
                await page.WaitForFunctionAsync("window.__reconnectShown", null, new() { Timeout = 15000 });
            });
        }
        finally { host.Resume(); }
        int socketsBefore = await page.EvaluateAsync<int>("window.__sockets.length");
        await page.EvaluateAsync("window.__beforeReload = true");
        await context.SetOfflineAsync(false);

        // The browser's next attempt finds the circuit gone. Blazor then either starts the page on a new circuit
        // (.NET 10 resumes the session: fresh components, nothing half-done) or reloads it; either way a working page.
        await page.WaitForFunctionAsync($$"""
            !window.__beforeReload || (window.__sockets.length > {{socketsBefore}} && window.__sockets.at(-1).readyState === 1
              && document.getElementById('components-reconnect-modal')?.style.display === 'none')
            """, null, new() { Timeout = 30000 });
        await page.WaitForSelectorAsync("#playground[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 30000 });
        Assert.Equal(0, history.Count());
        await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("after the reload");
        await page.ClickAsync("#generate");
        await page.Locator("#total").WaitForAsync(new() { Timeout = 30000 });
        Assert.Equal(["after the reload"], history.List(10).Select(e => e.Metadata.Prompt));
    }
}
