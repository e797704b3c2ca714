// Hyper-parameters of the class-conditional VAR transformer, following FoundationVision/VAR models/__init__.py
// (build_vae_var), models/var.py (VAR.__init__) and the README's model zoo / training commands.
namespace StarStudio.Model.Transformers;

/// <summary>VAR (class-conditional ImageNet) transformer configuration; defaults are build_vae_var's.</summary>
public sealed record VarConfig
{
    int? _width;
    int? _heads;

    /// <summary>Number of AdaLNSelfAttn blocks (zoo: 16, 20, 24, 30, 36).</summary>
    public int Depth { get; init; } = 16;
    /// <summary>Embedding width C = cond width D; build_vae_var uses 64 * depth.</summary>
    public int Width { get => _width ?? 64 * Depth; init => _width = value; }
    /// <summary>Attention heads; build_vae_var uses depth.</summary>
    public int Heads { get => _heads ?? Depth; init => _heads = value; }
    /// <summary>FFN hidden width = round(Width * MlpRatio).</summary>
    public double MlpRatio { get; init; } = 4.0;
    /// <summary>LayerNorm eps (1e-6).</summary>
    public double NormEps { get; init; } = 1e-6;
    /// <summary>L2-normalised attention (build_vae_var and arg_util "anorm" default True).</summary>
    public bool AttnL2Norm { get; init; } = true;
    /// <summary>Shared AdaLN: one shared_ada_lin plus a per-block ada_gss (only VAR-d36, "d36-s": --saln=1).</summary>
    public bool SharedAln { get; init; }
    /// <summary>ImageNet classes; class_emb has NumClasses + 1 rows, the last one being the unconditional label.</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Scale schedule; 256 px by default, 512 px for d36.</summary>
    public IReadOnlyList<int> PatchNums { get; init; } = PatchSchedules.Px256;
    /// <summary>VQ-VAE latent channels (32).</summary>
    public int Cvae { get; init; } = 32;
    /// <summary>VQ-VAE codebook size V (4096).</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>Training only: probability of replacing a label by the unconditional one (cond_drop_rate = 0.1).</summary>
    public double CondDropRate { get; init; } = 0.1;

    public int HeadDim => Width / Heads;
    public int NumScales => PatchNums.Count;
    public int TotalTokens => PatchSchedules.TotalTokens(PatchNums);
    public int MlpHidden => (int)Math.Round(Width * MlpRatio, MidpointRounding.ToEven);

    public void Validate()
    {
        if (Depth < 1) throw new ArgumentException($"Depth must be >= 1, got {Depth}.");
        if (Width < 1 || Heads < 1 || Width % Heads != 0) throw new ArgumentException($"Width {Width} must be a positive multiple of Heads {Heads}.");
        if (PatchNums.Count == 0 || PatchNums.Any(pn => pn < 1)) throw new ArgumentException("PatchNums must be a non-empty list of positive sizes.");
        if (Cvae < 1 || VocabSize < 1 || NumClasses < 1) throw new ArgumentException("Cvae, VocabSize and NumClasses must be positive.");
    }

    /// <summary>
    /// The VAR model zoo: d16 (310M), d20 (600M), d24 (1.0B), d30 (2.0B) at 256 px, and d36-s (2.3B) at 512 px with
    /// shared AdaLN (README: "d36-s ... --saln=1 --pn=512").
    /// </summary>
    public static VarConfig Official(int depth) => depth switch
    {
        16 or 20 or 24 or 30 => new VarConfig { Depth = depth },
        36 => new VarConfig { Depth = 36, SharedAln = true, PatchNums = PatchSchedules.Px512 },
        _ => throw new ArgumentException($"VAR is released at depth 16, 20, 24, 30 or 36, not {depth}.", nameof(depth)),
    };

    public static VarConfig D16 => Official(16);
    public static VarConfig D20 => Official(20);
    public static VarConfig D24 => Official(24);
    public static VarConfig D30 => Official(30);
    public static VarConfig D36 => Official(36);
}
