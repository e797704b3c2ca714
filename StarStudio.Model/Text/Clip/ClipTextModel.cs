// Hugging Face CLIPTextModel (transformers models/clip/modeling_clip.py: CLIPTextEmbeddings, CLIPAttention, CLIPMLP,
// CLIPEncoderLayer, CLIPTextTransformer) with its state-dict names, used as STAR's text tower the way STAR-T2I
// models/text_encoder.py (extract_text_features) calls it: last_hidden_state, the tokenizer's attention mask, pooler_output.
// Shapes: n prompts, T tokens (77), D width, H heads, d head dim.
using TorchSharp;
using TorchSharp.Modules;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Transformers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace StarStudio.Model.Text.Clip;

/// <summary>CLIPTextModel: every key lives under "text_model.".</summary>
public sealed class ClipTextModel : Module<Tensor, Tensor, Tensor>, ITextEncoder
{
    readonly ClipTextTransformer text_model;
    readonly ClipTokenizer? _tokenizer;

    public ClipTextModel(ClipTextConfig config, ClipTokenizer? tokenizer = null, Device? device = null) : base("CLIPTextModel")
    {
        config.Validate();
        if (tokenizer is not null && tokenizer.MaxLength > config.MaxPositionEmbeddings)
            throw new ArgumentException($"The tokenizer's window ({tokenizer.MaxLength}) is longer than the model's position table ({config.MaxPositionEmbeddings}).");
        Config = config;
        _tokenizer = tokenizer;
        text_model = new ClipTextTransformer(config, device);
        RegisterComponents();
    }

    public ClipTextConfig Config { get; }
    public ClipTokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException("This CLIP text model was built without a tokenizer.");
    public int Dim => Config.HiddenSize;
    public int MaxTokens => _tokenizer?.MaxLength ?? Config.MaxPositionEmbeddings;

    /// <summary>last_hidden_state [n, T, D] for ids [n, T] and mask [n, T] (1 token, 0 padding).</summary>
    public override Tensor forward(Tensor ids_nT, Tensor mask_nT) => text_model.call(ids_nT, mask_nT);

    /// <summary>
    /// pooler_output [n, D]: the final hidden state at the end token. Configs with the legacy eos_token_id 2 (SD 2.1's)
    /// take the argmax of the ids (the end token has the highest id); others the first position holding eos_token_id.
    /// </summary>
    public Tensor Pool(Tensor hidden_nTD, Tensor ids_nT)
    {
        using var scope = NewDisposeScope();
        var at_n = Config.EosTokenId == 2 ? ids_nT.argmax(-1) : ids_nT.eq(Config.EosTokenId).to_type(ScalarType.Int32).argmax(-1);
        var index = at_n.view(-1, 1, 1).expand(-1, 1, hidden_nTD.shape[2]);
        return hidden_nTD.gather(1, index).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>extract_text_features: tokenise to the 77-token window, run the tower with the padding mask.</summary>
    public TextEncoding Encode(IReadOnlyList<string> prompts)
    {
        var tokenizer = Tokenizer;
        int n = prompts.Count, T = tokenizer.MaxLength;
        var ids = new long[n * T];
        var mask = new float[n * T];
        var reports = new PromptReport[n];
        for (int i = 0; i < n; i++)
        {
            var row = tokenizer.Encode(prompts[i]);
            reports[i] = row.Report;
            for (int t = 0; t < T; t++)
            {
                ids[i * T + t] = row.Ids[t];
                mask[i * T + t] = row.Mask[t];
            }
        }
        var device = text_model.Device;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids_nT = tensor(ids, [n, T], device: device);
        var mask_nT = tensor(mask, [n, T], device: device);
        var hidden_nTD = forward(ids_nT, mask_nT);
        var pooled_nD = Pool(hidden_nTD, ids_nT);
        return new TextEncoding(hidden_nTD.MoveToOuterDisposeScope(), mask_nT.MoveToOuterDisposeScope(), pooled_nD.MoveToOuterDisposeScope(), reports);
    }

    /// <summary>Keys of the checkpoint that are not weights: old transformers versions saved the position_ids buffer.</summary>
    public static StateDictLoadOptions LoadOptions { get; } = new() { IgnoreNames = ["embeddings.position_ids"] };

    /// <summary>Weight files a text_encoder/ folder may hold, in the order they are tried.</summary>
    public static readonly string[] WeightFileNames = ["model.safetensors", "pytorch_model.bin", "model.fp16.safetensors", "pytorch_model.fp16.bin"];

    /// <summary>The weight file of a text_encoder/ folder, or null.</summary>
    public static string? FindWeights(string folder) =>
        WeightFileNames.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);

