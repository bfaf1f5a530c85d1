namespace ActorRefresh.Benchmarks.Infra;

/// <summary>Median and spread of repeated measurements.</summary>
public sealed record Summary(double Median, double Min, double Max, double P25, double P75, int N)
{
    /// <summary>Summarises <paramref name="values"/>.</summary>
    public static Summary Of(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return new Summary(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        return new Summary(Percentile(v, 50), v[0], v[^1], Percentile(v, 25), Percentile(v, 75), v.Length);
    }

    /// <summary>Percentile of sorted values (nearest rank, linear between ranks).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        var rank = p / 100.0 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    /// <summary>"median (min–max)" with the given format.</summary>
    public string Show(string format = "0.##") =>
        N <= 1 ? Median.ToString(format, System.Globalization.CultureInfo.InvariantCulture)
        : $"{Median.ToString(format, System.Globalization.CultureInfo.InvariantCulture)} ({Min.ToString(format, System.Globalization.CultureInfo.InvariantCulture)}–{Max.ToString(format, System.Globalization.CultureInfo.InvariantCulture)})";
}
