// Structured claims of a ShapesWorld prompt and their parser: StarStudio's own (no reference file).
using System.Text;

namespace StarStudio.Model.Shapes;

/// <summary>
/// "There are <see cref="Count"/> <see cref="Color"/> <see cref="Shape"/>s" (optionally all of one size, and for a
/// single object optionally in one grid cell). Count 1 means at least one; 2 or 3 means exactly that many.
/// </summary>
public sealed record ObjectClaim(PaletteColor Color, ShapeKind Shape, int Count = 1, SizeKind? Size = null, GridCell? Cell = null)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Count).Append(' ');
        if (Size is { } s) sb.Append(s.ToString().ToLowerInvariant()).Append(' ');
        sb.Append(Palette.Name(Color)).Append(' ').Append(ShapesVocabulary.ShapeWord(Shape, Count));
        if (Cell is { } c) sb.Append(" @").Append(c);
        return sb.ToString();
    }
}

/// <summary>"Objects[Subject] is <see cref="Relation"/> Objects[Object]", between two single objects.</summary>
public sealed record RelationClaim(int Subject, Relation Relation, int Object)
{
    public override string ToString() => $"#{Subject} {Relation} #{Object}";
}

/// <summary>What a prompt asserts about its picture: the checks <see cref="ShapesEvaluator"/> makes.</summary>
public sealed class PromptClaims : IEquatable<PromptClaims>
{
    public PromptClaims(PaletteColor? background, IReadOnlyList<ObjectClaim> objects, IReadOnlyList<RelationClaim>? relations = null)
    {
        ArgumentNullException.ThrowIfNull(objects);
        relations ??= [];
        foreach (var o in objects)
        {
            if (o.Count is < 1 or > Scene.MaxObjects)
                throw new ArgumentException($"claim '{o}': count must lie in 1..{Scene.MaxObjects}", nameof(objects));
            if (o.Cell is not null && o.Count != 1)
                throw new ArgumentException($"claim '{o}': only a single object can have a position", nameof(objects));
        }
        foreach (var r in relations)
        {
            if (r.Subject < 0 || r.Subject >= objects.Count || r.Object < 0 || r.Object >= objects.Count || r.Subject == r.Object)
                throw new ArgumentException($"relation {r} must join two different objects of the {objects.Count} claimed", nameof(relations));
            if (objects[r.Subject].Count != 1 || objects[r.Object].Count != 1)
                throw new ArgumentException($"relation {r} must join single objects", nameof(relations));
        }
        Background = background;
        Objects = objects.ToArray();
        Relations = relations.ToArray();
    }

    /// <summary>The background colour, or null when the prompt does not name it.</summary>
    public PaletteColor? Background { get; }
    public IReadOnlyList<ObjectClaim> Objects { get; }
    public IReadOnlyList<RelationClaim> Relations { get; }

    /// <summary>Recovers the claims of any caption <see cref="CaptionGrammar"/> produces; unknown words are skipped.</summary>
    public static PromptClaims Parse(string prompt) => Parse(prompt, out _);

    /// <summary>
    /// Parses a prompt and lists the words it did not know (in order, repeated as they occur), so a caller can tell
    /// a user which words the ShapesWorld model cannot understand.
    /// </summary>
    /// <remarks>
    /// Rules, in reading order: a colour directly followed by a shape word starts an object (the count and size words
    /// just before it apply to it); any other colour names the background; "in/at/on the &lt;position&gt;" places the
    /// last single object; "above", "below", "under", "left of", "right of" relate the single object before them to
    /// the single object after them. Everything else ("a picture with", commas) only separates.
    /// </remarks>
    public static PromptClaims Parse(string prompt, out IReadOnlyList<string> unknownWords)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var words = ShapesVocabulary.Tokenize(prompt);
        var unknown = new List<string>();
        var objects = new List<ObjectClaim>();
        var relations = new List<RelationClaim>();
        PaletteColor? background = null;
        int? count = null;
        SizeKind? size = null;
        int last = -1;                 // index of the most recent object
        (int Subject, Relation Rel)? pendingRelation = null;

