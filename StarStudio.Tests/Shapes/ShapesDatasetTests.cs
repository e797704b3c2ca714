using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

public class ShapesDatasetTests
{
    // The held-out rule restated by hand (see ShapesDataset's remarks), so the test does not trust IsHeldOut.
    static readonly (PaletteColor, ShapeKind)[] HeldPairs =
    [
        (PaletteColor.Red, ShapeKind.Triangle), (PaletteColor.Orange, ShapeKind.Square), (PaletteColor.Yellow, ShapeKind.Cross),
        (PaletteColor.Green, ShapeKind.Ring), (PaletteColor.Blue, ShapeKind.Star), (PaletteColor.Purple, ShapeKind.Circle),
    ];
    static readonly (ShapeKind, ShapeKind)[] HeldShapePairs =
        [(ShapeKind.Circle, ShapeKind.Cross), (ShapeKind.Square, ShapeKind.Star), (ShapeKind.Triangle, ShapeKind.Ring)];
    static readonly (PaletteColor, PaletteColor)[] HeldOnBackground =
    [
        (PaletteColor.Yellow, PaletteColor.Black), (PaletteColor.White, PaletteColor.Red), (PaletteColor.Blue, PaletteColor.Orange),
        (PaletteColor.Green, PaletteColor.Purple), (PaletteColor.Black, PaletteColor.Cyan),
    ];

    static bool BreaksRule(Scene s) =>
        s.Objects.Any(o => HeldPairs.Contains((o.Color, o.Shape)) || HeldOnBackground.Contains((o.Color, s.Background)))
        || HeldShapePairs.Any(p => s.Objects.Any(o => o.Shape == p.Item1) && s.Objects.Any(o => o.Shape == p.Item2));

    [Fact]
    public void Sample_IsDeterministicForASeed()
    {
        var a = new ShapesDataset(42, ShapesSplit.Train);
        var b = new ShapesDataset(42, ShapesSplit.Train);
        foreach (int i in new[] { 0, 1, 7, 1000, 123456 })
        {
            var sa = a.Sample(i);
            var sb = b.Sample(i);
            Assert.Equal(sa.Text, sb.Text);
            Assert.Equal(sa.Scene, sb.Scene);
            Assert.Equal(sa.Image.Pixels, sb.Image.Pixels);
        }
        // Another seed, another split: other samples.
        var other = new ShapesDataset(43, ShapesSplit.Train);
        var validation = new ShapesDataset(42, ShapesSplit.Validation);
        int sameSeed = Enumerable.Range(0, 50).Count(i => other.SceneAndCaption(i).Scene.Equals(a.SceneAndCaption(i).Scene));
        int sameSplit = Enumerable.Range(0, 50).Count(i => validation.SceneAndCaption(i).Scene.Equals(a.SceneAndCaption(i).Scene));
        Assert.True(sameSeed <= 1 && sameSplit <= 1, $"{sameSeed} and {sameSplit} of 50 scenes repeat");
    }

