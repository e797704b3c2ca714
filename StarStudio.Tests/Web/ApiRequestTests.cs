using StarStudio.Model.Generation;
using StarStudio.Model.Presets;
using StarStudio.Web.Api;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>How an API body's omitted sampling settings are filled in: the model's recommended ones, else the general defaults.</summary>
public class ApiRequestTests
{
    static readonly ModelLimits Limits = new(VocabSize: 32, TextConditional: true, NumClasses: 1, HasStableSamplerHead: false, PatchNums: [1, 2, 3, 4]);

    static (double, int, double, bool, bool) Settings(GenerationRequest r) => (r.Cfg, r.TopK, r.TopP, r.MoreSmooth, r.StableSampling);

    [Fact]
    public void OmittedSettings_TakeTheModelsRecommendedOnes_GivenOnesWin()
    {
        // As loaded (ModelStore fits them): top-k capped at the vocabulary, stable sampling only with a sampler head.
        var tuned = new ModelInfo("tuned", "", IsRandom: false, Limits, Resolution: 32,
            new SamplingDefaults(Cfg: 6, TopK: 900, TopP: 0.95, MoreSmooth: true, StableSampling: true).FitTo(Limits));
        Assert.Equal((6.0, 32, 0.95, true, false), Settings(new ApiGenerateRequest { Prompt = "a red circle" }.ToRequest(tuned)));
        Assert.Equal((2.0, 5, 0.95, false, false),
            Settings(new ApiGenerateRequest { Prompt = "a red circle", Cfg = 2, TopK = 5, MoreSmooth = false }.ToRequest(tuned)));
    }

    [Fact]
    public void OmittedSettings_WithoutRecommendations_AreTheGeneralDefaults()
    {
        var plain = new ModelInfo("plain", "", IsRandom: true, Limits, Resolution: 32);
        var general = new GenerationRequest();
        Assert.Equal(Settings(general), Settings(new ApiGenerateRequest { Prompt = "x" }.ToRequest(plain)));
    }
}
