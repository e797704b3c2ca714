using StarStudio.Model.Checkpoints;
using StarStudio.Model.Text.Clip;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Official;

[Collection(TorchStateCollection.Name)]
public sealed class ClipTextModelTests
{
    [Fact]
    public void StateDict_HasHuggingFaceNames()
    {
        using var model = new ClipTextModel(OfficialFiles.TinyClipConfig());
        var keys = model.state_dict().Keys.ToHashSet();
        foreach (var k in new[]
                 {
                     "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                     "text_model.encoder.layers.1.self_attn.q_proj.weight", "text_model.encoder.layers.1.self_attn.k_proj.bias",
                     "text_model.encoder.layers.0.self_attn.v_proj.weight", "text_model.encoder.layers.0.self_attn.out_proj.bias",
                     "text_model.encoder.layers.0.layer_norm1.weight", "text_model.encoder.layers.0.layer_norm2.bias",
                     "text_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.mlp.fc2.bias",
                     "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias",
                 })
            Assert.Contains(k, keys);
        // 2 embeddings + 2 layers x 16 tensors + final norm 2.
        Assert.Equal(2 + 2 * 16 + 2, keys.Count);
    }

    [Fact]
    public void FullSizeSd21TextTower_HasOfficialShapesOnMeta()
    {
        var config = new ClipTextConfig(); // SD 2.1 text_encoder/config.json values
        using var model = new ClipTextModel(config, device: new Device(DeviceType.META));
        var sd = model.state_dict();
        Assert.Equal(new long[] { 49408, 1024 }, sd["text_model.embeddings.token_embedding.weight"].shape);
        Assert.Equal(new long[] { 77, 1024 }, sd["text_model.embeddings.position_embedding.weight"].shape);
        Assert.Equal(new long[] { 4096, 1024 }, sd["text_model.encoder.layers.22.mlp.fc1.weight"].shape);
        Assert.DoesNotContain("text_model.encoder.layers.23.mlp.fc1.weight", sd.Keys);
        long parameters = sd.Values.Sum(t => t.numel());
        // 49408*1024 + 77*1024 + 23 * (4*(1024*1024+1024) + 2*(1024*4096) + 4096 + 1024 + 4*1024) + 2*1024 = 340,387,840
        Assert.Equal(340_387_840L, parameters);
    }

