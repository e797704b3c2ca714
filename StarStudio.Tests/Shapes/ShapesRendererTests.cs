using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;

namespace StarStudio.Tests.Shapes;

public class ShapesRendererTests
{
    static readonly (byte, byte, byte) Red = Palette.Rgb(PaletteColor.Red);
    static readonly (byte, byte, byte) Blue = Palette.Rgb(PaletteColor.Blue);

    static Scene OneObject(ShapeKind shape, SizeKind size = SizeKind.Large, int row = 1, int col = 1, float jx = 0, float jy = 0) =>
        new(PaletteColor.Blue, [new ShapeObject(shape, PaletteColor.Red, size, new GridCell(row, col), jx, jy)]);

    [Fact]
    public void Render_RedCircleCentreIsRedAndCornersAreBackground()
    {
        var img = ShapesRenderer.Render(OneObject(ShapeKind.Circle, row: 0, col: 0));
        Assert.Equal(64, img.Width);
        Assert.Equal(64 * 64 * 3, img.Pixels.Length);
        // Cell (0,0) spans 0..21.33 px; unjittered centre 10.67.
        Assert.Equal(Red, img[10, 10]);
        foreach (var (x, y) in new[] { (0, 0), (63, 0), (0, 63), (63, 63) })
            Assert.Equal(Blue, img[x, y]);
    }

    [Fact]
    public void Render_IsDeterministic()
    {
        var scene = new ShapesDataset(3, ShapesSplit.Train).SceneAndCaption(17).Scene;
        var a = ShapesRenderer.Render(scene);
        var b = ShapesRenderer.Render(scene);
        Assert.Equal(a.Pixels, b.Pixels);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(256)]
    public void Render_FillsTheExpectedAreaAtEverySize(int size)
    {
        // A large square is 0.85 of a cell (a third of the image) on a side; anti-aliased edges make the count
        // of pixels nearer red than blue differ by at most one edge row/column.
        var img = ShapesRenderer.Render(OneObject(ShapeKind.Square), size);
        int red = CountNearer(img, PaletteColor.Red, PaletteColor.Blue);
        double side = size / 3.0 * 0.85;
        Assert.InRange(red, (side - 1) * (side - 1), (side + 1) * (side + 1));

        // A large circle covers pi/4 of that.
        img = ShapesRenderer.Render(OneObject(ShapeKind.Circle), size);
        red = CountNearer(img, PaletteColor.Red, PaletteColor.Blue);
        Assert.InRange(red, Math.PI / 4 * (side - 1) * (side - 1), Math.PI / 4 * (side + 1) * (side + 1));
    }

    [Fact]
    public void Render_RingHasABackgroundHoleAndOtherShapesAreSolidInTheMiddle()
    {
        foreach (var shape in Enum.GetValues<ShapeKind>())
        {
            var img = ShapesRenderer.Render(OneObject(shape), 128);
            var centre = img[64, 64]; // cell (1,1) centre, unjittered
            Assert.Equal(shape == ShapeKind.Ring ? Blue : Red, centre);
        }
    }

    [Fact]
    public void Render_TriangleIsNarrowAtTheTopAndWideAtTheBottom()
    {
        var img = ShapesRenderer.Render(OneObject(ShapeKind.Triangle), 192);
        // Large object: a 54.4 px box (0.85 of a 64 px cell) centred at 96 -> rows 68.8..123.2; the row whose centre
        // is h px below the apex is h px wide.
        int RowWidth(int y) => Enumerable.Range(0, 192).Count(x => Nearer(img[x, y], PaletteColor.Red, PaletteColor.Blue));
        Assert.InRange(RowWidth(75), 5, 9);    // 6.7 px below the apex: 6.7 px wide
        Assert.InRange(RowWidth(118), 48, 52); // 49.7 px below: 49.7 px wide
    }

    [Fact]
    public void ObjectBox_NeighboursNeverTouchEvenWithExtremeJitter()
    {
        const int size = 64;
        var boxes = new List<(int Cell, float L, float T, float R, float B)>();
        foreach (var jx in new[] { -1f, 1f })
            foreach (var jy in new[] { -1f, 1f })
                for (int c = 0; c < 9; c++)
                {
                    var b = ShapesRenderer.ObjectBox(new ShapeObject(ShapeKind.Square, PaletteColor.Red, SizeKind.Large, GridCell.FromIndex(c), jx, jy), size);
                    boxes.Add((c, b.Left, b.Top, b.Right, b.Bottom));
                    // Inside the image and inside its own cell.
                    float cell = size / 3f;
                    Assert.True(b.Left >= c % 3 * cell && b.Right <= (c % 3 + 1) * cell, $"box {b} leaves cell {c}");
                    Assert.True(b.Top >= c / 3 * cell && b.Bottom <= (c / 3 + 1) * cell, $"box {b} leaves cell {c}");
                }
        // Large objects are 0.85 cell, play is half the free room on a side (0.075 cell): any two stay >= 0.075 cell
        // (1.6 px) apart.
        foreach (var a in boxes)
            foreach (var b in boxes)
            {
                if (a.Cell == b.Cell) continue;
                float gap = Math.Max(Math.Max(b.L - a.R, a.L - b.R), Math.Max(b.T - a.B, a.T - b.B));
                Assert.True(gap >= 64 / 3f * 0.075f - 1e-4, $"cells {a.Cell} and {b.Cell}: gap {gap}");
            }
    }

    [Fact]
    public void Scene_RejectsBackgroundColouredObjectsAndSharedCells()
    {
        var cell = new GridCell(0, 0);
        Assert.Throws<ArgumentException>(() => new Scene(PaletteColor.Red, [new ShapeObject(ShapeKind.Star, PaletteColor.Red, SizeKind.Small, cell)]));
        Assert.Throws<ArgumentException>(() => new Scene(PaletteColor.Blue,
            [new ShapeObject(ShapeKind.Star, PaletteColor.Red, SizeKind.Small, cell), new ShapeObject(ShapeKind.Ring, PaletteColor.Green, SizeKind.Small, cell)]));
        Assert.Throws<ArgumentException>(() => new Scene(PaletteColor.Blue, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesRenderer.Render(OneObject(ShapeKind.Star), 16));
    }

    [Fact]
    public void RgbImage_PngRoundTripKeepsEveryPixel()
    {
        var img = ShapesRenderer.Render(new ShapesDataset(1, ShapesSplit.Train).SceneAndCaption(0).Scene);
        string path = Path.Combine(Path.GetTempPath(), $"starstudio-shapes-{Guid.NewGuid():N}.png");
        try
        {
            img.SavePng(path);
            Assert.Equal(img.Pixels, RgbImage.LoadPng(path).Pixels);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Palette_ColoursAreAtLeastOneHundredApart()
    {
        Assert.True(Palette.MinimumSeparation >= 100, $"closest palette colours are {Palette.MinimumSeparation:F1} apart");
        Assert.Equal(10, Palette.All.Count);
    }

    static bool Nearer((byte R, byte G, byte B) p, PaletteColor a, PaletteColor b) =>
        Palette.Distance(p.R, p.G, p.B, a) < Palette.Distance(p.R, p.G, p.B, b);

    static int CountNearer(RgbImage img, PaletteColor a, PaletteColor b)
    {
        int n = 0;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
                if (Nearer(img[x, y], a, b)) n++;
        return n;
    }
}
