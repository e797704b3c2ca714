// Per-scale previews. Decoding f_hat with the VQ-VAE decoder is the faithful picture but costs as much as a large
// slice of the transformer (the official 256 px decoder is ~200 GMAC, a 1024 px one ~3.2 TMAC), so the pipeline offers
// cheaper previews too. The final scale is always decoded in full.
using StarStudio.Model.Imaging;
using StarStudio.Model.Vae;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Generation;

public enum PreviewMode
{
    /// <summary>Full decodes when the VQ-VAE's images are at most 128 px (cheap), Approximate otherwise.</summary>
    Auto,
    /// <summary>The VQ-VAE decoder on f_hat at every scale: exactly the image so far.</summary>
    Full,
    /// <summary>The decoder on f_hat area-downsampled to at most <see cref="PreviewDecoder.ReducedLatentSide"/> (a 128 px preview at 16x downsampling).</summary>
    Reduced,
    /// <summary>A linear map from f_hat's channels to RGB, fitted once per VQ-VAE against its decoder (near-free, blocky).</summary>
    Approximate,
    /// <summary>No previews; only the final image.</summary>
    None,
}

/// <summary>Turns a partial f_hat into preview images according to a <see cref="PreviewMode"/>.</summary>
public sealed class PreviewDecoder(VQVAE vae) : IDisposable
{
    public const int ReducedLatentSide = 8;
    readonly Lock _gate = new();
    Tensor? _w_C3, _b_3;

    public PreviewMode Resolve(PreviewMode mode) =>
        mode != PreviewMode.Auto ? mode : vae.Config.ImageSide <= 128 ? PreviewMode.Full : PreviewMode.Approximate;

    /// <summary>Images in [0, 1], [B, 3, H, W] at the VQ-VAE's output size; null for <see cref="PreviewMode.None"/>.</summary>
    public Tensor? Decode(Tensor f_hat_BCPP, PreviewMode mode)
    {
        using var noGrad = no_grad();
        return Resolve(mode) switch
        {
            PreviewMode.Full => vae.FhatToImg(f_hat_BCPP).add_(1).mul_(0.5),
            PreviewMode.Reduced => Upscale(vae.FhatToPreviewImg(f_hat_BCPP, ReducedLatentSide).add_(1).mul_(0.5)),
            PreviewMode.Approximate => Approximate(f_hat_BCPP),
            _ => null,
        };
    }

    Tensor Upscale(Tensor img_B3hw)
    {
        int side = vae.Config.ImageSide;
        if (img_B3hw.shape[2] == side) return img_B3hw;
        using (img_B3hw) return F.interpolate(img_B3hw, [side, side], mode: InterpolationMode.Bilinear, align_corners: false).clamp_(0, 1);
    }

    Tensor Approximate(Tensor f_hat_BCPP)
    {
        EnsureFitted(f_hat_BCPP.device);
        using var scope = NewDisposeScope();
        // [B, C, P, P] -> [B, P, P, C] @ [C, 3] + b -> [B, 3, P, P], then up to the image size.
        var rgb = f_hat_BCPP.permute(0, 2, 3, 1).matmul(_w_C3!).add(_b_3!).permute(0, 3, 1, 2).clamp(0, 1);
        return Upscale(rgb.contiguous()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Least squares from f_hat vectors to the decoder's colours averaged over each latent cell, on f_hats built from
    /// random tokens through the real residual pyramid (the same path generation takes). Costs two full decodes, once.
    /// </summary>
    void EnsureFitted(Device device)
    {
        lock (_gate)
        {
            if (_w_C3 is not null) return;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var q = vae.Quantize;
            var patchNums = vae.Config.VPatchNums;
            int S = patchNums.Count, P = patchNums[^1], C = vae.Config.Cvae;
            int B = Math.Max(2, (512 + P * P - 1) / (P * P)); // at least ~512 cells for C + 1 unknowns per colour
            using var g = new Generator(12345, device);
            var f_hat = zeros([B, C, P, P], device: device);
            for (int si = 0; si < S; si++)
            {
                int pn = patchNums[si];
                var idx = randint(0, vae.Config.VocabSize, [B, pn * pn], generator: g, device: device);
                var h = ScaleTokens.Lookup(idx, q.Embedding.weight!).transpose(1, 2).reshape(B, C, pn, pn);
                q.GetNextAutoregressiveInput(si, S, f_hat, h);
            }
            var target = F.interpolate(vae.FhatToImg(f_hat).add(1).mul(0.5), [P, P], mode: InterpolationMode.Area); // [B, 3, P, P]
            var X = cat([f_hat.permute(0, 2, 3, 1).reshape(-1, C), ones(B * P * P, 1, device: device)], 1);          // [n, C+1]
            var Y = target.permute(0, 2, 3, 1).reshape(-1, 3);                                                        // [n, 3]
            var ridge = eye(C + 1, device: device).mul(1e-3);
            var sol = linalg.solve(X.T.matmul(X).add(ridge), X.T.matmul(Y));                                        // [C+1, 3]
            _w_C3 = sol.narrow(0, 0, C).contiguous().DetachFromDisposeScope();
            _b_3 = sol[C].contiguous().DetachFromDisposeScope();
        }
    }

    public void Dispose()
    {
        _w_C3?.Dispose();
        _b_3?.Dispose();
    }
}
