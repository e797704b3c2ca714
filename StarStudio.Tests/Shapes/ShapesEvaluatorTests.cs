using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

public class ShapesEvaluatorTests
{
    static readonly IReadOnlyList<HeldOutPrompt> Prompts = new ShapesDataset(0, ShapesSplit.HeldOut).HeldOutPrompts(120);

    [Fact]
    public void ValidateOnGroundTruth_ScoresAtLeast98PercentInEveryCategory()
    {
        var table = ShapesEvaluator.ValidateOnGroundTruth(120);
        Assert.Equal(120, table.Total);
        Assert.Equal(6, table.Categories.Count);
        Assert.All(table.Categories, c => Assert.True(c.Accuracy >= 0.98, $"{c.Category}: {c.Passed}/{c.Total}\n{table.ToMarkdown()}"));
    }

    [Fact]
    public void ObjectCounts_TellTooManyFromTooFewObjects()
    {
        // Ground truth: every picture holds exactly what its prompt asks for.
        var truth = ShapesEvaluator.Run(Prompts.Take(30), p => ShapesRenderer.Render(p.Scene));
        var exact = ShapesEvaluator.ObjectCounts(truth);
        Assert.Equal((0, 30, 0, 1.0), (exact.Fewer, exact.Same, exact.More, exact.FoundPerAsked));
        // One prompt's picture drawn with two extra objects, another's with one of its objects missing.
        var single = Prompts.First(p => p.Scene.Objects.Count == 1);
        var pair = Prompts.First(p => p.Scene.Objects.Count == 2);
        var o = single.Scene.Objects[0];
        var free = Enumerable.Range(0, 9).Where(c => c != o.Cell.Index).Take(2).Select(GridCell.FromIndex).ToList();
        var crowded = new Scene(single.Scene.Background, [o, o with { Cell = free[0] }, o with { Cell = free[1] }]);
        var sparse = new Scene(pair.Scene.Background, [pair.Scene.Objects[0]]);
        var drawn = ShapesEvaluator.Run([single, pair], p => ShapesRenderer.Render(p == single ? crowded : sparse));
        var counts = ShapesEvaluator.ObjectCounts(drawn);
        Assert.Equal((1, 0, 1), (counts.Fewer, counts.Same, counts.More));
        Assert.Equal(4.0 / 3, counts.FoundPerAsked, 6);
        Assert.Contains("more 1 (50.0%)", counts.ToString());
    }

    [Fact]
    public void Detect_ReadsRenderedScenesBackExactly()
    {
        var ds = new ShapesDataset(5, ShapesSplit.Train);
        int wrong = 0;
        var report = new List<string>();
        for (int i = 0; i < 150; i++)
        {
            var sample = ds.Sample(i);
            var found = ShapesEvaluator.Detect(sample.Image);
            var expected = sample.Scene.Objects.OrderBy(o => o.Cell.Index).Select(o => (o.Color, o.Shape, o.Size, o.Cell));
            var actual = found.Objects.OrderBy(o => o.Cell.Index).Select(o => (o.Color, o.Shape, o.Size, o.Cell));
            if (found.Background != sample.Scene.Background || !expected.SequenceEqual(actual))
            {
                wrong++;
                report.Add($"{sample.Scene}\n   read {found}");
            }
        }
        Assert.True(wrong <= 1, string.Join("\n", report));
    }