    [Fact]
    public void Jitter_ScalesOnlyTheOffsets_ZeroCentresEveryObject()
    {
        var full = new ShapesDataset(42, ShapesSplit.Train);
        var centred = new ShapesDataset(42, ShapesSplit.Train, jitter: 0f);
        var half = new ShapesDataset(42, ShapesSplit.Train, jitter: 0.5f);
        int moved = 0;
        for (int i = 0; i < 200; i++)
        {
            var (a, captionA) = full.SceneAndCaption(i);
            var (c, captionC) = centred.SceneAndCaption(i);
            var h = half.SceneAndCaption(i).Scene;
            // Same scene and caption, only the offsets differ.
            Assert.Equal(captionA.Text, captionC.Text);
            Assert.Equal(a.Background, c.Background);
            Assert.Equal(a.Objects.Select(o => (o.Shape, o.Color, o.Size, o.Cell)), c.Objects.Select(o => (o.Shape, o.Color, o.Size, o.Cell)));
            Assert.All(c.Objects, o => Assert.True(o.JitterX == 0 && o.JitterY == 0, $"sample {i}: {o} is not centred"));
            for (int k = 0; k < a.Objects.Count; k++)
            {
                Assert.Equal(a.Objects[k].JitterX * 0.5f, h.Objects[k].JitterX);
                if (Math.Abs(a.Objects[k].JitterX) > 0.1f) moved++;
            }
        }
        Assert.True(moved > 100, $"only {moved} objects of the full-jitter scenes are off centre");
        // A centred object sits in the middle of its cell: its box is symmetric about the cell's centre.
        var obj = centred.SceneAndCaption(3).Scene.Objects[0];
        var box = ShapesRenderer.ObjectBox(obj, 64);
        Assert.Equal((obj.Cell.Col + 0.5f) * 64 / 3f, (box.Left + box.Right) / 2, 3);
        Assert.Equal((obj.Cell.Row + 0.5f) * 64 / 3f, (box.Top + box.Bottom) / 2, 3);
        // The held-out prompts keep their text and claims; only their ground-truth scenes are centred.
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut).HeldOutPrompts(30);
        var centredPrompts = new ShapesDataset(0, ShapesSplit.HeldOut, jitter: 0f).HeldOutPrompts(30);
        Assert.Equal(prompts.Select(p => p.Prompt), centredPrompts.Select(p => p.Prompt));
        Assert.All(centredPrompts, p => Assert.All(p.Scene.Objects, o => Assert.Equal(0f, o.JitterY)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShapesDataset(0, ShapesSplit.Train, jitter: 1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShapesDataset(0, ShapesSplit.Train, jitter: float.NaN));
    }

    [Fact]
    public void TrainAndValidation_NeverContainHeldOutCombinations()
    {
        foreach (var split in new[] { ShapesSplit.Train, ShapesSplit.Validation })
        {
            var ds = new ShapesDataset(7, split);
            for (int i = 0; i < 5000; i++)
            {
                var scene = ds.SceneAndCaption(i).Scene;
                Assert.False(BreaksRule(scene), $"{split} sample {i} is held out: {scene}");
            }
        }
    }

    [Fact]
    public void HeldOutSplit_AlwaysBreaksTheRule()
    {
        var ds = new ShapesDataset(7, ShapesSplit.HeldOut);
        for (int i = 0; i < 1000; i++)
        {
            var scene = ds.SceneAndCaption(i).Scene;
            Assert.True(BreaksRule(scene), $"held-out sample {i} is a training scene: {scene}");
            Assert.NotNull(ShapesDataset.HeldOutReason(scene));
        }
    }

    [Fact]
    public void Train_StillShowsEveryPartOfEachHeldOutCombination()
    {
        // Compositional generalisation needs the parts: each held-out colour with other shapes, each held-out shape
        // with other colours and next to other shapes, each held-out object colour on other backgrounds.
        var ds = new ShapesDataset(7, ShapesSplit.Train);
        var pairs = new HashSet<(PaletteColor, ShapeKind)>();
        var shapePairs = new HashSet<(ShapeKind, ShapeKind)>();
        var onBackground = new HashSet<(PaletteColor, PaletteColor)>();
        int counted = 0, singles = 0, triples = 0;
        for (int i = 0; i < 4000; i++)
        {
            var s = ds.SceneAndCaption(i).Scene;
            foreach (var o in s.Objects) { pairs.Add((o.Color, o.Shape)); onBackground.Add((o.Color, s.Background)); }
            foreach (var a in s.Objects) foreach (var b in s.Objects) if (a.Shape != b.Shape) shapePairs.Add((a.Shape, b.Shape));
            if (s.Objects.GroupBy(o => (o.Color, o.Shape)).Any(g => g.Count() >= 2)) counted++;
            if (s.Objects.Count == 1) singles++;
            if (s.Objects.Count == 3) triples++;
        }
        Assert.Equal(10 * 6 - HeldPairs.Length, pairs.Count);
        Assert.Equal(6 * 5 - 2 * HeldShapePairs.Length, shapePairs.Count);
        Assert.Equal(10 * 9 - HeldOnBackground.Length, onBackground.Count);
        // One, two, three objects 30/40/30 (sd of a count here is about 29); a counted group in about a third.
        Assert.InRange(singles, 1200 - 120, 1200 + 120);
        Assert.InRange(triples, 1200 - 120, 1200 + 120);
        Assert.InRange(counted, 1000, 1600);
    }

    [Fact]
    public void HeldOutPrompts_TakeCategoriesInTurnAndBreakTheFittingRule()
    {
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut).HeldOutPrompts(600);
        Assert.Equal(prompts, new ShapesDataset(0, ShapesSplit.HeldOut).HeldOutPrompts(600));
        var categories = Enum.GetValues<EvalCategory>();
        for (int i = 0; i < prompts.Count; i++)
        {
            var p = prompts[i];
            Assert.Equal(categories[i % categories.Length], p.Category);
            Assert.Equal(p.Claims, PromptClaims.Parse(p.Prompt));
            Assert.True(ShapesTestHelpers.ClaimsHold(p.Scene, p.Claims, out var why), $"'{p.Prompt}' is false of its scene: {why}");
            Assert.True(BreaksRule(p.Scene));
            var objs = p.Claims.Objects;
            switch (p.Category)
            {
                case EvalCategory.SingleObject:
                    Assert.True(objs.Count == 1 && objs[0].Count == 1 && HeldPairs.Contains((objs[0].Color, objs[0].Shape)), p.Prompt);
                    break;
                case EvalCategory.Counting:
                    Assert.True(objs.Count == 1 && objs[0].Count >= 2 && HeldPairs.Contains((objs[0].Color, objs[0].Shape)), p.Prompt);
                    break;
                case EvalCategory.Colors:
                    Assert.True(objs.Count == 1 && p.Claims.Background is { } bg && HeldOnBackground.Contains((objs[0].Color, bg)), p.Prompt);
                    break;
                case EvalCategory.TwoObjects or EvalCategory.Position:
                    Assert.True(objs.Count == 2 && HeldShapePairs.Any(sp => sp == (objs[0].Shape, objs[1].Shape) || sp == (objs[1].Shape, objs[0].Shape)), p.Prompt);
                    Assert.Equal(p.Category == EvalCategory.Position ? 1 : 0, p.Claims.Relations.Count);
                    break;
                case EvalCategory.AttributeBinding:
                    Assert.True(objs.Count == 2 && objs[0].Color != objs[1].Color && objs[0].Shape != objs[1].Shape, p.Prompt);
                    Assert.Contains(objs, o => HeldPairs.Contains((o.Color, o.Shape)));
                    break;
            }
        }
    }

    [Fact]
    public void HeldOutPrompts_ClaimsNeverDescribeATrainingScene()
    {
        // No training scene satisfies a held-out prompt's distinctive claim, so the model cannot have seen it.
        var prompts = new ShapesDataset(0, ShapesSplit.HeldOut).HeldOutPrompts(120);
        var train = new ShapesDataset(0, ShapesSplit.Train);
        var scenes = Enumerable.Range(0, 3000).Select(i => train.SceneAndCaption(i).Scene).ToList();
        foreach (var p in prompts)
        {
            var strict = new PromptClaims(p.Claims.Background, p.Claims.Objects.Select(o => o with { Size = null, Cell = null }).ToList());
            Assert.DoesNotContain(scenes, s => ShapesTestHelpers.ClaimsHold(s, strict, out _));
        }
    }
}
