using System.CommandLine;
using System.Globalization;
using StarStudio.Model.Models;
using StarStudio.Model.Presets;

namespace StarStudio.Cli.Commands;

/// <summary>`starstudio models add PATH` and `starstudio models list`.</summary>
static class ModelsCommand
{
    public static Command Create()
    {
        var cmd = new Command("models", "Manage model folders: import official checkpoints, list what is installed.");
        cmd.Subcommands.Add(Add());
        cmd.Subcommands.Add(List());
        return cmd;
    }

    static Command Add()
    {
        var path = new Argument<string>("path") { Description = "Folder with the official files (ar-ckpt-*.pth or var_d*.pth, vae_ch160v4096z32.pth, text_encoder/, tokenizer/)." };
        var preset = new Option<string?>("--preset") { Description = $"Check against this preset instead of the detected one: {string.Join(", ", OfficialPresets.Names)}." };
        var patchNums = new Option<string?>("--patch-nums") { Description = "Scale schedule for custom models, e.g. 1,2,3,4,5,6,8,10,13,16." };
        var name = new Option<string?>("--name") { Description = "Model name in model.json (default: the folder's name)." };
        var noQuirk = new Option<bool>("--no-quirk") { Description = "STAR: per-sample cross-attention instead of the reference's batch quirk (images differ from the reference's)." };
        var cmd = new Command("add", "Check every file's keys and shapes against the detected preset and write model.json.");
        cmd.Arguments.Add(path);
        foreach (var o in new Option[] { preset, patchNums, name, noQuirk }) cmd.Options.Add(o);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var options = new ImportOptions
            {
                Preset = p.GetValue(preset),
                PatchNums = ParsePatchNums(p.GetValue(patchNums)),
                Name = p.GetValue(name),
                CrossAttentionBatchQuirk = p.GetValue(noQuirk) ? false : null,
            };
            var report = OfficialImporter.Inspect(p.GetValue(path)!, options);
            foreach (var line in report.Lines()) Console.WriteLine(line);
            if (!report.Ok)
            {
                Console.Error.WriteLine($"error: {report.Folder} was not added: fix the problems above (or pass --preset / --patch-nums).");
                return 2;
            }
            string manifest = OfficialImporter.WriteManifest(report, options);
            Console.WriteLine($"Wrote {manifest}.");
            if (report.Preset is { } pr)
                Console.WriteLine($"Preset {pr.Name} samples with cfg {pr.Defaults.Cfg.ToString(CultureInfo.InvariantCulture)}, top-k {pr.Defaults.TopK}, " +
                                  $"top-p {pr.Defaults.TopP.ToString(CultureInfo.InvariantCulture)}{(pr.Defaults.StableSampling ? ", stable sampling" : "")}.");
            Console.WriteLine("Tip: `starstudio convert` rewrites the .pth files as safetensors (faster, safer loading).");
            return 0;
        }));
        return cmd;
    }

    static Command List()
    {
        var roots = new Option<string[]>("--root") { Description = $"Model root folder(s) (default: ${ModelCatalog.RootsVariable}, else ./models).", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("list", "List the model folders under the model roots: kind, preset, size, status and memory needed.");
        cmd.Options.Add(roots);
        cmd.SetAction(p => CliErrors.Run(() =>
        {
            var given = p.GetValue(roots);
            var catalog = given is { Length: > 0 } ? new ModelCatalog(given) : ModelCatalog.FromEnvironment();
            var entries = catalog.List();
            long available = MemoryEstimator.AvailableBytes();
            // Plain text (no markup) so the list can be piped and read by scripts.
            Console.WriteLine($"{"model",-28} {"kind",-5} {"preset",-24} {"size",10} {"status",-12} memory (1 image, cfg)");
            foreach (var e in entries)
            {
                string status = e.Status switch { ModelStatus.Ready => "ready", ModelStatus.NeedsImport => "needs add", _ => "invalid" };
                string memory = e.Memory is { } m ? MemoryEstimate.Format(m.TotalBytes) + (m.TotalBytes > available ? " (too much here)" : "") : "-";
                Console.WriteLine($"{e.Id,-28} {e.Kind,-5} {e.Preset ?? "-",-24} {MemoryEstimate.Format(e.SizeBytes),10} {status,-12} {memory}");
            }
            foreach (var e in entries.Where(e => e.Problem is not null && e.Status == ModelStatus.Invalid))
                Console.WriteLine($"{e.Id}: {e.Problem}");
            Console.WriteLine($"{entries.Count} model folder(s) in {string.Join(", ", catalog.Roots)}; {MemoryEstimate.Format(available)} available.");
            return 0;
        }));
        return cmd;
    }

    internal static int[]? ParsePatchNums(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"--patch-nums must be comma-separated integers such as 1,2,3,4 (got '{text}').");
        }
    }
}
