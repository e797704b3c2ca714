// ShapesEval, a GenEval-style checker for ShapesWorld pictures: StarStudio's own (no reference file).
using StarStudio.Model.Imaging;
using System.Diagnostics;
using System.Text;

namespace StarStudio.Model.Shapes;

/// <summary>An object found in a picture.</summary>
/// <param name="ShapeError">Template mismatch of the best shape: 0 perfect, about 0.1 for clean renders.</param>
/// <param name="CenterX">Coverage-weighted centroid in pixels (x right).</param>
/// <param name="Box">Fitted box (left, top, width, height) in pixels.</param>
public sealed record DetectedObject(PaletteColor Color, ShapeKind Shape, SizeKind Size, GridCell Cell,
    double CenterX, double CenterY, (double Left, double Top, double Width, double Height) Box, int Area, double ShapeError)
{
    public override string ToString() =>
        $"{Size.ToString().ToLowerInvariant()} {Palette.Name(Color)} {ShapesVocabulary.ShapeWord(Shape, 1)} at {Cell} (err {ShapeError:F2})";
}

/// <summary>What <see cref="ShapesEvaluator.Detect"/> read from a picture.</summary>
public sealed record DetectedScene(int Width, int Height, PaletteColor Background, IReadOnlyList<DetectedObject> Objects)
{
    public override string ToString() => $"{Palette.Name(Background)} background: {string.Join("; ", Objects)}";
}

public enum ClaimKind
{
    Background,
    /// <summary>At least one object of this colour and shape.</summary>
    Object,
    /// <summary>Exactly n objects of this colour and shape (n >= 2).</summary>
    Count,
    Size,
    Position,
    Relation,
}

public sealed record ClaimVerdict(ClaimKind Kind, string Claim, bool Passed, string Detail)
{
    public override string ToString() => $"{(Passed ? "ok  " : "FAIL")} {Kind}: {Claim} ({Detail})";
}

public sealed record EvaluationResult(DetectedScene Detected, IReadOnlyList<ClaimVerdict> Verdicts)
{
    /// <summary>A picture passes a prompt only when every claim holds (GenEval's rule).</summary>
    public bool Passed => Verdicts.All(v => v.Passed);
}

public sealed record CategoryScore(EvalCategory Category, int Total, int Passed)
{
    public double Accuracy => Total == 0 ? 0 : (double)Passed / Total;
}

/// <summary>Per-category accuracy, GenEval style: overall is the mean of the category accuracies.</summary>
public sealed class ShapesEvalTable
{
    public ShapesEvalTable(IEnumerable<(EvalCategory Category, bool Passed)> results)
    {
        var list = results.ToList();
        Categories = Enum.GetValues<EvalCategory>()
            .Select(c => new CategoryScore(c, list.Count(r => r.Category == c), list.Count(r => r.Category == c && r.Passed)))
            .Where(s => s.Total > 0)
            .ToArray();
        Total = list.Count;
        Passed = list.Count(r => r.Passed);
    }

    public IReadOnlyList<CategoryScore> Categories { get; }
    public int Total { get; }
    public int Passed { get; }
    public double Overall => Categories.Count == 0 ? 0 : Categories.Average(c => c.Accuracy);
    public double Minimum => Categories.Count == 0 ? 0 : Categories.Min(c => c.Accuracy);

    /// <summary>A Markdown table (for the model card and the CLI).</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| category | images | passed | accuracy |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var c in Categories)
            sb.AppendLine($"| {CategoryName(c.Category)} | {c.Total} | {c.Passed} | {c.Accuracy * 100:F1}% |");
        sb.AppendLine($"| **overall** (mean of categories) | {Total} | {Passed} | {Overall * 100:F1}% |");
        return sb.ToString();
    }

    public static string CategoryName(EvalCategory c) => c switch
    {
        EvalCategory.SingleObject => "single object",
        EvalCategory.TwoObjects => "two objects",
        EvalCategory.Counting => "counting",
        EvalCategory.Colors => "colours",
        EvalCategory.Position => "position",
        EvalCategory.AttributeBinding => "attribute binding",
        _ => c.ToString(),
    };

    public override string ToString() => ToMarkdown();
}

