using StarStudio.Model.Text;

namespace StarStudio.Tests.Text;

public class WordTokenizerTests
{
    static readonly WordTokenizer Tok = new(["a", "red", "circle", "on", "blue", "background", ","]);

    [Fact]
    public void Encode_AddsMarkersPadsAndMapsKnownWords()
    {
        var (ids, report) = Tok.Encode("A red circle, blue background", 10);
        // Sorted vocabulary after the 4 specials: "," a background blue circle on red -> 4..10
        Assert.Equal([WordTokenizer.BosId, 5, 10, 8, 4, 7, 6, WordTokenizer.EosId, 0, 0], ids);
        Assert.False(report.Truncated);
        Assert.Empty(report.UnknownWords);
    }

    [Fact]
    public void Encode_ReportsUnknownWords()
    {
        var (ids, report) = Tok.Encode("a red dog on a blue unicorn", 12);
        Assert.Equal(["dog", "unicorn"], report.UnknownWords);
        Assert.Equal(2, ids.Count(i => i == WordTokenizer.UnkId));
    }

    [Fact]
    public void Encode_TruncatesKeepingTheEndMarker()
    {
        var (ids, report) = Tok.Encode("red red red red red red", 5);
        Assert.True(report.Truncated);
        Assert.Equal(6, report.TokenCount);
        Assert.Equal([WordTokenizer.BosId, 10, 10, 10, WordTokenizer.EosId], ids);
    }

    [Fact]
    public void Json_RoundTripsTheVocabulary()
    {
        var again = WordTokenizer.FromJson(Tok.ToJson());
        Assert.Equal(Tok.Words, again.Words);
    }
}