    [Fact]
    public void Forward_MatchesASecondPathBuiltFromTheWeights()
    {
        var config = OfficialFiles.TinyClipConfig();
        manual_seed(3);
        using var model = new ClipTextModel(config, OfficialFiles.Tokenizer());
        using (var sd = new DisposableDict(OfficialFiles.RandomizedState(model))) StateDictLoader.Load(model, sd.Items);
        model.eval();
        using var scope = NewDisposeScope();
        using var enc = model.Encode(["a cat", "dog a cat"]);
        var w = model.state_dict();

        // The same network written out with scaled_dot_product_attention and boolean masks.
        var tok = OfficialFiles.Tokenizer();
        var rows = new[] { tok.Encode("a cat"), tok.Encode("dog a cat") };
        var ids = tensor(rows.SelectMany(r => r.Ids).ToArray(), [2, 10]);
        var keep = tensor(rows.SelectMany(r => r.Mask).ToArray(), [2, 10]).eq(1);
        var x = w["text_model.embeddings.token_embedding.weight"].index_select(0, ids.flatten()).view(2, 10, 16)
                + w["text_model.embeddings.position_embedding.weight"];
        var allowed = ones(10, 10, dtype: ScalarType.Bool).tril().view(1, 1, 10, 10).logical_and(keep.view(2, 1, 1, 10));
        Tensor Ln(Tensor t, string p) => nn.functional.layer_norm(t, [16], w[p + ".weight"], w[p + ".bias"], 1e-5);
        Tensor Lin(Tensor t, string p) => nn.functional.linear(t, w[p + ".weight"], w[p + ".bias"]);
        Tensor Heads(Tensor t) => t.view(2, 10, 2, 8).transpose(1, 2);
        for (int i = 0; i < 2; i++)
        {
            string l = $"text_model.encoder.layers.{i}";
            var h = Ln(x, l + ".layer_norm1");
            var o = nn.functional.scaled_dot_product_attention(Heads(Lin(h, l + ".self_attn.q_proj")), Heads(Lin(h, l + ".self_attn.k_proj")),
                Heads(Lin(h, l + ".self_attn.v_proj")), attn_mask: allowed);
            x = x + Lin(o.transpose(1, 2).reshape(2, 10, 16), l + ".self_attn.out_proj");
            x = x + Lin(nn.functional.gelu(Lin(Ln(x, l + ".layer_norm2"), l + ".mlp.fc1")), l + ".mlp.fc2");
        }
        var expected = Ln(x, "text_model.final_layer_norm");

        Assert.Equal(new long[] { 2, 10, 16 }, enc.HiddenStates.shape);
        Assert.True(enc.HiddenStates.allclose(expected, rtol: 1e-4, atol: 1e-5));
        // "a cat" = BOS a</w> cat</w> EOS: pooled at position 3; "dog a cat": at 4. (Pieces missing
        // from the vocabulary would map to the unknown token, which is the end token in CLIP: avoided here.)
        Assert.True(enc.Pooled[0].allclose(expected[0, 3], rtol: 1e-4, atol: 1e-5));
        Assert.True(enc.Pooled[1].allclose(expected[1, 4], rtol: 1e-4, atol: 1e-5));
        Assert.Equal(new float[] { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, enc.AttentionMask[0].data<float>().ToArray());
    }

    [Fact]
    public void Forward_IsCausalAndIgnoresPaddingIds()
    {
        manual_seed(4);
        using var model = new ClipTextModel(OfficialFiles.TinyClipConfig());
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var mask = tensor(new float[] { 1, 1, 1, 1, 0, 0 }, [1, 6]);
        var a = model.forward(tensor(new long[] { 20, 7, 12, 21, 0, 0 }, [1, 6]), mask);
        var padWithEos = model.forward(tensor(new long[] { 20, 7, 12, 21, 21, 21 }, [1, 6]), mask);
        var laterChanged = model.forward(tensor(new long[] { 20, 7, 14, 21, 0, 0 }, [1, 6]), mask);
        Assert.True(a[0, ..4].allclose(padWithEos[0, ..4], atol: 1e-6));
        Assert.True(a[0, ..2].allclose(laterChanged[0, ..2], atol: 1e-6));
        Assert.False(a[0, 2].allclose(laterChanged[0, 2], atol: 1e-3));
    }

    [Fact]
    public void Pool_LegacyConfigTakesArgmaxNewConfigTakesFirstEndToken()
    {
        using var scope = NewDisposeScope();
        var hidden = arange(2 * 5 * 1, dtype: ScalarType.Float32).view(2, 5, 1);
        // Row 0 pads with "!" (SD 2.x style), row 1 with the end token (OpenAI style).
        var ids = tensor(new long[] { 20, 16, 21, 0, 0, 20, 7, 21, 21, 21 }, [2, 5]);
        using var legacy = new ClipTextModel(OfficialFiles.TinyClipConfig(eosTokenId: 2));
        using var modern = new ClipTextModel(OfficialFiles.TinyClipConfig(eosTokenId: 21));
        // argmax returns the first maximum, so both rules agree here: positions 2 and 2 (row 1: 5 + 2).
        Assert.Equal(new float[] { 2, 7 }, legacy.Pool(hidden, ids).flatten().data<float>().ToArray());
        Assert.Equal(new float[] { 2, 7 }, modern.Pool(hidden, ids).flatten().data<float>().ToArray());
        // They differ when a higher id than the end token's appears (a vocabulary with added tokens).
        var added = tensor(new long[] { 20, 30, 21, 0, 0 }, [1, 5]);
        Assert.Equal(1f, legacy.Pool(hidden[..1], added).item<float>());
        Assert.Equal(2f, modern.Pool(hidden[..1], added).item<float>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Load_ReadsHuggingFaceFoldersStrictly(bool pth)
    {
        using var dir = new TempDir();
        var config = OfficialFiles.TinyClipConfig();
        var (textDir, state) = OfficialFiles.WriteTextEncoder(dir.Path, config, seed: 5, pth: pth);
        var tokDir = OfficialFiles.WriteTokenizer(dir.Path);
        using var model = ClipTextModel.Load(textDir, tokDir);
        foreach (var (k, v) in model.state_dict()) Assert.True(v.eq(state[k]).all().item<bool>(), k);
        Assert.Equal((16, 10), (model.Dim, model.MaxTokens));
        foreach (var t in state.Values) t.Dispose();
    }

    [Fact]
    public void Load_WrongShapeNamesTheKey()
    {
        using var dir = new TempDir();
        var (textDir, _) = OfficialFiles.WriteTextEncoder(dir.Path, OfficialFiles.TinyClipConfig());
        var tokDir = OfficialFiles.WriteTokenizer(dir.Path);
        // The config claims a wider MLP than the weights have.
        File.WriteAllText(Path.Combine(textDir, "config.json"), File.ReadAllText(Path.Combine(textDir, "config.json")).Replace("\"intermediate_size\": 32", "\"intermediate_size\": 48"));
        var e = Assert.Throws<CheckpointMismatchException>(() => ClipTextModel.Load(textDir, tokDir));
        Assert.Contains("mlp.fc1.weight", e.Message);
    }
}

/// <summary>A dictionary of tensors disposed together.</summary>
internal sealed class DisposableDict(Dictionary<string, Tensor> items) : IDisposable
{
    public Dictionary<string, Tensor> Items { get; } = items;
    public void Dispose() { foreach (var t in Items.Values) t.Dispose(); }
}
