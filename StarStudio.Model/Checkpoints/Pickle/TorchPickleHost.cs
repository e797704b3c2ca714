// Gives meaning to exactly what torch.save writes: persistent ids ('storage', torch.<T>Storage, key,
// location, numel), torch._utils._rebuild_tensor_v2 and the Parameter wrappers, and
// collections.OrderedDict. Follows torch/serialization.py (_save, _load) and torch/_utils.py.
namespace StarStudio.Model.Checkpoints;

internal sealed class TorchPickleHost(PthFile file) : IPickleHost
{
    public object? PersistentLoad(object? pid)
    {
        if (pid is not object?[] { Length: >= 5 } t || t[0] is not "storage")
            throw Bad($"a persistent id is a {RestrictedUnpickler.Describe(pid)}, not the ('storage', type, key, location, numel) tuple torch.save writes.");
        if (t[1] is not PickleGlobal { Module: "torch" } type)
            throw Bad($"a storage's type is {RestrictedUnpickler.Describe(t[1])}, not a torch storage class.");
        var dtype = CheckpointDType.FromTorchStorage(type.Name)
                    ?? throw Bad($"storage type torch.{type.Name} is not supported (supported: {string.Join(", ", CheckpointDType.All.Select(d => d.TorchStorage))}).");
        if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Bad($"a storage key is {RestrictedUnpickler.Describe(t[2])}, not a plain record name.");
        if (t[3] is not string location) throw Bad($"storage '{key}' has no location string.");
        if (t[4] is not long numel) throw Bad($"storage '{key}' has no element count.");
        return file.GetOrAddStorage(key, dtype, numel, location);
    }

    public bool TryCall(PickleGlobal callable, object?[] args, out object? result)
    {
        result = null;
        switch (callable.FullName)
        {
            case "torch._utils._rebuild_tensor_v2": // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
            case "torch._utils._rebuild_tensor": // (storage, offset, size, stride)
                if (args.Length < 4) throw Bad($"{callable.FullName} got {args.Length} arguments.");
                var tensor = Rebuild(args[0], args[1], args[2], args[3]);
                tensor.RequiresGrad = args.Length > 4 && args[4] is true;
                result = tensor;
                return true;

            case "torch._utils._rebuild_parameter": // (data, requires_grad, backward_hooks)
            case "torch._utils._rebuild_parameter_with_state": // (data, requires_grad, backward_hooks, state)
                if (args.Length < 2 || args[0] is not PthTensor data) return false;
                data.IsParameter = true;
                data.RequiresGrad = args[1] is true;
                result = data;
                return true;

            case "torch._tensor._rebuild_from_type_v2": // (func, type, args, state): tensor subclasses and Parameters
            case "torch._tensor._rebuild_from_type": // (func, type, args, dict)
                if (args.Length < 3 || args[0] is not PickleGlobal func || args[2] is not object?[] inner) return false;
                if (!TryCall(func, inner, out result) || result is not PthTensor rebuilt) return false;
                if (args[1] is PickleGlobal { FullName: "torch.nn.parameter.Parameter" }) rebuilt.IsParameter = true;
                return true;

            case "collections.OrderedDict":
                var od = new PickleDict("collections.OrderedDict");
                if (args is [List<object?> pairs])
                    foreach (var p in pairs)
                        if (p is object?[] { Length: 2 } kv) od.Set(kv[0], kv[1]);
                result = od;
                return true;

            case "collections.defaultdict": // the default factory is never called, so it is dropped
                result = new PickleDict("collections.defaultdict");
                return true;

            case "torch.Size":
                if (args is not [object?[] dims]) return false;
                result = dims;
                return true;

            default:
                return false;
        }
    }

    PthTensor Rebuild(object? storageArg, object? offsetArg, object? sizeArg, object? strideArg)
    {
        if (storageArg is not PthStorage storage) throw Bad($"a tensor's storage is {RestrictedUnpickler.Describe(storageArg)}, not a persistent storage.");
        if (offsetArg is not long offset || offset < 0) throw Bad($"a tensor on storage '{storage.Key}' has an invalid storage offset.");
        long[] shape = Longs(sizeArg, "size", storage), stride = Longs(strideArg, "stride", storage);
        if (shape.Length != stride.Length)
            throw Bad($"a tensor on storage '{storage.Key}' has size {TensorBytes.FormatShape(shape)} but stride {TensorBytes.FormatShape(stride)}.");
        if (shape.Any(d => d < 0) || stride.Any(s => s < 0))
            throw Bad($"a tensor on storage '{storage.Key}' has a negative size or stride.");
        long? numel = TensorBytes.Numel(shape);
        if (numel is null) throw Bad($"a tensor on storage '{storage.Key}' has an impossible size {TensorBytes.FormatShape(shape)}.");
        if (numel > 0)
        {
            // The last element the view reaches must lie inside the storage, or as_strided would read out of bounds.
            long last;
            try
            {
                last = offset;
                for (int i = 0; i < shape.Length; i++) last = checked(last + (shape[i] - 1) * stride[i]);
            }
            catch (OverflowException) { last = long.MaxValue; }
            if (last >= storage.Numel)
                throw Bad($"a tensor of size {TensorBytes.FormatShape(shape)}, stride {TensorBytes.FormatShape(stride)}, offset {offset} " +
                          $"reaches element {last} of storage '{storage.Key}', which holds {storage.Numel}.");
        }
        return new PthTensor(storage, offset, shape, stride);
    }

    long[] Longs(object? value, string what, PthStorage storage)
    {
        if (value is not object?[] items || items.Any(i => i is not long))
            throw Bad($"a tensor on storage '{storage.Key}' has a {what} that is not a tuple of ints.");
        return items.Select(i => (long)i!).ToArray();
    }

    CheckpointFormatException Bad(string problem) => new(file.Path, problem);
}