    /// <summary>
    /// Loads a Hugging Face text_encoder/ folder (config.json + model.safetensors or pytorch_model.bin) with the tokenizer
    /// of a tokenizer/ folder, strictly: every key and shape must match.
    /// </summary>
    public static ClipTextModel Load(string textEncoderFolder, string tokenizerFolder, Device? device = null, string? weightsFile = null)
    {
        var config = ClipTextConfig.FromFile(Path.Combine(textEncoderFolder, "config.json"));
        var tokenizer = ClipTokenizer.FromFolder(tokenizerFolder);
        string weights = weightsFile ?? FindWeights(textEncoderFolder)
            ?? throw new FileNotFoundException($"{textEncoderFolder} holds no CLIP weights ({string.Join(", ", WeightFileNames)}).");
        var model = new ClipTextModel(config, tokenizer);
        try
        {
            using (var sd = CheckpointFile.ReadStateDict(weights))
                StateDictLoader.Load(model, sd, LoadOptions, weights);
            if (device is not null) model.to(device);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}

/// <summary>CLIPTextTransformer: embeddings, encoder, final_layer_norm.</summary>
public sealed class ClipTextTransformer : Module<Tensor, Tensor, Tensor>
{
    readonly ClipTextEmbeddings embeddings;
    readonly ClipEncoder encoder;
    readonly LayerNorm final_layer_norm;

    public ClipTextTransformer(ClipTextConfig config, Device? device = null) : base("CLIPTextTransformer")
    {
        embeddings = new ClipTextEmbeddings(config, device);
        encoder = new ClipEncoder(config, device);
        final_layer_norm = LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        RegisterComponents();
    }

    internal Device Device => embeddings.Device;

    public override Tensor forward(Tensor ids_nT, Tensor mask_nT)
    {
        using var scope = NewDisposeScope();
        long n = ids_nT.shape[0], T = ids_nT.shape[1];
        if (mask_nT.shape[0] != n || mask_nT.shape[1] != T)
            throw new ArgumentException($"Attention mask [{string.Join(", ", mask_nT.shape)}] does not match ids [{n}, {T}].");
        var x_nTD = embeddings.call(ids_nT);
        // One additive bias [n, 1, T, T]: a query sees keys at or before its own position (causal) that are not
        // padding. The reference adds the two masks (each the dtype's minimum); either way those weights are exactly 0.
        // Key 0 (the start token) is never masked, so no row is fully masked.
        var causal_TT = ones(T, T, dtype: ScalarType.Bool, device: ids_nT.device).triu(1);
        var padding_n11T = mask_nT.eq(0).view(n, 1, 1, T);
        var blocked = causal_TT.view(1, 1, T, T).logical_or(padding_n11T);
        var bias = zeros(blocked.shape, dtype: x_nTD.dtype, device: x_nTD.device).masked_fill(blocked, float.MinValue);
        x_nTD = encoder.call(x_nTD, bias);
        return final_layer_norm.call(x_nTD).MoveToOuterDisposeScope();
    }
}

/// <summary>CLIPTextEmbeddings: token_embedding(ids) + position_embedding(0..T-1).</summary>
public sealed class ClipTextEmbeddings : Module<Tensor, Tensor>
{
    readonly EmbeddingTable token_embedding;
    readonly EmbeddingTable position_embedding;

    public ClipTextEmbeddings(ClipTextConfig config, Device? device = null) : base("CLIPTextEmbeddings")
    {
        token_embedding = new EmbeddingTable(config.VocabSize, config.HiddenSize, device);
        position_embedding = new EmbeddingTable(config.MaxPositionEmbeddings, config.HiddenSize, device);
        RegisterComponents();
    }

    internal Device Device => token_embedding.Weight.device;

    public override Tensor forward(Tensor ids_nT)
    {
        long T = ids_nT.shape[1], max = position_embedding.Weight.shape[0];
        if (T > max) throw new ArgumentException($"{T} tokens exceed the position table ({max}).");
        using var scope = NewDisposeScope();
        var pos_TD = position_embedding.Weight.narrow(0, 0, T);
        return token_embedding.call(ids_nT).add(pos_TD).MoveToOuterDisposeScope();
    }
}

/// <summary>CLIPEncoder: the stack of layers.</summary>
public sealed class ClipEncoder : Module<Tensor, Tensor, Tensor>
{
    readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipTextConfig config, Device? device = null) : base("CLIPEncoder")
    {
        layers = new ModuleList<ClipEncoderLayer>([.. Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, device))]);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x_nTD, Tensor bias_n1TT)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x_nTD = layer.call(x_nTD, bias_n1TT);
        return x_nTD.MoveToOuterDisposeScope();
    }
}

