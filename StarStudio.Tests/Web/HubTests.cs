using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using StarStudio.Model.Generation;
using StarStudio.Model.Imaging;
using StarStudio.Web.Api;
using StarStudio.Web.Services;

namespace StarStudio.Tests.Web;

/// <summary>The SignalR hub, spoken to over a raw WebSocket with the JSON hub protocol (no .NET client is available).</summary>
[Collection(TorchStateCollection.Name)]
public class HubTests(WebAppFixture app) : IClassFixture<WebAppFixture>
{
    const char RecordSeparator = '\u001e';

    sealed class HubConnection(ClientWebSocket socket) : IAsyncDisposable
    {
        readonly StringBuilder _pending = new();

        public static async Task<HubConnection> ConnectAsync(Uri baseAddress)
        {
            var socket = new ClientWebSocket();
            var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = "/hubs/generate" }.Uri;
            await socket.ConnectAsync(uri, CancellationToken.None);
            var c = new HubConnection(socket);
            await c.SendAsync("{\"protocol\":\"json\",\"version\":1}");
            var handshake = await c.ReceiveAsync();
            if (handshake.TryGetProperty("error", out var err)) throw new InvalidOperationException(err.GetString());
            return c;
        }

        public Task SendAsync(string json) =>
            socket.SendAsync(Encoding.UTF8.GetBytes(json + RecordSeparator), WebSocketMessageType.Text, true, CancellationToken.None);

