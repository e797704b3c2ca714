using System.Threading.Channels;
using StarStudio.Model.Generation;

namespace StarStudio.Web.Services;

/// <summary>One scale of a running job, as it leaves the model thread: PNG bytes and plain arrays only.</summary>
/// <param name="Pngs">Per row: this scale's preview as PNG (null when previews are off).</param>
public sealed record WebFrame(
    int ScaleIndex,
    int ScaleCount,
    int Side,
    IReadOnlyList<byte[]>? Pngs,
    IReadOnlyList<int[]> Tokens,
    IReadOnlyList<float[]> Confidence,
    ScaleTimings Timings,
    IReadOnlyList<string> Notices)
{
    public bool IsLast => ScaleIndex == ScaleCount - 1;
}

/// <summary>A finished job: the final images with their parameters embedded, and where history stored them.</summary>
public sealed record GenerationResult(
    IReadOnlyList<byte[]> Pngs,
    IReadOnlyList<GenerationMetadata> Metadata,
    IReadOnlyList<long> HistoryIds,
    IReadOnlyList<ScaleTimings> Timings,
    double TotalMs);

/// <summary>What a job reports, in order: queue positions, Started, one Frame per scale, then exactly one of Completed/Failed/Cancelled.</summary>
public abstract record JobUpdate;
/// <param name="Ahead">Jobs before this one (running ones included).</param>
/// <param name="EtaMs">Estimated time until this job finishes.</param>
public sealed record JobQueued(int Ahead, double EtaMs) : JobUpdate;
public sealed record JobStarted(double EtaMs) : JobUpdate;
/// <param name="Column">Which request of a group (Compare runs several in step); 0 for a single request.</param>
public sealed record JobFrame(WebFrame Frame, int Column = 0) : JobUpdate;
/// <param name="Results">One per request of the group, in order.</param>
public sealed record JobCompleted(IReadOnlyList<GenerationResult> Results) : JobUpdate
{
    public GenerationResult Result => Results[0];
}
public sealed record JobFailed(string Message) : JobUpdate;
public sealed record JobCancelled : JobUpdate;

/// <summary>
/// A queued or running generation: one request, or a group run in step (every request's scale k before any scale
/// k+1, so columns of the Compare page fill in together). Read <see cref="Updates"/> until it completes.
/// </summary>
public sealed class GenerationJob
{
    readonly Channel<JobUpdate> _updates = Channel.CreateUnbounded<JobUpdate>(new() { SingleReader = true });

    internal GenerationJob(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken)
    {
        if (requests.Count == 0) throw new ArgumentException("A job needs at least one request.");
        Requests = requests;
        CancellationToken = cancellationToken;
    }

    public IReadOnlyList<GenerationRequest> Requests { get; }
    public GenerationRequest Request => Requests[0];
    internal bool KeepInHistory { get; init; } = true;
    /// <summary>Name of the loaded model it runs on (null only when submitted before any model was loaded).</summary>
    public string? Model { get; internal init; }
    /// <summary>Images of the whole job (for the ETA).</summary>
    public int Rows => Requests.Sum(r => r.Rows);
    public CancellationToken CancellationToken { get; }
    public ChannelReader<JobUpdate> Updates => _updates.Reader;

    internal void Post(JobUpdate update) => _updates.Writer.TryWrite(update);

    internal void Finish(JobUpdate final)
    {
        _updates.Writer.TryWrite(final);
        _updates.Writer.TryComplete();
    }

    /// <summary>Reads every update; returns the final one (Completed, Failed or Cancelled).</summary>
    public async Task<JobUpdate> RunToEndAsync(Func<JobUpdate, Task>? onUpdate = null)
    {
        JobUpdate last = new JobCancelled();
        await foreach (var u in _updates.Reader.ReadAllAsync())
        {
            last = u;
            if (onUpdate is not null) await onUpdate(u);
        }
        return last;
    }
}