/// <summary>CLIPEncoderLayer (pre-LayerNorm): x + self_attn(layer_norm1(x)), then x + mlp(layer_norm2(x)).</summary>
public sealed class ClipEncoderLayer : Module<Tensor, Tensor, Tensor>
{
    readonly ClipAttention self_attn;
    readonly LayerNorm layer_norm1;
    readonly ClipMlp mlp;
    readonly LayerNorm layer_norm2;

    public ClipEncoderLayer(ClipTextConfig config, Device? device = null) : base("CLIPEncoderLayer")
    {
        self_attn = new ClipAttention(config, device);
        layer_norm1 = LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        mlp = new ClipMlp(config, device);
        layer_norm2 = LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x_nTD, Tensor bias_n1TT)
    {
        using var scope = NewDisposeScope();
        var h = x_nTD.add(self_attn.call(layer_norm1.call(x_nTD), bias_n1TT));
        h = h.add(mlp.call(layer_norm2.call(h)));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>CLIPAttention: separate q/k/v/out projections with biases, scale head_dim^-0.5 applied to q.</summary>
public sealed class ClipAttention : Module<Tensor, Tensor, Tensor>
{
    readonly int _heads, _headDim;
    readonly Linear q_proj, k_proj, v_proj, out_proj;

    public ClipAttention(ClipTextConfig config, Device? device = null) : base("CLIPAttention")
    {
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        q_proj = Linear(config.HiddenSize, config.HiddenSize, device: device);
        k_proj = Linear(config.HiddenSize, config.HiddenSize, device: device);
        v_proj = Linear(config.HiddenSize, config.HiddenSize, device: device);
        out_proj = Linear(config.HiddenSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x_nTD, Tensor bias_n1TT)
    {
        long n = x_nTD.shape[0], T = x_nTD.shape[1], D = x_nTD.shape[2];
        using var scope = NewDisposeScope();
        var q = q_proj.call(x_nTD).mul(1.0 / Math.Sqrt(_headDim)).view(n, T, _heads, _headDim).transpose(1, 2);  // [n, H, T, d]
        var k = k_proj.call(x_nTD).view(n, T, _heads, _headDim).transpose(1, 2);
        var v = v_proj.call(x_nTD).view(n, T, _heads, _headDim).transpose(1, 2);
        var weights = q.matmul(k.transpose(-2, -1)).add(bias_n1TT).softmax(-1);                                  // [n, H, T, T]
        var o_nTD = weights.matmul(v).transpose(1, 2).reshape(n, T, D);
        return out_proj.call(o_nTD).MoveToOuterDisposeScope();
    }
}

/// <summary>CLIPMLP: fc1, the config's activation, fc2.</summary>
public sealed class ClipMlp : Module<Tensor, Tensor>
{
    readonly string _act;
    readonly Linear fc1, fc2;

    public ClipMlp(ClipTextConfig config, Device? device = null) : base("CLIPMLP")
    {
        _act = config.HiddenAct;
        fc1 = Linear(config.HiddenSize, config.IntermediateSize, device: device);
        fc2 = Linear(config.IntermediateSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = fc1.call(x);
        h = _act switch
        {
            "gelu" => functional.gelu(h),
            // OpenAI CLIP's approximation x * sigmoid(1.702 x).
            "quick_gelu" => h.mul(h.mul(1.702).sigmoid()),
            _ => functional.gelu(h, TorchSharp.Modules.GELU.Approximate.tanh),
        };
        return fc2.call(h).MoveToOuterDisposeScope();
    }
}