    [Fact]
    public void Evaluate_ReportsEveryClaimWithItsKind()
    {
        var scene = new Scene(PaletteColor.White,
        [
            new ShapeObject(ShapeKind.Circle, PaletteColor.Red, SizeKind.Large, new GridCell(0, 0), 0.3f, -0.2f),
            new ShapeObject(ShapeKind.Square, PaletteColor.Blue, SizeKind.Small, new GridCell(2, 1), -0.5f, 0.9f),
            new ShapeObject(ShapeKind.Star, PaletteColor.Green, SizeKind.Small, new GridCell(1, 2)),
        ]);
        var img = ShapesRenderer.Render(scene);
        var result = ShapesEvaluator.Evaluate(img, PromptClaims.Parse(
            "a big red circle above a small blue square, and a green star on the right, on a white background"));
        Assert.True(result.Passed, string.Join("\n", result.Verdicts));
        Assert.Equal([ClaimKind.Background, ClaimKind.Object, ClaimKind.Size, ClaimKind.Object, ClaimKind.Size, ClaimKind.Object, ClaimKind.Position, ClaimKind.Relation],
            result.Verdicts.Select(v => v.Kind));

        var wrong = ShapesEvaluator.Evaluate(img, PromptClaims.Parse("a small red circle below a blue square, two green stars in the center, on black"));
        Assert.False(wrong.Passed);
        Assert.Equal(["black background", "red circle small", "2 green stars", "red circle below blue square"],
            wrong.Verdicts.Where(v => !v.Passed).Select(v => v.Claim));
    }

    [Fact]
    public void Evaluate_RejectsTheClaimsOfOtherScenes()
    {
        int rejected = 0, compared = 0;
        for (int i = 0; i < Prompts.Count; i++)
        {
            var a = Prompts[i];
            var found = ShapesEvaluator.Detect(ShapesRenderer.Render(a.Scene));
            foreach (int offset in new[] { 1, 7, 31 })
            {
                var b = Prompts[(i + offset) % Prompts.Count];
                if (ShapesTestHelpers.ClaimsHold(a.Scene, b.Claims, out _)) continue; // b's prompt happens to be true of a
                compared++;
                if (!ShapesEvaluator.Evaluate(found, b.Claims).Passed) rejected++;
            }
        }
        Assert.True(compared >= 300, $"only {compared} mismatched pairs");
        Assert.True(rejected >= 0.98 * compared, $"accepted {compared - rejected} of {compared} mismatched prompts");
    }

    [Fact]
    public void Evaluate_RejectsWrongColourShapeCountRelationBackgroundAndPosition()
    {
        var rng = new Random(1);
        var failures = new Dictionary<string, (int Tried, int Rejected)>();
        void Check(string what, HeldOutPrompt p, DetectedScene found, PromptClaims mutated)
        {
            if (ShapesTestHelpers.ClaimsHold(p.Scene, mutated, out _)) return; // the mutation happens to stay true
            var (tried, rejected) = failures.GetValueOrDefault(what);
            failures[what] = (tried + 1, rejected + (ShapesEvaluator.Evaluate(found, mutated).Passed ? 0 : 1));
        }
        foreach (var p in Prompts)
        {
            var img = ShapesEvaluator.Detect(ShapesRenderer.Render(p.Scene));
            Assert.True(ShapesEvaluator.Evaluate(img, p.Claims).Passed, p.Prompt);
            var c = p.Claims;
            int k = rng.Next(c.Objects.Count);
            var o = c.Objects[k];
            PromptClaims With(ObjectClaim changed) =>
                new(c.Background, c.Objects.Select((x, j) => j == k ? changed : x).ToList(), c.Relations);

            var otherColor = Palette.All.Where(x => x != o.Color && x != c.Background).ElementAt(rng.Next(8));
            Check("colour", p, img, With(o with { Color = otherColor }));
            var otherShape = Enum.GetValues<ShapeKind>().Where(x => x != o.Shape).ElementAt(rng.Next(5));
            Check("shape", p, img, With(o with { Shape = otherShape }));
            if (o.Count >= 2)
                Check("count", p, img, With(o with { Count = o.Count == 2 ? 3 : 2 }));
            else if (o.Cell is null && !c.Relations.Any(r => r.Subject == k || r.Object == k))
                Check("count", p, img, With(o with { Count = 2 }));
            if (c.Background is { } bg)
                Check("background", p, img, new PromptClaims(Palette.All.First(x => x != bg && !c.Objects.Any(y => y.Color == x)), c.Objects, c.Relations));
            foreach (var r in c.Relations)
                Check("relation", p, img, new PromptClaims(c.Background, c.Objects, [r with { Relation = Opposite(r.Relation) }]));
            if (o.Count == 1)
            {
                var cell = p.Scene.Objects.First(x => x.Color == o.Color && x.Shape == o.Shape).Cell;
                Check("position", p, img, With(o with { Cell = GridCell.FromIndex((cell.Index + 1 + rng.Next(8)) % 9) }));
                var size = p.Scene.Objects.First(x => x.Color == o.Color && x.Shape == o.Shape).Size;
                Check("size", p, img, With(o with { Size = size == SizeKind.Large ? SizeKind.Small : SizeKind.Large }));
            }
        }
        foreach (var (what, (tried, rejected)) in failures)
            Assert.True(tried >= 15 && rejected == tried, $"{what}: rejected {rejected} of {tried}");
        Assert.Equal(7, failures.Count);
    }

