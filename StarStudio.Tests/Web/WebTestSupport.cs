using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StarStudio.Web;
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

    public TestHost(string? modelFolder = null)
    {
        var options = Options.Create(new StarStudioOptions
        {
            ForceRandom = true, RandomPreset = "tiny-star", ModelFolder = modelFolder, DataFolder = _data.Path,
        });
        History = new HistoryStore(_data.Path);
        Host = new ModelHost(options, History, NullLogger<ModelHost>.Instance);
        Host.Loaded.Wait(TimeSpan.FromSeconds(60));
    }

    public ModelHost Host { get; }
    public HistoryStore History { get; }

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
