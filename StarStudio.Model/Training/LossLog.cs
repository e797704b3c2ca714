// StarStudio's own training log (no reference file): a CSV of every step's loss and metrics, rewritten on resume
// so that it never holds steps the checkpoint does not.
using System.Globalization;

namespace StarStudio.Model.Training;

public sealed class LossLog
{
    readonly string _path;
    readonly List<(int Step, double Loss, double Lr, double Seconds, IReadOnlyDictionary<string, double> Metrics)> _rows = [];
    string[]? _metricNames;

    public LossLog(string path) => _path = path;

    public string Path => _path;
    public int Count => _rows.Count;
    public IReadOnlyList<(int Step, double Loss)> Losses => [.. _rows.Select(r => (r.Step, r.Loss))];
    public IReadOnlyList<(int Step, double Value)> Metric(string name) =>
        [.. _rows.Where(r => r.Metrics.ContainsKey(name)).Select(r => (r.Step, r.Metrics[name]))];

    /// <summary>Reads an existing CSV, keeping only steps below <paramref name="untilStep"/>, and rewrites the file.</summary>
    public void LoadExisting(int untilStep)
    {
        _rows.Clear();
        if (!File.Exists(_path)) { Rewrite(); return; }
        var lines = File.ReadAllLines(_path);
        if (lines.Length > 0)
        {
            var header = lines[0].Split(',');
            _metricNames = header.Length > 4 ? header[4..] : [];
            foreach (var line in lines.Skip(1))
            {
                var f = line.Split(',');
                if (f.Length < 4) continue;
                int step = int.Parse(f[0], CultureInfo.InvariantCulture);
                if (step >= untilStep) continue;
                var metrics = new Dictionary<string, double>();
                for (int i = 4; i < f.Length && i - 4 < _metricNames.Length; i++)
                    metrics[_metricNames[i - 4]] = double.Parse(f[i], CultureInfo.InvariantCulture);
                _rows.Add((step, Parse(f[1]), Parse(f[2]), Parse(f[3]), metrics));
            }
        }
        Rewrite();
    }

    static double Parse(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    public void Add(int step, StepResult result, double lr, double seconds)
    {
        _metricNames ??= [.. result.Metrics.Keys];
        _rows.Add((step, result.Loss, lr, seconds, result.Metrics));
        bool fresh = !File.Exists(_path);
        using var w = new StreamWriter(_path, append: true);
        if (fresh) w.WriteLine(Header());
        w.WriteLine(Row(_rows[^1]));
    }

    string Header() => "step,loss,lr,seconds" + string.Concat((_metricNames ?? []).Select(n => "," + n));

    string Row((int Step, double Loss, double Lr, double Seconds, IReadOnlyDictionary<string, double> Metrics) r)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = $"{r.Step},{r.Loss.ToString("R", inv)},{r.Lr.ToString("R", inv)},{r.Seconds.ToString("F3", inv)}";
        foreach (var n in _metricNames ?? []) s += "," + (r.Metrics.TryGetValue(n, out var v) ? v : double.NaN).ToString("R", inv);
        return s;
    }

    void Rewrite()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path))!);
        if (_metricNames is null && _rows.Count == 0) { if (File.Exists(_path)) File.Delete(_path); return; }
        File.WriteAllLines(_path, [Header(), .. _rows.Select(Row)]);
    }
}
