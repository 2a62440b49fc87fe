using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// The playout buffer of the avatar's voice: the server's <c>avatar_audio</c> blocks go in
    /// (main thread), audio at the output rate comes out (audio thread), and the session time of
    /// what is being heard is reported back so that the face can be drawn at exactly that time.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Engine-free and thread-safe (one lock, held briefly): <see cref="Write"/> and
    /// <see cref="CutAt"/> run on the main thread, <see cref="Read"/> on Unity's audio thread
    /// (<c>OnAudioFilterRead</c>).
    /// </para>
    /// <para>
    /// Samples are kept at the stream's own rate, mixed down to mono, in a ring indexed by their
    /// absolute sample number on the session clock: block <c>frame</c> starts at sample
    /// <c>frame * rate / fps</c> (integer division, as the protocol places it). The playhead is a
    /// (fractional) sample number that advances by <c>rate / outputRate</c> per output sample; the
    /// output is linearly interpolated. Because the motion is sampled at the same playhead, audio
    /// and motion stay in sync whatever the network does: late data delays both.
    /// </para>
    /// <para>
    /// Playout: it starts once <see cref="StartBufferSeconds"/> are buffered past the first block;
    /// on an underrun it outputs silence and holds the playhead until that much is buffered again;
    /// when more than <see cref="MaxBufferSeconds"/> are buffered (the server caught up after a
    /// stall) it skips ahead to keep the latency bounded. A jump in frame numbers (the server
    /// skipped ahead) is a gap of silence, or a restart when it is longer than the ring.
    /// </para>
    /// </remarks>
    public sealed class AvatarAudioStream
    {
        private readonly object gate = new object();
        private readonly double capacitySeconds;
        private float[] ring = new float[0];
        private int rate;
        private long writeEnd;
        private long validStart;
        private double playhead;
        private bool started;
        private bool playing;
        private double suppressFrom = double.PositiveInfinity;
        private double suppressUntil = double.PositiveInfinity;
        private bool haveRead;
        private double readStartTime;
        private double readEndTime;
        private long readTicks;
        private long underruns;
        private long skips;

        /// <summary>Creates an empty stream holding up to <paramref name="capacitySeconds"/> of audio.</summary>
        public AvatarAudioStream(double capacitySeconds = 8.0)
        {
            if (capacitySeconds < 1.0)
            {
                throw new ArgumentOutOfRangeException("capacitySeconds", "at least 1 second");
            }
            this.capacitySeconds = capacitySeconds;
            StartBufferSeconds = 0.25;
            MaxBufferSeconds = 1.0;
        }

        /// <summary>Audio buffered before playout starts or resumes after an underrun (seconds).</summary>
        public double StartBufferSeconds { get; set; }

        /// <summary>More buffered audio than this makes the playhead skip ahead (seconds).</summary>
        public double MaxBufferSeconds { get; set; }

        /// <summary>The stream's sample rate (0 before the first block).</summary>
        public int SampleRate
        {
            get
            {
                lock (gate)
                {
                    return rate;
                }
            }
        }

        /// <summary>Whether the playhead is advancing (false while buffering or after an underrun).</summary>
        public bool IsPlaying
        {
            get
            {
                lock (gate)
                {
                    return playing;
                }
            }
        }

        /// <summary>Whether any block was written since the last <see cref="Clear"/>.</summary>
        public bool HasStarted
        {
            get
            {
                lock (gate)
                {
                    return started;
                }
            }
        }

        /// <summary>Audio buffered ahead of the playhead, in seconds.</summary>
        public double BufferedSeconds
        {
            get
            {
                lock (gate)
                {
                    return started && rate > 0 ? Math.Max(0.0, (writeEnd - playhead) / rate) : 0.0;
                }
            }
        }

        /// <summary>Times the playhead ran out of audio.</summary>
        public long Underruns
        {
            get
            {
                lock (gate)
                {
                    return underruns;
                }
            }
        }

        /// <summary>Times the playhead skipped ahead because too much was buffered.</summary>
        public long Skips
        {
            get
            {
                lock (gate)
                {
                    return skips;
                }
            }
        }

        /// <summary>
        /// Adds one <c>avatar_audio</c> block: <paramref name="interleaved"/> holds
        /// <c>frames * channels</c> samples starting at motion frame <paramref name="frame"/>.
        /// A change of rate restarts the ring at the new rate (keeping the playhead's time).
        /// Samples inside a barge-in cut (<see cref="CutAt"/>) are written as silence.
        /// </summary>
        public void Write(int frame, int fps, int sampleRate, int channels, float[] interleaved)
        {
            if (interleaved == null)
            {
                throw new ArgumentNullException("interleaved");
            }
            if (frame < 0 || fps <= 0 || sampleRate <= 0 || channels <= 0)
            {
                throw new ArgumentOutOfRangeException("frame", "frame >= 0, fps, rate and channels > 0");
            }
            int frames = interleaved.Length / channels;
            long start = (long)frame * sampleRate / fps;
            lock (gate)
            {
                if (sampleRate != rate)
                {
                    SwitchRate(sampleRate, start);
                }
                if (!started)
                {
                    validStart = start;
                    writeEnd = start;
                    playhead = start;
                    started = true;
                }
                if (start > writeEnd)
                {
                    if (start - writeEnd >= ring.Length)
                    {
                        Array.Clear(ring, 0, ring.Length);
                        validStart = start;
                    }
                    else
                    {
                        for (long i = writeEnd; i < start; i++)
                        {
                            ring[Slot(i)] = 0f;
                        }
                    }
                    writeEnd = start;
                }
                long end = start + frames;
                long first = Math.Max(start, Math.Max(validStart, end - ring.Length));
                for (long i = first; i < end; i++)
                {
                    int offset = (int)(i - start) * channels;
                    float sum = 0f;
                    for (int c = 0; c < channels; c++)
                    {
                        sum += interleaved[offset + c];
                    }
                    ring[Slot(i)] = IsSuppressed((double)i / rate) ? 0f : sum / channels;
                }
                if (end > writeEnd)
                {
                    writeEnd = end;
                }
                if (writeEnd - validStart > ring.Length)
                {
                    validStart = writeEnd - ring.Length;
                }
                if (playhead < validStart)
                {
                    playhead = validStart;
                }
            }
        }

        /// <summary>
        /// Fills <paramref name="data"/> (interleaved, <paramref name="outputChannels"/> channels at
        /// <paramref name="outputRate"/> Hz) with the next audio and advances the playhead; the same
        /// mono signal goes to every channel. <paramref name="nowTicks"/> is a monotonic timestamp
        /// (e.g. <c>Stopwatch.GetTimestamp()</c>) remembered for <see cref="TryGetPlaybackTime"/>.
        /// Call it from the audio thread.
        /// </summary>
        public void Read(float[] data, int outputChannels, int outputRate, long nowTicks)
        {
            if (data == null || outputChannels <= 0 || outputRate <= 0)
            {
                return;
            }
            int frames = data.Length / outputChannels;
            lock (gate)
            {
                if (!started || rate <= 0)
                {
                    Array.Clear(data, 0, data.Length);
                    return;
                }
                double buffered = (writeEnd - playhead) / rate;
                if (!playing && buffered >= StartBufferSeconds)
                {
                    playing = true;
                }
                if (playing && buffered > MaxBufferSeconds)
                {
                    playhead = writeEnd - StartBufferSeconds * rate;
                    skips++;
                }
                double startTime = playhead / rate;
                double step = (double)rate / outputRate;
                int n = 0;
                for (int f = 0; f < frames; f++)
                {
                    float v = 0f;
                    if (playing)
                    {
                        if (playhead + 1.0 >= writeEnd)
                        {
                            playing = false;
                            underruns++;
                        }
                        else
                        {
                            long i0 = (long)Math.Floor(playhead);
                            float frac = (float)(playhead - i0);
                            float a = i0 >= validStart ? ring[Slot(i0)] : 0f;
                            float b = ring[Slot(i0 + 1)];
                            v = a + (b - a) * frac;
                            playhead += step;
                        }
                    }
                    for (int c = 0; c < outputChannels; c++)
                    {
                        data[n++] = v;
                    }
                }
                for (; n < data.Length; n++)
                {
                    data[n] = 0f;
                }
                haveRead = true;
                readStartTime = startTime;
                readEndTime = playhead / rate;
                readTicks = nowTicks;
            }
        }

        /// <summary>
        /// The session time of the sample being heard now: the time of the last <see cref="Read"/>
        /// buffer's first sample, plus the time since that read (at most the buffer's length plus
        /// 50 ms), minus <paramref name="outputLatencySeconds"/> (the device's buffering). False
        /// before the first read of a started stream.
        /// </summary>
        public bool TryGetPlaybackTime(long nowTicks, long ticksPerSecond, double outputLatencySeconds, out double time)
        {
            lock (gate)
            {
                if (!haveRead || !started || ticksPerSecond <= 0)
                {
                    time = 0.0;
                    return false;
                }
                double elapsed = Math.Max(0.0, (double)(nowTicks - readTicks) / ticksPerSecond);
                double span = readEndTime - readStartTime;
                double limit = span > 0.0 ? span + 0.05 : 0.0;
                time = readStartTime + Math.Min(elapsed, limit) - outputLatencySeconds;
                return true;
            }
        }

        /// <summary>
        /// Seconds since the last <see cref="Read"/> (infinity before the first): a large value
        /// means the audio thread is not pulling (audio disabled, source stopped).
        /// </summary>
        public double SecondsSinceRead(long nowTicks, long ticksPerSecond)
        {
            lock (gate)
            {
                if (!haveRead || ticksPerSecond <= 0)
                {
                    return double.PositiveInfinity;
                }
                return Math.Max(0.0, (double)(nowTicks - readTicks) / ticksPerSecond);
            }
        }

        /// <summary>
        /// Barge-in on this side: silences everything buffered from session time
        /// <paramref name="time"/> on, and every sample written later for times from it, until
        /// <see cref="EndCut"/> names where the server's silence begins.
        /// </summary>
        public void CutAt(double time)
        {
            lock (gate)
            {
                suppressFrom = time;
                suppressUntil = double.PositiveInfinity;
                SilenceFrom(time);
            }
        }

        /// <summary>
        /// The server's <c>interrupted</c> event: its avatar audio is silent from session time
        /// <paramref name="time"/> on. Audio buffered past it is discarded (the protocol's rule), and a
        /// cut started by <see cref="CutAt"/> ends there, so the next utterance plays normally.
        /// </summary>
        public void EndCut(double time)
        {
            lock (gate)
            {
                SilenceFrom(time);
                if (!double.IsPositiveInfinity(suppressFrom))
                {
                    suppressUntil = time;
                }
            }
        }

        /// <summary>The session time of the playhead (the next sample to be read), or 0 before any block.</summary>
        public double PlayheadTime
        {
            get
            {
                lock (gate)
                {
                    return started && rate > 0 ? playhead / rate : 0.0;
                }
            }
        }

        /// <summary>Forgets all audio and the clock (a new session, or <c>reset</c>).</summary>
        public void Clear()
        {
            lock (gate)
            {
                Array.Clear(ring, 0, ring.Length);
                started = false;
                playing = false;
                writeEnd = 0;
                validStart = 0;
                playhead = 0.0;
                haveRead = false;
                suppressFrom = double.PositiveInfinity;
                suppressUntil = double.PositiveInfinity;
            }
        }

        private bool IsSuppressed(double time)
        {
            return time >= suppressFrom && time < suppressUntil;
        }

        private void SilenceFrom(double time)
        {
            if (!started || rate <= 0)
            {
                return;
            }
            long from = Math.Max(validStart, (long)Math.Ceiling(time * rate));
            for (long i = from; i < writeEnd; i++)
            {
                ring[Slot(i)] = 0f;
            }
        }

        private void SwitchRate(int newRate, long newStart)
        {
            double playheadTime = started && rate > 0 ? playhead / rate : 0.0;
            bool wasStarted = started;
            rate = newRate;
            ring = new float[(int)Math.Ceiling(capacitySeconds * newRate)];
            if (wasStarted)
            {
                long p = (long)Math.Floor(playheadTime * newRate);
                playhead = Math.Min(p, newStart);
                validStart = (long)playhead;
                writeEnd = validStart;
            }
        }

        private int Slot(long index)
        {
            long m = index % ring.Length;
            return (int)(m < 0 ? m + ring.Length : m);
        }
    }
}
