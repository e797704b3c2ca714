// ShapesWorld caption grammar: StarStudio's own synthetic data set (no reference file).
namespace StarStudio.Model.Shapes;

/// <summary>Whether a caption states something: left to chance, always (when the scene allows), or never.</summary>
public enum Mention
{
    Random,
    Always,
    Never,
}

/// <summary>What <see cref="CaptionGrammar"/> may state besides the objects themselves.</summary>
public sealed record CaptionOptions
{
    public Mention Background { get; init; } = Mention.Random;
    /// <summary>A relation needs two single objects (not part of a counted group).</summary>
    public Mention Relation { get; init; } = Mention.Random;
    public Mention Positions { get; init; } = Mention.Random;
    public Mention Sizes { get; init; } = Mention.Random;

    public static CaptionOptions Default { get; } = new();
}

/// <summary>A caption and exactly the claims it makes.</summary>
public sealed record Caption(string Text, PromptClaims Claims);

/// <summary>
/// Turns a scene into a true caption with varied wording. Every object is mentioned (identical colour+shape
/// objects as one counted group: "two green stars"); the background usually, sizes, grid positions and one
/// relation sometimes. Relations are only stated between single objects whose grid cells satisfy them.
/// </summary>
public static class CaptionGrammar
{
    const double BackgroundChance = 0.85;
    const double RelationChance = 0.45;
    const double PositionChance = 0.35;
    const double SizeChance = 0.25;

    public static string Describe(Scene scene, Random rng) => DescribeWithClaims(scene, rng).Text;

    public static Caption DescribeWithClaims(Scene scene, Random rng, CaptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scene);
        ArgumentNullException.ThrowIfNull(rng);
        options ??= CaptionOptions.Default;

        // 1. Group identical colour+shape objects (a group is what one noun phrase names).
        var groups = scene.Objects
            .GroupBy(o => (o.Color, o.Shape))
            .Select(g => g.ToArray())
            .ToList();

        // 2. Perhaps one relation between two single objects.
        var singles = Enumerable.Range(0, groups.Count).Where(g => groups[g].Length == 1).ToList();
        (int A, Relation Rel, int B)? relation = null;
        if (singles.Count >= 2 && Decide(options.Relation, RelationChance, rng))
        {
            int a = singles[rng.Next(singles.Count)];
            int b;
            do b = singles[rng.Next(singles.Count)]; while (b == a);
            var holds = Enum.GetValues<Relation>().Where(r => groups[a][0].Cell.Satisfies(r, groups[b][0].Cell)).ToArray();
            relation = (a, holds[rng.Next(holds.Length)], b); // distinct cells: something always holds
        }

        // 3. The claims of each group, then the order they are said in.
        var claimOf = new ObjectClaim[groups.Count];
        for (int g = 0; g < groups.Count; g++)
        {
            var objs = groups[g];
            SizeKind? size = objs.All(o => o.Size == objs[0].Size) && Decide(options.Sizes, SizeChance, rng) ? objs[0].Size : null;
            bool inRelation = relation is { } r && (r.A == g || r.B == g);
            GridCell? cell = objs.Length == 1 && !inRelation && Decide(options.Positions, PositionChance, rng) ? objs[0].Cell : null;
            claimOf[g] = new ObjectClaim(objs[0].Color, objs[0].Shape, objs.Length, size, cell);
        }
        var items = new List<int[]>(); // each item: one group, or [a, b] joined by the relation
        for (int g = 0; g < groups.Count; g++)
        {
            if (relation is { } r && g == r.B) continue;
            items.Add(relation is { } r2 && g == r2.A ? [r2.A, r2.B] : [g]);
        }
        Shuffle(items, rng);

