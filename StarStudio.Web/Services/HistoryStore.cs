using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using StarStudio.Model.Generation;

namespace StarStudio.Web.Services;

/// <summary>Per scale of one image: the chosen codebook ids (pn*pn, row-major) and each one's sampling probability.</summary>
public sealed record ScaleMaps(IReadOnlyList<int[]> Tokens, IReadOnlyList<float[]> Confidence);

/// <summary>One stored generation (one image), without its PNG.</summary>
public sealed record HistoryEntry(long Id, DateTimeOffset Created, GenerationMetadata Metadata, IReadOnlyList<ScaleTimings> Timings);

/// <summary>
/// Every finished generation, one row per image, in a SQLite file (history.db in the data folder). A connection per
/// call: SQLite pools them, and calls come from model threads and circuits alike.
/// </summary>
public sealed class HistoryStore
{
    public const string FileName = "history.db";
    readonly string _connectionString;

    public HistoryStore(IOptions<StarStudioOptions> options, IHostEnvironment env)
        : this(string.IsNullOrWhiteSpace(options.Value.DataFolder) ? Path.Combine(env.ContentRootPath, "data") : options.Value.DataFolder) { }

    public HistoryStore(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        DatabasePath = Path.Combine(dataFolder, FileName);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS generations (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created TEXT NOT NULL,
                model TEXT NOT NULL,
                prompt TEXT,
                seed INTEGER NOT NULL,
                total_ms REAL NOT NULL,
                metadata TEXT NOT NULL,
                timings TEXT NOT NULL,
                png BLOB NOT NULL,
                scales TEXT);
            """);
    }

    public string DatabasePath { get; }

    /// <summary>Raised after entries are added or deleted (on the caller's thread).</summary>
    public event Action? Changed;

    SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Stores the images of one job in one transaction; returns their ids in row order.</summary>
    /// <param name="scales">Per image: its token maps (kept so the scale explorer can replay and fork it).</param>
    public IReadOnlyList<long> AddAll(IReadOnlyList<GenerationMetadata> metadata, IReadOnlyList<byte[]> pngs, IReadOnlyList<ScaleTimings> timings,
        IReadOnlyList<ScaleMaps>? scales = null)
    {
        if (metadata.Count != pngs.Count) throw new ArgumentException($"{metadata.Count} metadata records for {pngs.Count} images.");
        if (scales is not null && scales.Count != pngs.Count) throw new ArgumentException($"{scales.Count} token-map sets for {pngs.Count} images.");
        var ids = new List<long>();
        using (var c = Open())
        using (var tx = c.BeginTransaction())
        {
            string created = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            string timingsJson = JsonSerializer.Serialize(timings);
            for (int i = 0; i < pngs.Count; i++)
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = """
                    INSERT INTO generations (created, model, prompt, seed, total_ms, metadata, timings, png, scales)
                    VALUES ($created, $model, $prompt, $seed, $ms, $meta, $timings, $png, $scales);
                    SELECT last_insert_rowid();
                    """;
                cmd.Parameters.AddWithValue("$created", created);
                cmd.Parameters.AddWithValue("$model", metadata[i].Model);
                cmd.Parameters.AddWithValue("$prompt", (object?)metadata[i].Prompt ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$seed", metadata[i].Seed);
                cmd.Parameters.AddWithValue("$ms", metadata[i].TotalMs);
                cmd.Parameters.AddWithValue("$meta", metadata[i].ToJson());
                cmd.Parameters.AddWithValue("$timings", timingsJson);
                cmd.Parameters.AddWithValue("$png", pngs[i]);
                cmd.Parameters.AddWithValue("$scales", scales is null ? DBNull.Value : JsonSerializer.Serialize(scales[i]));
                ids.Add((long)cmd.ExecuteScalar()!);
            }
            tx.Commit();
        }
        Changed?.Invoke();
        return ids;
    }

    /// <summary>Newest first.</summary>
    public IReadOnlyList<HistoryEntry> List(int limit = 100, int offset = 0)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, created, metadata, timings FROM generations ORDER BY id DESC LIMIT $limit OFFSET $offset;";
        cmd.Parameters.AddWithValue("$limit", limit);
        cmd.Parameters.AddWithValue("$offset", offset);
        using var r = cmd.ExecuteReader();
        var list = new List<HistoryEntry>();
        while (r.Read()) list.Add(Read(r));
        return list;
    }

    public HistoryEntry? Get(long id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, created, metadata, timings FROM generations WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        using var r = cmd.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    public byte[]? GetPng(long id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT png FROM generations WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        return cmd.ExecuteScalar() as byte[];
    }

    /// <summary>The token maps of a stored image (null when unknown).</summary>
    public ScaleMaps? GetScales(long id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT scales FROM generations WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        return cmd.ExecuteScalar() is string json ? JsonSerializer.Deserialize<ScaleMaps>(json) : null;
    }

    public int Count()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM generations;";
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public bool Delete(long id)
    {
        int n;
        using (var c = Open())
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "DELETE FROM generations WHERE id = $id;";
            cmd.Parameters.AddWithValue("$id", id);
            n = cmd.ExecuteNonQuery();
        }
        if (n > 0) Changed?.Invoke();
        return n > 0;
    }

    static HistoryEntry Read(SqliteDataReader r) => new(
        r.GetInt64(0),
        DateTimeOffset.Parse(r.GetString(1), CultureInfo.InvariantCulture),
        GenerationMetadata.FromJson(r.GetString(2)),
        JsonSerializer.Deserialize<ScaleTimings[]>(r.GetString(3)) ?? []);
}
