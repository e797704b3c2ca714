// Shape templates for ShapesEval: StarStudio's own (no reference file).
namespace StarStudio.Model.Shapes;

/// <summary>
/// Area-exact pixel coverage of each shape stretched onto any box: a fine mask of the unit-square outline
/// (<see cref="ShapeGeometry.Contains"/>) and its summed-area table, so the coverage of a pixel is four bilinear
/// look-ups however the box is placed or scaled.
/// </summary>
internal static class ShapeTemplates
{
    const int R = 128;      // mask resolution over the unit square
    const int Super = 2;    // samples per mask cell and axis

    /// <summary>Centroid and standard deviations of the filled outline, in unit-square coordinates.</summary>
    public readonly record struct Moments(double MeanU, double MeanV, double StdU, double StdV);

    static readonly (float[] Sat, Moments Moments)[] s_templates = Enum.GetValues<ShapeKind>().Select(Build).ToArray();

    public static Moments MomentsOf(ShapeKind shape) => s_templates[(int)shape].Moments;

    /// <summary>
    /// Samples the outline on a fine grid once: the summed-area table S[(R+1) x (R+1)] (S[j, i] = covered area of
    /// [0, i/R] x [0, j/R] in unit-square units) and the outline's moments.
    /// </summary>
    static (float[], Moments) Build(ShapeKind shape)
    {
        var sat = new float[(R + 1) * (R + 1)];
        double cellArea = 1.0 / ((double)R * R);
        double m = 0, su = 0, sv = 0, suu = 0, svv = 0;
        for (int j = 0; j < R; j++)
        {
            double rowSum = 0;
            for (int i = 0; i < R; i++)
            {
                int hits = 0;
                for (int sy = 0; sy < Super; sy++)
                    for (int sx = 0; sx < Super; sx++)
                    {
                        double u = (i + (sx + 0.5) / Super) / R, v = (j + (sy + 0.5) / Super) / R;
                        if (!ShapeGeometry.Contains(shape, u, v)) continue;
                        hits++;
                        m++; su += u; sv += v; suu += u * u; svv += v * v;
                    }
                rowSum += hits * cellArea / (Super * Super);
                sat[(j + 1) * (R + 1) + i + 1] = (float)(sat[j * (R + 1) + i + 1] + rowSum);
            }
        }
        double mu = su / m, mv = sv / m;
        return (sat, new Moments(mu, mv, Math.Sqrt(suu / m - mu * mu), Math.Sqrt(svv / m - mv * mv)));
    }

    /// <summary>Covered area of [0,u] x [0,v] (u, v clamped to the unit square), bilinear between table entries.</summary>
    static double AreaTo(float[] sat, double u, double v)
    {
        double x = Math.Clamp(u, 0, 1) * R, y = Math.Clamp(v, 0, 1) * R;
        int x0 = Math.Min((int)x, R - 1), y0 = Math.Min((int)y, R - 1);
        double fx = x - x0, fy = y - y0;
        int w = R + 1;
        double s00 = sat[y0 * w + x0], s10 = sat[y0 * w + x0 + 1], s01 = sat[(y0 + 1) * w + x0], s11 = sat[(y0 + 1) * w + x0 + 1];
        return (s00 * (1 - fx) + s10 * fx) * (1 - fy) + (s01 * (1 - fx) + s11 * fx) * fy;
    }

    /// <summary>
    /// Fraction of each pixel of a window covered by the shape filling the box (left, top, width, height), all in
    /// pixels. The window starts at pixel (wx, wy) and is ww x wh pixels; the result is row-major.
    /// </summary>
    public static float[] Coverage(ShapeKind shape, double left, double top, double width, double height,
        int wx, int wy, int ww, int wh)
    {
        var sat = s_templates[(int)shape].Sat;
        var cov = new float[ww * wh];
        double pixelArea = 1.0 / (width * height); // one pixel in unit-square units
        var us = new double[ww + 1];
        for (int i = 0; i <= ww; i++) us[i] = (wx + i - left) / width;
        for (int j = 0; j < wh; j++)
        {
            double v0 = (wy + j - top) / height, v1 = (wy + j + 1 - top) / height;
            if (v1 <= 0 || v0 >= 1) continue;
            for (int i = 0; i < ww; i++)
            {
                double u0 = us[i], u1 = us[i + 1];
                if (u1 <= 0 || u0 >= 1) continue;
                double a = AreaTo(sat, u1, v1) - AreaTo(sat, u0, v1) - AreaTo(sat, u1, v0) + AreaTo(sat, u0, v0);
                cov[j * ww + i] = (float)Math.Clamp(a / pixelArea, 0, 1);
            }
        }
        return cov;
    }

    /// <summary>Separable Gaussian blur (sigma in pixels) of a row-major ww x wh map, zero outside.</summary>
    public static float[] Blur(float[] map, int ww, int wh, double sigma)
    {
        if (sigma <= 0) return map;
        int r = (int)Math.Ceiling(3 * sigma);
        var k = new double[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += k[i + r] = Math.Exp(-i * i / (2 * sigma * sigma));
        for (int i = 0; i < k.Length; i++) k[i] /= sum;
        var tmp = new float[map.Length];
        var dst = new float[map.Length];
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++)
            {
                double acc = 0;
                for (int t = -r; t <= r; t++)
                {
                    int xx = x + t;
                    if (xx >= 0 && xx < ww) acc += k[t + r] * map[y * ww + xx];
                }
                tmp[y * ww + x] = (float)acc;
            }
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++)
            {
                double acc = 0;
                for (int t = -r; t <= r; t++)
                {
                    int yy = y + t;
                    if (yy >= 0 && yy < wh) acc += k[t + r] * tmp[yy * ww + x];
                }
                dst[y * ww + x] = (float)acc;
            }
        return dst;
    }
}
