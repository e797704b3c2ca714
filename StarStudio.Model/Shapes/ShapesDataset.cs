// ShapesWorld data set, splits and held-out prompts: StarStudio's own synthetic data set (no reference file).
using StarStudio.Model.Imaging;
namespace StarStudio.Model.Shapes;

public enum ShapesSplit
{
    /// <summary>Scenes with no held-out combination.</summary>
    Train,
    /// <summary>Same distribution as Train, drawn from a different random stream (for validation losses).</summary>
    Validation,
    /// <summary>Scenes with at least one held-out combination (compositional generalisation).</summary>
    HeldOut,
}

/// <summary>GenEval-style prompt categories.</summary>
public enum EvalCategory
{
    SingleObject,
    TwoObjects,
    Counting,
    Colors,
    Position,
    AttributeBinding,
}

/// <summary>One data set item: the rendered picture, its caption (with claims) and the scene it shows.</summary>
public sealed record ShapesSample(int Index, RgbImage Image, Caption Caption, Scene Scene)
{
    public string Text => Caption.Text;
}

/// <summary>An evaluation prompt, its claims, and a scene (ground truth) that satisfies them.</summary>
public sealed record HeldOutPrompt(EvalCategory Category, string Prompt, PromptClaims Claims, Scene Scene);

/// <summary>
/// The ShapesWorld data set: sample i of (seed, split) is always the same scene, caption and pixels.
/// </summary>
/// <remarks>
/// Held-out rule (compositional generalisation). A scene is held out, and never appears in Train or Validation,
/// when any of these holds:
/// <list type="bullet">
/// <item>A: an object is one of the colour-shape pairs <see cref="HeldOutColorShapes"/> (red triangle, orange square,
/// yellow cross, green ring, blue star, purple circle). Each of those colours and shapes still appears in training
/// with the other five shapes / nine colours.</item>
/// <item>B: two objects' shapes form one of the pairs <see cref="HeldOutShapePairs"/> (circle+cross, square+star,
/// triangle+ring): each shape is seen in training, never together with its partner.</item>
/// <item>C: an object has one of the colours <see cref="HeldOutColorOnBackground"/> on that background (yellow on
/// black, white on red, blue on orange, green on purple, black on cyan).</item>
/// </list>
/// <see cref="HeldOutPrompts"/> builds each category's prompts to break a rule that fits it: single object,
/// counting and attribute binding use A; two objects and position use B; colours uses C.
/// </remarks>
public sealed class ShapesDataset
{
    // Lists, not sets: HeldOutPrompts draws from them by index, so their order is part of the data set.
    public static IReadOnlyList<(PaletteColor Color, ShapeKind Shape)> HeldOutColorShapes { get; } =
    [
        (PaletteColor.Red, ShapeKind.Triangle),
        (PaletteColor.Orange, ShapeKind.Square),
        (PaletteColor.Yellow, ShapeKind.Cross),
        (PaletteColor.Green, ShapeKind.Ring),
        (PaletteColor.Blue, ShapeKind.Star),
        (PaletteColor.Purple, ShapeKind.Circle),
    ];

    /// <summary>Unordered shape pairs, stored with the smaller enum value first.</summary>
    public static IReadOnlyList<(ShapeKind A, ShapeKind B)> HeldOutShapePairs { get; } =
    [
        (ShapeKind.Circle, ShapeKind.Cross),
        (ShapeKind.Square, ShapeKind.Star),
        (ShapeKind.Triangle, ShapeKind.Ring),
    ];

    public static IReadOnlyList<(PaletteColor Object, PaletteColor Background)> HeldOutColorOnBackground { get; } =
    [
        (PaletteColor.Yellow, PaletteColor.Black),
        (PaletteColor.White, PaletteColor.Red),
        (PaletteColor.Blue, PaletteColor.Orange),
        (PaletteColor.Green, PaletteColor.Purple),
        (PaletteColor.Black, PaletteColor.Cyan),
    ];

    static readonly HashSet<(PaletteColor, ShapeKind)> s_heldColorShapes = [.. HeldOutColorShapes];
    static readonly HashSet<(ShapeKind, ShapeKind)> s_heldShapePairs = [.. HeldOutShapePairs];
    static readonly HashSet<(PaletteColor, PaletteColor)> s_heldOnBackground = [.. HeldOutColorOnBackground];
    static readonly ShapeKind[] s_shapes = Enum.GetValues<ShapeKind>();
    static readonly EvalCategory[] s_categories = Enum.GetValues<EvalCategory>();

