using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Checkpoints;

public class ModelManifestTests
{
    /// <summary>Stands in for a component's own config record (the transformer's, the VQ-VAE's).</summary>
    sealed record FakeVarConfig(int Depth, int EmbedDim, bool AttnL2Norm, double[] RopeNorm);

    static ModelManifest StarManifest()
    {
        var m = new ModelManifest
        {
            Kind = ModelKinds.Star,
            Name = "star-256-d16",
            PatchNums = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16],
            TextEncoder = new TextEncoderManifest { Kind = "clip", VocabularyFile = "tokenizer/vocab.json", MergesFile = "tokenizer/merges.txt", MaxTokens = 77, Dim = 1024 },
            Files = { [ModelFileRoles.Transformer] = "star.safetensors", [ModelFileRoles.VqVae] = "vae/vqvae.safetensors" },
        };
        m.SetComponent("transformer", new FakeVarConfig(16, 1024, true, [64.0]));
        m.SetComponent("vqvae", new Dictionary<string, object> { ["vocab_size"] = 4096, ["z_channels"] = 32 });
        return m;
    }

    static void CreateFiles(string folder, params string[] relative)
    {
        foreach (var r in relative)
        {
            string full = Path.Combine(folder, r);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, "x");
        }
    }

    [Fact]
    public void SaveLoad_RoundTripsEverySection()
    {
        using var dir = new TempDir();
        CreateFiles(dir.Path, "star.safetensors", "vae/vqvae.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt");
        string written = StarManifest().Save(dir.Path);
        Assert.Equal(Path.Combine(dir.Path, "model.json"), written);

        var loaded = ModelManifest.Load(dir.Path);

        Assert.Equal(1, loaded.FormatVersion);
        Assert.Equal("star", loaded.Kind);
        Assert.Equal("star-256-d16", loaded.Name);
        Assert.Equal([1, 2, 3, 4, 5, 6, 8, 10, 13, 16], loaded.PatchNums!);
        Assert.Equal(new TextEncoderManifest { Kind = "clip", VocabularyFile = "tokenizer/vocab.json", MergesFile = "tokenizer/merges.txt", MaxTokens = 77, Dim = 1024 }, loaded.TextEncoder);
        var config = loaded.GetComponent<FakeVarConfig>("transformer");
        Assert.Equal((16, 1024, true), (config.Depth, config.EmbedDim, config.AttnL2Norm));
        Assert.Equal([64.0], config.RopeNorm);
        Assert.Equal(4096, loaded.Components["vqvae"].GetProperty("vocab_size").GetInt32());
        Assert.Equal(Path.Combine(dir.Path, "vae", "vqvae.safetensors"), loaded.ResolveFile(dir.Path, ModelFileRoles.VqVae));
    }

    [Fact]
    public void Save_WritesSnakeCaseJsonPeopleCanRead()
    {
        using var dir = new TempDir();
        StarManifest().Save(dir.Path);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "model.json")));
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("format_version").GetInt32());
        Assert.Equal(16, root.GetProperty("patch_nums")[9].GetInt32());
        Assert.Equal(77, root.GetProperty("text_encoder").GetProperty("max_tokens").GetInt32());
        Assert.Equal(1024, root.GetProperty("components").GetProperty("transformer").GetProperty("embed_dim").GetInt32());
        Assert.Equal("vae/vqvae.safetensors", root.GetProperty("files").GetProperty("vqvae").GetString());
    }

    [Theory]
    [InlineData("{\"format_version\": 2, \"kind\": \"star\", \"name\": \"x\"}", "newer than this StarStudio understands")]
    [InlineData("{\"format_version\": 0, \"kind\": \"star\", \"name\": \"x\"}", "unknown format version 0")]
    [InlineData("{\"kind\": \"star\", \"name\": \"x\"}", "format_version")]
    [InlineData("{\"format_version\": 1, \"kind\": \"Star!\", \"name\": \"x\"}", "kind 'Star!'")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"\"}", "name is empty")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"patchnums\": [1]}", "patchnums")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"patch_nums\": [1, 3, 2]}", "strictly increasing")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"components\": {\"t\": 5}}", "component 't'")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"text_encoder\": {\"kind\": \"clip\", \"max_tokens\": 0, \"dim\": 1024}}", "max_tokens")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"../outside.safetensors\"}}", "leaves the model folder")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"/etc/passwd\"}}", "is absolute")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"C:/w.safetensors\"}}", "is absolute")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"sub\\\\w.safetensors\"}}", "uses '\\'")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"absent.safetensors\"}}", "does not exist")]
    [InlineData("{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"text_encoder\": {\"kind\": \"clip\", \"vocabulary_file\": \"a/../../v.json\", \"max_tokens\": 77, \"dim\": 1024}}", "text_encoder.vocabulary_file")]
    [InlineData("{\"format_version\": 1, \"kind\": ", "not a valid manifest (line 1)")]
    [InlineData("[1]", "not a JSON object")]
    public void Load_RejectsInvalidManifestsWithAClearReason(string json, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("model.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<ModelManifestException>(() => ModelManifest.Load(dir.Path));
        Assert.Contains("model.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_RejectsAFolderWhereAFileShouldBeAndAMissingManifest()
    {
        using var dir = new TempDir();
        Assert.Contains("not found", Assert.Throws<ModelManifestException>(() => ModelManifest.Load(dir.Path)).Message);
        Directory.CreateDirectory(Path.Combine(dir.Path, "star.safetensors"));
        File.WriteAllText(dir.File("model.json"), "{\"format_version\": 1, \"kind\": \"star\", \"name\": \"x\", \"files\": {\"transformer\": \"star.safetensors\"}}");
        Assert.Contains("is a folder", Assert.Throws<ModelManifestException>(() => ModelManifest.Load(dir.Path)).Message);
        // Without the file check (e.g. while the weights are still downloading) the manifest itself is fine.
        Assert.Equal("x", ModelManifest.Load(dir.File("model.json"), checkFiles: false).Name);
    }

    [Fact]
    public void Save_RefusesPathsThatEscapeTheFolder()
    {
        using var dir = new TempDir();
        var m = StarManifest();
        m.Files[ModelFileRoles.Sampler] = "../../sampler.safetensors";
        var e = Assert.Throws<ModelManifestException>(() => m.Save(dir.Path));
        Assert.Contains("files['sampler']", e.Message);
        Assert.False(File.Exists(dir.File("model.json")));
        Assert.Throws<ArgumentException>(() => m.ResolveFile(dir.Path, ModelFileRoles.Sampler));
    }

    [Fact]
    public void GetComponent_NamesWhatIsThereWhenAComponentIsMissing()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => StarManifest().GetComponent<FakeVarConfig>("sampler_head"));
        Assert.Contains("transformer, vqvae", e.Message);
    }
}
