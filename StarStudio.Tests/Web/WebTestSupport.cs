using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using StarStudio.Model.Generation;
using StarStudio.Model.Transformers;
using StarStudio.Web;
using static TorchSharp.torch;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>A temporary data folder, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "starstudio-web-" + Guid.NewGuid().ToString("N"));
    public TempFolder() => Directory.CreateDirectory(Path);
    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A model host on the tiny random STAR model with its own history, as the app builds it.</summary>
public sealed class TestHost : IDisposable
{
    readonly TempFolder _data = new();

    public TestHost(string? modelFolder = null, Func<(ScaleWiseModel, string, bool)>? loader = null, int batchUsers = 1)
    {
        ModelRoot = System.IO.Path.Combine(_data.Path, "models");
        Directory.CreateDirectory(ModelRoot);
        Options = new StarStudioOptions
        {
            ForceRandom = true, RandomPreset = "tiny-star", ModelFolder = modelFolder, DataFolder = _data.Path, BatchUsers = batchUsers,
            // A fixed figure, so loading in tests does not depend on what the machine has free; tests lower it.
            ModelRoots = [ModelRoot], AssumeAvailableMemoryMiB = 64 * 1024,
        };
        History = new HistoryStore(_data.Path);
        Host = new ModelHost(Microsoft.Extensions.Options.Options.Create(Options), History, NullLogger<ModelHost>.Instance, loader);
        Host.Loaded.Wait(TimeSpan.FromSeconds(60));
    }

    public ModelHost Host { get; }
    public HistoryStore History { get; }
    /// <summary>The host's options; the host reads them when it needs them (tests change the memory figure).</summary>
    public StarStudioOptions Options { get; }
    /// <summary>The only model folder root of the model manager (empty at first).</summary>
    public string ModelRoot { get; }

    /// <summary>Saves a random-weight preset as a model folder under <see cref="ModelRoot"/>; returns its id.</summary>
    public string SaveModel(string preset, string? id = null)
    {
        id ??= preset;
        using var model = RandomModels.Create(preset);
        ModelStore.Save(model, System.IO.Path.Combine(ModelRoot, id));
        return id;
    }

    public void Dispose()
    {
        Host.Dispose();
        _data.Dispose();
    }
}

/// <summary>The real app (Kestrel on 127.0.0.1, a free port) with the tiny random model and a temporary data folder.</summary>
public sealed class WebAppFixture : IAsyncLifetime
{
    readonly TempFolder _data = new();
    readonly string[] _args;
    WebApplication? _app;

    public WebAppFixture() : this(["--StarStudio:ForceRandom=true", "--StarStudio:RandomPreset=tiny-star"]) { }

    /// <param name="modelArgs">Which model to serve (StarStudio:* settings).</param>
    internal WebAppFixture(string[] modelArgs) => _args = modelArgs;

    public Uri BaseAddress { get; private set; } = null!;
    public WebApplication App => _app ?? throw new InvalidOperationException("Not started.");
    public HttpClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _app = StarStudioApp.Build([
            "--urls", "http://127.0.0.1:0",
            "--environment", "Production",
            $"--StarStudio:DataFolder={_data.Path}",
            "--Logging:LogLevel:Default=Warning",
            .. _args,
        ]);
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Urls.First());
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        await _app.Services.GetRequiredService<ModelHost>().Loaded;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        _data.Dispose();
    }
}

/// <summary>
/// The tiny STAR model around a transformer that, at scale 3, throws while <see cref="Fail"/> is set, or waits for
/// <see cref="Release"/> while <see cref="Hold"/> is set (signalling <see cref="AtScale3"/>): a generation held
/// mid-run, without sleeps.
/// </summary>
public sealed class FailingModel : IDisposable
{
    sealed class Transformer(IScaleWiseTransformer inner, FailingModel owner) : Generation.DelegatingTransformer(inner)
    {
        public override Tensor ForwardScale(Tensor x_NlC, int si, ScaleConditioning cond, KvCache cache)
        {
            if (si == 2 && owner.Hold)
            {
                owner.AtScale3.Set();
                owner.Release.Wait(TimeSpan.FromSeconds(30));
            }
            return owner.Fail && si == 2 ? throw new InvalidOperationException("simulated fault at scale 3") : Inner.ForwardScale(x_NlC, si, cond, cache);
        }
    }

    ScaleWiseModel? _inner;

    public volatile bool Fail;
    public volatile bool Hold;
    public ManualResetEventSlim AtScale3 { get; } = new();
    public ManualResetEventSlim Release { get; } = new();

    /// <summary>Called by the host on its model thread.</summary>
    public (ScaleWiseModel, string, bool) Load()
    {
        _inner = RandomModels.Create("tiny-star");
        var m = _inner;
        return (new ScaleWiseModel(m.Name, new Transformer(m.Transformer, this), m.Vae, m.TextEncoder, m.Limits.NumClasses,
            m.StableSamplerFromScale, m.Device, ownsModules: false), "failing test model", true);
    }

    public void Dispose()
    {
        Release.Set();
        _inner?.Dispose();
    }
}

/// <summary>
/// bUnit context for a page on a real model host (tiny random model): MudBlazor services with zero transitions,
/// loose JS interop, the host, its history and a per-test generation service.
/// </summary>
public abstract class PageTestContext : Bunit.BunitContext
{
    protected TestHost HostFixture { get; }

    protected PageTestContext() : this(new TestHost()) { }

    protected PageTestContext(TestHost host)
    {
        HostFixture = host;
        JSInterop.Mode = Bunit.JSRuntimeMode.Loose;
        Services.AddMudServices(o => { o.SnackbarConfiguration.ShowTransitionDuration = 0; o.SnackbarConfiguration.HideTransitionDuration = 0; });
        Services.AddSingleton(HostFixture.Host);
        Services.AddSingleton(HostFixture.History);
        Services.AddScoped<GenerationService>();
    }

    // xunit disposes a test class through DisposeAsync when it has one, and bUnit's DisposeAsync calls
    // Dispose(disposing: false): the host (its worker thread, its SQLite file and temp folder) must go in both paths.
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) HostFixture.Dispose();
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        await base.DisposeAsyncCore();
        HostFixture.Dispose();
    }
}

public static class JSInteropSnapshots
{
    /// <summary>
    /// A copy of the JS calls so far. The component may still be rendering on the renderer's thread (a page keeps
    /// pushing images after the status a test waited for), and enumerating bUnit's live list then throws
    /// "Collection was modified"; copying again until a copy completes reads a consistent list.
    /// </summary>
    public static List<Bunit.JSRuntimeInvocation> InvocationsNow(this Bunit.BunitJSInterop js)
    {
        while (true)
        {
            try { return js.Invocations.ToList(); }
            catch (InvalidOperationException) { Thread.Yield(); }
        }
    }
}