/// <summary>
/// ShapesEval: reads a picture by classical image analysis and checks each claim of a prompt.
/// </summary>
/// <remarks>
/// Pipeline: the background is the palette colour most border pixels are nearest to (its measured value, the
/// border median, is the reference); pixels farther than 40% of the palette's minimum separation from it are
/// foreground; 8-connected foreground components smaller than 0.4% of the image are noise. Each component's colour
/// is the palette colour nearest to the mean of its most saturated 30% of pixels (edges are blended with the
/// background, the core is not). Its shape is the template (same outlines the renderer draws, stretched to the
/// component's box, tried with small box changes and three blur levels so blurry generations still match) whose
/// pixel coverage differs least from the component's estimated coverage; holes (ring), concavities (star,
/// cross) and corners (square, triangle) all show up in that difference. Size: fitted box against 5/8 of a cell.
/// Position: the coverage-weighted centroid's grid cell; relations: centroids at least a quarter cell apart
/// along the relation's axis.
/// </remarks>
public static class ShapesEvaluator
{
    /// <summary>Foreground threshold as a fraction of <see cref="Palette.MinimumSeparation"/>.</summary>
    const double ForegroundFraction = 0.4;
    const double MinAreaFraction = 0.004;
    const double CoreFraction = 0.3;
    /// <summary>Template blur levels in pixels at 64x64; larger pictures scale them (a decoder's blur grows with resolution).</summary>
    static readonly double[] s_blurSigmas = [0, 0.6, 1.0, 1.4];
    const double NoiseAlpha = 0.08;
    /// <summary>How far (pixels at 64x64) around a component its blurred fringe is collected.</summary>
    const int FringeRadius = 2;
    /// <summary>Components wider or taller than this many cells are split along the grid lines.</summary>
    const double MergedSpan = 1.1;
    /// <summary>Cost per unit of the palette distance a colour's most saturated pixel falls short of it.</summary>
    const double ShortfallWeight = 0.3;

    /// <summary>Best-template mismatch above which a blob is not counted as any shape.</summary>
    public const double MaxShapeError = 0.6;

    public static EvaluationResult Evaluate(byte[] rgbHwc, int width, int height, PromptClaims claims) =>
        Evaluate(new RgbImage(width, height, rgbHwc), claims);

    public static EvaluationResult Evaluate(RgbImage image, PromptClaims claims) => Evaluate(Detect(image), claims);

    /// <summary>Checks claims against an already analysed picture (to check several prompts against one image).</summary>
    public static EvaluationResult Evaluate(DetectedScene scene, PromptClaims claims)
    {
        ArgumentNullException.ThrowIfNull(scene);
        ArgumentNullException.ThrowIfNull(claims);
        var verdicts = new List<ClaimVerdict>();
        double cell = Math.Min(scene.Width, scene.Height) / 3.0;

        if (claims.Background is { } bg)
            verdicts.Add(new ClaimVerdict(ClaimKind.Background, $"{Palette.Name(bg)} background", scene.Background == bg,
                $"found {Palette.Name(scene.Background)}"));

        var matches = claims.Objects.Select(o => scene.Objects
            .Where(d => d.Color == o.Color && d.Shape == o.Shape && d.ShapeError <= MaxShapeError).ToList()).ToList();
        for (int i = 0; i < claims.Objects.Count; i++)
        {
            var o = claims.Objects[i];
            var m = matches[i];
            string name = $"{Palette.Name(o.Color)} {ShapesVocabulary.ShapeWord(o.Shape, o.Count)}";
            if (o.Count == 1)
                verdicts.Add(new ClaimVerdict(ClaimKind.Object, "a " + name, m.Count >= 1, $"found {m.Count}"));
            else
                verdicts.Add(new ClaimVerdict(ClaimKind.Count, $"{o.Count} {name}", m.Count == o.Count, $"found {m.Count}"));
            if (o.Size is { } size)
            {
                bool ok = m.Count > 0 && (o.Count == 1 ? m.Any(d => d.Size == size) : m.All(d => d.Size == size));
                verdicts.Add(new ClaimVerdict(ClaimKind.Size, $"{name} {size.ToString().ToLowerInvariant()}", ok,
                    m.Count == 0 ? "not found" : "found " + string.Join(", ", m.Select(d => d.Size.ToString().ToLowerInvariant()))));
            }
            if (o.Cell is { } c)
                verdicts.Add(new ClaimVerdict(ClaimKind.Position, $"{name} in cell {c}", m.Any(d => d.Cell == c),
                    m.Count == 0 ? "not found" : "found at " + string.Join(", ", m.Select(d => d.Cell))));
        }

        foreach (var r in claims.Relations)
        {
            var a = claims.Objects[r.Subject];
            var b = claims.Objects[r.Object];
            bool ok = matches[r.Subject].Any(da => matches[r.Object].Any(db => Holds(da, r.Relation, db, cell)));
            string detail = matches[r.Subject].Count == 0 || matches[r.Object].Count == 0
                ? "an object is missing"
                : $"centroids ({matches[r.Subject][0].CenterX:F0},{matches[r.Subject][0].CenterY:F0}) and ({matches[r.Object][0].CenterX:F0},{matches[r.Object][0].CenterY:F0})";
            verdicts.Add(new ClaimVerdict(ClaimKind.Relation,
                $"{Palette.Name(a.Color)} {ShapesVocabulary.ShapeWord(a.Shape, 1)} {RelationWords(r.Relation)} {Palette.Name(b.Color)} {ShapesVocabulary.ShapeWord(b.Shape, 1)}",
                ok, detail));
        }
        return new EvaluationResult(scene, verdicts);
    }

