// StarStudio's own diagnostic (no reference file): could a model know scale k's codes from what it is given? A plain
// conv net reads exactly the transformer's input for scale k (f_hat summed over the truth's scales 0..k-1 and
// area-downsampled to scale k's side: VectorQuantizer2.IdxBlToVarInput), without the prompt, learns scale k's codes on
// training scenes, and guesses them greedily on the held-out truths. When it gets far more of them right than the
// transformer does (`eval --by-scale`'s greedy columns, or `probe`'s own model rows), the codes are learnable from the
// context and the transformer fails to read it; when it gets as few, the context does not hold them.
using System.Diagnostics;
using StarStudio.Model.Shapes;
using StarStudio.Model.Vae;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Training;

/// <param name="Scale">Index of the scale to predict (1..S-1: scale 0 has no coarser context).</param>
/// <param name="Scenes">Training scenes (the first ones of the training split with <paramref name="DataSeed"/>, as the trainers read them).</param>
/// <param name="Layers">3x3 convs of <paramref name="Width"/> channels, each followed by GELU; a 1x1 conv then gives the logits.</param>
/// <param name="CodebookHead">With K &gt; 0, score the codes by their distance to K predicted residuals
/// (<see cref="Transformers.CodebookHead"/>) instead of with a 1x1 conv per code: does a head that knows the codebook's
/// geometry learn the codes sooner?</param>
public sealed record ScaleProbeOptions(int Scale, int Scenes = 8192, int Steps = 1500, int Batch = 64, int Width = 128, int Layers = 4,
    double Lr = 2e-3, int Seed = 1, int DataSeed = 1, int CodebookHead = 0)
{
    public void Validate(int scales)
    {
        if (Scale < 1 || Scale >= scales)
            throw new ArgumentException($"The probe predicts scales 1..{scales - 1} (scale 0 has no coarser context), not {Scale}.");
        if (Scenes < 1 || Scenes > 1 << 20) throw new ArgumentException($"Training scenes must be between 1 and {1 << 20}, not {Scenes}.");
        if (Steps < 1) throw new ArgumentException($"Steps must be at least 1, not {Steps}.");
        if (Batch < 1 || Batch > Scenes) throw new ArgumentException($"The batch must be between 1 and the number of scenes ({Scenes}), not {Batch}.");
        if (Width < 1 || Width > 4096) throw new ArgumentException($"The width must be between 1 and 4096, not {Width}.");
        if (Layers < 1 || Layers > 32) throw new ArgumentException($"Layers must be between 1 and 32, not {Layers}.");
        if (CodebookHead < 0 || CodebookHead > Transformers.CodebookHead.MaxComponents)
            throw new ArgumentException($"The codebook head takes 0 (off) to {Transformers.CodebookHead.MaxComponents} components, not {CodebookHead}.");
        if (!(Lr > 0 && Lr < 1)) throw new ArgumentException($"The learning rate must be in (0, 1), not {Lr}.");
    }
}

/// <param name="Side">Side of the predicted scale.</param>
/// <param name="TrainLoss">Mean cross-entropy over the last tenth of the steps (nats).</param>
/// <param name="Train">Greedy guesses on (up to 1024 of) the training scenes: against <paramref name="HeldOut"/>, whether the probe overfits.</param>
/// <param name="HeldOut">Greedy guesses on the held-out prompts' truths.</param>
/// <param name="GreedyPictures">ShapesEval of each held-out truth's token pyramid with scale k replaced by the probe's
/// greedy guesses (every other scale true): what getting scale k this right is worth in pictures. For the last scale it
/// is `eval --by-scale`'s row k = S-1 with the probe in the transformer's place.</param>
/// <param name="SampledPictures">The same with scale k drawn from the probe's softmax (temperature 1, no truncation).</param>
/// <param name="ModelPictures">For each set of the model's own generated pyramids handed to the probe: the pictures as
/// generated, and with scale k replaced by the probe's greedy guesses from the model's own coarser scales (the finer
/// scales kept as generated), both judged by ShapesEval.</param>
public sealed record ScaleProbeResult(ScaleProbeOptions Options, int Side, long Parameters, double TrainLoss, TokenAccuracy Train,
    TokenAccuracy HeldOut, ShapesEvalTable GreedyPictures, ShapesEvalTable SampledPictures,
    IReadOnlyList<(string Label, ShapesEvalTable AsGenerated, ShapesEvalTable WithProbe)> ModelPictures, TimeSpan Elapsed);

