// CLIP's byte-level BPE tokenizer, following huggingface/transformers models/clip/tokenization_clip.py (the slow
// CLIPTokenizer that STAR's models/text_encoder.py loads): text cleaning, lower-casing, the regex pre-tokenizer,
// "</w>" word ends, <|startoftext|> ... <|endoftext|>, truncation to the window keeping the end token, right padding
// with the pad token tokenizer_config.json names (Stable Diffusion 2.x: "!", id 0).
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace StarStudio.Model.Text.Clip;

/// <summary>One encoded prompt: ids and attention mask of exactly the window's length.</summary>
/// <param name="Ids">[T] token ids: BOS, the prompt's tokens, EOS, then padding.</param>
/// <param name="Mask">[T] 1 for BOS..EOS, 0 for padding.</param>
/// <param name="Report">Truncation and unknown pieces.</param>
public sealed record ClipTokens(long[] Ids, long[] Mask, PromptReport Report);

public sealed class ClipTokenizer
{
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";
    const string WordEnd = "</w>";

    // CLIP's pre-tokenizer: the two special tokens, English contractions, runs of letters, single digits, runs of
    // anything else that is not whitespace. Applied to cleaned, lower-cased text, case-insensitively as the reference.
    static readonly Regex Pattern = new(
        @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);

    static readonly Regex Whitespace = new(@"\s+", RegexOptions.Compiled);

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<(string, string), int> _ranks;
    readonly Dictionary<string, string[]> _cache = new(StringComparer.Ordinal);
    static readonly string[] ByteToUnicode = BuildByteToUnicode();

