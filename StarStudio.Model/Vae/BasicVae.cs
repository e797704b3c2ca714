// Encoder / Decoder of the multi-scale VQ-VAE and their blocks; follows VAR models/basic_vae.py (itself from
// CompVis stable-diffusion ldm/modules/diffusionmodules/model.py). State-dict names equal the reference's.
// Shapes: B batch, C channels, H W pixels or latent cells, Cvae latent width.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using StarStudio.Model.Transformers;

namespace StarStudio.Model.Vae;

static class VaeOps
{
    /// <summary>
    /// The reference's Normalize: GroupNorm(num_groups, C, eps=1e-6, affine), written out as tensor operations
    /// (<see cref="ComposedGroupNorm"/>).
    /// numGroups 0 (<see cref="VqVaeConfig.NormGroups"/>, StarStudio's option, never in official files) means no
    /// normalisation at all.
    /// </summary>
    internal static nn.Module<Tensor, Tensor> Normalize(long inChannels, int numGroups, Device? device)
    {
        if (numGroups == 0) return new NoNorm();
        if (inChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm needs channels ({inChannels}) divisible by groups ({numGroups}).");
        return new ComposedGroupNorm(numGroups, inChannels, 1e-6, device);
    }

    /// <summary>Disposes <paramref name="old"/> and returns <paramref name="next"/>; keeps one activation alive at a time.</summary>
    internal static Tensor Swap(Tensor old, Tensor next)
    {
        if (!ReferenceEquals(old, next)) old.Dispose();
        return next;
    }
}

/// <summary>
/// GroupNorm (weight 1, bias 0 at first, state-dict keys "weight" and "bias" as nn.GroupNorm) composed of mean, variance
/// and element-wise operations. libtorch 2.10's native CPU group_norm backward returns non-finite input gradients on
/// this project's AVX-512 machines for some shapes (8 channels at 64x64, in 4 of 5 configurations tried on
/// 2026-12-07), which made every GroupNorm VQ-VAE NaN after its first training step; the composed form has ordinary
/// autograd and the same arithmetic up to float rounding.
/// </summary>
sealed class ComposedGroupNorm : nn.Module<Tensor, Tensor>
{
    readonly int _groups;
    readonly double _eps;
    [ComponentName(Name = "weight")] readonly Parameter _weight;
    [ComponentName(Name = "bias")] readonly Parameter _bias;

