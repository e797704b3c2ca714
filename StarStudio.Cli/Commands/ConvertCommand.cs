using System.CommandLine;
using StarStudio.Model.Checkpoints;
using StarStudio.Model.Models;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio convert PATH`: torch.save weights to safetensors.</summary>
static class ConvertCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A model folder (model.json: every .pth it names is converted) or one .pth/.bin file." };
        var output = new Option<string?>("--output", "-o") { Description = "For a single file: the .safetensors to write (default: beside it)." };
        var keyPath = new Option<string?>("--key-path") { Description = "For a single file: where the state dict sits, e.g. trainer/var_wo_ddp (default: auto-detect)." };
        var cmd = new Command("convert", "Rewrite .pth weights as safetensors (loading is faster and cannot execute code); model.json is updated.");
        cmd.Arguments.Add(path);
        cmd.Options.Add(output);
        cmd.Options.Add(keyPath);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            string source = p.GetValue(path)!;
            IReadOnlyList<ConvertedFile> done;
            if (Directory.Exists(source))
            {
                if (p.GetValue(output) is not null || p.GetValue(keyPath) is not null)
                    throw new ArgumentException("--output and --key-path apply to single files; a model folder is converted in place.");
                done = ModelConverter.ConvertFolder(source);
            }
            else
            {
                string target = p.GetValue(output) ?? Path.ChangeExtension(source, ".safetensors");
                done = [ModelConverter.ConvertFile(source, target, p.GetValue(keyPath)?.Split('/', StringSplitOptions.RemoveEmptyEntries))];
            }
            foreach (var f in done)
                Console.WriteLine($"{f.Source} -> {f.Target}: {f.Tensors} tensors, {f.Bytes / (1024.0 * 1024):F1} MiB");
            if (done.Count == 0) Console.WriteLine($"Nothing to convert: every file {ModelManifest.FileName} names is already safetensors.");
            return 0;
        }));
        return cmd;
    }
}
