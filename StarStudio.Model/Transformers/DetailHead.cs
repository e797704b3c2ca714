// StarStudio's own head (no reference file; off unless asked for: StarConfig.DetailHeadFromScale): a small conv net
// that adds its logits to head_logits's on the finest scales. On ShapesWorld every shape is drawn by the 16x16 scale's
// "detail" codes, and a plain 4-layer conv net given only the coarse context of that scale (no prompt) guesses them
// well enough that the held-out truths with its 16x16 guesses pass ShapesEval 43% of the time, against 18% for the
// transformer's own (docs/MODEL_CARD.md, `starstudio probe`). The transformer sees a token's neighbours only through
// attention, which in a CPU budget does not get sharp enough to single them out. This head reads each of its scales as
// a map: per token the scale's input embedding (what ForwardScale was given: the coarse image at this scale) next to
// the features head_logits reads (which carry the prompt), through 3x3 convs within the scale only, so the KV-cached
// per-scale path still equals teacher forcing and a scale never sees a finer one. Its last conv starts at zero: a
// fresh head leaves the model's logits as they were, so it can be trained as a stage of its own on a frozen
// transformer (`starstudio train detail`).
using TorchSharp;
using StarStudio.Model.Vae;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Transformers;

public sealed class DetailHead : nn.Module<Tensor, Tensor, int, Tensor>
{
    readonly TorchSharp.Modules.ModuleList<SafeConv2d> convs = new();
    readonly SafeConv2d output;

    /// <param name="width">The transformer's width C: the head reads 2C channels (input embedding, head features).</param>
    /// <param name="hidden">Channels of the hidden 3x3 convs.</param>
    /// <param name="layers">3x3 convs, each followed by GELU; a 1x1 conv (started at zero) then gives the logits.</param>
    public DetailHead(int width, int hidden, int layers, int vocab, Device? device = null) : base(nameof(DetailHead))
    {
        if (layers < 1) throw new ArgumentException($"The detail head needs at least one 3x3 conv, not {layers}.");
        for (int i = 0; i < layers; i++) convs.Add(new SafeConv2d(i == 0 ? 2 * width : hidden, hidden, 3, padding: 1, device: device));
        output = new SafeConv2d(hidden, vocab, 1, device: device);
        using (no_grad())
            foreach (var p in output.parameters()) p.zero_();
        RegisterComponents();
    }

    /// <param name="input_NlC">The scale's input tokens (word_embed of the coarse image + level embedding), row-major.</param>
    /// <param name="features_NlC">What head_logits reads for the same tokens (logit_norm(h)).</param>
    /// <param name="side">The scale's side pn (l = pn * pn).</param>
    /// <returns>Logits [N, l, V] to add to head_logits's.</returns>
    public override Tensor forward(Tensor input_NlC, Tensor features_NlC, int side)
    {
        long N = input_NlC.shape[0], l = input_NlC.shape[1];
        if (l != (long)side * side || features_NlC.shape[1] != l || features_NlC.shape[0] != N)
            throw new ArgumentException($"The detail head reads a {side}x{side} map: got inputs [{string.Join(",", input_NlC.shape)}] and features [{string.Join(",", features_NlC.shape)}].");
        using var scope = NewDisposeScope();
        var x = cat([input_NlC, features_NlC], 2).transpose(1, 2).reshape(N, -1, side, side);
        foreach (var conv in convs) x = F.gelu(conv.call(x));
        var logits = output.call(x);                                                   // [N, V, side, side]
        return logits.flatten(2).transpose(1, 2).contiguous().MoveToOuterDisposeScope();
    }
}