    public ComposedGroupNorm(int groups, long channels, double eps, Device? device) : base("GroupNorm")
    {
        _groups = groups;
        _eps = eps;
        _weight = Owned.Parameter(ones(channels, device: device));
        _bias = Owned.Parameter(zeros(channels, device: device));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long B = x.shape[0], C = x.shape[1];
        var xg = x.reshape(B, _groups, -1);
        var mean = xg.mean([2], keepdim: true);
        var variance = xg.var(2, unbiased: false, keepdim: true);
        var normed = ((xg - mean) * (variance + _eps).rsqrt()).reshape(x.shape);
        var affineShape = new long[x.dim()];
        Array.Fill(affineShape, 1L);
        affineShape[1] = C;
        return (normed * _weight.view(affineShape) + _bias.view(affineShape)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// No normalisation (<see cref="VqVaeConfig.NormGroups"/> 0). Returns a copy, not its input: every caller applies SiLU
/// in place to what Normalize returns, and the input is still needed (the residual shortcut, autograd).
/// </summary>
sealed class NoNorm() : nn.Module<Tensor, Tensor>(nameof(NoNorm))
{
    public override Tensor forward(Tensor x) => x.clone();
}

/// <summary>Nearest-neighbour 2x upsampling followed by a 3x3 conv (decoder).</summary>
public sealed class Upsample2x : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly SafeConv2d _conv;

    public Upsample2x(long inChannels, Device? device = null) : base(nameof(Upsample2x))
    {
        _conv = new SafeConv2d(inChannels, inChannels, kernelSize: 3, stride: 1, padding: 1, device: device);
        RegisterComponents();
    }

    public SafeConv2d Conv => _conv;

    public override Tensor forward(Tensor x)
    {
        using var up = F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return _conv.call(up);
    }
}

/// <summary>3x3 stride-2 conv after padding one zero row/column at the bottom/right only (encoder).</summary>
public sealed class Downsample2x : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly SafeConv2d _conv;

    public Downsample2x(long inChannels, Device? device = null) : base(nameof(Downsample2x))
    {
        _conv = new SafeConv2d(inChannels, inChannels, kernelSize: 3, stride: 2, device: device);
        RegisterComponents();
    }

    public SafeConv2d Conv => _conv;

    public override Tensor forward(Tensor x)
    {
        // (left, right, top, bottom) = (0, 1, 0, 1): asymmetric, as the reference; a symmetric pad shifts the image.
        using var padded = F.pad(x, [0, 1, 0, 1], PaddingModes.Constant, 0.0);
        return _conv.call(padded);
    }
}

/// <summary>GroupNorm-SiLU-conv twice plus a (1x1 conv when widths differ) shortcut.</summary>
public sealed class ResnetBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "norm1")] private readonly nn.Module<Tensor, Tensor> _norm1;
    [ComponentName(Name = "conv1")] private readonly SafeConv2d _conv1;
    [ComponentName(Name = "norm2")] private readonly nn.Module<Tensor, Tensor> _norm2;
    [ComponentName(Name = "conv2")] private readonly SafeConv2d _conv2;
    // The reference's nn.Identity when widths match: no parameters, so no state-dict entry.
    [ComponentName(Name = "nin_shortcut")] private readonly SafeConv2d? _ninShortcut;
    private readonly double _dropout;

    public ResnetBlock(long inChannels, long outChannels, double dropout, int normGroups, Device? device = null) : base(nameof(ResnetBlock))
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        _norm1 = VaeOps.Normalize(inChannels, normGroups, device);
        _conv1 = new SafeConv2d(inChannels, outChannels, kernelSize: 3, stride: 1, padding: 1, device: device);
        _norm2 = VaeOps.Normalize(outChannels, normGroups, device);
        _dropout = dropout > 1e-6 ? dropout : 0.0;
        _conv2 = new SafeConv2d(outChannels, outChannels, kernelSize: 3, stride: 1, padding: 1, device: device);
        _ninShortcut = inChannels != outChannels
            ? new SafeConv2d(inChannels, outChannels, kernelSize: 1, stride: 1, device: device)
            : null;
        RegisterComponents();
    }

    public long InChannels { get; }
    public long OutChannels { get; }

    public override Tensor forward(Tensor x)
    {
        // Activations are disposed as soon as the next one exists: at 1024 px one decoder activation is ~0.7 GB.
        var h = _norm1.call(x).silu_();
        h = VaeOps.Swap(h, _conv1.call(h));
        h = VaeOps.Swap(h, _norm2.call(h)).silu_();
        if (_dropout > 0 && training) h = VaeOps.Swap(h, F.dropout(h, _dropout, training: true));
        h = VaeOps.Swap(h, _conv2.call(h));
        if (_ninShortcut is null) return h.add_(x);
        using var shortcut = _ninShortcut.call(x);
        return h.add_(shortcut);
    }
}

/// <summary>Single-head spatial self-attention over all H*W positions, scale C^-0.5, residual output.</summary>
public sealed class AttnBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "norm")] private readonly nn.Module<Tensor, Tensor> _norm;
    [ComponentName(Name = "qkv")] private readonly SafeConv2d _qkv;
    [ComponentName(Name = "proj_out")] private readonly SafeConv2d _projOut;
    private readonly long _c;

    public AttnBlock(long inChannels, int normGroups, Device? device = null) : base(nameof(AttnBlock))
    {
        _c = inChannels;
        _norm = VaeOps.Normalize(inChannels, normGroups, device);
        _qkv = new SafeConv2d(inChannels, 3 * inChannels, kernelSize: 1, stride: 1, device: device);
        _projOut = new SafeConv2d(inChannels, inChannels, kernelSize: 1, stride: 1, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long B = x.shape[0], H = x.shape[2], W = x.shape[3];
        if (x.shape[1] != _c) throw new ArgumentException($"AttnBlock expects {_c} channels, got {x.shape[1]}.");
        var qkv_B3CL = _qkv.call(_norm.call(x)).view(B, 3, _c, H * W);   // channel order q, k, v as the reference's unbind
        var q_BLC = qkv_B3CL.select(1, 0).transpose(1, 2);
        var k_BLC = qkv_B3CL.select(1, 1).transpose(1, 2);
        var v_BLC = qkv_B3CL.select(1, 2).transpose(1, 2);
        // SDPA's default scale is 1/sqrt(last dim) = C^-0.5, the reference's w_ratio.
        var h_BLC = F.scaled_dot_product_attention(q_BLC, k_BLC, v_BLC);
        var h_BChw = h_BLC.transpose(1, 2).reshape(B, _c, H, W);
        return (x + _projOut.call(h_BChw)).MoveToOuterDisposeScope();
    }
}

