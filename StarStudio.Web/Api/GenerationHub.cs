using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Web.Api;

/// <summary>
/// SignalR hub at /hubs/generate: <c>Generate(request)</c> streams one <see cref="HubFrame"/> per scale. Cancelling the
/// stream (CancelInvocation, or closing the connection) stops the generation within one scale.
/// </summary>
public sealed class GenerationHub(ModelHost host) : Hub
{
    public const string Path = "/hubs/generate";

    public async IAsyncEnumerable<HubFrame> Generate(ApiGenerateRequest body, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await host.Loaded;
        if (host.Info is not { } info) throw new HubException($"The model could not be loaded: {host.LoadError}");
        var request = body.ToRequest(info.Limits.TextConditional);
        var errors = host.Validate(request);
        if (errors.Count > 0) throw new HubException(string.Join(" ", errors.Select(e => $"{e.Field}: {e.Message}")));

        var job = host.Submit(request, cancellationToken);
        await foreach (var update in job.Updates.ReadAllAsync(CancellationToken.None))
        {
            switch (update)
            {
                case JobFrame { Frame: var f }:
                    yield return new HubFrame(f.ScaleIndex, f.ScaleCount, f.Side, f.Pngs ?? [],
                        f.Timings.TransformerMs, f.Timings.SamplingMs, f.Timings.DecodeMs, f.Timings.ElapsedMs, f.Notices);
                    break;
                case JobFailed failed:
                    throw new HubException($"Generation failed: {failed.Message}");
            }
        }
    }
}
