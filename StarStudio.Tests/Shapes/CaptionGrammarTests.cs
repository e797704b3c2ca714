using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

public class CaptionGrammarTests
{
    static IEnumerable<(Scene Scene, Caption Caption)> TrainingCaptions(int n, int seed = 11)
    {
        var ds = new ShapesDataset(seed, ShapesSplit.Train);
        return Enumerable.Range(0, n).Select(ds.SceneAndCaption);
    }

    [Fact]
    public void Describe_EveryCaptionParsesBackToItsClaims()
    {
        foreach (var (_, caption) in TrainingCaptions(3000))
            Assert.Equal(caption.Claims, PromptClaims.Parse(caption.Text));
    }

    [Fact]
    public void Describe_WithEveryOptionParsesBackAndStaysTrue()
    {
        var rng = new Random(5);
        var mentions = Enum.GetValues<Mention>();
        foreach (var (scene, _) in TrainingCaptions(1500, seed: 12))
        {
            var options = new CaptionOptions
            {
                Background = mentions[rng.Next(3)], Relation = mentions[rng.Next(3)],
                Positions = mentions[rng.Next(3)], Sizes = mentions[rng.Next(3)],
            };
            var caption = CaptionGrammar.DescribeWithClaims(scene, rng, options);
            Assert.Equal(caption.Claims, PromptClaims.Parse(caption.Text));
            Assert.True(ShapesTestHelpers.ClaimsHold(scene, caption.Claims, out var why), $"'{caption.Text}' is false of {scene}: {why}");
            if (options.Background == Mention.Always) Assert.Equal(scene.Background, caption.Claims.Background);
            if (options.Background == Mention.Never) Assert.Null(caption.Claims.Background);
            if (options.Relation == Mention.Never) Assert.Empty(caption.Claims.Relations);
        }
    }

    [Fact]
    public void Describe_IsTrueOfTheSceneAndMentionsEveryObject()
    {
        foreach (var (scene, caption) in TrainingCaptions(3000))
        {
            Assert.True(ShapesTestHelpers.ClaimsHold(scene, caption.Claims, out var why), $"'{caption.Text}' is false of {scene}: {why}");
            Assert.Equal(scene.Objects.Count, caption.Claims.Objects.Sum(o => o.Count));
        }
    }

    [Fact]
    public void Describe_IsDeterministicForASeed()
    {
        var scene = TrainingCaptions(1).Single().Scene;
        var a = Enumerable.Range(0, 20).Select(i => CaptionGrammar.Describe(scene, new Random(i))).ToList();
        var b = Enumerable.Range(0, 20).Select(i => CaptionGrammar.Describe(scene, new Random(i))).ToList();
        Assert.Equal(a, b);
    }

    [Fact]
    public void Describe_VariesItsWording()
    {
        var scene = new Scene(PaletteColor.Blue, [new ShapeObject(ShapeKind.Circle, PaletteColor.Red, SizeKind.Large, new GridCell(0, 0))]);
        var rng = new Random(1);
        var texts = Enumerable.Range(0, 400).Select(_ => CaptionGrammar.Describe(scene, rng)).ToHashSet();
        Assert.True(texts.Count >= 40, $"only {texts.Count} distinct captions");
        Assert.Contains("a red circle on a blue background", texts);
        Assert.Contains("red circle, blue background", texts);
        Assert.Contains("a blue picture with a red circle in the top left", texts);
    }

    [Fact]
    public void Describe_GroupsIdenticalObjectsIntoACount()
    {
        var scene = new Scene(PaletteColor.White,
        [
            new ShapeObject(ShapeKind.Star, PaletteColor.Green, SizeKind.Small, new GridCell(0, 0)),
            new ShapeObject(ShapeKind.Star, PaletteColor.Green, SizeKind.Large, new GridCell(2, 2)),
        ]);
        var caption = CaptionGrammar.DescribeWithClaims(scene, new Random(3), new CaptionOptions { Background = Mention.Never });
        Assert.Equal("two green stars", caption.Text);
        Assert.Equal(new ObjectClaim(PaletteColor.Green, ShapeKind.Star, 2), Assert.Single(caption.Claims.Objects));
    }

