namespace StarStudio.Tests;

/// <summary>Tests that change or measure thread-global torch state (seeds, dispose statistics) run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchStateCollection
{
    public const string Name = "torch state";
}
