using StarStudio.Model.Text.Clip;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Official;

public sealed class ClipTokenizerTests
{
    [Fact]
    public void Encode_MergesByRankAddsMarkersAndPadsWithExclamationMark()
    {
        var tok = OfficialFiles.Tokenizer(maxLength: 10);
        // "A  cat,dog!" -> cleaned "a cat,dog!" -> pre-tokens a | cat | , | dog | !
        // a -> a</w> 7; cat -> c a t</w> -> ca t</w> -> cat</w> 12; "," -> ",</w>" unknown -> 21; dog -> 14; ! -> !</w> 15.
        var row = tok.Encode("A  cat,dog!");
        Assert.Equal(new long[] { 20, 7, 12, 21, 14, 15, 21, 0, 0, 0 }, row.Ids);
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }, row.Mask);
        Assert.False(row.Report.Truncated);
        Assert.Equal(5, row.Report.TokenCount);
        Assert.Equal([","], row.Report.UnknownWords);
    }

    [Fact]
    public void Tokenize_AppliesMergesInRankOrderNotLeftToRight()
    {
        var tok = OfficialFiles.Tokenizer();
        Assert.Equal(["cat</w>"], tok.Tokenize("CAT"));
        // Without the "ca t</w>" merge the word stops at ca + t</w>: only ranked pairs merge.
        var partial = new ClipTokenizer(OfficialFiles.Vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i), [("c", "a")], 10, "!");
        Assert.Equal(["ca", "t</w>"], partial.Tokenize("cat"));
        Assert.Equal(["d", "o", "g</w>"], partial.Tokenize("dog"));
    }

    [Fact]
    public void Encode_TruncationKeepsTheEndToken()
    {
        var tok = OfficialFiles.Tokenizer(maxLength: 4);
        var row = tok.Encode("a cat dog red");
        Assert.Equal(new long[] { 20, 7, 12, 21 }, row.Ids);
        Assert.Equal(new long[] { 1, 1, 1, 1 }, row.Mask);
        Assert.True(row.Report.Truncated);
        // a, cat, dog, then r e d</w> (no merges for "red"): six pieces before truncation.
        Assert.Equal(6, row.Report.TokenCount);
    }

    [Fact]
    public void Encode_EmptyPromptIsStartEndAndPadding()
    {
        var row = OfficialFiles.Tokenizer(maxLength: 5).Encode("");
        Assert.Equal(new long[] { 20, 21, 0, 0, 0 }, row.Ids);
        Assert.Equal(new long[] { 1, 1, 0, 0, 0 }, row.Mask);
    }

    [Fact]
    public void Tokenize_SplitsContractionsDigitsAndSpecialTokens()
    {
        var tok = OfficialFiles.Tokenizer();
        // "'s" is one pre-token (so "s" carries the word end); without a merge for it, it stays two pieces.
        Assert.Equal(["cat</w>", "'", "s</w>"], tok.Tokenize("Cat's"));
        // Digits are split one by one; the end token in text stays one token.
        Assert.Equal(["1</w>", "2</w>"], tok.Tokenize("12"));
        Assert.Equal(["cat</w>", "<|endoftext|>"], tok.Tokenize("cat<|endoftext|>"));
        Assert.Equal([20, 12, 21], tok.EncodeIds("<|startoftext|>cat<|endoftext|>"));
    }

    [Fact]
    public void Tokenize_MapsBytesLikeGpt2()
    {
        var tok = OfficialFiles.Tokenizer();
        // Byte 0x01 is not printable: the first such byte after 0x00 maps to U+0101 ("ā").
        Assert.Equal([16], tok.EncodeIds("\u0001"));
        // "é" is UTF-8 C3 A9, both printable Latin-1 bytes, so they stay as "Ã" and "©".
        Assert.Equal(["Ã", "©</w>"], tok.Tokenize("É"));
    }

    [Fact]
    public void Clean_CollapsesWhitespaceDecodesEntitiesAndLowercases()
    {
        Assert.Equal("a red & blue cat", ClipTokenizer.Clean("  A\tRED &amp;amp; Blue\n\ncat "));
    }

    [Fact]
    public void FromFolder_ReadsPadTokenAndWindowFromTokenizerConfig()
    {
        using var dir = new TempDir();
        var folder = OfficialFiles.WriteTokenizer(dir.Path, maxLength: 7, pad: "!");
        var tok = ClipTokenizer.FromFolder(folder);
        Assert.Equal((7, 0, 20, 21, 21), (tok.MaxLength, tok.PadId, tok.BosId, tok.EosId, tok.UnkId));

        // OpenAI CLIP's tokenizer pads with the end token instead.
        var folder2 = OfficialFiles.WriteTokenizer(Path.Combine(dir.Path, "openai"), maxLength: 6, pad: "<|endoftext|>");
        Assert.Equal(new long[] { 20, 12, 21, 21, 21, 21 }, ClipTokenizer.FromFolder(folder2).Encode("cat").Ids);
    }

    [Fact]
    public void FromFolder_MissingMergesIsAClearError()
    {
        using var dir = new TempDir();
        var folder = OfficialFiles.WriteTokenizer(dir.Path);
        File.Delete(Path.Combine(folder, "merges.txt"));
        var e = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromFolder(folder));
        Assert.Contains("merges.txt", e.Message);
    }

    [Fact]
    public void Constructor_RejectsVocabularyWithoutTheEndToken()
    {
        var e = Assert.Throws<InvalidDataException>(() => new ClipTokenizer(new Dictionary<string, int> { ["<|startoftext|>"] = 0, ["!"] = 1 }, [], 10, "!"));
        Assert.Contains("<|endoftext|>", e.Message);
    }

    /// <summary>
    /// A vocabulary laid out as CLIP's published one: the 256 byte characters in GPT-2 order ("!" first), the same with
    /// "&lt;/w&gt;", one token per merge (48,894 of them), then &lt;|startoftext|&gt; and &lt;|endoftext|&gt;: 49,408 ids.
    /// The merges here are synthetic; the ids of the markers and of "!" follow from the layout alone.
    /// </summary>
    static string WriteClipLayoutTokenizer(string root, string pad)
    {
        var bytes = new List<string>();
        for (int b = 0; b < 256; b++) if (b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF) bytes.Add(((char)b).ToString());
        for (int b = 0, n = 0; b < 256; b++) if (!(b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF)) bytes.Add(((char)(256 + n++)).ToString());
        var vocab = new List<string>(bytes);
        vocab.AddRange(bytes.Select(c => c + "</w>"));
        var merges = new List<string> { "#version: 0.2" };
        for (int i = 0; i < 48_894; i++)
        {
            merges.Add($"q{i} z");
            vocab.Add($"q{i}z");
        }
        vocab.Add("<|startoftext|>");
        vocab.Add("<|endoftext|>");
        string dir = Path.Combine(root, "tokenizer");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i)));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), merges);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), $$"""{"model_max_length": 77, "pad_token": "{{pad}}", "unk_token": "<|endoftext|>"}""");
        return dir;
    }

    [Fact]
    public void ClipLayout_PublishedIdsAndNoUnknownBytes()
    {
        using var dir = new TempDir();
        var sd21 = ClipTokenizer.FromFolder(WriteClipLayoutTokenizer(dir.Path, "!"));
        Assert.Equal((49_408, 49_406, 49_407, 0, 77), (sd21.VocabSize, sd21.BosId, sd21.EosId, sd21.PadId, sd21.MaxLength));
        // Every byte has a token, so nothing is ever unknown: CJK, emoji and control characters all encode.
        var row = sd21.Encode("Ein Hund 🐕 und 猫\u0007!");
        Assert.Empty(row.Report.UnknownWords);
        Assert.Equal(49_406, row.Ids[0]);
        Assert.Equal(0, row.Ids[^1]);
        Assert.Equal(49_407, row.Ids[row.Mask.Count(m => m == 1) - 1]);

        var openai = ClipTokenizer.FromFolder(WriteClipLayoutTokenizer(Path.Combine(dir.Path, "openai"), "<|endoftext|>"));
        Assert.Equal(49_407, openai.Encode("a").Ids[^1]);
    }
}
