using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using StarStudio.Model.Imaging;

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
        var last = frames[^1].GetProperty("pngs").EnumerateArray().Select(p => PngWriter.Decode(p.GetBytesFromBase64())).ToArray();
        Assert.Equal(2, last.Length);
        var single = await app.Client.PostAsJsonAsync("/api/generate", new { prompt = "a blue square", seed = 12, cfg = 3 });
        Assert.Equal(PngWriter.Decode(await single.Content.ReadAsByteArrayAsync()).Pixels, last[1].Pixels);
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
}
