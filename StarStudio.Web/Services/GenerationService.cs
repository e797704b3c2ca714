using StarStudio.Model.Generation;

namespace StarStudio.Web.Services;

/// <summary>
/// One per circuit (scoped): submits this user's generation to the shared <see cref="ModelHost"/>, relays its updates,
/// and cancels it on Stop or when the circuit goes away (tab closed), so nobody's queue slot outlives its page.
/// </summary>
public sealed class GenerationService(ModelHost host) : IDisposable
{
    CancellationTokenSource? _cts;

    public ModelHost Host => host;
    public bool IsRunning => _cts is not null;
    /// <summary>The last request that completed (for "reuse last seed").</summary>
    public GenerationRequest? LastRequest { get; private set; }

    /// <summary>
    /// Runs one generation, awaiting <paramref name="onUpdate"/> for each update in order; returns the final update
    /// (Completed, Failed or Cancelled). Validation errors throw <see cref="InvalidGenerationRequestException"/>.
    /// </summary>
    /// <param name="model">A loaded model's name; null: the host's active model.</param>
    public Task<JobUpdate> RunAsync(GenerationRequest request, Func<JobUpdate, Task> onUpdate, bool keepInHistory = true, string? model = null) =>
        RunGroupAsync([request], onUpdate, keepInHistory, model);

    /// <summary>Runs several requests in step (Compare); frames carry their column.</summary>
    public async Task<JobUpdate> RunGroupAsync(IReadOnlyList<GenerationRequest> requests, Func<JobUpdate, Task> onUpdate, bool keepInHistory = true, string? model = null)
    {
        if (_cts is not null) throw new InvalidOperationException("A generation is already running on this page.");
        var cts = new CancellationTokenSource();
        GenerationJob job;
        try { job = host.SubmitGroup(requests, cts.Token, keepInHistory, model); }
        catch { cts.Dispose(); throw; }
        _cts = cts;
        try
        {
            var final = await job.RunToEndAsync(onUpdate);
            if (final is JobCompleted) LastRequest = requests[0];
            return final;
        }
        finally
        {
            _cts = null;
            cts.Dispose();
        }
    }

    /// <summary>Cancels this page's generation: removed from the queue, or stopped before its next scale.</summary>
    public void Stop()
    {
        try { _cts?.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    public void Dispose() => Stop();
}
