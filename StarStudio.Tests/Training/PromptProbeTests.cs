using StarStudio.Model.Shapes;
using StarStudio.Model.Text;
using StarStudio.Model.Training;
using static TorchSharp.torch;

namespace StarStudio.Tests.Training;

[Collection(TorchStateCollection.Name)]
public class PromptProbeTests
{
    [Fact]
    public void Targets_NameTheBackgroundAndTheColourShapePairsOfAPrompt()
    {
        int colors = Enum.GetValues<PaletteColor>().Length, shapes = Enum.GetValues<ShapeKind>().Length;
        var (bg, pairs) = PromptProbe.Targets(["a red circle and two green stars on a blue background", ""]);
        Assert.Equal([(long)PaletteColor.Blue, colors], bg.data<long>().ToArray());
        var p = pairs.data<float>().ToArray();
        Assert.Equal(2 * colors * shapes, p.Length);
        Assert.Equal(2f, p.Take(colors * shapes).Sum());
        Assert.Equal(1f, p[(int)PaletteColor.Red * shapes + (int)ShapeKind.Circle]);
        Assert.Equal(1f, p[(int)PaletteColor.Green * shapes + (int)ShapeKind.Star]);
        Assert.Equal(0f, p.Skip(colors * shapes).Sum());   // the empty prompt says nothing
    }

    [Fact]
    public void Probe_TeachesTheTextEncoderToTellTheBackgroundFromTheObjectColour()
    {
        // The same two colour words in both roles: only word order tells which one is the background.
        manual_seed(11);
        var colors = new[] { "red", "blue", "green", "yellow" };
        var prompts = (from a in colors from b in colors where a != b select $"a {a} circle on a {b} background").ToList();
        using var text = new WordTextEncoder(ShapesModelPreset.Tokenizer(), ShapesModelPreset.Tiny.Text with { Dim = 32 });
        using var probe = new PromptProbe(32);
        var optim = new AdamW(text.named_parameters().Concat(probe.named_parameters()).Select(p => (p.name, p.parameter)));
        double acc = 0;
        for (int step = 0; step < 150; step++)
        {
            using var scope = NewDisposeScope();
            var (loss, a) = probe.Loss(text.Encode(prompts).Pooled, prompts);
            optim.ZeroGrad();
            loss.backward();
            optim.Step(1e-2);
            acc = a;
        }
        Assert.True(acc >= 0.99, $"background accuracy after 150 steps: {acc:P0}");
    }
}
