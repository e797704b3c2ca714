using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>GET /api/models and POST /api/generate with two loaded models, on the real app over HTTP.</summary>
[Collection(TorchStateCollection.Name)]
public class ModelApiTests
{
    [Fact]
    public async Task Api_ListsLoadedModelsAndGeneratesWithTheNamedOne()
    {
        using var root = new TempFolder();
        using (var var = RandomModels.Create("tiny-var")) ModelStore.Save(var, Path.Combine(root.Path, "tiny-var"));
        await using var app = new WebAppFixture([
            "--StarStudio:ForceRandom=true", "--StarStudio:RandomPreset=tiny-star",
            $"--StarStudio:ModelRoots:0={root.Path}", "--StarStudio:AssumeAvailableMemoryMiB=65536",
        ]);
        await app.InitializeAsync();
        await app.App.Services.GetRequiredService<ModelHost>().LoadModelAsync("tiny-var", activate: false);

        var models = (await app.Client.GetFromJsonAsync<JsonElement>("/api/models")).EnumerateArray().ToArray();
        Assert.Equal([("tiny-star", true, true), ("tiny-var", false, false)],
            models.Select(m => (m.GetProperty("name").GetString(), m.GetProperty("active").GetBoolean(), m.GetProperty("textConditional").GetBoolean())));

        var response = await app.Client.PostAsJsonAsync("/api/generate", new { model = "tiny-var", classLabel = 3, seed = 5, cfg = 2 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var meta = GenerationMetadata.FromPng(await response.Content.ReadAsByteArrayAsync())!;
        Assert.Equal(("tiny-var", (int?)3, 5L), (meta.Model, meta.ClassLabel, meta.Seed));

        var unknown = await app.Client.PostAsJsonAsync("/api/generate", new { model = "nope", prompt = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        var error = (await unknown.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateArray().Single();
        Assert.Equal("model", error.GetProperty("field").GetString());
        Assert.Equal("No model named 'nope' is loaded. Loaded: tiny-star, tiny-var.", error.GetProperty("message").GetString());
    }
}
