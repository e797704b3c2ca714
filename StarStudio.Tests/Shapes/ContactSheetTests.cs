using StarStudio.Model.Imaging;
using System.Buffers.Binary;
using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

public class ContactSheetTests
{
    [Fact]
    public void Write_ProducesAPngOfTheExpectedSize()
    {
        var ds = new ShapesDataset(1, ShapesSplit.Train);
        var samples = Enumerable.Range(0, 7).Select(ds.Sample).ToList();
        string path = Path.Combine(Path.GetTempPath(), $"starstudio-sheet-{Guid.NewGuid():N}.png");
        try
        {
            ContactSheet.Write(path, samples, columns: 3, tileSize: 96);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10 }, bytes[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
            int width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16));
            int height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20));
            // 3 columns of 96 px tiles with 6 px gaps; 3 rows of (6 gap + 96 tile + 2 + 5 caption lines of 9 px).
            Assert.Equal(3 * (96 + 6) + 6, width);
            Assert.Equal(3 * (6 + 96 + 2 + 45) + 6, height);

            // The first tile is the first sample, scaled up 1.5x with nearest-neighbour.
            var sheet = RgbImage.LoadPng(path);
            Assert.Equal(samples[0].Image[10, 20], sheet[6 + 15, 6 + 30]);
            Assert.Equal(samples[0].Image[63, 63], sheet[6 + 95, 6 + 95]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Compose_WritesTheCaptionUnderTheTile()
    {
        var img = ShapesRenderer.Render(new Scene(PaletteColor.White, [new ShapeObject(ShapeKind.Square, PaletteColor.Red, SizeKind.Large, new GridCell(1, 1))]));
        var sheet = ContactSheet.Compose([(img, "I")], columns: 4, tileSize: 64);
        Assert.Equal((64 + 12, 6 + 64 + 2 + 45 + 6), (sheet.Width, sheet.Height));
        // 'I' is ".###." on its top row: columns 1..3 inked, 0 and 4 paper, at y = 6 + 64 + 3.
        int y = 6 + 64 + 3;
        var ink = sheet[6 + 2, y];
        Assert.True(ink.R < 60, $"expected ink, got {ink}");
        Assert.Equal(ink, sheet[6 + 1, y]);
        Assert.Equal(ink, sheet[6 + 3, y]);
        Assert.True(sheet[6 + 0, y].R > 200 && sheet[6 + 4, y].R > 200);
        // Its middle rows are "..#..".
        Assert.Equal(ink, sheet[6 + 2, y + 3]);
        Assert.True(sheet[6 + 1, y + 3].R > 200);
    }

    [Fact]
    public void Wrap_BreaksAtSpacesAndCutsLongWords()
    {
        Assert.Equal(["a red", "circle on", "blue"], BitmapFont.Wrap("a red circle on blue", 9));
        Assert.Equal(["abcd", "efgh", "ij x"], BitmapFont.Wrap("abcdefghij x", 4));
        Assert.True("abcxyz ,.:;()[]'0123456789ABCXYZ".All(BitmapFont.HasGlyph));
    }
}
