// A 5x7 pixel font for contact sheets: StarStudio's own (no reference file).
using StarStudio.Model.Imaging;
namespace StarStudio.Model.Shapes;

/// <summary>
/// A built-in 5x7 bitmap font (ASCII letters, digits, common punctuation). SkiaSharp's Linux "NoDependencies"
/// build has no font manager (its default typeface draws nothing), and a bundled font keeps sheets identical on
/// every machine.
/// </summary>
public static class BitmapFont
{
    public const int GlyphWidth = 5;
    public const int GlyphHeight = 7;
    /// <summary>Horizontal advance per character at scale 1 (glyph plus one column of spacing).</summary>
    public const int Advance = 6;
    /// <summary>Line height at scale 1 (glyph plus two rows of spacing).</summary>
    public const int LineHeight = 9;

    static readonly Dictionary<char, byte[]> s_glyphs = Build();

    static Dictionary<char, byte[]> Build()
    {
        var src = new Dictionary<char, string>
        {
            [' '] = "..... ..... ..... ..... ..... ..... .....",
            ['0'] = ".###. #...# #..## #.#.# ##..# #...# .###.",
            ['1'] = "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['2'] = ".###. #...# ....# ...#. ..#.. .#... #####",
            ['3'] = "##### ...#. ..#.. ...#. ....# #...# .###.",
            ['4'] = "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
            ['5'] = "##### #.... ####. ....# ....# #...# .###.",
            ['6'] = "..##. .#... #.... ####. #...# #...# .###.",
            ['7'] = "##### ....# ...#. ..#.. .#... .#... .#...",
            ['8'] = ".###. #...# #...# .###. #...# #...# .###.",
            ['9'] = ".###. #...# #...# .#### ....# ...#. .##..",
            ['A'] = ".###. #...# #...# ##### #...# #...# #...#",
            ['B'] = "####. #...# #...# ####. #...# #...# ####.",
            ['C'] = ".###. #...# #.... #.... #.... #...# .###.",
            ['D'] = "###.. #..#. #...# #...# #...# #..#. ###..",
            ['E'] = "##### #.... #.... ####. #.... #.... #####",
            ['F'] = "##### #.... #.... ####. #.... #.... #....",
            ['G'] = ".###. #...# #.... #.### #...# #...# .####",
            ['H'] = "#...# #...# #...# ##### #...# #...# #...#",
            ['I'] = ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['J'] = "..### ...#. ...#. ...#. ...#. #..#. .##..",
            ['K'] = "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
            ['L'] = "#.... #.... #.... #.... #.... #.... #####",
            ['M'] = "#...# ##.## #.#.# #.#.# #...# #...# #...#",
            ['N'] = "#...# #...# ##..# #.#.# #..## #...# #...#",
            ['O'] = ".###. #...# #...# #...# #...# #...# .###.",
            ['P'] = "####. #...# #...# ####. #.... #.... #....",
            ['Q'] = ".###. #...# #...# #...# #.#.# #..#. .##.#",
            ['R'] = "####. #...# #...# ####. #.#.. #..#. #...#",
            ['S'] = ".#### #.... #.... .###. ....# ....# ####.",
            ['T'] = "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
            ['U'] = "#...# #...# #...# #...# #...# #...# .###.",
            ['V'] = "#...# #...# #...# #...# #...# .#.#. ..#..",
            ['W'] = "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
            ['X'] = "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
            ['Y'] = "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
            ['Z'] = "##### ....# ...#. ..#.. .#... #.... #####",
            ['a'] = "..... ..... .###. ....# .#### #...# .####",
            ['b'] = "#.... #.... #.##. ##..# #...# #...# ####.",
            ['c'] = "..... ..... .###. #.... #.... #...# .###.",
            ['d'] = "....# ....# .##.# #..## #...# #...# .####",
            ['e'] = "..... ..... .###. #...# ##### #.... .###.",
            ['f'] = "..##. .#..# .#... ###.. .#... .#... .#...",
            ['g'] = "..... .#### #...# #...# .#### ....# .###.",
            ['h'] = "#.... #.... #.##. ##..# #...# #...# #...#",
            ['i'] = "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
            ['j'] = "...#. ..... ..##. ...#. ...#. #..#. .##..",
            ['k'] = "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
            ['l'] = ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['m'] = "..... ..... ##.#. #.#.# #.#.# #...# #...#",
            ['n'] = "..... ..... #.##. ##..# #...# #...# #...#",
            ['o'] = "..... ..... .###. #...# #...# #...# .###.",
            ['p'] = "..... ..... ####. #...# ####. #.... #....",
            ['q'] = "..... ..... .##.# #..## .#### ....# ....#",
            ['r'] = "..... ..... #.##. ##..# #.... #.... #....",
            ['s'] = "..... ..... .###. #.... .###. ....# ####.",
            ['t'] = ".#... .#... ###.. .#... .#... .#..# ..##.",
            ['u'] = "..... ..... #...# #...# #...# #..## .##.#",
            ['v'] = "..... ..... #...# #...# #...# .#.#. ..#..",
            ['w'] = "..... ..... #...# #...# #.#.# #.#.# .#.#.",
            ['x'] = "..... ..... #...# .#.#. ..#.. .#.#. #...#",
            ['y'] = "..... ..... #...# #...# .#### ....# .###.",
            ['z'] = "..... ..... ##### ...#. ..#.. .#... #####",
            ['.'] = "..... ..... ..... ..... ..... .##.. .##..",
            [','] = "..... ..... ..... ..... .##.. ..#.. .#...",
            [':'] = "..... .##.. .##.. ..... .##.. .##.. .....",
            [';'] = "..... .##.. .##.. ..... .##.. ..#.. .#...",
            ['-'] = "..... ..... ..... ##### ..... ..... .....",
            ['_'] = "..... ..... ..... ..... ..... ..... #####",
            ['\''] = "..#.. ..#.. .#... ..... ..... ..... .....",
            ['"'] = ".#.#. .#.#. ..... ..... ..... ..... .....",
            ['('] = "...#. ..#.. .#... .#... .#... ..#.. ...#.",
            [')'] = ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
            ['['] = ".###. .#... .#... .#... .#... .#... .###.",
            [']'] = ".###. ...#. ...#. ...#. ...#. ...#. .###.",
            ['/'] = "..... ....# ...#. ..#.. .#... #.... .....",
            ['%'] = "##... ##..# ...#. ..#.. .#... #..## ...##",
            ['+'] = "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
            ['='] = "..... ..... ##### ..... ##### ..... .....",
            ['!'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
            ['?'] = ".###. #...# ....# ...#. ..#.. ..... ..#..",
            ['#'] = ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
            ['<'] = "...#. ..#.. .#... #.... .#... ..#.. ...#.",
            ['>'] = ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
            ['*'] = "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
            ['|'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        };
        var glyphs = new Dictionary<char, byte[]>();
        foreach (var (ch, rows) in src)
        {
            var parts = rows.Split(' ');
            if (parts.Length != GlyphHeight || parts.Any(p => p.Length != GlyphWidth))
                throw new InvalidOperationException($"glyph '{ch}' is not {GlyphWidth}x{GlyphHeight}");
            glyphs[ch] = parts.Select(p => (byte)p.Select((c, i) => c == '#' ? 1 << (GlyphWidth - 1 - i) : 0).Sum()).ToArray();
        }
        return glyphs;
    }

    /// <summary>Whether the font has a glyph for c (others are drawn as '?').</summary>
    public static bool HasGlyph(char c) => s_glyphs.ContainsKey(c);

    /// <summary>Draws one line of text into an RGB image, top-left corner at (x, y), clipped to the image.</summary>
    public static void DrawText(RgbImage image, int x, int y, string text, (byte R, byte G, byte B) color, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale));
        var px = image.Pixels;
        for (int k = 0; k < text.Length; k++)
        {
            var glyph = s_glyphs.GetValueOrDefault(text[k]) ?? s_glyphs['?'];
            int gx = x + k * Advance * scale;
            for (int row = 0; row < GlyphHeight; row++)
                for (int col = 0; col < GlyphWidth; col++)
                {
                    if ((glyph[row] & (1 << (GlyphWidth - 1 - col))) == 0) continue;
                    for (int sy = 0; sy < scale; sy++)
                        for (int sx = 0; sx < scale; sx++)
                        {
                            int px0 = gx + col * scale + sx, py0 = y + row * scale + sy;
                            if (px0 < 0 || py0 < 0 || px0 >= image.Width || py0 >= image.Height) continue;
                            int i = (py0 * image.Width + px0) * 3;
                            px[i] = color.R;
                            px[i + 1] = color.G;
                            px[i + 2] = color.B;
                        }
                }
        }
    }

    /// <summary>Greedy word wrap to lines of at most maxChars characters (a longer word is cut).</summary>
    public static IReadOnlyList<string> Wrap(string text, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (maxChars < 1) throw new ArgumentOutOfRangeException(nameof(maxChars));
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var w = word;
            while (w.Length > maxChars)
            {
                if (line.Length > 0) { lines.Add(line); line = ""; }
                lines.Add(w[..maxChars]);
                w = w[maxChars..];
            }
            if (line.Length == 0) line = w;
            else if (line.Length + 1 + w.Length <= maxChars) line += " " + w;
            else { lines.Add(line); line = w; }
        }
        if (line.Length > 0) lines.Add(line);
        return lines;
    }
}
