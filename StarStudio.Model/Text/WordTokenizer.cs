using System.Text;
using System.Text.Json;

namespace StarStudio.Model.Text;

/// <summary>
/// A word-level tokenizer for StarStudio's own small models: lower-cased words and punctuation, a fixed vocabulary,
/// [PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3. Unknown words become [UNK] and are reported, so the app can say
/// "the model doesn't know the word 'dog'".
/// </summary>
public sealed class WordTokenizer
{
    public const int PadId = 0, UnkId = 1, BosId = 2, EosId = 3;
    static readonly string[] Specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"];

    readonly Dictionary<string, int> _ids;
    readonly List<string> _words;

    public WordTokenizer(IEnumerable<string> words)
    {
        _words = [.. Specials];
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _words.Count; i++) _ids[_words[i]] = i;
        foreach (var w in words.Select(w => w.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal))
        {
            if (_ids.ContainsKey(w)) continue;
            _ids[w] = _words.Count;
            _words.Add(w);
        }
    }

    public int VocabSize => _words.Count;
    public IReadOnlyList<string> Words => _words;

    /// <summary>Splits into lower-case words; punctuation marks are words of their own.</summary>
    public static IReadOnlyList<string> SplitWords(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (char c in text.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c == '\'') { current.Append(c); continue; }
            if (current.Length > 0) { words.Add(current.ToString()); current.Clear(); }
            if (!char.IsWhiteSpace(c)) words.Add(c.ToString());
        }
        if (current.Length > 0) words.Add(current.ToString());
        return words;
    }

    /// <summary>[BOS] words [EOS], padded with [PAD] to maxTokens; truncation keeps [EOS] as the last token.</summary>
    public (int[] Ids, PromptReport Report) Encode(string text, int maxTokens)
    {
        if (maxTokens < 3) throw new ArgumentOutOfRangeException(nameof(maxTokens), "Need room for [BOS], one word and [EOS].");
        var words = SplitWords(text);
        var unknown = new List<string>();
        var body = new List<int>(words.Count);
        foreach (var w in words)
        {
            if (_ids.TryGetValue(w, out int id)) body.Add(id);
            else { body.Add(UnkId); unknown.Add(w); }
        }
        bool truncated = body.Count > maxTokens - 2;
        if (truncated) body.RemoveRange(maxTokens - 2, body.Count - (maxTokens - 2));
        var ids = new int[maxTokens];
        ids[0] = BosId;
        body.CopyTo(ids, 1);
        ids[body.Count + 1] = EosId;
        return (ids, new PromptReport(truncated, words.Count, unknown));
    }

    public string ToJson() => JsonSerializer.Serialize(_words.Skip(Specials.Length).ToArray());

    public static WordTokenizer FromJson(string json) =>
        new(JsonSerializer.Deserialize<string[]>(json) ?? throw new InvalidDataException("Vocabulary JSON is not a list of words."));
}