    [Fact]
    public void Evaluate_ToleratesABlurryDecoder()
    {
        // Generated pictures are softer than renders: a Gaussian blur of 0.8 px and mild noise must still pass.
        var rng = new Random(2);
        int passed = 0;
        var failed = new List<string>();
        foreach (var p in Prompts.Take(60))
        {
            var img = ShapesTestHelpers.Blur(ShapesRenderer.Render(p.Scene), 0.8);
            for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)Math.Clamp(img.Pixels[i] + rng.Next(-6, 7), 0, 255);
            var result = ShapesEvaluator.Evaluate(img, p.Claims);
            if (result.Passed) passed++;
            else failed.Add($"{p.Prompt}: {string.Join("; ", result.Verdicts.Where(v => !v.Passed))}");
        }
        Assert.True(passed >= 57, $"{passed}/60 passed:\n{string.Join("\n", failed)}");
    }

    [Fact]
    public void Run_ScoresAGeneratorThatCannotCount()
    {
        // A "generator" that draws only the first object of a scene: it fails every counting prompt and nothing else.
        var results = ShapesEvaluator.Run(Prompts.Take(24), p => ShapesRenderer.Render(
            p.Category == EvalCategory.Counting ? new Scene(p.Scene.Background, [p.Scene.Objects[0]]) : p.Scene));
        var table = ShapesEvaluator.Table(results);
        Assert.All(table.Categories, c => Assert.Equal(c.Category == EvalCategory.Counting ? 0 : 1, c.Accuracy));
        Assert.Equal(5.0 / 6, table.Overall, 12);
        var rates = ShapesEvaluator.ClaimRates(results);
        // Each counting prompt has one Count claim and loses it; every other claim of every prompt holds.
        var count = rates.Single(r => r.Kind == ClaimKind.Count);
        Assert.Equal(results.Count(r => r.Prompt.Category == EvalCategory.Counting), count.Total - count.Held);
        Assert.All(rates.Where(r => r.Kind != ClaimKind.Count), r => Assert.Equal(r.Total, r.Held));
        var failure = results.First(r => !r.Result.Passed);
        Assert.StartsWith($"[counting] {failure.Prompt.Prompt} | failed: {failure.Prompt.Claims.Objects[0].Count} ", failure.Caption);
    }

    [Fact]
    public void EvalTable_OverallIsTheMeanOfCategoryAccuracies()
    {
        var results = new List<(EvalCategory, bool)>();
        results.AddRange(Enumerable.Repeat((EvalCategory.Counting, true), 3));
        results.Add((EvalCategory.Counting, false));                       // 3/4 = 75%
        results.AddRange(Enumerable.Repeat((EvalCategory.Colors, true), 2)); // 2/2 = 100%
        var table = new ShapesEvalTable(results);
        Assert.Equal(2, table.Categories.Count);
        Assert.Equal(0.875, table.Overall, 12);
        Assert.Equal(0.75, table.Minimum, 12);
        Assert.Equal(5, table.Passed);
        Assert.Contains("| counting | 4 | 3 | 75.0% |", table.ToMarkdown());
    }

    static Relation Opposite(Relation r) => r switch
    {
        Relation.Above => Relation.Below,
        Relation.Below => Relation.Above,
        Relation.LeftOf => Relation.RightOf,
        _ => Relation.LeftOf,
    };
}