public static class ScaleProbe
{
    /// <param name="progress">(step, steps, mean loss of the last steps).</param>
    /// <param name="modelPyramids">Labelled sets of a model's generated token pyramids for <paramref name="heldOut"/>
    /// (per prompt, per scale); see <see cref="ScaleProbeResult.ModelPictures"/>.</param>
    public static ScaleProbeResult Run(VQVAE vae, IReadOnlyList<HeldOutPrompt> heldOut, ScaleProbeOptions o,
        Action<int, int, double>? progress = null, CancellationToken cancellationToken = default,
        IReadOnlyList<(string Label, List<int[][]> Pyramids)>? modelPyramids = null)
    {
        var patchNums = vae.Quantize.VPatchNums;
        o.Validate(patchNums.Count);
        if (heldOut.Count == 0) throw new ArgumentException("The probe needs at least one held-out prompt.");
        foreach (var (label, pyramids) in modelPyramids ?? [])
            if (pyramids.Count != heldOut.Count) throw new ArgumentException($"{pyramids.Count} pyramids for {heldOut.Count} prompts ({label}).");
        var clock = Stopwatch.StartNew();
        int side = vae.Config.ImageSide, pn = patchNums[o.Scale];
        long plain = vae.Quantize.PreferredCode();

        var train = new ShapesDataset(o.DataSeed, ShapesSplit.Train, side);
        var (x, y) = Pairs(vae, o.Scale, o.Scenes, i => train.Sample(i).Image, cancellationToken);
        // The held-out truths are tokenized once: their pyramids give the probe's inputs and targets and, below, the pictures.
        var truth = ScaleDiagnosis.GroundTruthTokens(vae, heldOut, 25);
        var heldX = InputsFromTokens(vae, o.Scale, truth);
        Tensor heldY;
        using (NewDisposeScope())
            heldY = stack([.. truth.Select(t => tensor(t[o.Scale]))]).to_type(ScalarType.Int64).view(heldOut.Count, pn, pn).to(heldX.device).MoveToOuterDisposeScope();
        try
        {
            manual_seed(o.Seed);
            var device = x.device;
            using var net = new ProbeNet(vae.Config.Cvae, vae.Config.VocabSize, o.Width, o.Layers,
                o.CodebookHead > 0 ? vae.Quantize.Embedding.weight! : null, o.CodebookHead);
            net.to(device);
            using var optimizer = new AdamW(net.named_parameters().Select(p => (p.name, p.parameter)), weightDecay: 0.01);
            var order = new Random(o.Seed);
            var recent = new Queue<double>();
            int window = Math.Max(1, o.Steps / 10);
            for (int step = 0; step < o.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var pick = tensor(Enumerable.Range(0, o.Batch).Select(_ => (long)order.Next(o.Scenes)).ToArray(), device: device);
                var loss = F.cross_entropy(net.call(x.index_select(0, pick)), y.index_select(0, pick));
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.ClipGradNorm(2.0);
                // Cosine from Lr to a tenth of it: the probe's answer should not hinge on a schedule.
                optimizer.Step(o.Lr * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * step / o.Steps))));
                recent.Enqueue(loss.item<float>());
                if (recent.Count > window) recent.Dequeue();
                if (progress is not null && (step % 10 == 9 || step == o.Steps - 1)) progress(step + 1, o.Steps, recent.Average());
            }
            long parameters = net.parameters().Sum(p => p.numel());
            using var firstScenes = x.narrow(0, 0, Math.Min(o.Scenes, 1024));
            TokenAccuracy trainAccuracy;
            using (var trainGuesses = Guesses(net, firstScenes)) trainAccuracy = Accuracy(trainGuesses, y.narrow(0, 0, firstScenes.shape[0]), plain);
            using var greedy = Guesses(net, heldX);
            var heldAccuracy = Accuracy(greedy, heldY, plain);
            using var sampled = Sample(net, heldX, o.Seed);
            var greedyPictures = JudgeWithScale(vae, heldOut, truth, o.Scale, greedy);
            var sampledPictures = JudgeWithScale(vae, heldOut, truth, o.Scale, sampled);
            var own = new List<(string, ShapesEvalTable, ShapesEvalTable)>();
            foreach (var (label, pyramids) in modelPyramids ?? [])
            {
                using var ownX = InputsFromTokens(vae, o.Scale, pyramids);
                using var ownGuess = Guesses(net, ownX);
                own.Add((label, JudgeWithScale(vae, heldOut, pyramids, o.Scale, null), JudgeWithScale(vae, heldOut, pyramids, o.Scale, ownGuess)));
            }
            return new ScaleProbeResult(o, pn, parameters, recent.Average(), trainAccuracy, heldAccuracy, greedyPictures, sampledPictures, own, clock.Elapsed);
        }
        finally
        {
            x.Dispose(); y.Dispose(); heldX.Dispose(); heldY.Dispose();
        }
    }

    /// <summary>For n pictures: the transformer's input for scale k [n, Cvae, pn, pn] and the truth's codes there [n, pn, pn].</summary>
    internal static (Tensor X, Tensor Y) Pairs(VQVAE vae, int scale, int n, Func<int, Imaging.RgbImage> picture, CancellationToken ct)
    {
        int pn = vae.Quantize.VPatchNums[scale];
        var xs = new List<Tensor>();
        var ys = new List<Tensor>();
        using var _ = no_grad();
        for (int start = 0; start < n; start += 64)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int count = Math.Min(64, n - start);
            var images = ShapesBatches.ToTensor([.. Enumerable.Range(start, count).Select(picture)], vae.Quantize.Embedding.weight!.device);
            var idx_Bl = vae.ImgToIdxBl(images);
            xs.Add(InputAt(vae, idx_Bl, scale).MoveToOuterDisposeScope());
            ys.Add(idx_Bl[scale].reshape(count, pn, pn).to_type(ScalarType.Int64).MoveToOuterDisposeScope());
        }
        var x = cat(xs, 0);
        var y = cat(ys, 0);
        foreach (var t in xs.Concat(ys)) t.Dispose();
        return (x, y);
    }

    /// <summary>The probe's greedy codes at every position, [N, pn*pn] int64 on the CPU.</summary>
    static Tensor Guesses(ProbeNet net, Tensor x)
    {
        var guesses = new List<Tensor>();
        using var _ = no_grad();
        for (long start = 0; start < x.shape[0]; start += 256)
        {
            using var scope = NewDisposeScope();
            guesses.Add(net.call(x.narrow(0, start, Math.Min(256, x.shape[0] - start))).argmax(1).flatten(1).cpu().MoveToOuterDisposeScope());
        }
        var all = cat(guesses, 0);
        foreach (var g in guesses) g.Dispose();
        return all;
    }

    static TokenAccuracy Accuracy(Tensor guesses, Tensor y, long plain)
    {
        var accuracy = new TokenAccuracy(plain);
        using var guess = guesses.to_type(ScalarType.Int32);
        using var truth = y.flatten(1).to_type(ScalarType.Int32).cpu();
        for (long i = 0; i < guess.shape[0]; i++) accuracy.Add(guess[i].data<int>().ToArray(), truth[i].data<int>().ToArray());
        return accuracy;
    }

    /// <summary>Codes drawn from the probe's softmax at every position (seeded), [N, pn*pn] int64 on the CPU.</summary>
    static Tensor Sample(ProbeNet net, Tensor x, int seed)
    {
        using var generator = new Generator((ulong)seed, x.device);
        var draws = new List<Tensor>();
        using var _ = no_grad();
        for (long start = 0; start < x.shape[0]; start += 256)
        {
            using var scope = NewDisposeScope();
            long count = Math.Min(256, x.shape[0] - start);
            var logits = net.call(x.narrow(0, start, count));                 // [B, V, pn, pn]
            var probs = F.softmax(logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]), 1);
            draws.Add(multinomial(probs, 1, generator: generator).reshape(count, -1).cpu().MoveToOuterDisposeScope());
        }
        var all = cat(draws, 0);
        foreach (var d in draws) d.Dispose();
        return all;
    }

    /// <summary>The transformer's input for scale <paramref name="scale"/> as a map [B, Cvae, pn, pn], from the token ids of every scale.</summary>
    static Tensor InputAt(VQVAE vae, IReadOnlyList<Tensor> idx_Bl, int scale)
    {
        var patchNums = vae.Quantize.VPatchNums;
        int pn = patchNums[scale];
        // IdxBlToVarInput concatenates the inputs of scales 1..S-1: scale k's start after the tokens of scales 1..k-1.
        int offset = patchNums.Take(scale).Skip(1).Sum(p => p * p);
        using var scope = NewDisposeScope();
        var input = vae.Quantize.IdxBlToVarInput(idx_Bl)!.narrow(1, offset, pn * pn);   // [B, pn*pn, C]
        return input.transpose(1, 2).reshape(input.shape[0], vae.Config.Cvae, pn, pn).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The transformer's input for scale <paramref name="scale"/> [N, Cvae, pn, pn] from given token pyramids (per prompt, per scale).</summary>
    internal static Tensor InputsFromTokens(VQVAE vae, int scale, List<int[][]> pyramids)
    {
        var device = vae.Quantize.Embedding.weight!.device;
        var xs = new List<Tensor>();
        using var _ = no_grad();
        for (int start = 0; start < pyramids.Count; start += 64)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(64, pyramids.Count - start);
            var idx_Bl = Enumerable.Range(0, vae.Quantize.VPatchNums.Count)
                .Select(si => stack([.. Enumerable.Range(start, count).Select(i => tensor(pyramids[i][si], device: device))]).to_type(ScalarType.Int64)).ToList();
            xs.Add(InputAt(vae, idx_Bl, scale).MoveToOuterDisposeScope());
        }
        var x = cat(xs, 0);
        foreach (var t in xs) t.Dispose();
        return x;
    }

    /// <summary>ShapesEval of each prompt's token pyramid (per prompt, per scale) with scale <paramref name="scale"/>
    /// replaced by <paramref name="codes"/> [N, pn*pn] (null: as it is).</summary>
    internal static ShapesEvalTable JudgeWithScale(VQVAE vae, IReadOnlyList<HeldOutPrompt> prompts, List<int[][]> truth, int scale, Tensor? codes)
    {
        var device = vae.Quantize.Embedding.weight!.device;
        int scales = vae.Quantize.VPatchNums.Count;
        var results = new List<PromptEvaluation>(prompts.Count);
        using var _ = no_grad();
        for (int start = 0; start < prompts.Count; start += 25)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(25, prompts.Count - start);
            var idx_Bl = Enumerable.Range(0, scales).Select(si => si == scale && codes is not null
                ? codes.narrow(0, start, count).to(device)
                : stack([.. Enumerable.Range(start, count).Select(i => tensor(truth[i][si], device: device))]).to_type(ScalarType.Int64)).ToList();
            var pictures = ShapesBatches.ToImages(vae.IdxBlToImg(idx_Bl, sameShape: true, lastOne: true)[0]);
            for (int i = 0; i < count; i++)
                results.Add(new PromptEvaluation(prompts[start + i], pictures[i], ShapesEvaluator.Evaluate(pictures[i], prompts[start + i].Claims)));
        }
        return ShapesEvaluator.Table(results);
    }

    /// <summary>Layers of 3x3 convs (same padding), each followed by GELU, then a 1x1 conv to the codebook's logits
    /// (or, given the codebook, a <see cref="Transformers.CodebookHead"/> at every pixel).</summary>
    sealed class ProbeNet : nn.Module<Tensor, Tensor>
    {
        readonly TorchSharp.Modules.ModuleList<SafeConv2d> convs = new();
        readonly SafeConv2d? head;
        readonly Transformers.CodebookHead? codebookHead;

        public ProbeNet(int inChannels, int vocab, int width, int layers, Tensor? codebook, int components) : base(nameof(ProbeNet))
        {
            for (int i = 0; i < layers; i++) convs.Add(new SafeConv2d(i == 0 ? inChannels : width, width, 3, padding: 1));
            if (codebook is null) head = new SafeConv2d(width, vocab, 1);
            else codebookHead = new Transformers.CodebookHead(width, codebook, components);
            RegisterComponents();
        }

        /// <returns>Logits [B, V, H, W].</returns>
        public override Tensor forward(Tensor x)
        {
            foreach (var conv in convs) x = F.gelu(conv.call(x));
            return head is not null ? head.call(x) : codebookHead!.call(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2);
        }
    }
}