    static string RelationWords(Relation r) => r switch
    {
        Relation.Above => "above",
        Relation.Below => "below",
        Relation.LeftOf => "left of",
        _ => "right of",
    };

    /// <summary>"a relation b" by centroids: at least a quarter cell apart along the relation's axis.</summary>
    static bool Holds(DetectedObject a, Relation r, DetectedObject b, double cell)
    {
        double margin = cell / 4;
        return r switch
        {
            Relation.Above => b.CenterY - a.CenterY > margin,
            Relation.Below => a.CenterY - b.CenterY > margin,
            Relation.LeftOf => b.CenterX - a.CenterX > margin,
            _ => a.CenterX - b.CenterX > margin,
        };
    }

    /// <summary>Reads background and objects from a picture.</summary>
    public static DetectedScene Detect(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height;
        var px = image.Pixels;

        // 1. Background: the palette colour most border pixels are nearest to; its measured value is their median.
        var border = new List<int>();
        for (int x = 0; x < w; x++) { border.Add(x); border.Add((h - 1) * w + x); }
        for (int y = 1; y < h - 1; y++) { border.Add(y * w); border.Add(y * w + w - 1); }
        var votes = border.GroupBy(p => Palette.Nearest(px[p * 3], px[p * 3 + 1], px[p * 3 + 2]))
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First();
        var bgColor = votes.Key;
        double[] bg = [Median(votes.Select(p => px[p * 3])), Median(votes.Select(p => px[p * 3 + 1])), Median(votes.Select(p => px[p * 3 + 2]))];

        // 2. Foreground and its 8-connected components.
        double threshold = ForegroundFraction * Palette.MinimumSeparation;
        var dist = new double[w * h];
        for (int p = 0; p < w * h; p++)
        {
            double dr = px[p * 3] - bg[0], dg = px[p * 3 + 1] - bg[1], db = px[p * 3 + 2] - bg[2];
            dist[p] = Math.Sqrt(dr * dr + dg * dg + db * db);
        }
        var label = new int[w * h];
        var components = new List<List<int>>();
        var stack = new Stack<int>();
        for (int p0 = 0; p0 < w * h; p0++)
        {
            if (dist[p0] <= threshold || label[p0] != 0) continue;
            var comp = new List<int>();
            components.Add(comp);
            int id = components.Count;
            label[p0] = id;
            stack.Push(p0);
            while (stack.Count > 0)
            {
                int p = stack.Pop();
                comp.Add(p);
                int x = p % w, y = p / w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int xx = x + dx, yy = y + dy;
                        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                        int q = yy * w + xx;
                        if (label[q] == 0 && dist[q] > threshold) { label[q] = id; stack.Push(q); }
                    }
            }
        }

