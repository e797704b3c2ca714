using System.Diagnostics;
using Microsoft.Extensions.Options;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Model.Runtime;
using StarStudio.Model.Text;

namespace StarStudio.Web.Services;

public enum ModelState { Loading, Ready, Failed }

/// <summary>What the UI and the API say about the loaded model.</summary>
/// <param name="IsRandom">Random weights (no trained model found): pictures are noise.</param>
/// <param name="Recommended">The settings the model samples best with (model.json "sampling" or its official preset's); null: none.</param>
public sealed record ModelInfo(string Name, string Source, bool IsRandom, ModelLimits Limits, int Resolution,
    StarStudio.Model.Presets.SamplingDefaults? Recommended = null);

/// <summary>
/// Owns the loaded models (ModelHost.Models.cs: load, unload, the active one) and the model thread(s). TorchSharp's dispose scopes are per thread, so every tensor is created,
/// used and freed on these threads; jobs come in through a queue and only plain records (<see cref="JobUpdate"/>)
/// go out. One worker by default: on a CPU two generations at once only share the same cores.
/// </summary>
public sealed partial class ModelHost : IDisposable
{
    readonly StarStudioOptions _options;
    readonly Func<(ScaleWiseModel Model, string Source, bool IsRandom)>? _loader;
    readonly HistoryStore _history;
    readonly ILogger<ModelHost> _log;
    readonly LinkedList<GenerationJob> _pending = new();
    readonly SemaphoreSlim _available = new(0);
    readonly CancellationTokenSource _shutdown = new();
    readonly ManualResetEventSlim _resumed = new(true);
    readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Thread[] _workers;
    readonly object _gate = new();
    int _running;
    int _disposed;
    double _avgMsPerRow = double.NaN;

    public ModelHost(IOptions<StarStudioOptions> options, HistoryStore history, ILogger<ModelHost> log)
        : this(options, history, log, loader: null) { }