    /// <param name="jitter">Scales every object's drawn offset from its cell's centre: 1 = ShapesWorld's full play,
    /// 0 = every object exactly at its cell's centre. The scenes are otherwise the same (the offsets are drawn either way).</param>
    public ShapesDataset(int seed, ShapesSplit split, int imageSize = ShapesRenderer.DefaultSize, float jitter = 1f)
    {
        if (imageSize is < ShapesRenderer.MinSize or > ShapesRenderer.MaxSize)
            throw new ArgumentOutOfRangeException(nameof(imageSize), $"image size {imageSize} must lie in {ShapesRenderer.MinSize}..{ShapesRenderer.MaxSize}");
        if (!float.IsFinite(jitter) || jitter is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(jitter), $"jitter {jitter} must lie in [0, 1]");
        Seed = seed;
        Split = split;
        ImageSize = imageSize;
        Jitter = jitter;
    }

    public int Seed { get; }
    public ShapesSplit Split { get; }
    public int ImageSize { get; }
    /// <summary>Share of ShapesWorld's play by which objects move from their cells' centres (see the constructor).</summary>
    public float Jitter { get; }

    /// <summary>Sample i: scene, caption and rendered image, all determined by (seed, split, i).</summary>
    public ShapesSample Sample(int index)
    {
        var (scene, caption) = SceneAndCaption(index);
        return new ShapesSample(index, ShapesRenderer.Render(scene, ImageSize), caption, scene);
    }

