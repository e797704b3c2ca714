using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The HTTP API of the real app, over a real connection.</summary>
[Collection(TorchStateCollection.Name)]
public class ApiTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Models_DescribesTheRandomTinyModel()
    {
        var models = await app.Client.GetFromJsonAsync<JsonElement>("/api/models");
        var m = Assert.Single(models.EnumerateArray());
        Assert.Equal("tiny-star", m.GetProperty("name").GetString());
        Assert.Equal("Ready", m.GetProperty("state").GetString());
        Assert.True(m.GetProperty("randomWeights").GetBoolean());
        Assert.True(m.GetProperty("textConditional").GetBoolean());
        Assert.Equal([1, 2, 3, 4], m.GetProperty("patchNums").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(64, m.GetProperty("maxBatch").GetInt32());
        Assert.Equal(8, m.GetProperty("resolution").GetInt32()); // 4 tokens a side, VQ-VAE downsampling 2
    }

    [Fact]
    public async Task Generate_ReturnsThePipelinesImageWithParameters()
    {
        var response = await app.Client.PostAsJsonAsync("/api/generate", new { prompt = "a red circle", seed = 7, cfg = 2.5, topK = 10, topP = 0.9 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        var png = await response.Content.ReadAsByteArrayAsync();

        var meta = GenerationMetadata.FromPng(png);
        Assert.NotNull(meta);
        Assert.Equal(("a red circle", 7L, 2.5, 10, 0.9), (meta.Prompt, meta.Seed, meta.Cfg, meta.TopK, meta.TopP));

        // Second path: the same request straight through the pipeline on an identically seeded model.
        using var model = RandomModels.Create("tiny-star");
        var expected = new GenerationPipeline(model).Generate(meta.ToRequest()).Last().Images![0];
        var actual = PngWriter.Decode(png);
        Assert.Equal((8, 8), (actual.Width, actual.Height));
        Assert.Equal(expected.Pixels, actual.Pixels);
    }

    [Fact]
    public async Task Generate_InvalidRequest_Answers400WithEveryFieldError()
    {
        var response = await app.Client.PostAsJsonAsync("/api/generate", new { prompt = "x", cfg = 99, topK = -1, topP = 1.5, batchSize = 2 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        var fields = body.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ToHashSet();
        Assert.Equal(new HashSet<string?> { "cfg", "top-k", "top-p", "batch" }, fields);
    }

    [Fact]
    public async Task Generate_StoresTheImageInHistory()
    {
        var history = app.App.Services.GetRequiredService<HistoryStore>();
        int before = history.Count();
        var png = await (await app.Client.PostAsJsonAsync("/api/generate", new { prompt = "", seed = 4242, cfg = 0 })).Content.ReadAsByteArrayAsync();
        Assert.Equal(before + 1, history.Count());
        var entry = history.List(1)[0];
        Assert.Equal((4242L, ""), (entry.Metadata.Seed, entry.Metadata.Prompt));
        Assert.Equal(4, entry.Timings.Count);
        Assert.Equal(png, await app.Client.GetByteArrayAsync($"/api/history/{entry.Id}.png"));
    }

    [Fact]
    public async Task OpenApi_DocumentsTheEndpoints()
    {
        var doc = await app.Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = doc.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/generate", out var generate));
        Assert.True(generate.TryGetProperty("post", out _));
        Assert.True(paths.TryGetProperty("/api/models", out _));
        // The browsable reference is served from the app itself (nothing fetched from elsewhere).
        var scalar = await app.Client.GetAsync("/scalar");
        Assert.Equal(HttpStatusCode.OK, scalar.StatusCode);
        Assert.Contains("StarStudio API", await scalar.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Pages_AreServedWithTheirScripts()
    {
        var html = await app.Client.GetStringAsync("/");
        Assert.Contains("js/starstudio.js", html);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/_framework/blazor.web.js")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/js/starstudio.js")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/history")).StatusCode);
    }
}
