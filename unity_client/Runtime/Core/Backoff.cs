using System;

namespace AvatarForcing
{
    /// <summary>
    /// Exponential reconnect delays with jitter: attempt <c>n</c> (0-based) waits
    /// <c>min(initial * 2^n, max)</c> seconds, times a random factor in
    /// <c>1 - jitter .. 1 + jitter</c> (±20 % by default), so that many clients dropped at once
    /// (a server restart) do not all come back in the same instant.
    /// </summary>
    public sealed class Backoff
    {
        private readonly Random _random;

        /// <summary>Delay before the first attempt, seconds (before jitter).</summary>
        public double Initial { get; private set; }

        /// <summary>Largest delay, seconds (before jitter).</summary>
        public double Max { get; private set; }

        /// <summary>Relative jitter, 0..1: 0.2 spreads each delay over ±20 %.</summary>
        public double Jitter { get; private set; }

        /// <summary>Delays handed out since the last <see cref="Reset"/>.</summary>
        public int Attempts { get; private set; }

        /// <summary>Creates a backoff. <paramref name="seed"/> fixes the jitter's random sequence
        /// (tests); null seeds it from the clock.</summary>
        public Backoff(double initial = 0.5, double max = 10.0, double jitter = 0.2, int? seed = null)
        {
            if (!(initial > 0)) throw new ArgumentOutOfRangeException("initial", "must be > 0");
            if (!(max >= initial)) throw new ArgumentOutOfRangeException("max", "must be >= initial");
            if (!(jitter >= 0 && jitter < 1)) throw new ArgumentOutOfRangeException("jitter", "must be in 0..1");
            Initial = initial;
            Max = max;
            Jitter = jitter;
            _random = seed.HasValue ? new Random(seed.Value) : new Random();
        }

        /// <summary>The delay of attempt <paramref name="attempt"/> (0-based) before jitter:
        /// <c>min(initial * 2^attempt, max)</c> seconds.</summary>
        public double BaseDelay(int attempt)
        {
            if (attempt < 0) throw new ArgumentOutOfRangeException("attempt");
            double d = Initial;
            for (int i = 0; i < attempt && d < Max; i++) d *= 2;
            return Math.Min(d, Max);
        }

        /// <summary>The next delay in seconds, jittered, and counts the attempt.</summary>
        public double Next()
        {
            double d = BaseDelay(Attempts);
            Attempts++;
            return d * (1 + Jitter * (2 * _random.NextDouble() - 1));
        }

        /// <summary>Starts over from <see cref="Initial"/> (after a successful connection).</summary>
        public void Reset()
        {
            Attempts = 0;
        }
    }
}
