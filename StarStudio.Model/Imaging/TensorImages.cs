using StarStudio.Model.Generation;
using static TorchSharp.torch;

namespace StarStudio.Model.Imaging;

public static class TensorImages
{
    /// <summary>
    /// [B, 3, H, W] in [0, 1] to one RGB image per row. Truncates x*255 like the reference demo's
    /// `(img * 255.).astype(np.uint8)`, so our PNGs match its bytes.
    /// </summary>
    public static IReadOnlyList<RgbImage> ToRgb(Tensor img_B3HW)
    {
        if (img_B3HW.dim() != 4 || img_B3HW.shape[1] != 3) throw new ArgumentException($"Expected [B, 3, H, W], got [{string.Join(", ", img_B3HW.shape)}].");
        int B = (int)img_B3HW.shape[0], H = (int)img_B3HW.shape[2], W = (int)img_B3HW.shape[3];
        using var scope = NewDisposeScope();
        var bytes = img_B3HW.detach().cpu().mul(255).clamp(0, 255).to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous();
        var all = bytes.data<byte>().ToArray();
        var images = new RgbImage[B];
        int n = H * W * 3;
        for (int b = 0; b < B; b++) images[b] = new RgbImage(W, H, all.AsSpan(b * n, n).ToArray());
        return images;
    }
}
