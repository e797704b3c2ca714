using Microsoft.Playwright;
using StarStudio.Model.Generation;

namespace StarStudio.Tests.Web;

/// <summary>The model manager and the model picker in real Chromium, on an app whose model root holds a tiny model.</summary>
[Collection(TorchStateCollection.Name)]
public class ModelManagerBrowserTests
{
    [Fact]
    public async Task LoadInTheManager_ThenGenerateWithItInThePlayground()
    {
        var (playwright, browser) = await BrowserTests.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        using var root = new TempFolder();
        using (var model = RandomModels.Create("tiny-star-sampler")) ModelStore.Save(model, Path.Combine(root.Path, "sampler"));
        await using var app = new WebAppFixture([
            "--StarStudio:ForceRandom=true", "--StarStudio:RandomPreset=tiny-star",
            $"--StarStudio:ModelRoots:0={root.Path}", "--StarStudio:AssumeAvailableMemoryMiB=65536",
        ]);
        await app.InitializeAsync();
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });

        await page.GotoAsync(new Uri(app.BaseAddress, "/models").ToString());
        await page.WaitForSelectorAsync("#models[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 30000 });
        var row = page.Locator("tr[data-model='sampler']");
        await row.Locator(".ss-status", new() { HasText = "ready" }).WaitForAsync(new() { Timeout = 30000 });
        await row.Locator(".ss-load").ClickAsync();
        await page.Locator("#models-message", new() { HasText = "Loaded tiny-star-sampler" }).WaitForAsync(new() { Timeout = 30000 });
        await page.Locator("tr[data-loaded='tiny-star-sampler'] .ss-active").WaitForAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserTests.ScreenshotFolder(), "models.png"), FullPage = true });

        // The playground now starts on the loaded model, and the picker still offers the startup one.
        await page.ClickAsync("#nav-playground");
        await page.WaitForSelectorAsync("#playground[data-interactive=true]", new() { State = WaitForSelectorState.Attached, Timeout = 30000 });
        Assert.Equal("tiny-star-sampler", await page.Locator("#model-select").InputValueAsync());
        Assert.Equal(["tiny-star", "tiny-star-sampler"], await page.Locator("#model-select option").EvaluateAllAsync<string[]>("els => els.map(e => e.value)"));
        await page.GetByLabel("Prompt", new() { Exact = true }).FillAsync("a red circle");
        var download = await page.RunAndWaitForDownloadAsync(async () =>
        {
            await page.Keyboard.PressAsync("Control+Enter");
            await page.Locator("#total").WaitForAsync(new() { Timeout = 30000 });
            await page.ClickAsync("#download");
        });
        var file = Path.Combine(root.Path, "download.png");
        await download.SaveAsAsync(file);
        Assert.Equal("tiny-star-sampler", GenerationMetadata.FromPng(await File.ReadAllBytesAsync(file))?.Model);
    }
}
