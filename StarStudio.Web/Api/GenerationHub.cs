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
        if (host.Info is null) throw new HubException($"The model could not be loaded: {host.LoadError}");
        if (host.InfoFor(body.Model) is not { } info) throw new HubException(host.Validate(new GenerationRequest(), body.Model)[0].Message);
        var request = body.ToRequest(info);
        var errors = host.Validate(request, body.Model);
        if (errors.Count > 0) throw new HubException(string.Join(" ", errors.Select(e => $"{e.Field}: {e.Message}")));

        var job = host.Submit(request, cancellationToken, body.Model);
        HubFrame? last = null;
        await foreach (var update in job.Updates.ReadAllAsync(CancellationToken.None))
        {
            switch (update)
            {
                case JobFrame { Frame: var f }:
                    var item = new HubFrame(f.ScaleIndex, f.ScaleCount, f.Side, f.Pngs ?? [],
                        f.Timings.TransformerMs, f.Timings.SamplingMs, f.Timings.DecodeMs, f.Timings.ElapsedMs, f.Notices,
                        f.Tokens, f.Confidence);
                    // The last scale waits for the result: same pixels, plus parameters and history ids.
                    if (f.IsLast) last = item;
                    else yield return item;
                    break;
                case JobCompleted done when last is not null:
                    yield return last with { Pngs = done.Result.Pngs, HistoryIds = done.Result.HistoryIds };
                    break;
                case JobFailed failed:
                    throw new HubException($"Generation failed: {failed.Message}");
            }
        }
    }
}