    /// <param name="loader">Builds the model on the model thread instead of the configured one (tests use it to
    /// serve a model that fails on demand).</param>
    internal ModelHost(IOptions<StarStudioOptions> options, HistoryStore history, ILogger<ModelHost> log,
        Func<(ScaleWiseModel Model, string Source, bool IsRandom)>? loader)
    {
        _loader = loader;
        _options = options.Value;
        _history = history;
        _log = log;
        Catalog = CatalogFor(_options);
        if (_options.Workers < 1) throw new ArgumentException($"StarStudio:Workers must be at least 1 (got {_options.Workers}).");
        _workers = new Thread[_options.Workers];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"StarStudio model {i}" };
            _workers[i].Start();
        }
    }

    /// <summary>Loading (the startup model), Ready (some model is loaded) or Failed (the startup model failed and none is loaded).</summary>
    public ModelState State { get; private set; } = ModelState.Loading;
    /// <summary>Why the model could not be loaded (State == Failed).</summary>
    public string? LoadError { get; private set; }
    /// <summary>Completes when loading finished, successfully or not.</summary>
    public Task Loaded => _loaded.Task;
    /// <summary>Raised (on a model thread) when the state or the queue changes.</summary>
    public event Action? Changed;

    public int QueueLength { get { lock (_gate) return _pending.Count; } }
    public int Running => Volatile.Read(ref _running);
    /// <summary>Mean wall time per image row of recent jobs (NaN before the first one).</summary>
    public double AverageMsPerRow { get { lock (_gate) return _avgMsPerRow; } }

    /// <summary>
    /// Validation against the named model (null: the active one; only the model-independent checks while it loads).
    /// A name that is not loaded is an error of the "model" field.
    /// </summary>
    public IReadOnlyList<ValidationError> Validate(GenerationRequest request, string? model = null)
    {
        if (model is not null && InfoFor(model) is null) return [UnknownModel(model)];
        return InfoFor(model) is { } info ? GenerationValidator.Check(request, info.Limits) : [];
    }

    /// <summary>How the text encoder sees a prompt (unknown words, truncation) without touching tensors; null for models without a word vocabulary.</summary>
    public PromptReport? InspectPrompt(string prompt, string? model = null) =>
        Find(model)?.Model.TextEncoder is WordTextEncoder words ? words.Tokenizer.Encode(prompt, words.MaxTokens).Report : null;

    /// <summary>Holds queued jobs (running ones finish); for maintenance and for tests of the queue.</summary>
    public void Pause() => _resumed.Reset();
    public void Resume() => _resumed.Set();

    /// <summary>
    /// Queues a generation. Invalid requests throw <see cref="InvalidGenerationRequestException"/> here, before queueing.
    /// Cancelling the token removes a queued job or stops a running one within one scale.
    /// </summary>
    /// <param name="model">A loaded model's name; null: the active model.</param>
    public GenerationJob Submit(GenerationRequest request, CancellationToken cancellationToken = default, string? model = null) =>
        SubmitGroup([request], cancellationToken, model: model);

    /// <summary>Queues several requests as one job that runs them in step, scale by scale (frames carry the column).</summary>
    /// <param name="keepInHistory">False for replays (the scale explorer) that would only duplicate a stored image.</param>
    public GenerationJob SubmitGroup(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken = default, bool keepInHistory = true, string? model = null)
    {
        if (State == ModelState.Failed) throw new InvalidOperationException($"The model could not be loaded: {LoadError}");
        if (model is not null && InfoFor(model) is null) throw new InvalidGenerationRequestException([UnknownModel(model)]);
        if (InfoFor(model) is { } info) foreach (var request in requests) GenerationValidator.Validate(request, info.Limits);
        // The model is fixed now (the active one when none is named), so switching the active model later does not
        // change what a queued job draws with.
        var job = new GenerationJob(requests, cancellationToken) { KeepInHistory = keepInHistory, Model = model ?? ActiveModel };
        int ahead;
        lock (_gate)
        {
            if (_pending.Count >= _options.MaxQueue)
                throw new InvalidOperationException($"The queue is full ({_options.MaxQueue} jobs); try again in a moment.");
            _pending.AddLast(job);
            ahead = _pending.Count - 1 + _running;
        }
        job.Post(new JobQueued(ahead, EtaFor(ahead, job.Rows)));
        cancellationToken.Register(() =>
        {
            bool removed;
            lock (_gate) removed = _pending.Remove(job);
            if (removed) { job.Finish(new JobCancelled()); PublishPositions(); }
        });
        _available.Release();
        Changed?.Invoke();
        return job;
    }

    double EtaFor(int ahead, int rows)
    {
        double per = AverageMsPerRow;
        if (double.IsNaN(per)) return double.NaN;
        return per * (ahead + rows) / _workers.Length;
    }

    void PublishPositions()
    {
        List<(GenerationJob Job, int Ahead)> snapshot;
        lock (_gate) snapshot = _pending.Select((j, i) => (j, i + _running)).ToList();
        foreach (var (job, ahead) in snapshot) job.Post(new JobQueued(ahead, EtaFor(ahead, job.Rows)));
        Changed?.Invoke();
    }

    void WorkerLoop(int index)
    {
        if (index == 0) Load();
        _loaded.Task.Wait();
        var token = _shutdown.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                _available.Wait(token);
                _resumed.Wait(token);
                List<GenerationJob> batch;
                lock (_gate)
                {
                    var job = _pending.First?.Value;
                    if (job is null) continue; // cancelled while queued
                    _pending.RemoveFirst();
                    batch = [job, .. TakeCompanions(job)];
                    _running += batch.Count;
                }
                PublishPositions();
                try
                {
                    if (batch.Count == 1) Run(batch[0]);
                    else RunBatched(batch);
                }
                finally
                {
                    lock (_gate) _running -= batch.Count;
                    Changed?.Invoke();
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { }
    }

    void Load()
    {
        try
        {
            TorchNativeLoader.Ensure(m => _log.LogInformation("{Message}", m));
            (ScaleWiseModel model, string source, bool random) = _loader is null ? LoadConfigured() : _loader();
            // Not activated over a model someone loaded from the model manager while this one was loading.
            try { Register(model, source, random, activate: false); }
            catch { model.Dispose(); throw; }
        }
        catch (Exception e)
        {
            LoadError = e.Message;
            if (Models.Count == 0) State = ModelState.Failed;
            _log.LogError(e, "Model load failed; the app keeps serving without it.");
        }
        _loaded.TrySetResult();
        Changed?.Invoke();
    }

    (ScaleWiseModel, string, bool) LoadConfigured()
    {
        if (!string.IsNullOrWhiteSpace(_options.ModelFolder))
            return (ModelStore.Load(_options.ModelFolder), _options.ModelFolder, false);
        if (!_options.ForceRandom && ModelStore.DefaultModelFolder() is { } folder)
            return (ModelStore.Load(folder), folder, false);
        return (RandomModels.Create(_options.RandomPreset), $"random weights ({_options.RandomPreset})", true);
    }

    /// <summary>Settings that must match for two single requests to share a batch (prompts and seeds may differ).</summary>
    static object? BatchKey(GenerationJob job)
    {
        if (job.Requests.Count != 1 || !job.KeepInHistory) return null;
        var r = job.Request;
        if (r.PrefixTokens is not null || r.ClassLabels.Count > 0) return null;
        return (job.Model, r.NegativePrompt ?? "", r.Cfg, r.TopK, r.TopP, r.MoreSmooth, r.StableSampling, r.StableSamplerVersion, r.Previews);
    }

    /// <summary>Queued jobs that can join <paramref name="first"/>'s batch, removed from the queue (caller holds the lock).</summary>
    List<GenerationJob> TakeCompanions(GenerationJob first)
    {
        var companions = new List<GenerationJob>();
        int maxRows = InfoFor(first.Model)?.Limits.MaxRows ?? 1;
        if (_options.BatchUsers <= 1 || BatchKey(first) is not { } key) return companions;
        int rows = first.Rows;
        for (var node = _pending.First; node is not null && companions.Count < _options.BatchUsers - 1;)
        {
            var next = node.Next;
            if (Equals(BatchKey(node.Value), key) && rows + node.Value.Rows <= maxRows && !node.Value.CancellationToken.IsCancellationRequested)
            {
                rows += node.Value.Rows;
                companions.Add(node.Value);
                _pending.Remove(node);
            }
            node = next;
        }
        return companions;
    }

    /// <summary>
    /// Several users' requests as one batch: rows are independent (each has its own generator and seed), so every
    /// user gets exactly the images they would get alone. A user who cancels leaves; the batch stops when all have.
    /// </summary>
    void RunBatched(List<GenerationJob> jobs)
    {
        if (Acquire(jobs) is not { } loaded) return;
        try { RunBatched(jobs, loaded); }
        finally { Release(loaded); }
    }

    void RunBatched(List<GenerationJob> jobs, LoadedModel loaded)
    {
        var clock = Stopwatch.StartNew();
        var offsets = new int[jobs.Count];
        for (int j = 1; j < jobs.Count; j++) offsets[j] = offsets[j - 1] + jobs[j - 1].Rows;
        var first = jobs[0].Request;
        var merged = first with
        {
            Prompts = jobs.SelectMany(j => j.Request.Prompts).ToArray(),
            Seeds = jobs.SelectMany(j => Enumerable.Range(0, j.Rows).Select(j.Request.SeedFor)).ToArray(),
        };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        var registrations = jobs.Select(j => j.CancellationToken.Register(() =>
        {
            j.Finish(new JobCancelled()); // this user is told at once; the others carry on
            if (jobs.All(x => x.CancellationToken.IsCancellationRequested)) stop.Cancel();
        })).ToArray();
        foreach (var job in jobs) job.Post(new JobStarted(EtaFor(0, merged.Rows)));
        Task encoded = Task.CompletedTask;
        void Drain() { try { encoded.Wait(); } catch (AggregateException) { } }
        var scales = jobs.Select(_ => new List<ScaleFrame>()).ToArray();
        var timings = new List<ScaleTimings>();
        IReadOnlyList<RgbImage>? final = null;
        try
        {
            foreach (var frame in loaded.Pipeline.Generate(merged, stop.Token))
            {
                timings.Add(frame.Timings);
                if (frame.IsLast) final = frame.Images;
                for (int j = 0; j < jobs.Count; j++)
                {
                    var (job, o, n) = (jobs[j], offsets[j], jobs[j].Rows);
                    var slice = frame with
                    {
                        Tokens = frame.Tokens.Skip(o).Take(n).ToArray(),
                        Confidence = frame.Confidence.Skip(o).Take(n).ToArray(),
                        Images = frame.Images?.Skip(o).Take(n).ToArray(),
                    };
                    scales[j].Add(slice with { Images = null });
                    encoded = encoded.ContinueWith(_ =>
                    {
                        if (job.CancellationToken.IsCancellationRequested) return;
                        var pngs = slice.Images?.Select(img => PngWriter.Encode(img)).ToArray();
                        job.Post(new JobFrame(new WebFrame(slice.ScaleIndex, slice.ScaleCount, slice.Side, pngs,
                            slice.Tokens, slice.Confidence, slice.Timings, slice.Notices)));
                    }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                }
            }
            Drain();
            double wallMs = clock.Elapsed.TotalMilliseconds;
            for (int j = 0; j < jobs.Count; j++)
            {
                var job = jobs[j];
                if (job.CancellationToken.IsCancellationRequested) { job.Finish(new JobCancelled()); continue; }
                var mine = final!.Skip(offsets[j]).Take(job.Rows).ToArray();
                job.Finish(new JobCompleted([Finish(loaded.Info, true, job.Request, mine, timings, scales[j], wallMs)]));
            }
            lock (_gate)
            {
                double perRow = wallMs / merged.Rows;
                _avgMsPerRow = double.IsNaN(_avgMsPerRow) ? perRow : 0.7 * _avgMsPerRow + 0.3 * perRow;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Drain();
            foreach (var job in jobs) job.Finish(new JobCancelled());
        }
        catch (Exception e)
        {
            _log.LogError(e, "Batched generation failed.");
            Drain();
            foreach (var job in jobs) job.Finish(new JobFailed(e is AggregateException { InnerException: { } inner } ? inner.Message : e.Message));
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }

    void Run(GenerationJob job)
    {
        if (job.CancellationToken.IsCancellationRequested) { job.Finish(new JobCancelled()); return; }
        if (Acquire(job) is not { } loaded) return;
        try { Run(job, loaded); }
        finally { Release(loaded); }
    }

    void Run(GenerationJob job, LoadedModel loaded)
    {
        var clock = Stopwatch.StartNew();
        job.Post(new JobStarted(EtaFor(0, job.Rows)));
        int n = job.Requests.Count;
        var streams = new IEnumerator<ScaleFrame>?[n];
        // Shutting down stops running jobs too (within one scale), so the model is never freed under a generation.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(job.CancellationToken, _shutdown.Token);
        Task encoded = Task.CompletedTask;
        // Frames already computed still reach their owner before the job's end (they are encoded asynchronously).
        void Drain() { try { encoded.Wait(); } catch (AggregateException) { } }
        try
        {
            for (int c = 0; c < n; c++) streams[c] = loaded.Pipeline.Generate(job.Requests[c], stop.Token).GetEnumerator();
            var timings = Enumerable.Range(0, n).Select(_ => new List<ScaleTimings>()).ToArray();
            var finals = new IReadOnlyList<RgbImage>?[n];
            var scales = Enumerable.Range(0, n).Select(_ => new List<ScaleFrame>()).ToArray();
            // In step: scale k of every column before scale k+1 of any (all columns share the model's schedule).
            for (bool more = true; more;)
            {
                more = false;
                for (int c = 0; c < n; c++)
                {
                    if (!streams[c]!.MoveNext()) continue;
                    more = true;
                    var frame = streams[c]!.Current;
                    timings[c].Add(frame.Timings);
                    scales[c].Add(frame with { Images = null });
                    if (frame.IsLast) finals[c] = frame.Images;
                    // PNG encoding (tens of ms at 1024 px) runs off the model thread, in frame order, while the
                    // next scale computes.
                    int column = c;
                    encoded = encoded.ContinueWith(_ =>
                    {
                        var pngs = frame.Images?.Select(img => PngWriter.Encode(img)).ToArray();
                        job.Post(new JobFrame(new WebFrame(frame.ScaleIndex, frame.ScaleCount, frame.Side, pngs,
                            frame.Tokens, frame.Confidence, frame.Timings, frame.Notices), column));
                    }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                }
            }
            encoded.Wait(); // every frame is out before the result
            double wallMs = clock.Elapsed.TotalMilliseconds;
            var results = new GenerationResult[n];
            for (int c = 0; c < n; c++)
            {
                var request = job.Requests[c];
                // A lone job's time is its wall time; in a group each column reports its own compute.
                double totalMs = n == 1 ? wallMs : timings[c].Sum(t => t.TransformerMs + t.SamplingMs + t.DecodeMs);
                results[c] = Finish(loaded.Info, job.KeepInHistory, request, finals[c]!, timings[c], scales[c], totalMs);
            }
            lock (_gate)
            {
                double perRow = wallMs / job.Rows;
                _avgMsPerRow = double.IsNaN(_avgMsPerRow) ? perRow : 0.7 * _avgMsPerRow + 0.3 * perRow;
            }
            job.Finish(new JobCompleted(results));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Drain();
            job.Finish(new JobCancelled());
        }
        catch (Exception e)
        {
            // The error goes to this job's owner only; the worker and everyone else's jobs carry on.
            _log.LogError(e, "Generation failed.");
            Drain();
            job.Finish(new JobFailed(e is AggregateException { InnerException: { } inner } ? inner.Message : e.Message));
        }
        finally
        {
            foreach (var stream in streams) stream?.Dispose();
        }
    }

    GenerationResult Finish(ModelInfo info, bool keepInHistory, GenerationRequest request, IReadOnlyList<RgbImage> final, List<ScaleTimings> timings, List<ScaleFrame> scales, double totalMs)
    {
        var metadata = Enumerable.Range(0, request.Rows)
            .Select(r => GenerationMetadata.For(request, r, info.Name, info.Limits.PatchNums, totalMs)).ToArray();
        var finalPngs = final.Select((img, r) => PngWriter.Encode(img, metadata[r].ToPngText())).ToArray();
        var tokenMaps = Enumerable.Range(0, request.Rows)
            .Select(r => new ScaleMaps(scales.Select(f => f.Tokens[r]).ToArray(), scales.Select(f => f.Confidence[r]).ToArray())).ToArray();
        var ids = keepInHistory ? _history.AddAll(metadata, finalPngs, timings, tokenMaps) : [];
        return new GenerationResult(finalPngs, metadata, ids, timings, totalMs);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _shutdown.Cancel();
        _resumed.Set();
        bool stopped = _workers.All(w => w.Join(TimeSpan.FromSeconds(30)));
        lock (_gate)
        {
            foreach (var job in _pending) job.Finish(new JobCancelled());
            _pending.Clear();
        }
        // The models' tensors are used by the workers, which have exited; freeing native memory from here is safe. A
        // worker that did not stop in time keeps them (the process is ending anyway).
        if (!stopped) return;
        DisposeModels();
        _shutdown.Dispose();
        _available.Dispose();
        _resumed.Dispose();
    }
}
