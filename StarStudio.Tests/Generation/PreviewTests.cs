using StarStudio.Model.Generation;
using static TorchSharp.torch;

namespace StarStudio.Tests.Generation;

[Collection(TorchStateCollection.Name)]
public class PreviewTests : IClassFixture<TinyModels>
{
    readonly TinyModels _models;
    public PreviewTests(TinyModels models) => _models = models;

    [Fact]
    public void EveryPreviewMode_StreamsAnImagePerScale_AndTheLastIsAlwaysTheFullDecode()
    {
        var pipeline = new GenerationPipeline(_models.Star);
        var request = new GenerationRequest { Prompts = ["a red circle"], Seed = 3, Cfg = 2 };
        var full = pipeline.Generate(request with { Previews = PreviewMode.Full }).ToList();
        foreach (var mode in new[] { PreviewMode.Approximate, PreviewMode.Reduced, PreviewMode.None })
        {
            var frames = pipeline.Generate(request with { Previews = mode }).ToList();
            Assert.Equal(full[^1].Images![0].Pixels, frames[^1].Images![0].Pixels);
            for (int si = 0; si < frames.Count - 1; si++)
            {
                if (mode == PreviewMode.None) Assert.Null(frames[si].Images);
                else Assert.Equal((full[si].Images![0].Width, full[si].Images![0].Height), (frames[si].Images![0].Width, frames[si].Images![0].Height));
            }
        }
    }
}