    /// <param name="vocab">Token -> id (vocab.json).</param>
    /// <param name="merges">BPE merges in priority order (merges.txt without its "#version" line).</param>
    /// <param name="maxLength">Window T including start and end tokens (tokenizer_config.json model_max_length: 77).</param>
    /// <param name="padToken">The padding token (SD 2.x: "!"; OpenAI CLIP: "&lt;|endoftext|&gt;").</param>
    public ClipTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        int maxLength = 77, string padToken = EndOfText, string unkToken = EndOfText,
        string bosToken = StartOfText, string eosToken = EndOfText)
    {
        if (maxLength < 2) throw new ArgumentException($"The window must hold at least the start and end tokens, got {maxLength}.", nameof(maxLength));
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _ranks = new Dictionary<(string, string), int>();
        for (int i = 0; i < merges.Count; i++) _ranks.TryAdd(merges[i], i);
        MaxLength = maxLength;
        BosId = IdOf(bosToken, "start");
        EosId = IdOf(eosToken, "end");
        PadId = IdOf(padToken, "padding");
        UnkId = IdOf(unkToken, "unknown");
        // Special tokens map to themselves, never through BPE.
        _cache[bosToken] = [bosToken];
        _cache[eosToken] = [eosToken];
    }

    int IdOf(string token, string what) => _vocab.TryGetValue(token, out int id)
        ? id
        : throw new InvalidDataException($"The CLIP vocabulary has no {what} token '{token}'.");

    public int MaxLength { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int UnkId { get; }
    public int VocabSize => _vocab.Count;

    /// <summary>
    /// Reads a Hugging Face tokenizer/ folder: vocab.json, merges.txt, and tokenizer_config.json (or, for keys it
    /// lacks, special_tokens_map.json) for model_max_length and the pad, unk, bos and eos tokens.
    /// </summary>
    public static ClipTokenizer FromFolder(string folder)
    {
        string vocabPath = Path.Combine(folder, "vocab.json"), mergesPath = Path.Combine(folder, "merges.txt");
        foreach (var p in new[] { vocabPath, mergesPath })
            if (!File.Exists(p)) throw new FileNotFoundException($"The CLIP tokenizer needs {Path.GetFileName(p)} in {folder}.", p);
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))
                    ?? throw new InvalidDataException($"{vocabPath} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{vocabPath} is not a JSON object of token -> id: {e.Message}", e);
        }
        var merges = ParseMerges(File.ReadAllLines(mergesPath), mergesPath);

        var settings = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        // tokenizer_config.json wins; special_tokens_map.json fills what it leaves out.
        foreach (var name in new[] { "special_tokens_map.json", "tokenizer_config.json" })
        {
            string path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path} is not a JSON object.");
                foreach (var prop in doc.RootElement.EnumerateObject()) settings[prop.Name] = prop.Value.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
            }
        }
        string Token(string key, string fallback) =>
            settings.TryGetValue(key, out var v) ? v.ValueKind switch
            {
                JsonValueKind.String => v.GetString()!,
                // AddedToken objects: {"content": "!", "lstrip": false, ...}
                JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString()!,
                _ => fallback,
            } : fallback;
        int maxLength = 77;
        // Tokenizers without a limit store a huge number (int(1e30)); CLIP's window is 77 then.
        if (settings.TryGetValue("model_max_length", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt32(out int ml) && ml is > 1 and <= 4096)
            maxLength = ml;
        return new ClipTokenizer(vocab, merges, maxLength, Token("pad_token", EndOfText), Token("unk_token", EndOfText),
            Token("bos_token", StartOfText), Token("eos_token", EndOfText));
    }

    /// <summary>merges.txt: an optional "#version" line, then one "left right" pair per line in priority order.</summary>
    public static List<(string, string)> ParseMerges(IEnumerable<string> lines, string? path = null)
    {
        var merges = new List<(string, string)>();
        int lineNo = 0;
        foreach (var raw in lines)
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new InvalidDataException($"{path ?? "merges.txt"} line {lineNo}: expected two tokens, got '{line}'.");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    /// <summary>CLIP's cleaning: HTML entities decoded, Unicode NFC, whitespace runs to one space, trimmed, lower-cased.</summary>
    public static string Clean(string text)
    {
        // The reference unescapes twice (double-escaped captions are common in web data).
        text = WebUtility.HtmlDecode(WebUtility.HtmlDecode(text)).Normalize(NormalizationForm.FormC);
        return Whitespace.Replace(text, " ").Trim().ToLowerInvariant();
    }

    /// <summary>The BPE pieces of a prompt (no start/end tokens).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var pieces = new List<string>();
        foreach (Match word in Pattern.Matches(Clean(text)))
            pieces.AddRange(Bpe(word.Value));
        return pieces;
    }

    /// <summary>Token ids of a prompt (no start/end tokens); pieces missing from the vocabulary become the unknown id.</summary>
    public List<int> EncodeIds(string text, List<string>? unknown = null)
    {
        var ids = new List<int>();
        foreach (var piece in Tokenize(text))
        {
            if (_vocab.TryGetValue(piece, out int id)) ids.Add(id);
            else
            {
                ids.Add(UnkId);
                unknown?.Add(piece.EndsWith(WordEnd, StringComparison.Ordinal) ? piece[..^WordEnd.Length] : piece);
            }
        }
        return ids;
    }

    /// <summary>
    /// As the reference calls it: padding="max_length", truncation=True. At most T-2 prompt tokens are kept, so the end
    /// token always survives; the rest of the window is padding with mask 0.
    /// </summary>
    public ClipTokens Encode(string text)
    {
        var unknown = new List<string>();
        var ids = EncodeIds(text, unknown);
        int keep = Math.Min(ids.Count, MaxLength - 2);
        var row = new long[MaxLength];
        var mask = new long[MaxLength];
        Array.Fill(row, PadId);
        row[0] = BosId;
        for (int i = 0; i < keep; i++) row[i + 1] = ids[i];
        row[keep + 1] = EosId;
        for (int i = 0; i < keep + 2; i++) mask[i] = 1;
        return new ClipTokens(row, mask, new PromptReport(ids.Count > keep, ids.Count, unknown));
    }

    /// <summary>Byte-level BPE of one pre-token: its UTF-8 bytes as printable characters, "&lt;/w&gt;" on the last,
    /// then the lowest-ranked adjacent pair merged everywhere until no ranked pair is left.</summary>
    string[] Bpe(string token)
    {
        if (_cache.TryGetValue(token, out var cached)) return cached;
        var mapped = new StringBuilder();
        foreach (byte b in Encoding.UTF8.GetBytes(token)) mapped.Append(ByteToUnicode[b]);
        var chars = StringInfoElements(mapped.ToString());
        var word = new List<string>(chars);
        word[^1] += WordEnd;
        while (word.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1;
            for (int i = 0; i + 1 < word.Count; i++)
                if (_ranks.TryGetValue((word[i], word[i + 1]), out int r) && r < bestRank) { bestRank = r; bestAt = i; }
            if (bestAt < 0) break;
            var (first, second) = (word[bestAt], word[bestAt + 1]);
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count;)
            {
                if (i + 1 < word.Count && word[i] == first && word[i + 1] == second)
                {
                    merged.Add(first + second);
                    i += 2;
                }
                else merged.Add(word[i++]);
            }
            word = merged;
        }
        var result = word.ToArray();
        if (_cache.Count < 100_000) _cache[token] = result;
        return result;
    }

    // The mapped characters are all in the Basic Multilingual Plane (U+0021..U+0143), so chars are elements.
    static List<string> StringInfoElements(string s) => s.Select(c => c.ToString()).ToList();

    /// <summary>GPT-2/CLIP's reversible byte -> printable character table: printable Latin-1 bytes map to
    /// themselves, the other 68 bytes to U+0100 onwards in byte order.</summary>
    static string[] BuildByteToUnicode()
    {
        var table = new string[256];
        bool Printable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        int next = 256;
        for (int b = 0; b < 256; b++)
            table[b] = ((char)(Printable(b) ? b : next++)).ToString(CultureInfo.InvariantCulture);
        return table;
    }
}
