namespace ActorRefresh.Host.Demo;

/// <summary>
/// Log-linear latency histogram (8 buckets per power of two, about 9% resolution) with a fixed size, so a demo
/// of millions of requests keeps constant memory. One per caller; merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBuckets = 8;
    private readonly long[] _counts = new long[64 * SubBuckets];

    public long Count { get; private set; }

    public void Record(long microseconds)
    {
        _counts[Bucket(Math.Max(1, microseconds))]++;
        Count++;
    }

    public void Merge(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
        Count += other.Count;
    }

    /// <summary>The upper bound of the bucket holding the <paramref name="quantile"/> (0–1) sample, in microseconds.</summary>
    public long Quantile(double quantile)
    {
        if (Count == 0) return 0;
        var rank = (long)Math.Ceiling(quantile * Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return UpperBound(i);
        }
        return UpperBound(_counts.Length - 1);
    }

    private static int Bucket(long value)
    {
        var exponent = 63 - (int)long.LeadingZeroCount(value);
        var fraction = exponent >= 3 ? (int)((value >> (exponent - 3)) & (SubBuckets - 1)) : (int)((value << (3 - exponent)) & (SubBuckets - 1));
        return exponent * SubBuckets + fraction;
    }

    private static long UpperBound(int bucket)
    {
        var exponent = bucket / SubBuckets;
        var fraction = bucket % SubBuckets;
        var upper = Math.Pow(2, exponent) * (1 + (fraction + 1) / (double)SubBuckets);
        return (long)Math.Ceiling(upper) - 1;
    }
}