/// <summary>encoder.down.{i}: res blocks, attention (lowest resolution only) and an optional downsample.</summary>
public sealed class EncoderDownLevel : nn.Module
{
    [ComponentName(Name = "block")] private readonly ModuleList<ResnetBlock> _block;
    [ComponentName(Name = "attn")] private readonly ModuleList<AttnBlock> _attn;
    [ComponentName(Name = "downsample")] private readonly Downsample2x? _downsample;

    internal EncoderDownLevel(ModuleList<ResnetBlock> block, ModuleList<AttnBlock> attn, Downsample2x? downsample) : base(nameof(EncoderDownLevel))
    {
        _block = block;
        _attn = attn;
        _downsample = downsample;
        RegisterComponents();
    }

    public ModuleList<ResnetBlock> Block => _block;
    public ModuleList<AttnBlock> Attn => _attn;
    public Downsample2x? Downsample => _downsample;
}

/// <summary>decoder.up.{i}: res blocks, attention (lowest resolution only) and an optional upsample.</summary>
public sealed class DecoderUpLevel : nn.Module
{
    [ComponentName(Name = "block")] private readonly ModuleList<ResnetBlock> _block;
    [ComponentName(Name = "attn")] private readonly ModuleList<AttnBlock> _attn;
    [ComponentName(Name = "upsample")] private readonly Upsample2x? _upsample;

    internal DecoderUpLevel(ModuleList<ResnetBlock> block, ModuleList<AttnBlock> attn, Upsample2x? upsample) : base(nameof(DecoderUpLevel))
    {
        _block = block;
        _attn = attn;
        _upsample = upsample;
        RegisterComponents();
    }

    public ModuleList<ResnetBlock> Block => _block;
    public ModuleList<AttnBlock> Attn => _attn;
    public Upsample2x? Upsample => _upsample;
}

/// <summary>{encoder,decoder}.mid: res block, attention, res block.</summary>
public sealed class MidBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "block_1")] private readonly ResnetBlock _block1;
    [ComponentName(Name = "attn_1")] private readonly AttnBlock? _attn1;
    [ComponentName(Name = "block_2")] private readonly ResnetBlock _block2;

    internal MidBlock(long channels, double dropout, bool usingSa, int normGroups, Device? device) : base(nameof(MidBlock))
    {
        _block1 = new ResnetBlock(channels, channels, dropout, normGroups, device);
        _attn1 = usingSa ? new AttnBlock(channels, normGroups, device) : null;
        _block2 = new ResnetBlock(channels, channels, dropout, normGroups, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = _block1.call(x);
        if (_attn1 is not null) h = VaeOps.Swap(h, _attn1.call(h));
        return VaeOps.Swap(h, _block2.call(h));
    }
}

/// <summary>Image [B, 3, H, W] in [-1, 1] to latent [B, Cvae, H/f, W/f], f = 2^(len(ch_mult)-1).</summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")] private readonly SafeConv2d _convIn;
    [ComponentName(Name = "down")] private readonly ModuleList<EncoderDownLevel> _down;
    [ComponentName(Name = "mid")] private readonly MidBlock _mid;
    [ComponentName(Name = "norm_out")] private readonly nn.Module<Tensor, Tensor> _normOut;
    [ComponentName(Name = "conv_out")] private readonly SafeConv2d _convOut;
    private readonly int _numResolutions;
    private readonly int _numResBlocks;

    public Encoder(VqVaeConfig config, Device? device = null) : base(nameof(Encoder))
    {
        config.Validate();
        int ch = config.Ch, groups = config.NormGroups;
        _numResolutions = config.ChMult.Count;
        _numResBlocks = config.NumResBlocks;

        // 1. downsampling levels
        _convIn = new SafeConv2d(config.InChannels, ch, kernelSize: 3, stride: 1, padding: 1, device: device);
        int[] inChMult = [1, .. config.ChMult];
        _down = new ModuleList<EncoderDownLevel>();
        long blockIn = ch;
        for (int iLevel = 0; iLevel < _numResolutions; iLevel++)
        {
            var block = new ModuleList<ResnetBlock>();
            var attn = new ModuleList<AttnBlock>();
            blockIn = ch * inChMult[iLevel];
            long blockOut = ch * config.ChMult[iLevel];
            for (int iBlock = 0; iBlock < _numResBlocks; iBlock++)
            {
                block.Add(new ResnetBlock(blockIn, blockOut, config.Dropout, groups, device));
                blockIn = blockOut;
                if (iLevel == _numResolutions - 1 && config.UsingSa) attn.Add(new AttnBlock(blockIn, groups, device));
            }
            var downsample = iLevel != _numResolutions - 1 ? new Downsample2x(blockIn, device) : null;
            _down.Add(new EncoderDownLevel(block, attn, downsample));
        }

        // 2. middle
        _mid = new MidBlock(blockIn, config.Dropout, config.UsingMidSa, groups, device);

        // 3. end (double_z is only for KL-VAEs: always Cvae outputs here)
        _normOut = VaeOps.Normalize(blockIn, groups, device);
        _convOut = new SafeConv2d(blockIn, config.Cvae, kernelSize: 3, stride: 1, padding: 1, device: device);
        RegisterComponents();
    }

    public ModuleList<EncoderDownLevel> Down => _down;

    public override Tensor forward(Tensor x)
    {
        var h = _convIn.call(x);
        for (int iLevel = 0; iLevel < _numResolutions; iLevel++)
        {
            var level = _down[iLevel];
            for (int iBlock = 0; iBlock < _numResBlocks; iBlock++)
            {
                h = VaeOps.Swap(h, level.Block[iBlock].call(h));
                if (level.Attn.Count > 0) h = VaeOps.Swap(h, level.Attn[iBlock].call(h));
            }
            if (level.Downsample is not null) h = VaeOps.Swap(h, level.Downsample.call(h));
        }
        h = VaeOps.Swap(h, _mid.call(h));
        h = VaeOps.Swap(h, _normOut.call(h)).silu_();
        return VaeOps.Swap(h, _convOut.call(h));
    }
}

