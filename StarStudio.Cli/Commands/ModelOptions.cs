using System.CommandLine;
using StarStudio.Model.Generation;
using StarStudio.Model.Runtime;

namespace StarStudio.Cli.Commands;

/// <summary>Options shared by commands that need a model: where it comes from and where it runs.</summary>
sealed class ModelOptions
{
    public readonly Option<string?> Model = new("--model", "-m") { Description = "Folder of a StarStudio model (model.json beside its weights)." };
    public readonly Option<string?> Random = new("--random") { Description = $"Random weights of an official size instead: {string.Join(", ", RandomModels.Presets.Keys)}." };
    public readonly Option<string> Device = new("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };

    public void AddTo(Command c)
    {
        c.Options.Add(Model);
        c.Options.Add(Random);
        c.Options.Add(Device);
    }

    public ScaleWiseModel Load(ParseResult p)
    {
        var device = ComputeDevice.Resolve(p.GetValue(Device));
        if (p.GetValue(Random) is { } preset) return RandomModels.Create(preset, device);
        if (p.GetValue(Model) is { } dir) return ModelStore.Load(dir, device);
        return ModelStore.LoadDefault(device);
    }
}