    [Fact]
    public void Describe_StatesOnlyRelationsThatHoldOnTheGrid()
    {
        // Red circle top middle, blue square bottom middle: only "above"/"below" can be said (same column).
        var scene = new Scene(PaletteColor.White,
        [
            new ShapeObject(ShapeKind.Circle, PaletteColor.Red, SizeKind.Large, new GridCell(0, 1)),
            new ShapeObject(ShapeKind.Square, PaletteColor.Blue, SizeKind.Large, new GridCell(2, 1)),
        ]);
        var rng = new Random(9);
        var seen = new HashSet<string>();
        for (int i = 0; i < 100; i++)
        {
            var c = CaptionGrammar.DescribeWithClaims(scene, rng, new CaptionOptions { Relation = Mention.Always });
            var r = Assert.Single(c.Claims.Relations);
            var subject = c.Claims.Objects[r.Subject].Shape;
            Assert.Equal(subject == ShapeKind.Circle ? Relation.Above : Relation.Below, r.Relation);
            seen.Add($"{subject} {r.Relation}");
        }
        Assert.Equal(2, seen.Count); // both directions get said
    }

    [Fact]
    public void Parse_ReadsTheIssuesExamples()
    {
        var red = PaletteColor.Red;
        Assert.Equal(new PromptClaims(PaletteColor.Blue, [new ObjectClaim(red, ShapeKind.Circle)]),
            PromptClaims.Parse("a red circle on a blue background"));
        Assert.Equal(new PromptClaims(PaletteColor.Blue, [new ObjectClaim(red, ShapeKind.Circle)]),
            PromptClaims.Parse("Red circle, BLUE background."));
        Assert.Equal(new PromptClaims(PaletteColor.Blue, [new ObjectClaim(red, ShapeKind.Circle, Cell: new GridCell(0, 0))]),
            PromptClaims.Parse("a blue picture with a red circle in the top left"));
        Assert.Equal(new PromptClaims(null, [new ObjectClaim(red, ShapeKind.Circle), new ObjectClaim(PaletteColor.Blue, ShapeKind.Square)],
                [new RelationClaim(0, Relation.Above, 1)]),
            PromptClaims.Parse("a red circle above a blue square"));
        Assert.Equal(new PromptClaims(null, [new ObjectClaim(PaletteColor.Green, ShapeKind.Star, 2)]),
            PromptClaims.Parse("two green stars"));
        Assert.Equal(new PromptClaims(PaletteColor.Gray,
                [new ObjectClaim(PaletteColor.Yellow, ShapeKind.Cross, 1, SizeKind.Large), new ObjectClaim(PaletteColor.White, ShapeKind.Ring, 1, SizeKind.Small),
                 new ObjectClaim(PaletteColor.Black, ShapeKind.Triangle, Cell: new GridCell(1, 2))],
                [new RelationClaim(0, Relation.RightOf, 1)]),
            PromptClaims.Parse("a big yellow cross to the right of a small white ring, and a black triangle on the right, on gray"));
    }

    [Fact]
    public void Parse_ReportsUnknownWords()
    {
        var claims = PromptClaims.Parse("a red dog next to a blue square", out var unknown);
        Assert.Equal(["dog", "next"], unknown);
        Assert.Equal(new PromptClaims(PaletteColor.Red, [new ObjectClaim(PaletteColor.Blue, ShapeKind.Square)]), claims);
    }

    [Fact]
    public void Vocabulary_HoldsExactlyTheWordsTheGrammarEmits()
    {
        var used = new HashSet<string>();
        var rng = new Random(4);
        foreach (var (scene, caption) in TrainingCaptions(4000))
        {
            foreach (var w in ShapesVocabulary.Tokenize(caption.Text)) used.Add(w);
            // Held-out options make some rarer phrasings (relations, positions, sizes) show up too.
            var all = new CaptionOptions { Relation = Mention.Always, Positions = Mention.Always, Sizes = Mention.Always };
            foreach (var w in ShapesVocabulary.Tokenize(CaptionGrammar.Describe(scene, rng) + " " + CaptionGrammar.DescribeWithClaims(scene, rng, all).Text))
                used.Add(w);
        }
        Assert.Empty(used.Except(ShapesVocabulary.Words));
        Assert.Empty(ShapesVocabulary.Words.Except(used));
        Assert.Equal(ShapesVocabulary.Words.Order(StringComparer.Ordinal), ShapesVocabulary.Words);
    }
}