/// <summary>Latent [B, Cvae, h, w] to image [B, 3, h*f, w*f] (not clamped; <see cref="VQVAE.FhatToImg"/> clamps).</summary>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")] private readonly SafeConv2d _convIn;
    [ComponentName(Name = "mid")] private readonly MidBlock _mid;
    [ComponentName(Name = "up")] private readonly ModuleList<DecoderUpLevel> _up;
    [ComponentName(Name = "norm_out")] private readonly nn.Module<Tensor, Tensor> _normOut;
    [ComponentName(Name = "conv_out")] private readonly SafeConv2d _convOut;
    private readonly int _numResolutions;
    private readonly int _numResBlocks;

    public Decoder(VqVaeConfig config, Device? device = null) : base(nameof(Decoder))
    {
        config.Validate();
        int ch = config.Ch, groups = config.NormGroups;
        _numResolutions = config.ChMult.Count;
        _numResBlocks = config.NumResBlocks;
        long blockIn = ch * config.ChMult[_numResolutions - 1];

        // 1. z to block_in, middle
        _convIn = new SafeConv2d(config.Cvae, blockIn, kernelSize: 3, stride: 1, padding: 1, device: device);
        _mid = new MidBlock(blockIn, config.Dropout, config.UsingMidSa, groups, device);

        // 2. upsampling levels, built from the lowest resolution up but stored by level index (up[0] is full size)
        var levels = new DecoderUpLevel[_numResolutions];
        for (int iLevel = _numResolutions - 1; iLevel >= 0; iLevel--)
        {
            var block = new ModuleList<ResnetBlock>();
            var attn = new ModuleList<AttnBlock>();
            long blockOut = ch * config.ChMult[iLevel];
            for (int iBlock = 0; iBlock < _numResBlocks + 1; iBlock++)
            {
                block.Add(new ResnetBlock(blockIn, blockOut, config.Dropout, groups, device));
                blockIn = blockOut;
                if (iLevel == _numResolutions - 1 && config.UsingSa) attn.Add(new AttnBlock(blockIn, groups, device));
            }
            var upsample = iLevel != 0 ? new Upsample2x(blockIn, device) : null;
            levels[iLevel] = new DecoderUpLevel(block, attn, upsample);
        }
        _up = new ModuleList<DecoderUpLevel>(levels);

        // 3. end
        _normOut = VaeOps.Normalize(blockIn, groups, device);
        _convOut = new SafeConv2d(blockIn, config.InChannels, kernelSize: 3, stride: 1, padding: 1, device: device);
        RegisterComponents();
    }

    public ModuleList<DecoderUpLevel> Up => _up;

    public override Tensor forward(Tensor z)
    {
        var h = _convIn.call(z);
        h = VaeOps.Swap(h, _mid.call(h));
        for (int iLevel = _numResolutions - 1; iLevel >= 0; iLevel--)
        {
            var level = _up[iLevel];
            for (int iBlock = 0; iBlock < _numResBlocks + 1; iBlock++)
            {
                h = VaeOps.Swap(h, level.Block[iBlock].call(h));
                if (level.Attn.Count > 0) h = VaeOps.Swap(h, level.Attn[iBlock].call(h));
            }
            if (level.Upsample is not null) h = VaeOps.Swap(h, level.Upsample.call(h));
        }
        h = VaeOps.Swap(h, _normOut.call(h)).silu_();
        return VaeOps.Swap(h, _convOut.call(h));
    }
}
