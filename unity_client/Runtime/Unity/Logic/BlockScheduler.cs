using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Maps session time to the audio system's DSP time for playback by scheduled clips
    /// (<c>AudioSource.PlayScheduled</c>), the player's mode for WebGL, where
    /// <c>OnAudioFilterRead</c> and streamed clips are not available.
    /// </summary>
    /// <remarks>
    /// Engine-free. The first block anchors session time <c>t</c> to DSP time
    /// <c>now + StartDelaySeconds</c>; every block then plays at
    /// <c>anchorDsp + (t - anchorT)</c>, so consecutive blocks join without gaps. A block that would
    /// start less than <see cref="MinLeadSeconds"/> from now (the network was late) shifts the
    /// anchor later (a short silence, and the motion waits with it); a block more than
    /// <see cref="MaxLeadSeconds"/> ahead (the server skipped frames) shifts it earlier.
    /// </remarks>
    public sealed class BlockScheduler
    {
        private bool anchored;
        private double anchorTime;
        private double anchorDsp;

        /// <summary>Creates a scheduler with a 0.25-s start delay, 0.05-s minimum and 1.5-s maximum lead.</summary>
        public BlockScheduler()
        {
            StartDelaySeconds = 0.25;
            MinLeadSeconds = 0.05;
            MaxLeadSeconds = 1.5;
        }

        /// <summary>How far ahead of now the first block (and a re-anchored one) is scheduled.</summary>
        public double StartDelaySeconds { get; set; }

        /// <summary>Blocks due sooner than this are late: the timeline shifts later.</summary>
        public double MinLeadSeconds { get; set; }

        /// <summary>Blocks due later than this are early (frames skipped): the timeline shifts earlier.</summary>
        public double MaxLeadSeconds { get; set; }

        /// <summary>Whether a block has anchored the timeline.</summary>
        public bool IsAnchored
        {
            get { return anchored; }
        }

        /// <summary>Times the timeline was shifted (late or early blocks).</summary>
        public int Shifts { get; private set; }

        /// <summary>The DSP time at which the block starting at session time <paramref name="blockTime"/> should play.</summary>
        public double Schedule(double blockTime, double nowDsp)
        {
            if (!anchored)
            {
                anchorTime = blockTime;
                anchorDsp = nowDsp + StartDelaySeconds;
                anchored = true;
            }
            double dsp = anchorDsp + (blockTime - anchorTime);
            double lead = dsp - nowDsp;
            if (lead < MinLeadSeconds || lead > MaxLeadSeconds)
            {
                double shift = nowDsp + StartDelaySeconds - dsp;
                anchorDsp += shift;
                dsp += shift;
                Shifts++;
            }
            return dsp;
        }

        /// <summary>The session time heard at DSP time <paramref name="nowDsp"/> (false before the first block).</summary>
        public bool TryGetSessionTime(double nowDsp, out double time)
        {
            time = anchored ? anchorTime + (nowDsp - anchorDsp) : 0.0;
            return anchored;
        }

        /// <summary>The DSP time of session time <paramref name="time"/> (NaN before the first block).</summary>
        public double DspTimeOf(double time)
        {
            return anchored ? anchorDsp + (time - anchorTime) : double.NaN;
        }

        /// <summary>Forgets the anchor (a new session).</summary>
        public void Reset()
        {
            anchored = false;
            anchorTime = 0.0;
            anchorDsp = 0.0;
            Shifts = 0;
        }
    }
}