    /// <summary>Sample i without rendering it.</summary>
    public (Scene Scene, Caption Caption) SceneAndCaption(int index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index), "sample index must be non-negative");
        var rng = new Random(MixSeed(Seed, (int)Split + 1, index));
        // The object count is drawn first and kept while rejecting, so rejection (which hits crowded scenes more
        // often) does not skew the 30/40/30 mix of one, two and three objects.
        double u = rng.NextDouble();
        int n = u < 0.3 ? 1 : u < 0.7 ? 2 : 3;
        Scene scene;
        do scene = RandomScene(rng, n);
        while (IsHeldOut(scene) != (Split == ShapesSplit.HeldOut));
        return (scene.WithJitterScaled(Jitter), CaptionGrammar.DescribeWithClaims(scene, rng));
    }

    /// <summary>Which held-out rule a scene breaks ("A: red triangle", ...), or null for a training scene.</summary>
    public static string? HeldOutReason(Scene scene)
    {
        ArgumentNullException.ThrowIfNull(scene);
        foreach (var o in scene.Objects)
        {
            if (s_heldColorShapes.Contains((o.Color, o.Shape)))
                return $"A: {Palette.Name(o.Color)} {ShapesVocabulary.ShapeWord(o.Shape, 1)}";
            if (s_heldOnBackground.Contains((o.Color, scene.Background)))
                return $"C: {Palette.Name(o.Color)} on {Palette.Name(scene.Background)}";
        }
        foreach (var a in scene.Objects)
            foreach (var b in scene.Objects)
                if (a.Shape < b.Shape && s_heldShapePairs.Contains((a.Shape, b.Shape)))
                    return $"B: {ShapesVocabulary.ShapeWord(a.Shape, 1)} with {ShapesVocabulary.ShapeWord(b.Shape, 1)}";
        return null;
    }

    public static bool IsHeldOut(Scene scene) => HeldOutReason(scene) is not null;

    /// <summary>
    /// n evaluation prompts, categories in turn (SingleObject, TwoObjects, Counting, Colors, Position,
    /// AttributeBinding, SingleObject, ...), each held out by construction, each with a ground-truth scene.
    /// </summary>
    public IReadOnlyList<HeldOutPrompt> HeldOutPrompts(int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n));
        var rng = new Random(MixSeed(Seed, 100, 0));
        var prompts = new List<HeldOutPrompt>(n);
        for (int i = 0; i < n; i++)
        {
            var category = s_categories[i % s_categories.Length];
            var (scene, options) = HeldOutScene(category, rng);
            if (!IsHeldOut(scene))
                throw new InvalidOperationException($"internal error: {category} scene {scene} is not held out");
            var caption = CaptionGrammar.DescribeWithClaims(scene, rng, options);
            prompts.Add(new HeldOutPrompt(category, caption.Text, caption.Claims, scene.WithJitterScaled(Jitter)));
        }
        return prompts;
    }

    static (Scene, CaptionOptions) HeldOutScene(EvalCategory category, Random rng)
    {
        var plain = new CaptionOptions { Relation = Mention.Never, Positions = Mention.Never, Sizes = Mention.Never };
        var heldPairs = HeldOutColorShapes;
        var shapePairs = HeldOutShapePairs;
        switch (category)
        {
            case EvalCategory.SingleObject:
            {
                var (c, s) = heldPairs[rng.Next(heldPairs.Count)];
                return (Build(rng, BackgroundOtherThan(rng, c), [(c, s)]), plain);
            }
            case EvalCategory.Counting:
            {
                var (c, s) = heldPairs[rng.Next(heldPairs.Count)];
                int k = rng.Next(2, 4);
                return (Build(rng, BackgroundOtherThan(rng, c), Enumerable.Repeat((c, s), k).ToArray()), plain);
            }
            case EvalCategory.Colors:
            {
                var (c, bg) = HeldOutColorOnBackground[rng.Next(HeldOutColorOnBackground.Count)];
                ShapeKind s;
                do s = s_shapes[rng.Next(s_shapes.Length)]; while (s_heldColorShapes.Contains((c, s)));
                return (Build(rng, bg, [(c, s)]), plain with { Background = Mention.Always });
            }
            case EvalCategory.TwoObjects or EvalCategory.Position:
            {
                var (a, b) = shapePairs[rng.Next(shapePairs.Count)];
                if (rng.Next(2) == 0) (a, b) = (b, a);
                var bg = Palette.All[rng.Next(Palette.All.Count)];
                var ca = ColorOtherThan(rng, bg);
                var cb = ColorOtherThan(rng, bg);
                var options = category == EvalCategory.Position ? plain with { Relation = Mention.Always } : plain;
                return (Build(rng, bg, [(ca, a), (cb, b)]), options);
            }
            case EvalCategory.AttributeBinding:
            {
                var (c, s) = heldPairs[rng.Next(heldPairs.Count)];
                PaletteColor c2;
                ShapeKind s2;
                do
                {
                    c2 = Palette.All[rng.Next(Palette.All.Count)];
                    s2 = s_shapes[rng.Next(s_shapes.Length)];
                } while (c2 == c || s2 == s);
                PaletteColor bg;
                do bg = Palette.All[rng.Next(Palette.All.Count)]; while (bg == c || bg == c2);
                (PaletteColor, ShapeKind)[] objs = rng.Next(2) == 0 ? [(c, s), (c2, s2)] : [(c2, s2), (c, s)];
                return (Build(rng, bg, objs), plain);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(category));
        }
    }

    /// <summary>The training distribution for n objects: sometimes a counted group of identical ones.</summary>
    static Scene RandomScene(Random rng, int n)
    {
        var bg = Palette.All[rng.Next(Palette.All.Count)];
        var kinds = new (PaletteColor, ShapeKind)[n];
        for (int i = 0; i < n; i++)
            kinds[i] = (ColorOtherThan(rng, bg), s_shapes[rng.Next(s_shapes.Length)]);
        if (n >= 2 && rng.NextDouble() < 0.3)
        {
            int k = rng.Next(2, n + 1); // a group of k identical objects
            for (int i = 1; i < k; i++) kinds[i] = kinds[0];
        }
        return Build(rng, bg, kinds);
    }

    /// <summary>Places the given objects in distinct random cells with random sizes and jitter.</summary>
    static Scene Build(Random rng, PaletteColor bg, (PaletteColor Color, ShapeKind Shape)[] kinds)
    {
        var cells = Enumerable.Range(0, 9).ToArray();
        for (int i = 8; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (cells[i], cells[j]) = (cells[j], cells[i]);
        }
        var objects = new ShapeObject[kinds.Length];
        for (int i = 0; i < kinds.Length; i++)
        {
            var size = rng.Next(2) == 0 ? SizeKind.Small : SizeKind.Large;
            float jx = (float)(rng.NextDouble() * 2 - 1), jy = (float)(rng.NextDouble() * 2 - 1);
            objects[i] = new ShapeObject(kinds[i].Shape, kinds[i].Color, size, GridCell.FromIndex(cells[i]), jx, jy);
        }
        return new Scene(bg, objects);
    }

    static PaletteColor ColorOtherThan(Random rng, PaletteColor bg)
    {
        int k = rng.Next(Palette.All.Count - 1);
        return Palette.All[k >= (int)bg ? k + 1 : k];
    }

    static PaletteColor BackgroundOtherThan(Random rng, PaletteColor objectColor) => ColorOtherThan(rng, objectColor);

    /// <summary>SplitMix64 over (seed, stream, index): independent, platform-stable seeds for System.Random.</summary>
    internal static int MixSeed(int seed, int stream, int index)
    {
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)stream << 32 ^ (uint)index;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
