// Test fixtures: folders of files with the official names and layouts (Hugging Face CLIP text_encoder/ and tokenizer/,
// STAR trainer checkpoints, VAR state dicts, the VQ-VAE), written from small modules so every number is known.
using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Text.Clip;
using StarStudio.Tests.Checkpoints.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace StarStudio.Tests.Official;

internal static class OfficialFiles
{
    /// <summary>
    /// A hand-made byte-level BPE vocabulary whose ids can be followed by hand. "!" is id 0 as in the real CLIP
    /// vocabulary (which is why SD 2.x pads with id 0); the start and end tokens are the two highest ids, as there.
    /// </summary>
    public static readonly string[] Vocab =
    [
        "!", "a", "c", "t", "o", "g", "d", "a</w>", "t</w>", "g</w>",          // 0..9
        "d</w>", "ca", "cat</w>", "do", "dog</w>", "!</w>", "ā</w>", "s</w>",  // 10..17
        "'s</w>", "red</w>", "<|startoftext|>", "<|endoftext|>",                 // 18..21
    ];

    public const int Bos = 20, Eos = 21;

    public static readonly string[] MergeLines = ["#version: 0.2", "c a", "ca t</w>", "d o", "do g</w>"];

    public static ClipTokenizer Tokenizer(int maxLength = 10, string pad = "!") =>
        new(Vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i), ClipTokenizer.ParseMerges(MergeLines), maxLength, pad);

    public static ClipTextConfig TinyClipConfig(int maxPositions = 10, int eosTokenId = 2) => new()
    {
        VocabSize = Vocab.Length, HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2,
        MaxPositionEmbeddings = maxPositions, HiddenAct = "gelu", EosTokenId = eosTokenId,
    };

    /// <summary>Writes tokenizer/ (vocab.json, merges.txt, tokenizer_config.json) under root.</summary>
    public static string WriteTokenizer(string root, int maxLength = 10, string pad = "!")
    {
        string dir = Path.Combine(root, "tokenizer");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(Vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i)));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), MergeLines);
        // As SD 2.1's: the pad token as an AddedToken object, unk and eos the end token.
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), $$"""
            {"add_prefix_space": false, "bos_token": {"content": "<|startoftext|>", "lstrip": false}, "do_lower_case": true,
             "eos_token": "<|endoftext|>", "model_max_length": {{maxLength}}, "pad_token": {"content": "{{pad}}", "special": true},
             "tokenizer_class": "CLIPTokenizer", "unk_token": "<|endoftext|>"}
            """);
        return dir;
    }

    /// <summary>Writes text_encoder/ (config.json + model.safetensors, or pytorch_model.bin) from a seeded random model.</summary>
    public static (string Dir, Dictionary<string, Tensor> State) WriteTextEncoder(string root, ClipTextConfig config, long seed = 1, bool pth = false)
    {
        string dir = Path.Combine(root, "text_encoder");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), $$"""
            {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "torch_dtype": "float32",
             "vocab_size": {{config.VocabSize}}, "hidden_size": {{config.HiddenSize}}, "intermediate_size": {{config.IntermediateSize}},
             "num_hidden_layers": {{config.NumHiddenLayers}}, "num_attention_heads": {{config.NumAttentionHeads}},
             "max_position_embeddings": {{config.MaxPositionEmbeddings}}, "hidden_act": "{{config.HiddenAct}}", "layer_norm_eps": 1e-05,
             "projection_dim": 512, "bos_token_id": 0, "eos_token_id": {{config.EosTokenId}}, "pad_token_id": 1}
            """);
        manual_seed(seed);
        using var model = new ClipTextModel(config);
        var state = RandomizedState(model);
        // Old transformers versions saved the position ids; the loader must skip them.
        var withIds = new Dictionary<string, Tensor>(state) { ["text_model.embeddings.position_ids"] = arange(config.MaxPositionEmbeddings).view(1, -1) };
        if (pth) TorchSave.Write(Path.Combine(dir, "pytorch_model.bin"), ToFx(withIds), "pytorch_model");
        else SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), withIds);
        return (dir, state);
    }

    /// <summary>Detached copies of a module's state with every tensor filled with seeded noise (LayerNorms too, so a
    /// wrong affine would show).</summary>
    public static Dictionary<string, Tensor> RandomizedState(nn.Module module)
    {
        var parameters = module.named_parameters().Select(p => p.name).ToHashSet();
        return module.state_dict().ToDictionary(kv => kv.Key, kv => parameters.Contains(kv.Key) && kv.Value.dtype == ScalarType.Float32
            ? randn(kv.Value.shape).mul(0.3).add(IsNormWeight(kv.Key) ? 1.0 : 0.0)
            : kv.Value.detach().clone());
    }

    static bool IsNormWeight(string key) => key.EndsWith("norm1.weight") || key.EndsWith("norm2.weight") || key.EndsWith("layer_norm.weight") || key.EndsWith("norm.weight");

    /// <summary>A state dict as torch.save writes it: fp32 and int64 tensors on their own storages.</summary>
    public static FxOrderedDict ToFx(IReadOnlyDictionary<string, Tensor> state, bool half = false)
    {
        var sd = new FxOrderedDict();
        foreach (var (key, t) in state)
        {
            var c = t.contiguous();
            FxStorage storage = c.dtype switch
            {
                ScalarType.Float32 when half => FxStorage.Half(c.data<float>().ToArray()),
                ScalarType.Float32 => FxStorage.Float(c.data<float>().ToArray()),
                ScalarType.Int64 => FxStorage.Long(c.data<long>().ToArray()),
                ScalarType.Bool => FxStorage.Bool(c.data<bool>().ToArray()),
                _ => throw new NotSupportedException($"{key}: {c.dtype}"),
            };
            sd.Add(key, FxTensor.Contiguous(storage, c.shape));
        }
        return sd;
    }
}
