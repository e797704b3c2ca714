// ShapesWorld renderer: StarStudio's own synthetic data set (no reference file).
using StarStudio.Model.Imaging;
using SkiaSharp;

namespace StarStudio.Model.Shapes;

/// <summary>
/// Draws a <see cref="Scene"/> with anti-aliased Skia paths. Pure function of (scene, size): the jitter lives in
/// the scene, so the same scene always gives the same pixels.
/// </summary>
public static class ShapesRenderer
{
    public const int DefaultSize = 64;
    public const int MinSize = 32;
    public const int MaxSize = 256;

    /// <summary>
    /// Object size as a fraction of a grid cell (a third of the image): 14 and 18 px at 64x64. At 0.5/0.75 (10 and
    /// 16 px) the 4x-downsampling VQ-VAE could not keep small stars, crosses and triangles apart (docs/MODEL_CARD.md).
    /// </summary>
    public static float SizeFraction(SizeKind size) => size == SizeKind.Large ? 0.85f : 0.65f;

    /// <summary>
    /// How far an object may move from its cell's centre, as a fraction of the free room around it. Half keeps
    /// half of a large object's margin empty, so neighbours stay 0.075 cell apart and blur does not join them.
    /// </summary>
    public const float JitterFraction = 0.5f;

    /// <summary>The box (left, top, right, bottom in pixels) an object fills in a size x size image.</summary>
    public static SKRect ObjectBox(ShapeObject obj, int size)
    {
        CheckSize(size);
        float cell = size / 3f;
        float d = SizeFraction(obj.Size) * cell;
        float play = (cell - d) / 2 * JitterFraction;
        float cx = (obj.Cell.Col + 0.5f) * cell + obj.JitterX * play;
        float cy = (obj.Cell.Row + 0.5f) * cell + obj.JitterY * play;
        return new SKRect(cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2);
    }

    /// <summary>Renders the scene as HWC RGB bytes.</summary>
    public static RgbImage Render(Scene scene, int size = DefaultSize)
    {
        using var bmp = RenderBitmap(scene, size);
        return RgbImage.FromBitmap(bmp);
    }

    /// <summary>Renders the scene into a new opaque RGBA bitmap (the caller disposes it).</summary>
    public static SKBitmap RenderBitmap(Scene scene, int size = DefaultSize)
    {
        ArgumentNullException.ThrowIfNull(scene);
        CheckSize(size);
        var bmp = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(ToSk(scene.Background));
        using var paint = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Fill };
        foreach (var obj in scene.Objects)
        {
            var box = ObjectBox(obj, size);
            paint.Color = ToSk(obj.Color);
            using var path = ShapeGeometry.ToPath(obj.Shape, box.Left, box.Top, box.Width, box.Height);
            canvas.DrawPath(path, paint);
        }
        canvas.Flush();
        return bmp;
    }

    static SKColor ToSk(PaletteColor color)
    {
        var (r, g, b) = Palette.Rgb(color);
        return new SKColor(r, g, b);
    }

    static void CheckSize(int size)
    {
        if (size is < MinSize or > MaxSize)
            throw new ArgumentOutOfRangeException(nameof(size), $"image size {size} must lie in {MinSize}..{MaxSize}");
    }
}
