// Contact sheets of images with captions: StarStudio's own (no reference file).
using StarStudio.Model.Imaging;
namespace StarStudio.Model.Shapes;

/// <summary>A PNG grid of images, each with its caption (word-wrapped, built-in pixel font) under it.</summary>
public static class ContactSheet
{
    public const int DefaultTileSize = 128;
    public const int Padding = 6;
    /// <summary>Caption lines under each tile; longer captions end in "...".</summary>
    public const int CaptionLines = 5;

    static readonly (byte, byte, byte) s_paper = (236, 236, 236);
    static readonly (byte, byte, byte) s_ink = (25, 25, 25);

    /// <summary>Pixel size of a sheet of count items in rows of columns (fewer columns when count is smaller).</summary>
    public static (int Width, int Height) Measure(int count, int columns, int tileSize = DefaultTileSize)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "a contact sheet needs at least one item");
        if (columns < 1) throw new ArgumentOutOfRangeException(nameof(columns));
        if (tileSize < BitmapFont.Advance * 4) throw new ArgumentOutOfRangeException(nameof(tileSize), "tiles must fit a few characters");
        int cols = Math.Min(columns, count), rows = (count + cols - 1) / cols;
        return (cols * (tileSize + Padding) + Padding, rows * RowHeight(tileSize) + Padding);
    }

    static int RowHeight(int tileSize) => Padding + tileSize + 2 + CaptionLines * BitmapFont.LineHeight;

    /// <summary>Lays the items out (images scaled to tileSize with nearest-neighbour, so pixels stay visible).</summary>
    public static RgbImage Compose(IReadOnlyList<(RgbImage Image, string Caption)> items, int columns, int tileSize = DefaultTileSize)
    {
        ArgumentNullException.ThrowIfNull(items);
        var (width, height) = Measure(items.Count, columns, tileSize);
        var sheet = new RgbImage(width, height, new byte[width * height * 3]);
        var px = sheet.Pixels;
        for (int i = 0; i < px.Length; i += 3) (px[i], px[i + 1], px[i + 2]) = s_paper;

        int cols = Math.Min(columns, items.Count), maxChars = tileSize / BitmapFont.Advance;
        for (int k = 0; k < items.Count; k++)
        {
            var (img, caption) = items[k];
            int x0 = Padding + k % cols * (tileSize + Padding), y0 = Padding + k / cols * RowHeight(tileSize);
            for (int y = 0; y < tileSize; y++)
                for (int x = 0; x < tileSize; x++)
                {
                    int sx = x * img.Width / tileSize, sy = y * img.Height / tileSize;
                    int s = (sy * img.Width + sx) * 3, d = ((y0 + y) * width + x0 + x) * 3;
                    px[d] = img.Pixels[s];
                    px[d + 1] = img.Pixels[s + 1];
                    px[d + 2] = img.Pixels[s + 2];
                }
            var lines = BitmapFont.Wrap(caption ?? "", maxChars).ToList();
            if (lines.Count > CaptionLines)
            {
                lines = lines.Take(CaptionLines).ToList();
                var last = lines[^1];
                lines[^1] = (last.Length + 3 <= maxChars ? last : last[..Math.Max(0, maxChars - 3)]) + "...";
            }
            for (int l = 0; l < lines.Count; l++)
                BitmapFont.DrawText(sheet, x0, y0 + tileSize + 3 + l * BitmapFont.LineHeight, lines[l], s_ink);
        }
        return sheet;
    }

    public static void Write(string path, IReadOnlyList<(RgbImage Image, string Caption)> items, int columns, int tileSize = DefaultTileSize)
    {
        ArgumentNullException.ThrowIfNull(path);
        Compose(items, columns, tileSize).SavePng(path);
    }

    /// <summary>Writes data set samples with their captions (what `starstudio data preview` shows).</summary>
    public static void Write(string path, IReadOnlyList<ShapesSample> samples, int columns, int tileSize = DefaultTileSize)
    {
        ArgumentNullException.ThrowIfNull(samples);
        Write(path, samples.Select(s => (s.Image, s.Text)).ToList(), columns, tileSize);
    }
}