        // 3. No single ShapesWorld object spans more than a cell, so a bigger component is neighbours that blur
        //    joined: objects never cross their cell's border, so cut it along the grid lines.
        double cellW = w / 3.0, cellH = h / 3.0;
        int originalCount = components.Count;
        for (int k = 0; k < originalCount; k++)
        {
            var comp = components[k];
            int spanX = comp.Max(p => p % w) - comp.Min(p => p % w) + 1, spanY = comp.Max(p => p / w) - comp.Min(p => p / w) + 1;
            if (spanX <= MergedSpan * cellW && spanY <= MergedSpan * cellH) continue;
            var parts = comp.GroupBy(p => Math.Min(2, (int)((p / w + 0.5) / cellH)) * 3 + Math.Min(2, (int)((p % w + 0.5) / cellW)))
                .Select(g => g.ToList()).OrderByDescending(g => g.Count).ToList();
            components[k] = parts[0];
            foreach (var part in parts.Skip(1))
            {
                components.Add(part);
                foreach (int p in part) label[p] = components.Count;
            }
        }

        // 4. Describe each component large enough to be an object.
        int minArea = Math.Max(4, (int)Math.Round(MinAreaFraction * w * h));
        var objects = new List<DetectedObject>();
        for (int k = 0; k < components.Count; k++)
            if (components[k].Count >= minArea)
                objects.Add(Describe(image, components[k], k + 1, label, dist, bg, bgColor));
        objects.Sort((a, b) => a.CenterY != b.CenterY ? a.CenterY.CompareTo(b.CenterY) : a.CenterX.CompareTo(b.CenterX));
        return new DetectedScene(w, h, bgColor, objects);
    }

    static DetectedObject Describe(RgbImage image, List<int> comp, int id, int[] label, double[] dist, double[] bg, PaletteColor bgColor)
    {
        int w = image.Width, h = image.Height;
        var px = image.Pixels;

        // Colour: the most saturated pixels (farthest from the background) carry the object's own colour.
        var core = comp.OrderByDescending(p => dist[p]).Take(Math.Max(3, (int)Math.Ceiling(CoreFraction * comp.Count))).ToList();
        var color = NameColor(px, core, bg, bgColor);

        // Coverage estimate: how far along background -> object colour each pixel is (other components count as 0).
        var (pr, pg, pb) = Palette.Rgb(color);
        int cx0 = comp.Min(p => p % w), cx1 = comp.Max(p => p % w), cy0 = comp.Min(p => p / w), cy1 = comp.Max(p => p / w);
        double scale = Math.Max(1, Math.Min(w, h) / (double)ShapesRenderer.DefaultSize);
        int fringe = (int)Math.Ceiling(FringeRadius * scale), margin = fringe + 1;
        int wx = Math.Max(0, cx0 - margin), wy = Math.Max(0, cy0 - margin);
        int ww = Math.Min(w - 1, cx1 + margin) - wx + 1, wh = Math.Min(h - 1, cy1 + margin) - wy + 1;
        double[] dir = [pr - bg[0], pg - bg[1], pb - bg[2]];
        double dir2 = Math.Max(1e-6, dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
        // Only pixels near the component: its blurred fringe is in, distant background noise is out.
        var near = new bool[ww * wh];
        foreach (int p in comp)
        {
            int x = p % w - wx, y = p / w - wy;
            for (int dy = -fringe; dy <= fringe; dy++)
                for (int dx = -fringe; dx <= fringe; dx++)
                {
                    int xx = x + dx, yy = y + dy;
                    if (xx >= 0 && yy >= 0 && xx < ww && yy < wh) near[yy * ww + xx] = true;
                }
        }
        var alpha = new float[ww * wh];
        double mass = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
        for (int j = 0; j < wh; j++)
            for (int i = 0; i < ww; i++)
            {
                int p = (wy + j) * w + wx + i;
                if (!near[j * ww + i] || (label[p] != 0 && label[p] != id)) continue;
                double a = ((px[p * 3] - bg[0]) * dir[0] + (px[p * 3 + 1] - bg[1]) * dir[1] + (px[p * 3 + 2] - bg[2]) * dir[2]) / dir2;
                if (a < NoiseAlpha) continue; // background noise would inflate the spread
                a = Math.Min(a, 1);
                alpha[j * ww + i] = (float)a;
                double x = wx + i + 0.5, y = wy + j + 0.5;
                mass += a; sx += a * x; sy += a * y; sxx += a * x * x; syy += a * y * y;
            }
        mass = Math.Max(mass, 1e-6);
        double centerX = sx / mass, centerY = sy / mass;
        double varX = sxx / mass - centerX * centerX, varY = syy / mass - centerY * centerY;

        // Shape: for each shape and blur level, the box whose spread matches the observed one (blur adds sigma^2,
        // pixel area 1/12); the template coverage closest to the estimate (after a best-fit gain) wins.
        var best = (Shape: ShapeKind.Circle, Error: double.MaxValue, W: 1.0, H: 1.0);
        foreach (var shape in Enum.GetValues<ShapeKind>())
        {
            var mo = ShapeTemplates.MomentsOf(shape);
            foreach (double sigma in s_blurSigmas.Select(b => b * scale))
            {
                double bw = Math.Sqrt(Math.Max(varX - sigma * sigma - 1.0 / 12, 0.25)) / mo.StdU;
                double bh = Math.Sqrt(Math.Max(varY - sigma * sigma - 1.0 / 12, 0.25)) / mo.StdV;
                var cov = ShapeTemplates.Coverage(shape, centerX - mo.MeanU * bw, centerY - mo.MeanV * bh, bw, bh, wx, wy, ww, wh);
                var t = ShapeTemplates.Blur(cov, ww, wh, sigma);
                double at = 0, tt = 0;
                for (int q = 0; q < t.Length; q++) { at += alpha[q] * t[q]; tt += t[q] * t[q]; }
                double gain = tt > 0 ? Math.Clamp(at / tt, 0.6, 1.4) : 1; // tolerate a duller or brighter colour
                double err = 0;
                for (int q = 0; q < t.Length; q++) err += Math.Abs(alpha[q] - gain * t[q]);
                err /= mass;
                if (err < best.Error) best = (shape, err, bw, bh);
            }
        }

        var bestMo = ShapeTemplates.MomentsOf(best.Shape);
        double cell = Math.Min(w, h) / 3.0;
        double boundary = (ShapesRenderer.SizeFraction(SizeKind.Small) + ShapesRenderer.SizeFraction(SizeKind.Large)) / 2 * cell;
        var size = Math.Max(best.W, best.H) >= boundary ? SizeKind.Large : SizeKind.Small;
        var gridCell = new GridCell(Math.Clamp((int)(centerY / (h / 3.0)), 0, 2), Math.Clamp((int)(centerX / (w / 3.0)), 0, 2));
        var box = (centerX - bestMo.MeanU * best.W, centerY - bestMo.MeanV * best.H, best.W, best.H);
        return new DetectedObject(color, best.Shape, size, gridCell, centerX, centerY, box, comp.Count, best.Error);
    }

    /// <summary>
    /// The palette colour c (not the background) such that the core pixels lie closest to the segment
    /// background -> c and reach furthest along it. Blur mixes an object's colour with the background, which moves
    /// it along that segment, so a blurred green on purple is still green, not gray; and gray on black is not a
    /// dull white because its pixels never get past half-way to white.
    /// </summary>
    static PaletteColor NameColor(byte[] px, List<int> core, double[] bg, PaletteColor bgColor)
    {
        PaletteColor best = bgColor;
        double bestCost = double.MaxValue;
        foreach (var c in Palette.All)
        {
            if (c == bgColor) continue;
            var (r, g, b) = Palette.Rgb(c);
            double dr = r - bg[0], dg = g - bg[1], db = b - bg[2];
            double len2 = Math.Max(1e-6, dr * dr + dg * dg + db * db);
            double res2 = 0, tMax = 0;
            foreach (int p in core)
            {
                double vr = px[p * 3] - bg[0], vg = px[p * 3 + 1] - bg[1], vb = px[p * 3 + 2] - bg[2];
                double t = Math.Clamp((vr * dr + vg * dg + vb * db) / len2, 0, 1);
                tMax = Math.Max(tMax, t);
                double er = vr - t * dr, eg = vg - t * dg, eb = vb - t * db;
                res2 += er * er + eg * eg + eb * eb;
            }
            double cost = Math.Sqrt(res2 / core.Count) + ShortfallWeight * (1 - tMax) * Math.Sqrt(len2);
            if (cost < bestCost) { bestCost = cost; best = c; }
        }
        return best;
    }

    static double Median(IEnumerable<byte> values)
    {
        var a = values.OrderBy(v => v).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2.0;
    }

    /// <summary>
    /// Evaluates a generator on prompts: generate(prompt) gives its picture, judged against the claims parsed from the
    /// prompt text (as a user's prompt would be). Returns every result; <see cref="Table"/> summarises them.
    /// </summary>
    public static IReadOnlyList<PromptEvaluation> Run(IEnumerable<HeldOutPrompt> prompts, Func<HeldOutPrompt, RgbImage> generate)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(generate);
        var results = new List<PromptEvaluation>();
        foreach (var p in prompts)
        {
            var image = generate(p);
            results.Add(new PromptEvaluation(p, image, Evaluate(image, PromptClaims.Parse(p.Prompt))));
        }
        return results;
    }

    public static ShapesEvalTable Table(IEnumerable<PromptEvaluation> results) =>
        new(results.Select(r => (r.Prompt.Category, r.Result.Passed)));

    /// <summary>
    /// How often each kind of claim held over all prompts, whatever their category: tells a model that gets colours
    /// right but not shapes from one that gets nothing (a prompt passes only when all its claims hold).
    /// </summary>
    public static IReadOnlyList<(ClaimKind Kind, int Total, int Held)> ClaimRates(IEnumerable<PromptEvaluation> results) =>
        [.. results.SelectMany(r => r.Result.Verdicts).GroupBy(v => v.Kind).OrderBy(g => g.Key)
            .Select(g => (g.Key, g.Count(), g.Count(v => v.Passed)))];

    /// <summary>
    /// Objects found in each picture against the objects its prompt asks for (counts included): how many pictures hold
    /// fewer, exactly as many, or more, and how many objects are found per object asked. A generator that scatters
    /// an object over several places ("too many blobs") shows up as More, whatever else fails.
    /// </summary>
    public static ObjectCountSummary ObjectCounts(IEnumerable<PromptEvaluation> results)
    {
        int fewer = 0, same = 0, more = 0;
        long found = 0, asked = 0;
        foreach (var r in results)
        {
            int want = r.Prompt.Claims.Objects.Sum(o => o.Count), got = r.Result.Detected.Objects.Count;
            if (got < want) fewer++; else if (got == want) same++; else more++;
            found += got;
            asked += want;
        }
        return new ObjectCountSummary(fewer, same, more, asked == 0 ? double.NaN : (double)found / asked);
    }

    /// <summary>
    /// Scores the evaluator itself: n held-out prompts (categories in turn) rendered exactly by the renderer, each
    /// judged against the claims parsed back from its prompt text. A sound evaluator passes nearly all of them.
    /// </summary>
    public static ShapesEvalTable ValidateOnGroundTruth(int n, int seed = 0, int imageSize = ShapesRenderer.DefaultSize)
    {
        var prompts = new ShapesDataset(seed, ShapesSplit.HeldOut, imageSize).HeldOutPrompts(n);
        return Table(Run(prompts, p => ShapesRenderer.Render(p.Scene, imageSize)));
    }
}

/// <summary>Pictures with fewer, as many and more objects than their prompts ask for; objects found per object asked.</summary>
public sealed record ObjectCountSummary(int Fewer, int Same, int More, double FoundPerAsked)
{
    public override string ToString()
    {
        int n = Math.Max(1, Fewer + Same + More);
        return $"objects found against asked: as many {Same} ({100.0 * Same / n:F1}%), more {More} ({100.0 * More / n:F1}%), "
            + $"fewer {Fewer} ({100.0 * Fewer / n:F1}%); {FoundPerAsked:F2} found per object asked";
    }
}

/// <summary>One prompt, the picture made for it, and the verdicts.</summary>
public sealed record PromptEvaluation(HeldOutPrompt Prompt, RgbImage Image, EvaluationResult Result)
{
    /// <summary>"[category] prompt" plus the failed claims, for a grid of failures.</summary>
    public string Caption =>
        $"[{ShapesEvalTable.CategoryName(Prompt.Category)}] {Prompt.Prompt}"
        + (Result.Passed ? "" : " | failed: " + string.Join("; ", Result.Verdicts.Where(v => !v.Passed).Select(v => v.Claim)));
}
