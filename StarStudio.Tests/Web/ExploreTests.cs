using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Components.Pages;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>Scale explorer: replay of stored token maps, per-scale pictures, fork from scale k.</summary>
[Collection(TorchStateCollection.Name)]
public sealed class ExploreTests : PageTestContext
{
    long Generate()
    {
        var job = HostFixture.Host.Submit(new GenerationRequest { Prompts = ["a green square"], Seed = 21, Cfg = 3 });
        var final = job.RunToEndAsync().GetAwaiter().GetResult();
        return Assert.IsType<JobCompleted>(final).Result.HistoryIds.Single();
    }

    byte[] Put(string key) => (byte[])JSInterop.InvocationsNow().Last(i => i.Identifier == "starstudio.put" && (string)i.Arguments[0]! == key).Arguments[1]!;

    [Fact]
    public void Open_RebuildsEveryScaleFromTheStoredTokens()
    {
        long id = Generate();
        var cut = Render<Explore>(p => p.Add(x => x.Id, id));
        cut.WaitForAssertion(() => Assert.StartsWith("4 scales", cut.Find("#explore-status").TextContent), TimeSpan.FromSeconds(30));

        Assert.Equal(4, cut.FindAll("#explore-scales tr[data-scale]").Count);
        // The replayed last scale is exactly the stored image.
        var stored = PngWriter.Decode(HostFixture.History.GetPng(id)!);
        Assert.Equal(stored.Pixels, PngWriter.Decode(Put("exp-img-3")).Pixels);
        // Token maps are one pixel per token, coloured by code; confidence maps likewise.
        var maps = HostFixture.History.GetScales(id)!;
        var tokens = PngWriter.Decode(Put("exp-tok-2"));
        Assert.Equal((3, 3), (tokens.Width, tokens.Height));
        var (r, g, b) = ScaleImages.CodeColor(maps.Tokens[2][0]);
        Assert.Equal(new[] { r, g, b }, tokens.Pixels[..3]);
        var conf = PngWriter.Decode(Put("exp-conf-3"));
        var (hr, hg, hb) = ScaleImages.Heat(maps.Confidence[3][5]);
        Assert.Equal(new[] { hr, hg, hb }, conf.Pixels[15..18]);
        // The residual of scale 4 is what it changed relative to scale 3.
        var expectedResidual = ScaleImages.Residual(stored, PngWriter.Decode(Put("exp-img-2")));
        Assert.Equal(expectedResidual.Pixels, PngWriter.Decode(Put("exp-res-3")).Pixels);
        Assert.Equal(1, HostFixture.History.Count()); // the replay is not stored again
    }

    [Fact]
    public async Task Fork_KeepsTheChosenScalesAndRegeneratesTheRest()
    {
        long id = Generate();
        var cut = Render<Explore>(p => p.Add(x => x.Id, id));
        cut.WaitForAssertion(() => Assert.StartsWith("4 scales", cut.Find("#explore-status").TextContent), TimeSpan.FromSeconds(30));

        await cut.InvokeAsync(() => cut.FindAll(".ss-fork")[1].Click()); // keep scales 1-2 (find and click in one dispatch)
        cut.WaitForElement("#fork-run", TimeSpan.FromSeconds(10)).Click(); // MudButton renders the fork panel asynchronously
        cut.WaitForAssertion(() => Assert.NotNull(cut.Instance.ForkResultId), TimeSpan.FromSeconds(30));

        var original = HostFixture.History.GetScales(id)!;
        var fork = HostFixture.History.GetScales(cut.Instance.ForkResultId!.Value)!;
        Assert.Equal(original.Tokens[0], fork.Tokens[0]);
        Assert.Equal(original.Tokens[1], fork.Tokens[1]);
        Assert.NotEqual(original.Tokens[3], fork.Tokens[3]); // a new seed from scale 3 on
        Assert.Equal(22, HostFixture.History.Get(cut.Instance.ForkResultId.Value)!.Metadata.Seed);
        Assert.Equal(4, cut.FindAll("#fork-film .ss-film-item").Count);
    }

    [Fact]
    public void Open_UnknownIdSaysSo()
    {
        var cut = Render<Explore>(p => p.Add(x => x.Id, 999L));
        Assert.Contains("no generation 999", cut.Find("#explore-missing").TextContent);
    }

    [Fact]
    public void ScaleImages_ResidualAndColoursByHand()
    {
        var now = new RgbImage(1, 2, [10, 200, 128, 0, 0, 0]);
        var before = new RgbImage(1, 2, [20, 100, 128, 0, 0, 200]);
        Assert.Equal(new byte[] { 20, 200, 0, 0, 0, 255 }, ScaleImages.Residual(now, before).Pixels);
        Assert.Equal(new byte[] { 236, 144, 0, 255, 255, 255 }, ScaleImages.Residual(now, null).Pixels);
        // Hue 0, saturation 0.65, value 0.92: (0.92, 0.322, 0.322) * 255.
        Assert.Equal(((byte)235, (byte)82, (byte)82), ScaleImages.CodeColor(0));
        Assert.Equal(((byte)20, (byte)20, (byte)90), ScaleImages.Heat(0));
        Assert.Equal(((byte)210, (byte)50, (byte)50), ScaleImages.Heat(0.5f));
        Assert.Equal(((byte)250, (byte)230, (byte)80), ScaleImages.Heat(1));
        Assert.Throws<ArgumentException>(() => ScaleImages.TokenMap([1, 2, 3], 2));
    }
}
