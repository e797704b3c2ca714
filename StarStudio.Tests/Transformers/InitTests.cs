using StarStudio.Model.Text;
using StarStudio.Model.Training;
using StarStudio.Model.Transformers;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Tests.Transformers;

[Collection(TorchStateCollection.Name)]
public class InitTests
{
    [Fact]
    public void TruncNormal_HasTheTruncatedNormalsMomentsAndBounds()
    {
        manual_seed(3);
        // Wide bounds: a plain N(0, 0.05^2).
        using var wide = TruncNormal.Fill_(empty(200_000), std: 0.05);
        Assert.Equal(0, wide.mean().item<float>(), 0.001);
        Assert.Equal(0.05, wide.std().item<float>(), 0.001);
        // Bounds at one standard deviation: std of N(0,1) truncated to [-1, 1] is 0.5396 (textbook value).
        using var narrow = TruncNormal.Fill_(empty(200_000), std: 1, a: -1, b: 1);
        Assert.Equal(0.5396, narrow.std().item<float>(), 0.005);
        Assert.True(narrow.min().item<float>() >= -1 && narrow.max().item<float>() <= 1);
        Assert.Throws<ArgumentException>(() => TruncNormal.Fill_(empty(3), std: 0));
    }

    [Fact]
    public void FreshStarTransformer_EveryMainParameterGetsAGradient()
    {
        // The regression behind the first two shapes models: with constant initial weights every channel was equal
        // and only head_logits.bias learned.
        var preset = ShapesModelPreset.Tiny;
        manual_seed(4);
        using var transformer = new StarTransformer(preset.Star);
        transformer.InitWeights(initStd: -1);
        using var text = new WordTextEncoder(ShapesModelPreset.Tokenizer(), preset.Text);
        transformer.train();
        long L = preset.Vae.TotalTokens;
        var enc = text.Encode(["a red circle", "two blue squares"]);
        var (logits, hidden) = transformer.Forward(randn(2, L - 1, preset.Vae.Cvae), new TextConditioning(enc.HiddenStates, enc.AttentionMask, enc.Pooled));
        Assert.True(hidden.std(2).min().item<float>() > 0.1, "the hidden state must differ across channels");
        F.cross_entropy(logits.reshape(-1, logits.shape[2]), randint(0, preset.Vae.VocabSize, [2 * L])).backward();
        var without = transformer.named_parameters()
            .Where(p => !StarTrainer.IsSamplerHeadParameter(p.name) && p.name != "class_emb.weight")
            .Where(p => p.parameter.grad is null || p.parameter.grad.abs().max().item<float>() == 0)
            .Select(p => p.name).ToList();
        Assert.Empty(without);
    }

    [Fact]
    public void WordTextEncoder_StartsWithClipsEmbeddingScales()
    {
        // With Embedding's N(0, 1) the words were 50x larger than the positions and the encoder read prompts as bags
        // of words ("red circle on blue" = "blue circle on red").
        manual_seed(5);
        using var text = new WordTextEncoder(ShapesModelPreset.Tokenizer(), ShapesModelPreset.Shapes.Text);
        var p = text.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        Assert.Equal(0.02, p["token_embedding.weight"].std().item<float>(), 0.002);
        Assert.Equal(0.01, p["position_embedding"].std().item<float>(), 0.002);
    }
}
