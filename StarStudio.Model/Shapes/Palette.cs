// ShapesWorld palette: StarStudio's own synthetic data set (no reference file).
namespace StarStudio.Model.Shapes;

/// <summary>The colours of ShapesWorld. Objects and backgrounds both use them.</summary>
public enum PaletteColor
{
    Red,
    Orange,
    Yellow,
    Green,
    Cyan,
    Blue,
    Purple,
    White,
    Black,
    Gray,
}

/// <summary>sRGB values and names of the palette.</summary>
/// <remarks>
/// The values are chosen so that every pair is at least ~100 apart in RGB (closest: red/orange 104,
/// purple/gray 108): far enough for a small VQ-VAE at 64x64 to keep them apart and for the evaluator to
/// name a slightly blurred or shifted colour by its nearest neighbour.
/// </remarks>
public static class Palette
{
    static readonly (byte R, byte G, byte B)[] s_rgb =
    [
        (210, 30, 40),   // red
        (245, 125, 15),  // orange
        (250, 235, 50),  // yellow
        (40, 170, 60),   // green
        (50, 215, 225),  // cyan
        (30, 80, 230),   // blue
        (150, 50, 200),  // purple
        (245, 245, 245), // white
        (20, 20, 20),    // black
        (128, 128, 128), // gray
    ];

    /// <summary>Every palette colour, in enum order.</summary>
    public static IReadOnlyList<PaletteColor> All { get; } = Enum.GetValues<PaletteColor>();

    public static (byte R, byte G, byte B) Rgb(PaletteColor color) => s_rgb[(int)color];

    /// <summary>The word the captions use ("red", "gray").</summary>
    public static string Name(PaletteColor color) => color.ToString().ToLowerInvariant();

    /// <summary>Euclidean distance in RGB between a pixel value and a palette colour.</summary>
    public static double Distance(double r, double g, double b, PaletteColor color)
    {
        var (pr, pg, pb) = s_rgb[(int)color];
        double dr = r - pr, dg = g - pg, db = b - pb;
        return Math.Sqrt(dr * dr + dg * dg + db * db);
    }

    /// <summary>The palette colour nearest to an RGB value, optionally leaving one colour out.</summary>
    public static PaletteColor Nearest(double r, double g, double b, PaletteColor? exclude = null)
    {
        PaletteColor best = PaletteColor.Red;
        double bestD = double.MaxValue;
        foreach (var c in All)
        {
            if (c == exclude) continue;
            double d = Distance(r, g, b, c);
            if (d < bestD) { bestD = d; best = c; }
        }
        return best;
    }

    /// <summary>The smallest distance between two palette colours (the scale for the evaluator's tolerances).</summary>
    public static double MinimumSeparation { get; } = ComputeMinimumSeparation();

    static double ComputeMinimumSeparation()
    {
        double min = double.MaxValue;
        foreach (var a in All)
            foreach (var b in All)
                if (a < b)
                {
                    var (r, g, bl) = Rgb(a);
                    min = Math.Min(min, Distance(r, g, bl, b));
                }
        return min;
    }
}
