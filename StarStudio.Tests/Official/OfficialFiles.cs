// Test fixtures: folders of files with the official names and layouts (Hugging Face CLIP text_encoder/ and tokenizer/,
// STAR trainer checkpoints, VAR state dicts, the VQ-VAE), written from small modules so every number is known.
using System.Text.Json;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Text.Clip;
using StarStudio.Model.Transformers;
using StarStudio.Model.Vae;
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

    /// <summary>Small-depth schedule of the fixtures (not an official one, so imports pass it explicitly).</summary>
    public static readonly int[] TinyPatchNums = [1, 2, 3, 4];

    /// <summary>A small VQ-VAE with the official structure (attention in the last level and the mid block, 4 shared Phis).</summary>
    public static VqVaeConfig TinyVae => new() { VocabSize = 64, Cvae = 8, Ch = 16, ChMult = [1, 2], NumResBlocks = 1, NormGroups = 16, VPatchNums = TinyPatchNums };

    /// <summary>build_vae_var's rules at depth 2: width 64 * depth, heads = depth; the tiny CLIP's 16-wide text.</summary>
    public static StarConfig TinyStar(bool sampler) => new()
    {
        Depth = 2, TextDim = 16, PatchNums = TinyPatchNums, Cvae = 8, VocabSize = 64, StableSamplerHead = sampler, SampleFromIdx = 3, SamplerDepth = 1,
        CrossAttentionBatchQuirk = true,
    };

    public static VarConfig TinyVar => new() { Depth = 2, PatchNums = TinyPatchNums, Cvae = 8, VocabSize = 64 };

    /// <summary>
    /// A STAR folder as the official release lays it out: ar-ckpt-*.pth with the transformer under trainer/var_wo_ddp
    /// (next to optimizer state and an args object), a plain VAE state dict, text_encoder/ and tokenizer/.
    /// Returns the state dicts written, by role.
    /// </summary>
    public static void WriteStarFolder(string folder, bool sampler = true, long seed = 11, string vaeName = "vae_ch16v64z8.pth")
    {
        Directory.CreateDirectory(folder);
        manual_seed(seed);
        using (var star = new StarTransformer(TinyStar(sampler)))
        {
            var state = RandomizedState(star);
            TorchSave.Write(Path.Combine(folder, "ar-ckpt-tiny-ep1-iter10.pth"), StarCheckpoint.Root(ToFx(state)), "ar-ckpt-tiny-ep1-iter10");
            foreach (var t in state.Values) t.Dispose();
        }
        WriteVae(Path.Combine(folder, vaeName), seed + 1);
        WriteTextEncoder(folder, TinyClipConfig(maxPositions: 10), seed + 2);
        WriteTokenizer(folder, maxLength: 10);
    }

    /// <summary>A VAR folder: var_d2.pth (a plain state dict with the lvl_1L and attn_bias_for_masking buffers) and the VAE.</summary>
    public static void WriteVarFolder(string folder, long seed = 21, string name = "var_d2.pth", string vaeName = "vae_ch16v64z8.pth")
    {
        Directory.CreateDirectory(folder);
        manual_seed(seed);
        using (var var = new VarTransformer(TinyVar))
        {
            var state = RandomizedState(var);
            TorchSave.Write(Path.Combine(folder, name), ToFx(state), Path.GetFileNameWithoutExtension(name));
            foreach (var t in state.Values) t.Dispose();
        }
        WriteVae(Path.Combine(folder, vaeName), seed + 1);
    }

    /// <summary>The VAE as a plain state dict, its ema_vocab_hit_SV statistic shaped for 10 scales as the official file.</summary>
    public static void WriteVae(string path, long seed)
    {
        manual_seed(seed);
        using var vae = new VQVAE(TinyVae);
        var state = vae.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        state["quantize.ema_vocab_hit_SV"].Dispose();
        state["quantize.ema_vocab_hit_SV"] = zeros(10, TinyVae.VocabSize);
        TorchSave.Write(path, ToFx(state), Path.GetFileNameWithoutExtension(path));
        foreach (var t in state.Values) t.Dispose();
    }
}

/// <summary>Full-size files without the bytes: a real safetensors header over a sparse data section (no disk, no memory).</summary>
internal static class SparseSafetensors
{
    public static void Write(string path, IReadOnlyDictionary<string, long[]> shapes)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, shape) in shapes.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            long bytes = shape.Aggregate(4L, (a, b) => a * b);
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)json.Length);
        f.Write(len);
        f.Write(json);
        f.SetLength(8 + json.Length + offset);
    }
}

