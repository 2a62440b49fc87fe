using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Cuts a whole utterance (mono samples) into chunks and releases them a bounded time ahead of
    /// real time, as a streaming TTS engine would send them.
    /// </summary>
    /// <remarks>
    /// Engine-free. Sending ahead keeps the server's avatar-audio queue fed (the protocol: "send
    /// avatar audio ahead of time"); not sending everything at once keeps a long clip within the
    /// server's 60-s queue and makes a barge-in drop less.
    /// </remarks>
    public sealed class PacedSender
    {
        private readonly float[] samples;
        private readonly int chunkFrames;
        private int position;

        /// <summary>
        /// Creates a sender for <paramref name="mono"/> at <paramref name="sampleRate"/> Hz, in chunks of
        /// <paramref name="chunkSeconds"/>, at most <paramref name="leadSeconds"/> ahead of real time.
        /// </summary>
        public PacedSender(float[] mono, int sampleRate, double chunkSeconds, double leadSeconds)
        {
            if (mono == null)
            {
                throw new ArgumentNullException("mono");
            }
            if (sampleRate <= 0 || chunkSeconds <= 0.0 || leadSeconds < 0.0)
            {
                throw new ArgumentOutOfRangeException("sampleRate", "rate and chunk length > 0, lead >= 0");
            }
            samples = mono;
            SampleRate = sampleRate;
            LeadSeconds = leadSeconds;
            chunkFrames = Math.Max(1, (int)Math.Round(chunkSeconds * sampleRate));
        }

        /// <summary>The samples' rate.</summary>
        public int SampleRate { get; private set; }

        /// <summary>How far ahead of real time chunks are released.</summary>
        public double LeadSeconds { get; private set; }

        /// <summary>Seconds of audio released so far.</summary>
        public double SentSeconds
        {
            get { return (double)position / SampleRate; }
        }

        /// <summary>The utterance's length in seconds.</summary>
        public double DurationSeconds
        {
            get { return (double)samples.Length / SampleRate; }
        }

        /// <summary>Whether every sample has been released.</summary>
        public bool IsDone
        {
            get { return position >= samples.Length; }
        }

        /// <summary>
        /// The next chunk due <paramref name="elapsedSeconds"/> after the start, or null when none is due
        /// yet (or all were released). Call it in a loop until it returns null.
        /// </summary>
        public float[] NextChunk(double elapsedSeconds)
        {
            if (IsDone || SentSeconds >= elapsedSeconds + LeadSeconds)
            {
                return null;
            }
            int n = Math.Min(chunkFrames, samples.Length - position);
            var chunk = new float[n];
            Array.Copy(samples, position, chunk, 0, n);
            position += n;
            return chunk;
        }
    }
}
