// The text half of a Hugging Face CLIPConfig (text_encoder/config.json), following transformers
// models/clip/configuration_clip.py (CLIPTextConfig). Defaults are Stable Diffusion 2.1's OpenCLIP ViT-H/14 text tower.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace StarStudio.Model.Text.Clip;

public sealed record ClipTextConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    /// <summary>D: width of the hidden states and the pooled vector (1024 for ViT-H/14, 768 for ViT-L/14).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 1024;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 4096;
    /// <summary>SD 2.1 keeps 23 of OpenCLIP's 24 layers (it uses the penultimate layer).</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 23;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 16;
    /// <summary>Position table length, the token window (77).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;
    /// <summary>"gelu" (erf; OpenCLIP, SD 2.x), "quick_gelu" (OpenAI CLIP), "gelu_new"/"gelu_pytorch_tanh" (tanh).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 0;
    /// <summary>2 (the legacy default SD 2.1's config keeps) means "pool at the argmax of the ids", which is the end
    /// token because it has the highest id; any other value pools at the first occurrence of that id.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    static readonly JsonSerializerOptions Options = new() { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Reads config.json. A full CLIPConfig (text_config inside) is accepted too.</summary>
    public static ClipTextConfig FromJson(string json, string? path = null)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path ?? "config.json"} is not a JSON object.");
            if (root.TryGetProperty("text_config", out var text) && text.ValueKind == JsonValueKind.Object) root = text;
            var config = root.Deserialize<ClipTextConfig>(Options) ?? throw new InvalidDataException($"{path ?? "config.json"} is null.");
            config.Validate(path);
            return config;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path ?? "config.json"} is not a valid CLIP text config: {e.Message}", e);
        }
    }

    public static ClipTextConfig FromFile(string path) => FromJson(File.ReadAllText(path), path);

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    public void Validate(string? path = null)
    {
        string where = path ?? "CLIP text config";
        if (HiddenSize < 1 || NumAttentionHeads < 1 || HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{where}: hidden_size {HiddenSize} must be a positive multiple of num_attention_heads {NumAttentionHeads}.");
        if (VocabSize < 1 || IntermediateSize < 1 || NumHiddenLayers < 1 || MaxPositionEmbeddings < 2)
            throw new InvalidDataException($"{where}: vocab_size, intermediate_size, num_hidden_layers must be positive and max_position_embeddings at least 2.");
        if (HiddenAct is not ("gelu" or "quick_gelu" or "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
            throw new InvalidDataException($"{where}: hidden_act '{HiddenAct}' is not supported (gelu, quick_gelu, gelu_new, gelu_pytorch_tanh).");
    }
}
