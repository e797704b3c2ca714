// The one 8-bit RGB image type: generated frames, ShapesWorld renders, previews (no reference file).
using SkiaSharp;

namespace StarStudio.Model.Imaging;

/// <summary>An 8-bit RGB image stored row-major, height x width x 3 (HWC).</summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width < 1 || height < 1)
            throw new ArgumentException($"image size {width}x{height} must be positive");
        if (pixels.Length != width * height * 3)
            throw new ArgumentException($"expected {width * height * 3} bytes (HWC RGB {height}x{width}x3), got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>HWC bytes: pixel (x, y) channel c is at (y * Width + x) * 3 + c.</summary>
    public byte[] Pixels { get; }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = (y * Width + x) * 3;
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }
    }

    /// <summary>Copies any Skia bitmap into RGB (alpha is dropped; the bitmap is converted if needed).</summary>
    public static RgbImage FromBitmap(SKBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        SKBitmap rgba = bitmap;
        bool converted = false;
        if (bitmap.ColorType != SKColorType.Rgba8888)
        {
            rgba = new SKBitmap(new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
            if (!bitmap.CopyTo(rgba, SKColorType.Rgba8888))
            {
                rgba.Dispose();
                throw new ArgumentException($"cannot convert a {bitmap.ColorType} bitmap to RGBA", nameof(bitmap));
            }
            converted = true;
        }
        try
        {
            var src = rgba.GetPixelSpan();
            int w = rgba.Width, h = rgba.Height, stride = rgba.RowBytes;
            var dst = new byte[w * h * 3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int s = y * stride + x * 4, d = (y * w + x) * 3;
                    dst[d] = src[s];
                    dst[d + 1] = src[s + 1];
                    dst[d + 2] = src[s + 2];
                }
            return new RgbImage(w, h, dst);
        }
        finally
        {
            if (converted) rgba.Dispose();
        }
    }

    /// <summary>An opaque RGBA Skia bitmap with these pixels (the caller disposes it).</summary>
    public SKBitmap ToBitmap()
    {
        var bmp = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var dst = bmp.GetPixelSpan();
        int stride = bmp.RowBytes;
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int s = (y * Width + x) * 3, d = y * stride + x * 4;
                dst[d] = Pixels[s];
                dst[d + 1] = Pixels[s + 1];
                dst[d + 2] = Pixels[s + 2];
                dst[d + 3] = 255;
            }
        return bmp;
    }

    public byte[] EncodePng()
    {
        using var bmp = ToBitmap();
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public void SavePng(string path) => File.WriteAllBytes(path, EncodePng());

    public static RgbImage LoadPng(string path)
    {
        using var bmp = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path} is not an image Skia can decode");
        return FromBitmap(bmp);
    }
}