        // 4. Say it.
        var objects = new List<ObjectClaim>();
        var relations = new List<RelationClaim>();
        var phrases = new List<string>();
        foreach (var item in items)
        {
            objects.Add(claimOf[item[0]]);
            string phrase = NounPhrase(claimOf[item[0]], rng);
            if (item.Length == 2)
            {
                objects.Add(claimOf[item[1]]);
                relations.Add(new RelationClaim(objects.Count - 2, relation!.Value.Rel, objects.Count - 1));
                phrase += " " + RelationPhrase(relation.Value.Rel, rng) + " " + NounPhrase(claimOf[item[1]], rng);
            }
            phrases.Add(phrase);
        }
        string list = JoinList(phrases, rng);
        PaletteColor? bg = Decide(options.Background, BackgroundChance, rng) ? scene.Background : null;
        string text = bg is { } bgColor ? WithBackground(list, Palette.Name(bgColor), rng) : list;
        return new Caption(text, new PromptClaims(bg, objects, relations));
    }

    static bool Decide(Mention m, double chance, Random rng) => m switch
    {
        Mention.Always => true,
        Mention.Never => false,
        _ => rng.NextDouble() < chance,
    };

    static string NounPhrase(ObjectClaim c, Random rng)
    {
        var words = new List<string>();
        if (c.Size is { } s) words.Add(s == SizeKind.Small ? "small" : Pick(rng, "large", "big"));
        words.Add(Palette.Name(c.Color));
        words.Add(ShapesVocabulary.ShapeWord(c.Shape, c.Count));
        string np = string.Join(' ', words);
        string det = c.Count switch
        {
            1 => rng.NextDouble() switch { < 0.12 => "", < 0.22 => "one", _ => Article(np) },
            2 => "two",
            _ => "three",
        };
        if (det.Length > 0) np = det + " " + np;
        if (c.Cell is { } cell) np += " " + PositionPhrase(cell, rng);
        return np;
    }

    static string Article(string following) => "aeiou".Contains(following[0]) ? "an" : "a";

    static string RelationPhrase(Relation r, Random rng) => r switch
    {
        Relation.Above => "above",
        Relation.Below => Pick(rng, "below", "under"),
        Relation.LeftOf => Pick(rng, "left of", "to the left of"),
        Relation.RightOf => Pick(rng, "right of", "to the right of"),
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    static string PositionPhrase(GridCell cell, Random rng)
    {
        string[] rows = ["top", "middle", "bottom"];
        string[] cols = ["left", "center", "right"];
        if (cell.Row == 1 && cell.Col == 1)
            return Pick(rng, "in the", "at the") + " " + Pick(rng, "center", "middle");
        if (cell.Row == 1)
            return rng.Next(2) == 0 ? "on the " + cols[cell.Col] : "in the middle " + cols[cell.Col];
        if (cell.Col == 1)
            return Pick(rng, "at the", "in the") + " " + rows[cell.Row] + Pick(rng, "", "", " center", " middle");
        return Pick(rng, "in the", "at the") + " " + rows[cell.Row] + " " + cols[cell.Col] + Pick(rng, "", "", " corner");
    }

    static string JoinList(List<string> phrases, Random rng) => phrases.Count switch
    {
        1 => phrases[0],
        2 => phrases[0] + Pick(rng, " and ", " and ", ", ") + phrases[1],
        _ => string.Join(", ", phrases.Take(phrases.Count - 1)) + Pick(rng, " and ", ", and ") + phrases[^1],
    };

    static string WithBackground(string objects, string bg, Random rng) => rng.Next(8) switch
    {
        0 => $"{objects} on {Article(bg)} {bg} background",
        1 => $"{objects}, {bg} background",
        2 => $"{Article(bg)} {bg} picture with {objects}",
        3 => $"{objects} on {bg}",
        4 => $"{bg} background with {objects}",
        5 => $"{objects} against {Article(bg)} {bg} background",
        6 => $"{Article(bg)} {bg} image with {objects}",
        _ => $"{bg} background, {objects}",
    };

    static string Pick(Random rng, params string[] options) => options[rng.Next(options.Length)];

    static void Shuffle<T>(List<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
