using System.Buffers.Binary;
using System.Text;
using SkiaSharp;
using StarStudio.Model.Generation;

namespace StarStudio.Model.Imaging;

/// <summary>PNG encoding of <see cref="RgbImage"/> with text chunks (the generation parameters travel inside the file).</summary>
public static class PngWriter
{
    public static byte[] Encode(RgbImage image, IReadOnlyDictionary<string, string>? text = null)
    {
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rgba = new byte[image.Width * image.Height * 4];
        for (int i = 0, j = 0; i < image.Pixels.Length; i += 3, j += 4)
        {
            rgba[j] = image.Pixels[i];
            rgba[j + 1] = image.Pixels[i + 1];
            rgba[j + 2] = image.Pixels[i + 2];
            rgba[j + 3] = 255;
        }
        using var skImage = SKImage.FromPixelCopy(info, rgba);
        using var data = skImage.Encode(SKEncodedImageFormat.Png, 100);
        byte[] png = data.ToArray();
        return text is { Count: > 0 } ? PngText.Insert(png, text) : png;
    }

    /// <summary>Decodes any PNG to RGB (for tests and for reading images users drop in).</summary>
    public static RgbImage Decode(byte[] png)
    {
        using var bitmap = SKBitmap.Decode(png) ?? throw new InvalidDataException("Not a readable PNG image.");
        var rgb = new byte[bitmap.Width * bitmap.Height * 3];
        int k = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                rgb[k++] = c.Red; rgb[k++] = c.Green; rgb[k++] = c.Blue;
            }
        return new RgbImage(bitmap.Width, bitmap.Height, rgb);
    }
}

/// <summary>Reads and writes PNG iTXt chunks (UTF-8 text, uncompressed), placed right after IHDR.</summary>
public static class PngText
{
    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    public static byte[] Insert(byte[] png, IReadOnlyDictionary<string, string> entries)
    {
        CheckSignature(png);
        int ihdrEnd = 8 + 12 + (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(8));
        using var ms = new MemoryStream();
        ms.Write(png, 0, ihdrEnd);
        foreach (var (key, value) in entries) WriteChunk(ms, "iTXt", ITxtPayload(key, value));
        ms.Write(png, ihdrEnd, png.Length - ihdrEnd);
        return ms.ToArray();
    }

    /// <summary>Every tEXt and uncompressed iTXt entry in the file.</summary>
    public static Dictionary<string, string> Read(byte[] png)
    {
        CheckSignature(png);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            if (len < 0 || pos + 12 + len > png.Length) throw new InvalidDataException("PNG chunk runs past the end of the file.");
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            var body = png.AsSpan(pos + 8, len);
            if (type == "tEXt")
            {
                int nul = body.IndexOf((byte)0);
                if (nul > 0) result[Encoding.Latin1.GetString(body[..nul])] = Encoding.Latin1.GetString(body[(nul + 1)..]);
            }
            else if (type == "iTXt")
            {
                int nul = body.IndexOf((byte)0);
                // keyword \0 compressionFlag compressionMethod languageTag \0 translatedKeyword \0 text
                if (nul > 0 && body.Length > nul + 2 && body[nul + 1] == 0)
                {
                    var rest = body[(nul + 3)..];
                    int langEnd = rest.IndexOf((byte)0);
                    if (langEnd >= 0)
                    {
                        var afterLang = rest[(langEnd + 1)..];
                        int transEnd = afterLang.IndexOf((byte)0);
                        if (transEnd >= 0)
                            result[Encoding.Latin1.GetString(body[..nul])] = Encoding.UTF8.GetString(afterLang[(transEnd + 1)..]);
                    }
                }
            }
            if (type == "IEND") break;
            pos += 12 + len;
        }
        return result;
    }

    static void CheckSignature(byte[] png)
    {
        if (png.Length < 33 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException("Not a PNG file.");
    }

    static byte[] ITxtPayload(string key, string value)
    {
        if (key.Length is < 1 or > 79) throw new ArgumentException("PNG text keywords are 1 to 79 characters.", nameof(key));
        using var ms = new MemoryStream();
        ms.Write(Encoding.Latin1.GetBytes(key));
        ms.Write([0, 0, 0, 0, 0]); // end of keyword, no compression, method 0, empty language tag, empty translated keyword
        ms.Write(Encoding.UTF8.GetBytes(value));
        return ms.ToArray();
    }

    static void WriteChunk(Stream s, string type, byte[] body)
    {
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)body.Length);
        s.Write(u32);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(body);
        BinaryPrimitives.WriteUInt32BigEndian(u32, Crc32(typeBytes, body));
        s.Write(u32);
    }

    static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    static uint Crc32(byte[] a, byte[] b)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var x in a) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        foreach (var x in b) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
