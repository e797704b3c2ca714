using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;

namespace StarStudio.Web.Services;

/// <summary>The scale explorer's pictures: what a scale added, its token map coloured by code, its confidence.</summary>
public static class ScaleImages
{
    /// <summary>
    /// What scale k added to the image: |now - before| per channel, doubled so small changes show (the first scale
    /// is compared with mid-grey, the decoder's picture of nothing).
    /// </summary>
    public static RgbImage Residual(RgbImage now, RgbImage? before)
    {
        if (before is not null && (before.Width != now.Width || before.Height != now.Height))
            throw new ArgumentException($"Images differ in size: {now.Width}x{now.Height} and {before.Width}x{before.Height}.");
        var px = new byte[now.Pixels.Length];
        for (int i = 0; i < px.Length; i++)
            px[i] = (byte)Math.Min(255, 2 * Math.Abs(now.Pixels[i] - (before?.Pixels[i] ?? 128)));
        return new RgbImage(now.Width, now.Height, px);
    }

    /// <summary>Colour of a codebook id: hues spaced by the golden ratio, so neighbouring ids look different.</summary>
    public static (byte R, byte G, byte B) CodeColor(int code)
    {
        double h = code * 0.6180339887498949 % 1.0;
        return Hsv(h, 0.65, 0.92);
    }

    /// <summary>A side x side image, one pixel per token (CSS scales it up without smoothing).</summary>
    public static RgbImage TokenMap(int[] tokens, int side)
    {
        if (tokens.Length != side * side) throw new ArgumentException($"{tokens.Length} tokens for a {side}x{side} map.");
        var px = new byte[tokens.Length * 3];
        for (int i = 0; i < tokens.Length; i++) (px[3 * i], px[3 * i + 1], px[3 * i + 2]) = CodeColor(tokens[i]);
        return new RgbImage(side, side, px);
    }

    /// <summary>Confidence 0..1 as dark blue (0) through red (0.5) to yellow (1).</summary>
    public static RgbImage Confidence(float[] confidence, int side)
    {
        if (confidence.Length != side * side) throw new ArgumentException($"{confidence.Length} values for a {side}x{side} map.");
        var px = new byte[confidence.Length * 3];
        for (int i = 0; i < confidence.Length; i++) (px[3 * i], px[3 * i + 1], px[3 * i + 2]) = Heat(confidence[i]);
        return new RgbImage(side, side, px);
    }

    public static (byte R, byte G, byte B) Heat(float p)
    {
        double t = Math.Clamp(double.IsNaN(p) ? 0 : p, 0, 1);
        (double r, double g, double b) lo = t < 0.5 ? (20, 20, 90) : (210, 50, 50);
        (double r, double g, double b) hi = t < 0.5 ? (210, 50, 50) : (250, 230, 80);
        double u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
        return ((byte)Math.Round(lo.r + (hi.r - lo.r) * u), (byte)Math.Round(lo.g + (hi.g - lo.g) * u), (byte)Math.Round(lo.b + (hi.b - lo.b) * u));
    }

    public static byte[] Png(RgbImage image) => PngWriter.Encode(image);

    static (byte, byte, byte) Hsv(double h, double s, double v)
    {
        double c = v * s, x = c * (1 - Math.Abs(h * 6 % 2 - 1)), m = v - c;
        var (r, g, b) = (int)(h * 6) switch
        {
            0 => (c, x, 0.0), 1 => (x, c, 0.0), 2 => (0.0, c, x), 3 => (0.0, x, c), 4 => (x, 0.0, c), _ => (c, 0.0, x),
        };
        return ((byte)Math.Round((r + m) * 255), (byte)Math.Round((g + m) * 255), (byte)Math.Round((b + m) * 255));
    }
}
