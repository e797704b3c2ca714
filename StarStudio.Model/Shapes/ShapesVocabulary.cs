// The ShapesWorld caption vocabulary: StarStudio's own (no reference file).
namespace StarStudio.Model.Shapes;

/// <summary>
/// Every word <see cref="CaptionGrammar"/> can emit, and the word classes <see cref="PromptClaims.Parse(string)"/>
/// reads. A word tokenizer for the ShapesWorld text encoder is built over <see cref="Words"/>; anything else is
/// unknown to the model.
/// </summary>
public static class ShapesVocabulary
{
    static readonly Dictionary<string, int> s_counts = new() { ["a"] = 1, ["an"] = 1, ["one"] = 1, ["two"] = 2, ["three"] = 3 };
    static readonly Dictionary<string, SizeKind> s_sizes = new() { ["small"] = SizeKind.Small, ["large"] = SizeKind.Large, ["big"] = SizeKind.Large };
    static readonly Dictionary<string, PaletteColor> s_colors = Palette.All.ToDictionary(Palette.Name);
    static readonly Dictionary<string, (ShapeKind Shape, bool Plural)> s_shapes = BuildShapes();

    /// <summary>Words that only place, relate or join ("on a blue background", "to the left of", "top left corner").</summary>
    static readonly string[] s_structure =
    [
        "above", "below", "under", "left", "right", "of", "to", "the",
        "in", "at", "on", "top", "bottom", "middle", "center", "corner",
        "background", "picture", "image", "with", "against", "and",
    ];

    static Dictionary<string, (ShapeKind, bool)> BuildShapes()
    {
        var d = new Dictionary<string, (ShapeKind, bool)>();
        foreach (var s in Enum.GetValues<ShapeKind>())
        {
            d[ShapeWord(s, 1)] = (s, false);
            d[ShapeWord(s, 2)] = (s, true);
        }
        return d;
    }

    /// <summary>All words, sorted ordinally, no duplicates.</summary>
    public static IReadOnlyList<string> Words { get; } =
        s_counts.Keys.Concat(s_sizes.Keys).Concat(s_colors.Keys).Concat(s_shapes.Keys).Concat(s_structure)
            .Distinct().Order(StringComparer.Ordinal).ToArray();

    static readonly HashSet<string> s_known = new(Words, StringComparer.Ordinal);

    public static bool IsKnown(string word) => s_known.Contains(word);

    /// <summary>"circle", "circles", "cross", "crosses".</summary>
    public static string ShapeWord(ShapeKind shape, int count)
    {
        string w = shape.ToString().ToLowerInvariant();
        if (count == 1) return w;
        return w.EndsWith('s') ? w + "es" : w + "s";
    }

    /// <summary>Lower-cases and splits on anything that is not a letter: "Red circle, BLUE background" -> red circle blue background.</summary>
    public static IReadOnlyList<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<string>();
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool letter = i < text.Length && char.IsLetter(text[i]);
            if (letter && start < 0) start = i;
            else if (!letter && start >= 0)
            {
                words.Add(text[start..i].ToLowerInvariant());
                start = -1;
            }
        }
        return words;
    }

    internal static bool TryCount(string w, out int count) => s_counts.TryGetValue(w, out count);
    internal static bool TrySize(string w, out SizeKind size) => s_sizes.TryGetValue(w, out size);
    internal static bool TryColor(string w, out PaletteColor color) => s_colors.TryGetValue(w, out color);

    internal static bool TryShape(string w, out ShapeKind shape, out bool plural)
    {
        bool ok = s_shapes.TryGetValue(w, out var v);
        (shape, plural) = v;
        return ok;
    }
}