        /// <summary>The next hub message, skipping pings (type 6).</summary>
        public async Task<JsonElement> ReceiveAsync()
        {
            var buffer = new byte[1 << 16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (true)
            {
                var text = _pending.ToString();
                int sep = text.IndexOf(RecordSeparator);
                if (sep >= 0)
                {
                    _pending.Remove(0, sep + 1);
                    var message = JsonDocument.Parse(text[..sep]).RootElement.Clone();
                    if (message.TryGetProperty("type", out var type) && type.GetInt32() == 6) continue;
                    return message;
                }
                var r = await socket.ReceiveAsync(buffer, timeout.Token);
                if (r.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException("The server closed the connection.");
                _pending.Append(Encoding.UTF8.GetString(buffer, 0, r.Count));
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (socket.State == WebSocketState.Open)
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            socket.Dispose();
        }
    }

    [Fact]
    public async Task Generate_StreamsEveryScaleInOrderThenCompletes()
    {
        await using var hub = await HubConnection.ConnectAsync(app.BaseAddress);
        await hub.SendAsync("""{"type":4,"invocationId":"1","target":"Generate","arguments":[{"prompt":"a blue square","seed":11,"cfg":3,"batchSize":2}]}""");

        var frames = new List<JsonElement>();
        JsonElement message;
        while ((message = await hub.ReceiveAsync()).GetProperty("type").GetInt32() == 2)
        {
            Assert.Equal("1", message.GetProperty("invocationId").GetString());
            frames.Add(message.GetProperty("item"));
        }
        Assert.Equal(3, message.GetProperty("type").GetInt32()); // completion
        Assert.False(message.TryGetProperty("error", out _));

        Assert.Equal([0, 1, 2, 3], frames.Select(f => f.GetProperty("scale").GetInt32()));
        Assert.Equal([1, 2, 3, 4], frames.Select(f => f.GetProperty("side").GetInt32()));
        Assert.All(frames, f => Assert.Equal(4, f.GetProperty("scaleCount").GetInt32()));
        var elapsed = frames.Select(f => f.GetProperty("elapsedMs").GetDouble()).ToArray();
        Assert.Equal(elapsed.Order(), elapsed);

        // Every frame carries both rows' previews; the last one is the final image of seed 11 (row 0) and 12 (row 1).
        var lastPngs = frames[^1].GetProperty("pngs").EnumerateArray().Select(p => p.GetBytesFromBase64()).ToArray();
        var last = lastPngs.Select(PngWriter.Decode).ToArray();
        Assert.Equal(2, last.Length);
        // The final item carries the parameters and where history stored each image.
        Assert.Equal([11L, 12L], lastPngs.Select(p => GenerationMetadata.FromPng(p)!.Seed));
        var ids = frames[^1].GetProperty("historyIds").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(2, ids.Length);
        Assert.Equal(lastPngs[1], await app.Client.GetByteArrayAsync($"/api/history/{ids[1]}.png"));
        var single = await app.Client.PostAsJsonAsync("/api/generate", new { prompt = "a blue square", seed = 12, cfg = 3 });
        Assert.Equal(PngWriter.Decode(await single.Content.ReadAsByteArrayAsync()).Pixels, last[1].Pixels);
    }

    [Fact]
    public async Task Generate_FramesCarryEachScalesTokenMap()
    {
        await using var hub = await HubConnection.ConnectAsync(app.BaseAddress);
        await hub.SendAsync("""{"type":4,"invocationId":"3","target":"Generate","arguments":[{"prompt":"a red circle","seed":21,"cfg":2,"batchSize":2}]}""");
        var frames = new List<JsonElement>();
        JsonElement message;
        while ((message = await hub.ReceiveAsync()).GetProperty("type").GetInt32() == 2) frames.Add(message.GetProperty("item"));
        Assert.False(message.TryGetProperty("error", out _));

        // Second path: the same request straight through the pipeline on an identically seeded model.
        using var model = RandomModels.Create("tiny-star");
        var request = new ApiGenerateRequest { Prompt = "a red circle", Seed = 21, Cfg = 2, BatchSize = 2 }
            .ToRequest(new ModelInfo(model.Name, "", IsRandom: true, model.Limits, Resolution: 32));
        var expected = new GenerationPipeline(model).Generate(request).ToArray();
        Assert.Equal(expected.Length, frames.Count);
        for (int k = 0; k < frames.Count; k++)
        {
            var tokens = frames[k].GetProperty("tokens").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();
            var confidence = frames[k].GetProperty("confidence").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
            Assert.Equal(2, tokens.Length);
            Assert.Equal((k + 1) * (k + 1), tokens[0].Length); // side x side, row-major
            Assert.Equal(expected[k].Tokens, tokens);
            Assert.Equal(expected[k].Confidence, confidence);
        }
    }

    [Fact]
    public async Task Generate_UnknownModel_CompletesWithAClearMessage()
    {
        await using var hub = await HubConnection.ConnectAsync(app.BaseAddress);
        await hub.SendAsync("""{"type":4,"invocationId":"8","target":"Generate","arguments":[{"prompt":"x","model":"no-such-model"}]}""");
        var message = await hub.ReceiveAsync();
        Assert.Equal(3, message.GetProperty("type").GetInt32());
        // SignalR prefixes errors of streaming methods with its own sentence.
        Assert.Contains("No model named 'no-such-model' is loaded. Loaded: tiny-star.", message.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Generate_InvalidRequest_CompletesWithTheValidationMessage()
    {
        await using var hub = await HubConnection.ConnectAsync(app.BaseAddress);
        await hub.SendAsync("""{"type":4,"invocationId":"7","target":"Generate","arguments":[{"prompt":"x","cfg":-1}]}""");
        var message = await hub.ReceiveAsync();
        Assert.Equal(3, message.GetProperty("type").GetInt32());
        Assert.Contains("CFG must be between 0 and 20", message.GetProperty("error").GetString());
    }

    [Fact]
    public async Task CancelInvocation_RemovesTheQueuedGeneration()
    {
        var host = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<StarStudio.Web.Services.ModelHost>(app.App.Services);
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var emptied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged()
        {
            if (host.QueueLength == 1) queued.TrySetResult();
            if (queued.Task.IsCompleted && host.QueueLength == 0) emptied.TrySetResult();
        }
        host.Pause();
        host.Changed += OnChanged;
        try
        {
            await using var hub = await HubConnection.ConnectAsync(app.BaseAddress);
            await hub.SendAsync("""{"type":4,"invocationId":"9","target":"Generate","arguments":[{"prompt":"a red circle","seed":1}]}""");
            await queued.Task.WaitAsync(TimeSpan.FromSeconds(15));
            await hub.SendAsync("""{"type":5,"invocationId":"9"}""");
            await emptied.Task.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(0, host.QueueLength);
        }
        finally
        {
            host.Changed -= OnChanged;
            host.Resume();
        }
    }
}
