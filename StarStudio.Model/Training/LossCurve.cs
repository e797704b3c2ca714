// StarStudio's own loss-curve plot (no reference file): SkiaSharp lines, text from the built-in pixel font.
using StarStudio.Model.Imaging;
using System.Globalization;
using SkiaSharp;
using StarStudio.Model.Shapes;

namespace StarStudio.Model.Training;

public static class LossCurve
{
    /// <summary>Plots raw losses (light) and their moving average (dark) against the step; y from 0 to the 98th percentile.</summary>
    public static RgbImage Render(IReadOnlyList<(int Step, double Loss)> points, string title, int width = 640, int height = 360)
    {
        const int left = 50, right = 12, top = 24, bottom = 24;
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor(250, 250, 250));
            using var axis = new SKPaint { Color = new SKColor(60, 60, 60), StrokeWidth = 1, IsAntialias = true };
            canvas.DrawLine(left, top, left, height - bottom, axis);
            canvas.DrawLine(left, height - bottom, width - right, height - bottom, axis);
            if (points.Count >= 2)
            {
                var sorted = points.Select(p => p.Loss).Where(double.IsFinite).Order().ToArray();
                double yMax = sorted.Length == 0 ? 1 : Math.Max(1e-9, sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(sorted.Length * 0.98))]) * 1.05;
                double x0 = points[0].Step, x1 = Math.Max(points[^1].Step, x0 + 1);
                float X(double s) => (float)(left + (s - x0) / (x1 - x0) * (width - left - right));
                float Y(double v) => (float)(height - bottom - Math.Clamp(v / yMax, 0, 1) * (height - top - bottom));
                using var raw = new SKPaint { Color = new SKColor(150, 180, 230), StrokeWidth = 1, IsAntialias = true };
                using var avg = new SKPaint { Color = new SKColor(20, 60, 160), StrokeWidth = 2, IsAntialias = true };
                var smooth = MovingAverage(points.Select(p => p.Loss).ToArray(), Math.Max(1, points.Count / 50));
                for (int i = 1; i < points.Count; i++)
                    canvas.DrawLine(X(points[i - 1].Step), Y(points[i - 1].Loss), X(points[i].Step), Y(points[i].Loss), raw);
                for (int i = 1; i < points.Count; i++)
                    canvas.DrawLine(X(points[i - 1].Step), Y(smooth[i - 1]), X(points[i].Step), Y(smooth[i]), avg);
            }
        }
        var img = RgbImage.FromBitmap(bitmap);
        var inv = CultureInfo.InvariantCulture;
        var ink = ((byte)25, (byte)25, (byte)25);
        BitmapFont.DrawText(img, left, 8, title, ink);
        if (points.Count >= 1)
        {
            var sorted = points.Select(p => p.Loss).Where(double.IsFinite).Order().ToArray();
            double yMax = sorted.Length == 0 ? 1 : Math.Max(1e-9, sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(sorted.Length * 0.98))]) * 1.05;
            BitmapFont.DrawText(img, 2, top, yMax.ToString("G3", inv), ink);
            BitmapFont.DrawText(img, 2, height - bottom - 8, "0", ink);
            BitmapFont.DrawText(img, left, height - bottom + 6, points[0].Step.ToString(inv), ink);
            string last = $"step {points[^1].Step}  loss {points[^1].Loss.ToString("G4", inv)}";
            BitmapFont.DrawText(img, width - right - last.Length * BitmapFont.Advance, height - bottom + 6, last, ink);
        }
        return img;
    }

    static double[] MovingAverage(double[] v, int window)
    {
        var r = new double[v.Length];
        double sum = 0;
        for (int i = 0; i < v.Length; i++)
        {
            sum += v[i];
            if (i >= window) sum -= v[i - window];
            r[i] = sum / Math.Min(i + 1, window);
        }
        return r;
    }
}
