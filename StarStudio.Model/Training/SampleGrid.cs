// StarStudio's own periodic sample grids (no reference file): held-out prompts generated with the engine's pipeline,
// each tile captioned with its prompt and ShapesEval's verdict.
using StarStudio.Model.Imaging;
using StarStudio.Model.Generation;
using StarStudio.Model.Shapes;

namespace StarStudio.Model.Training;

public static class SampleGrid
{
    public static void Write(string path, ScaleWiseModel model, ShapesModelPreset preset, long seed, bool stable, Action restore, int count = 12, double cfg = 4.0)
    {
        try
        {
            ((TorchSharp.torch.nn.Module)model.Transformer).eval();
            (model.TextEncoder as TorchSharp.torch.nn.Module)?.eval();
            var prompts = new ShapesDataset((int)(seed & 0x7fffffff), ShapesSplit.HeldOut, preset.ImageSize).HeldOutPrompts(count);
            var request = new GenerationRequest
            {
                Prompts = [.. prompts.Select(p => p.Prompt)], Seed = seed, Cfg = cfg, TopK = 0, TopP = 0.8,
                StableSampling = stable && model.SamplerHead is not null, Previews = PreviewMode.None,
            };
            var last = new GenerationPipeline(model).Generate(request).Last();
            var items = new List<(RgbImage, string)>();
            for (int i = 0; i < prompts.Count; i++)
            {
                var img = last.Images![i];
                var verdict = ShapesEvaluator.Evaluate(img, prompts[i].Claims);
                items.Add((img, $"{(verdict.Passed ? "PASS" : "FAIL")} {prompts[i].Prompt}"));
            }
            ContactSheet.Write(path, items, columns: 6, tileSize: 128);
        }
        finally
        {
            restore();
            model.Dispose();
        }
    }
}
