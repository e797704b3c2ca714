using static TorchSharp.torch;

namespace StarStudio.Model.Text;

/// <summary>
/// Encoded prompts as STAR consumes them (the reference's extract_text_features):
/// hidden states [n, T, D], attention mask [n, T] (1 = token, 0 = padding) and a pooled vector [n, D].
/// </summary>
public sealed class TextEncoding(Tensor hiddenStates, Tensor attentionMask, Tensor pooled, IReadOnlyList<PromptReport> reports) : IDisposable
{
    public Tensor HiddenStates { get; } = hiddenStates;
    public Tensor AttentionMask { get; } = attentionMask;
    public Tensor Pooled { get; } = pooled;
    /// <summary>One report per prompt: truncation and words the encoder doesn't know.</summary>
    public IReadOnlyList<PromptReport> Reports { get; } = reports;

    public void Dispose()
    {
        HiddenStates.Dispose();
        AttentionMask.Dispose();
        Pooled.Dispose();
    }
}

/// <summary>What happened to one prompt on its way into the encoder, so callers can tell the user.</summary>
/// <param name="Truncated">The prompt had more tokens than the encoder's window; the tail was dropped.</param>
/// <param name="TokenCount">Tokens before truncation (without start/end markers).</param>
/// <param name="UnknownWords">Words mapped to the unknown token, in order of appearance.</param>
public sealed record PromptReport(bool Truncated, int TokenCount, IReadOnlyList<string> UnknownWords);

/// <summary>A text tower that turns prompts into STAR's conditioning.</summary>
public interface ITextEncoder
{
    /// <summary>Width D of the hidden states and the pooled vector (STAR's in_dim_cross).</summary>
    int Dim { get; }
    /// <summary>Maximum tokens per prompt, markers included (CLIP: 77).</summary>
    int MaxTokens { get; }
    /// <summary>Encodes a batch of prompts; the empty prompt "" is the unconditional one.</summary>
    TextEncoding Encode(IReadOnlyList<string> prompts);
}
