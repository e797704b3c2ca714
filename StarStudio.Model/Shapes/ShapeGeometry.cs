// ShapesWorld shape outlines: StarStudio's own synthetic data set (no reference file).
using SkiaSharp;

namespace StarStudio.Model.Shapes;

/// <summary>
/// Every shape defined once, inside the unit square [0,1]x[0,1] (y down), touching all four sides: the renderer
/// stretches it onto an object's box, and the evaluator uses the same outlines as templates to name the shapes it
/// finds.
/// </summary>
public static class ShapeGeometry
{
    /// <summary>Hole diameter of a ring as a fraction of its outer diameter.</summary>
    public const float RingHoleRatio = 0.55f;

    /// <summary>Width of a cross's arms as a fraction of its size.</summary>
    public const float CrossArmWidth = 0.36f;

    /// <summary>Inner radius of a star's notches as a fraction of its tip radius.</summary>
    public const float StarInnerRatio = 0.45f;

    static readonly (float U, float V)[] s_triangle = [(0.5f, 0f), (1f, 1f), (0f, 1f)];
    static readonly (float U, float V)[] s_square = [(0f, 0f), (1f, 0f), (1f, 1f), (0f, 1f)];
    static readonly (float U, float V)[] s_star = BuildStar();
    static readonly (float U, float V)[] s_cross = BuildCross();

    static (float, float)[] BuildStar()
    {
        // Five tips, the first pointing up; then stretch the bounding box (1.90 x 1.81 tip radii) to the unit square.
        var raw = new (double X, double Y)[10];
        for (int k = 0; k < 10; k++)
        {
            double r = k % 2 == 0 ? 1.0 : StarInnerRatio;
            double a = -Math.PI / 2 + k * Math.PI / 5;
            raw[k] = (r * Math.Cos(a), r * Math.Sin(a));
        }
        double minX = raw.Min(p => p.X), maxX = raw.Max(p => p.X), minY = raw.Min(p => p.Y), maxY = raw.Max(p => p.Y);
        return raw.Select(p => ((float)((p.X - minX) / (maxX - minX)), (float)((p.Y - minY) / (maxY - minY)))).ToArray();
    }

    static (float, float)[] BuildCross()
    {
        float a = 0.5f - CrossArmWidth / 2, b = 0.5f + CrossArmWidth / 2;
        return [(a, 0), (b, 0), (b, a), (1, a), (1, b), (b, b), (b, 1), (a, 1), (a, b), (0, b), (0, a), (a, a)];
    }

    /// <summary>Whether the unit-square point (u, v) lies inside the shape.</summary>
    public static bool Contains(ShapeKind shape, double u, double v)
    {
        switch (shape)
        {
            case ShapeKind.Circle:
                return Sq(u - 0.5) + Sq(v - 0.5) <= 0.25;
            case ShapeKind.Ring:
                double d2 = Sq(u - 0.5) + Sq(v - 0.5);
                return d2 <= 0.25 && d2 >= Sq(0.5 * RingHoleRatio);
            case ShapeKind.Square:
                return u is >= 0 and <= 1 && v is >= 0 and <= 1;
            case ShapeKind.Triangle:
                return v is >= 0 and <= 1 && Math.Abs(u - 0.5) <= v / 2;
            case ShapeKind.Cross:
                if (u is < 0 or > 1 || v is < 0 or > 1) return false;
                return Math.Abs(u - 0.5) <= CrossArmWidth / 2 || Math.Abs(v - 0.5) <= CrossArmWidth / 2;
            case ShapeKind.Star:
                return InPolygon(s_star, u, v);
            default:
                throw new ArgumentOutOfRangeException(nameof(shape));
        }
    }

    /// <summary>The shape as a Skia path filling the box (x, y, width, height) in pixels.</summary>
    public static SKPath ToPath(ShapeKind shape, float x, float y, float width, float height)
    {
        using var builder = new SKPathBuilder();
        switch (shape)
        {
            case ShapeKind.Circle:
                builder.AddOval(new SKRect(x, y, x + width, y + height), SKPathDirection.Clockwise);
                break;
            case ShapeKind.Ring:
                builder.FillType = SKPathFillType.EvenOdd;
                builder.AddOval(new SKRect(x, y, x + width, y + height), SKPathDirection.Clockwise);
                float mx = width * (1 - RingHoleRatio) / 2, my = height * (1 - RingHoleRatio) / 2;
                builder.AddOval(new SKRect(x + mx, y + my, x + width - mx, y + height - my), SKPathDirection.Clockwise);
                break;
            default:
                var pts = Polygon(shape);
                builder.MoveTo(x + pts[0].U * width, y + pts[0].V * height);
                for (int i = 1; i < pts.Length; i++) builder.LineTo(x + pts[i].U * width, y + pts[i].V * height);
                builder.Close();
                break;
        }
        return builder.Detach();
    }

    static (float U, float V)[] Polygon(ShapeKind shape) => shape switch
    {
        ShapeKind.Square => s_square,
        ShapeKind.Triangle => s_triangle,
        ShapeKind.Star => s_star,
        ShapeKind.Cross => s_cross,
        _ => throw new ArgumentOutOfRangeException(nameof(shape), $"{shape} is not a polygon"),
    };

    static bool InPolygon((float U, float V)[] pts, double u, double v)
    {
        bool inside = false;
        for (int i = 0, j = pts.Length - 1; i < pts.Length; j = i++)
        {
            var (ui, vi) = pts[i];
            var (uj, vj) = pts[j];
            if ((vi > v) != (vj > v) && u < (uj - ui) * (v - vi) / (vj - vi) + ui)
                inside = !inside;
        }
        return inside;
    }

    static double Sq(double x) => x * x;
}
