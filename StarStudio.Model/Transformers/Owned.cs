// Tensors that a module keeps must not belong to a dispose scope the caller may have open around its construction.
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace StarStudio.Model.Transformers;

static class Owned
{
    /// <summary>
    /// A Parameter no dispose scope owns. TorchSharp's Parameter takes over its data tensor's place in that tensor's
    /// scope, so a parameter built inside a caller's scope would be disposed (and silently vanish from the state dict)
    /// when that scope ends.
    /// </summary>
    public static Parameter Parameter(Tensor data) => new(data.DetachFromDisposeScope());

    /// <summary>A buffer (registered or plain) no dispose scope owns.</summary>
    public static Tensor Buffer(Tensor t) => t.DetachFromDisposeScope();
}

/// <summary>
/// nn.Embedding's equivalent (state name "weight", [num, dim]) that owns its weight as a managed Parameter.
/// TorchSharp's Embedding is a native module whose weight wrappers are created in the current dispose scope; built
/// inside a caller's scope, its weight drops out of the state dict when that scope ends.
/// </summary>
public sealed class EmbeddingTable : TorchSharp.torch.nn.Module<Tensor, Tensor>
{
    [TorchSharp.Utils.ComponentName(Name = "weight")] Parameter _weight;

    public EmbeddingTable(long num, long dim, Device? device = null) : base("Embedding")
    {
        _weight = Owned.Parameter(empty([num, dim], device: device));
        using (no_grad()) _weight.normal_(); // nn.Embedding's default initialisation
        RegisterComponents();
    }

    public Parameter Weight => _weight;

    /// <summary>Rows of weight for integer indices of any shape: [...] -> [..., dim].</summary>
    public override Tensor forward(Tensor indices)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. indices.shape, _weight.shape[1]];
        return _weight.index_select(0, indices.flatten()).view(shape).MoveToOuterDisposeScope();
    }
}