        for (int i = 0; i < words.Count; i++)
        {
            string w = words[i];
            string? next = i + 1 < words.Count ? words[i + 1] : null;

            if (ShapesVocabulary.TryCount(w, out int n)) { count = n; continue; }
            if (ShapesVocabulary.TrySize(w, out var sz)) { size = sz; continue; }
            if (ShapesVocabulary.TryColor(w, out var color))
            {
                if (next is not null && ShapesVocabulary.TryShape(next, out var shape, out _))
                {
                    objects.Add(new ObjectClaim(color, shape, count ?? 1, size));
                    int index = objects.Count - 1;
                    if (pendingRelation is { } pr && objects[pr.Subject].Count == 1 && objects[index].Count == 1)
                        relations.Add(new RelationClaim(pr.Subject, pr.Rel, index));
                    pendingRelation = null;
                    last = index;
                    i++;
                }
                else
                {
                    background = color;
                }
                count = null;
                size = null;
                continue;
            }
            if (w is "in" or "at" or "on" && next == "the" && TryPosition(words, i + 2, out var cell, out int used))
            {
                if (last >= 0 && objects[last].Count == 1 && objects[last].Cell is null)
                    objects[last] = objects[last] with { Cell = cell };
                i += 1 + used;
                continue;
            }
            if (TryRelation(w, next, out var rel))
            {
                if (w is "left" or "right") i++; // "of"
                if (last >= 0 && objects[last].Count == 1) pendingRelation = (last, rel);
                continue;
            }
            if (!ShapesVocabulary.IsKnown(w)) unknown.Add(w);
        }
        unknownWords = unknown;
        return new PromptClaims(background, objects, relations);
    }

    static bool TryRelation(string w, string? next, out Relation rel)
    {
        rel = default;
        switch (w)
        {
            case "above": rel = Relation.Above; return true;
            case "below" or "under": rel = Relation.Below; return true;
            case "left" when next == "of": rel = Relation.LeftOf; return true;
            case "right" when next == "of": rel = Relation.RightOf; return true;
            default: return false;
        }
    }

    /// <summary>Reads "top left [corner]", "top", "middle", "right", ... starting at words[start].</summary>
    static bool TryPosition(IReadOnlyList<string> words, int start, out GridCell cell, out int used)
    {
        cell = default;
        used = 0;
        string? Word(int k) => start + k < words.Count ? words[start + k] : null;
        static bool IsCol(string? w) => w is "left" or "right" or "center" or "middle";
        static int Col(string w) => w == "left" ? 0 : w == "right" ? 2 : 1;
        string? a = Word(0), b = Word(1);
        int row, col;
        switch (a)
        {
            case "top" or "bottom":
                row = a == "top" ? 0 : 2;
                if (IsCol(b)) { col = Col(b!); used = 2; }
                else { col = 1; used = 1; }
                break;
            case "middle" or "center":
                row = 1;
                if (b is "left" or "right") { col = Col(b); used = 2; }
                else { col = 1; used = 1; }
                break;
            case "left" or "right" when b != "of":
                row = 1;
                col = Col(a);
                used = 1;
                break;
            default:
                return false;
        }
        if (Word(used) == "corner") used++;
        cell = new GridCell(row, col);
        return true;
    }

    public bool Equals(PromptClaims? other) =>
        other is not null && Background == other.Background
        && Objects.SequenceEqual(other.Objects) && Relations.SequenceEqual(other.Relations);

    public override bool Equals(object? obj) => Equals(obj as PromptClaims);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Background);
        foreach (var o in Objects) h.Add(o);
        foreach (var r in Relations) h.Add(r);
        return h.ToHashCode();
    }

    /// <summary>A canonical one-line form, e.g. "bg blue | 1 red circle @(0,0); 2 green stars | #0 Above #1".</summary>
    public override string ToString()
    {
        string bg = Background is { } b ? Palette.Name(b) : "-";
        string rel = Relations.Count == 0 ? "" : " | " + string.Join("; ", Relations);
        return $"bg {bg} | {string.Join("; ", Objects)}{rel}";
    }
}
