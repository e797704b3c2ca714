// ShapesWorld scene model: StarStudio's own synthetic data set (no reference file).
namespace StarStudio.Model.Shapes;

public enum ShapeKind
{
    Circle,
    Square,
    Triangle,
    Star,
    Ring,
    Cross,
}

public enum SizeKind
{
    Small,
    Large,
}

/// <summary>Spatial relations, decided in grid terms (see <see cref="GridCell.Satisfies"/>).</summary>
public enum Relation
{
    Above,
    Below,
    LeftOf,
    RightOf,
}

/// <summary>A cell of the 3x3 grid: row 0 is the top, column 0 the left.</summary>
public readonly record struct GridCell
{
    public GridCell(int row, int col)
    {
        if (row is < 0 or > 2 || col is < 0 or > 2)
            throw new ArgumentOutOfRangeException(nameof(row), $"grid cell ({row}, {col}) is outside the 3x3 grid");
        Row = row;
        Col = col;
    }

    public int Row { get; }
    public int Col { get; }

    /// <summary>0..8, row-major.</summary>
    public int Index => Row * 3 + Col;

    public static GridCell FromIndex(int index) => new(index / 3, index % 3);

    /// <summary>
    /// Whether "this &lt;relation&gt; other" holds. Only the axis of the relation counts, as in GenEval:
    /// "above" means a smaller row whatever the columns are, "left of" a smaller column whatever the rows.
    /// </summary>
    public bool Satisfies(Relation relation, GridCell other) => relation switch
    {
        Relation.Above => Row < other.Row,
        Relation.Below => Row > other.Row,
        Relation.LeftOf => Col < other.Col,
        Relation.RightOf => Col > other.Col,
        _ => throw new ArgumentOutOfRangeException(nameof(relation)),
    };

    public override string ToString() => $"({Row},{Col})";
}

/// <summary>
/// One object of a scene. <see cref="JitterX"/>/<see cref="JitterY"/> in [-1, 1] move it inside its cell by that
/// fraction of the allowed play (see <see cref="ShapesRenderer"/>), so a scene fully determines its pixels.
/// </summary>
public readonly record struct ShapeObject(ShapeKind Shape, PaletteColor Color, SizeKind Size, GridCell Cell,
    float JitterX = 0f, float JitterY = 0f)
{
    public override string ToString() =>
        $"{Size.ToString().ToLowerInvariant()} {Palette.Name(Color)} {Shape.ToString().ToLowerInvariant()} at {Cell}";
}

/// <summary>A ShapesWorld picture: a plain background and 1..3 objects, each in its own grid cell.</summary>
public sealed record Scene
{
    public const int MaxObjects = 3;

    public Scene(PaletteColor background, IReadOnlyList<ShapeObject> objects)
    {
        ArgumentNullException.ThrowIfNull(objects);
        if (objects.Count is < 1 or > MaxObjects)
            throw new ArgumentException($"a scene has 1..{MaxObjects} objects, got {objects.Count}", nameof(objects));
        var cells = new HashSet<int>();
        foreach (var o in objects)
        {
            if (o.Color == background)
                throw new ArgumentException($"object {o} has the background colour", nameof(objects));
            if (!cells.Add(o.Cell.Index))
                throw new ArgumentException($"two objects share cell {o.Cell}", nameof(objects));
            if (!float.IsFinite(o.JitterX) || !float.IsFinite(o.JitterY) || Math.Abs(o.JitterX) > 1 || Math.Abs(o.JitterY) > 1)
                throw new ArgumentException($"jitter of {o} must lie in [-1, 1]", nameof(objects));
        }
        Background = background;
        Objects = objects.ToArray();
    }

    public PaletteColor Background { get; }
    public IReadOnlyList<ShapeObject> Objects { get; }

    /// <summary>The same scene with every object's jitter multiplied by <paramref name="factor"/> (0 centres them all).</summary>
    public Scene WithJitterScaled(float factor) => factor == 1f ? this
        : new Scene(Background, [.. Objects.Select(o => o with { JitterX = o.JitterX * factor, JitterY = o.JitterY * factor })]);

    public bool Equals(Scene? other) =>
        other is not null && Background == other.Background && Objects.SequenceEqual(other.Objects);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Background);
        foreach (var o in Objects) h.Add(o);
        return h.ToHashCode();
    }

    public override string ToString() => $"{Palette.Name(Background)} background: {string.Join("; ", Objects)}";
}
