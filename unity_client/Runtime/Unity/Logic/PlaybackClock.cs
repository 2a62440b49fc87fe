using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// A smooth, non-decreasing session clock for drawing: it advances with the game's frame time
    /// and is pulled gently toward a reference time (the audio being heard), snapping to it when
    /// the two are far apart (start, seek, skip-ahead, a new session).
    /// </summary>
    /// <remarks>
    /// Engine-free. The reference (from the audio thread) moves in steps of one audio buffer and
    /// with the thread's scheduling jitter; this filter hides both without adding drift, because
    /// any lasting difference is corrected with the time constant <see cref="TimeConstant"/>.
    /// </remarks>
    public sealed class PlaybackClock
    {
        private bool hasValue;
        private double value;

        /// <summary>Creates a clock with a 0.2-s time constant and a 0.15-s snap threshold.</summary>
        public PlaybackClock()
        {
            TimeConstant = 0.2;
            SnapThreshold = 0.15;
        }

        /// <summary>Seconds to correct 63 % of a difference from the reference (0: follow it exactly).</summary>
        public double TimeConstant { get; set; }

        /// <summary>A difference larger than this (seconds) jumps to the reference at once.</summary>
        public double SnapThreshold { get; set; }

        /// <summary>Whether the clock has been set.</summary>
        public bool HasValue
        {
            get { return hasValue; }
        }

        /// <summary>The current time (seconds; 0 before the first update).</summary>
        public double Value
        {
            get { return value; }
        }

        /// <summary>
        /// Advances by <paramref name="deltaTime"/> seconds and corrects toward
        /// <paramref name="reference"/>; returns the new time.
        /// </summary>
        public double Update(double reference, double deltaTime)
        {
            if (!hasValue)
            {
                value = reference;
                hasValue = true;
                return value;
            }
            double dt = Math.Max(0.0, deltaTime);
            double predicted = value + dt;
            double error = reference - predicted;
            if (Math.Abs(error) > SnapThreshold)
            {
                value = reference;
                return value;
            }
            double alpha = TimeConstant <= 0.0 ? 1.0 : 1.0 - Math.Exp(-dt / TimeConstant);
            value = Math.Max(value, predicted + error * alpha);
            return value;
        }

        /// <summary>Advances by <paramref name="deltaTime"/> seconds with no reference (free-running).</summary>
        public double Advance(double deltaTime)
        {
            if (hasValue)
            {
                value += Math.Max(0.0, deltaTime);
            }
            return value;
        }

        /// <summary>Sets the time.</summary>
        public void Set(double time)
        {
            value = time;
            hasValue = true;
        }

        /// <summary>Forgets the time.</summary>
        public void Reset()
        {
            hasValue = false;
            value = 0.0;
        }
    }
}
