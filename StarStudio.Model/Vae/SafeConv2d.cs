// A Conv2d with PyTorch's nn.Conv2d state (weight [out, in, k, k], bias [out]) and arithmetic, that works around a
// libtorch 2.10 CPU bug when it trains. Not in the reference: its convs are plain nn.Conv2d.
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StarStudio.Model.Vae;

/// <summary>
/// nn.Conv2d (same state keys, same initialisation, same result) whose gradients are right.
/// libtorch runs float32 CPU convs through oneDNN, which pads the channels to blocks of 8 (AVX2) or 16 (AVX-512); in
/// libtorch 2.10 the padded lanes of the backward-data pass are not always zeroed, so a conv whose output channels are
/// not a multiple of the block (the decoder's RGB conv_out, a 4-channel test VQ-VAE) returns wrong input gradients:
/// NaN now and then (8->3 channels over 2x8x8x8: 6 of 200 backward passes; over 8x8x64x64: 67 of 200), and for
/// 2x8x9x9 off by 0.85 against float64 on every pass. Multiples of 8 were always right. While gradients are recorded,
/// this module therefore runs the conv with zero output channels appended up to a multiple of 16 and drops them
/// again: the real channels' sums are unchanged. Under no_grad (generation) it is the plain conv.
/// </summary>
public sealed class SafeConv2d : nn.Module<Tensor, Tensor>
{
    /// <summary>oneDNN's widest channel block (AVX-512); a multiple of it is a multiple of the AVX2 block too.</summary>
    const long ChannelBlock = 16;

    [ComponentName(Name = "weight")] private Parameter _weight;
    [ComponentName(Name = "bias")] private Parameter? _bias;
    readonly long _stride, _padding;

    public SafeConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool bias = true,
        Device? device = null) : base(nameof(SafeConv2d))
    {
        (_stride, _padding) = (stride, padding);
        _weight = (Parameter)nn.Parameter(empty([outChannels, inChannels, kernelSize, kernelSize], device: device)).DetachFromDisposeScope();
        if (bias) _bias = (Parameter)nn.Parameter(empty([outChannels], device: device)).DetachFromDisposeScope();
        InitLikeConv2d(_weight, _bias);
        RegisterComponents();
    }

    /// <summary>nn.Conv2d.reset_parameters: kaiming_uniform_(a = sqrt(5)), then the bias uniform in +-1/sqrt(fan_in).</summary>
    internal static void InitLikeConv2d(Tensor weight, Tensor? bias)
    {
        using var _ = no_grad();
        nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        if (bias is null) return;
        double bound = 1.0 / Math.Sqrt(weight.shape[1] * weight.shape[2] * weight.shape[3]);
        nn.init.uniform_(bias, -bound, bound);
    }

    public Parameter Weight => _weight;
    public Parameter? Bias => _bias;

    public override Tensor forward(Tensor x) => Conv(x, _weight, _bias, _stride, _padding);

    /// <summary>F.conv2d(x, weight, bias, stride, padding), padded as the class says while gradients are recorded.</summary>
    public static Tensor Conv(Tensor x, Tensor weight, Tensor? bias, long stride = 1, long padding = 0)
    {
        long outChannels = weight.shape[0], missing = (ChannelBlock - outChannels % ChannelBlock) % ChannelBlock;
        if (missing == 0 || !is_grad_enabled())
            return F.conv2d(x, weight, bias, strides: [stride, stride], padding: [padding, padding]);
        using var scope = NewDisposeScope();
        // F.pad's list runs from the last dimension back: (k, k, in, out) pairs; only the out channels grow.
        var padded = F.pad(weight, [0, 0, 0, 0, 0, 0, 0, missing]);
        var y = F.conv2d(x, padded, null, strides: [stride, stride], padding: [padding, padding]).narrow(1, 0, outChannels);
        if (bias is not null) y = y + bias.view(1, outChannels, 1, 1);
        return y.MoveToOuterDisposeScope();
    }
}
