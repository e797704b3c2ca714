// StarStudio's own head (no reference file; off unless asked for: StarConfig.CodebookHead): logits tied to the
// VQ-VAE's codebook. A plain head (VAR's head_logits) learns one weight row per code, so a code's logit learns only from
// the tokens where that code was the target. The codes are not arbitrary labels, though: the quantiser picks the entry
// nearest to the residual it is left with (VectorQuantizer2.NearestIndices), and for ShapesWorld the residual that
// turns a blob into a shape is roughly (object colour - background colour) times a mask, so "red star on blue" and
// "green star on yellow" share the geometry but not the code ids. This head predicts the residual instead, u = proj(h)
// in the codebook's space, and scores every code by how near it lies:
//     logits_j = s (2 u.e_j - |e_j|^2 + b_j) = -s (|u - e_j|^2 - b_j) + (the same for every code),
// a Gaussian around u whose per-code offsets b play the part of the quantiser's preferred-code bias. The precision
// s = exp(t) is predicted per token (t is one more output of proj), so the head can be sure over a flat background and
// unsure at an object's edge; one learned scalar would move about lr per AdamW step and never reach its size. The codes
// are taken centred and divided by their spread (Standardised), which keeps its gradients near a plain head's.
// One Gaussian cannot say "this cell is either plain or red": with K > 1 components the head predicts K residuals,
// precisions and mixing weights, and its logits are log sum_k pi_k p_k(code) (normalised log-probabilities).
// StarTransformer adds these logits to head_logits's, which learns the codes' frequencies in a few steps (the offsets
// here, scalars scaled by s, take hundreds). Guidance, top-k and top-p work on the sum unchanged.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StarStudio.Model.Transformers;

public sealed class CodebookHead : nn.Module<Tensor, Tensor>
{
    /// <summary>Most mixture components a head may have (StarConfig and the probe check against it).</summary>
    public const int MaxComponents = 16;

    readonly Linear proj;               // h -> K x [u (Cvae), t (1)], then K mixing logits when K > 1
    readonly int components;
    readonly Parameter bias;
    readonly Tensor codebook;          // [V, Cvae], a frozen copy of the VQ-VAE's embedding (a buffer: saved, not trained)

    /// <param name="codebook">The VQ-VAE's embedding weight [V, Cvae]; copied, so the head never trains the tokenizer.
    /// A model about to load its weights may pass zeros: the loaded codebook and weights replace them.</param>
    /// <param name="components">K: Gaussians around K predicted residuals, mixed (1 = one Gaussian).</param>
    public CodebookHead(long inFeatures, Tensor codebook, int components = 1) : base(nameof(CodebookHead))
    {
        if (components < 1 || components > MaxComponents)
            throw new ArgumentException($"The codebook head takes 1..{MaxComponents} components, not {components}.");
        using var _ = no_grad();
        this.components = components;
        this.codebook = codebook.detach().clone();
        long v = codebook.shape[0], cvae = codebook.shape[1];
        proj = nn.Linear(inFeatures, components * (cvae + 1) + (components > 1 ? components : 0), device: codebook.device);
        bias = new Parameter(zeros(v, device: codebook.device));
        RegisterComponents();
        Tie(codebook);
    }

    /// <summary>Copies <paramref name="codebook"/> in and starts every component's precision (and, given
    /// <paramref name="startCode"/>, its residual at that code).</summary>
    /// <param name="startCode">The code a fresh head should predict everywhere: the quantiser's plain code, which most
    /// tokens are. A plain head learns that prior in its first steps through all its weights; here it would take the
    /// proj bias hundreds of AdamW steps to walk there, a few thousandths of a unit a step.</param>
    public void Tie(Tensor codebook, long? startCode = null)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        if (!codebook.shape.SequenceEqual(this.codebook.shape))
            throw new ArgumentException($"The codebook is [{string.Join(", ", codebook.shape)}], the head was built for [{string.Join(", ", this.codebook.shape)}].");
        this.codebook.copy_(codebook);
        // The head works in the codebook's own units (centred, divided by its spread: Standardised), so two codes a
        // typical distance apart lie sqrt(2) apart there, and the starting precision of 2 makes them differ by about 4 nats.
        // In raw units a small codebook gives precision x code gradients many times a plain head's, and the global
        // gradient clip then slows the whole transformer (a first STAR run clipped 95% of its steps to step 600).
        long cvae = codebook.shape[1];
        var start = startCode is long code ? Standardised(this.codebook)[code] : null;
        for (int k = 0; k < components; k++)
        {
            proj.bias!.narrow(0, k * (cvae + 1) + cvae, 1).fill_(Math.Log(2.0));
            if (start is not null) proj.bias!.narrow(0, k * (cvae + 1), cvae).copy_(start);
        }
    }

    /// <summary>The codebook centred and divided by its root mean squared distance to its centre [V, Cvae].</summary>
    static Tensor Standardised(Tensor codebook)
    {
        var centred = codebook - codebook.mean([0], keepdim: true);
        var spread = centred.pow(2).sum(1).mean().sqrt().clamp_min(1e-12);
        return centred.div(spread);
    }

    /// <param name="h">[..., inFeatures]</param>
    /// <returns>Logits [..., V].</returns>
    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        var all = proj.call(h);
        long cvae = codebook.shape[1];
        var shape = all.shape[..^1];
        var ut = all.narrow(-1, 0, components * (cvae + 1)).reshape([.. shape, components, cvae + 1]);
        var u = ut.narrow(-1, 0, cvae);                       // [..., K, Cvae]
        var precision = ut.narrow(-1, cvae, 1).exp();         // [..., K, 1]
        var e = Standardised(codebook.to(u.device));
        var logits = (u.matmul(e.t()).mul(2) - e.pow(2).sum(1) + bias).mul(precision);   // [..., K, V]
        if (components == 1) logits = logits.squeeze(-2);
        else
        {
            var mix = all.narrow(-1, components * (cvae + 1), components).log_softmax(-1).unsqueeze(-1);
            logits = (logits.log_softmax(-1) + mix).logsumexp(-2);
        }
        return logits.MoveToOuterDisposeScope();
    }
}
