using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;

namespace StarStudio.Tests.Imaging;

public class PngTests
{
    [Fact]
    public void Encode_RoundTripsPixelsAndTextChunks()
    {
        var pixels = new byte[4 * 3 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7);
        var image = new RgbImage(4, 3, pixels);
        var text = new Dictionary<string, string> { ["parameters"] = "a red circle, cfg 4 — ünïcode", ["seed"] = "42" };

        byte[] png = PngWriter.Encode(image, text);

        Assert.Equal(pixels, PngWriter.Decode(png).Pixels);
        var read = PngText.Read(png);
        Assert.Equal(text["parameters"], read["parameters"]);
        Assert.Equal("42", read["seed"]);
    }

    [Fact]
    public void Read_RejectsNonPng() => Assert.Throws<InvalidDataException>(() => PngText.Read(new byte[64]));
}
