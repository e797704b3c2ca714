using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

/// <summary>Checks in grid terms, written independently of the evaluator's image analysis.</summary>
static class ShapesTestHelpers
{
    /// <summary>Whether every claim is true of the scene itself (not of its pixels).</summary>
    public static bool ClaimsHold(Scene scene, PromptClaims claims, out string why)
    {
        why = "";
        if (claims.Background is { } bg && bg != scene.Background) { why = "background"; return false; }
        foreach (var c in claims.Objects)
        {
            var same = scene.Objects.Where(o => o.Color == c.Color && o.Shape == c.Shape).ToList();
            if (c.Count == 1 ? same.Count < 1 : same.Count != c.Count) { why = $"count of {c}"; return false; }
            if (c.Size is { } s && !(c.Count == 1 ? same.Any(o => o.Size == s) : same.All(o => o.Size == s))) { why = $"size of {c}"; return false; }
            if (c.Cell is { } cell && !same.Any(o => o.Cell == cell)) { why = $"cell of {c}"; return false; }
        }
        foreach (var r in claims.Relations)
        {
            var a = claims.Objects[r.Subject];
            var b = claims.Objects[r.Object];
            bool ok = scene.Objects.Where(o => o.Color == a.Color && o.Shape == a.Shape)
                .Any(oa => scene.Objects.Where(o => o.Color == b.Color && o.Shape == b.Shape).Any(ob => oa.Cell.Satisfies(r.Relation, ob.Cell)));
            if (!ok) { why = $"relation {r}"; return false; }
        }
        return true;
    }

    /// <summary>A Gaussian blur of the whole picture (edges clamped), standing in for a blurry decoder.</summary>
    public static RgbImage Blur(RgbImage img, double sigma)
    {
        int w = img.Width, h = img.Height, r = (int)Math.Ceiling(3 * sigma);
        var k = Enumerable.Range(-r, 2 * r + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double sum = k.Sum();
        var tmp = new double[w * h * 3];
        var dst = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double a = 0;
                    for (int t = -r; t <= r; t++) a += k[t + r] * img.Pixels[(y * w + Math.Clamp(x + t, 0, w - 1)) * 3 + c];
                    tmp[(y * w + x) * 3 + c] = a / sum;
                }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double a = 0;
                    for (int t = -r; t <= r; t++) a += k[t + r] * tmp[(Math.Clamp(y + t, 0, h - 1) * w + x) * 3 + c];
                    dst[(y * w + x) * 3 + c] = (byte)Math.Clamp(Math.Round(a / sum), 0, 255);
                }
        return new RgbImage(w, h, dst);
    }
}
