using System.Collections.Generic;
using System.Diagnostics;
using UnityEngine;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Plays the avatar's voice as the server returns it (<c>avatar_audio</c> blocks) and reports
    /// the session time of the sound being heard, so that the drivers show the motion frame that
    /// belongs to exactly that sound (one clock for audio and face).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Two ways to play, chosen by <see cref="Mode"/>:
    /// <list type="bullet">
    /// <item><description><c>FilterStream</c> (all platforms but WebGL): this component's
    /// <c>OnAudioFilterRead</c> generates the sound of its <c>AudioSource</c> (leave the source's clip
    /// empty) from a ring buffer (<see cref="AvatarAudioStream"/>), sample-exact, and the clock is
    /// the buffer's playhead.</description></item>
    /// <item><description><c>ScheduledClips</c> (WebGL, where <c>OnAudioFilterRead</c> and
    /// streamed clips do not exist): each block becomes a short clip scheduled with
    /// <c>AudioSource.PlayScheduled</c> on a small pool of sources, and the clock is derived from
    /// <c>AudioSettings.dspTime</c> (<see cref="BlockScheduler"/>).</description></item>
    /// </list>
    /// </para>
    /// <para>
    /// The reported time is smoothed (<see cref="PlaybackClock"/>), lowered by the audio device's
    /// buffering (optional) and by <see cref="AvOffsetMs"/>, the knob for outputs with extra delay
    /// (Bluetooth headsets, a video pipeline).
    /// </para>
    /// </remarks>
    [AddComponentMenu("Avatar Forcing/Avatar Audio Player")]
    [RequireComponent(typeof(AudioSource))]
    [DisallowMultipleComponent]
    public sealed class AvatarAudioPlayer : MonoBehaviour
    {
        /// <summary>How the audio is played.</summary>
        public enum PlaybackMode
        {
            /// <summary><c>ScheduledClips</c> on WebGL, <c>FilterStream</c> elsewhere.</summary>
            Auto,

            /// <summary>A ring buffer played from <c>OnAudioFilterRead</c> (not on WebGL).</summary>
            FilterStream,

            /// <summary>One clip per block, scheduled on the DSP clock (works on WebGL).</summary>
            ScheduledClips,
        }

        [Tooltip("Auto: scheduled clips on WebGL, the OnAudioFilterRead stream elsewhere.")]
        [SerializeField]
        private PlaybackMode mode = PlaybackMode.Auto;

        [Tooltip("Positive: the face is drawn this much later than the sound is produced (for outputs with extra delay, e.g. Bluetooth). Negative: earlier.")]
        [Range(-500f, 500f)]
        [SerializeField]
        private float avOffsetMs;

        [Tooltip("Subtract the audio device's buffering (AudioSettings.GetDSPBufferSize) from the reported time.")]
        [SerializeField]
        private bool compensateOutputLatency = true;

        [Tooltip("Audio buffered before playback starts or resumes after a network hiccup (seconds). The server sends a block every 160 ms by default.")]
        [Range(0.05f, 1f)]
        [SerializeField]
        private float startBufferSeconds = 0.25f;

        [Tooltip("More buffered audio than this skips ahead to keep the latency low (seconds).")]
        [Range(0.3f, 3f)]
        [SerializeField]
        private float maxBufferSeconds = 1f;

        [Tooltip("On the client's Interrupt(), silence the buffered avatar audio at once instead of letting it play out (the face follows the server a few blocks later).")]
        [SerializeField]
        private bool cutOnInterrupt = true;

        private readonly AvatarAudioStream stream = new AvatarAudioStream();
        private readonly BlockScheduler scheduler = new BlockScheduler();
        private readonly PlaybackClock clock = new PlaybackClock();
        private readonly List<ScheduledBlock> scheduled = new List<ScheduledBlock>();
        private readonly List<AudioSource> pool = new List<AudioSource>();
        private AudioSource source;
        private PlaybackMode activeMode;
        private volatile bool filterActive;
        private int outputRate;
        private double outputLatency;
        private double cutFrom = double.PositiveInfinity;
        private double cutUntil = double.PositiveInfinity;
        private bool warnedNoAudioThread;

        /// <summary>The configured mode.</summary>
        public PlaybackMode Mode
        {
            get { return mode; }
            set { mode = value; }
        }

        /// <summary>The mode in use (never <c>Auto</c> once awake).</summary>
        public PlaybackMode ActiveMode
        {
            get { return activeMode; }
        }

        /// <summary>Audio/face offset in milliseconds (positive: the face is drawn later).</summary>
        public float AvOffsetMs
        {
            get { return avOffsetMs; }
            set { avOffsetMs = value; }
        }

        /// <summary>Whether <see cref="Interrupt"/> silences buffered audio at once.</summary>
        public bool CutOnInterrupt
        {
            get { return cutOnInterrupt; }
            set { cutOnInterrupt = value; }
        }

        /// <summary>Whether a playback time is available (audio has arrived and is playing or buffering).</summary>
        public bool HasClock
        {
            get { return clock.HasValue; }
        }

        /// <summary>The smoothed session time of the sound being heard now (seconds; see <see cref="HasClock"/>).</summary>
        public double PlaybackTime
        {
            get { return clock.Value; }
        }

        /// <summary>Audio buffered ahead of the playhead (FilterStream mode), seconds.</summary>
        public double BufferedSeconds
        {
            get { return stream.BufferedSeconds; }
        }

        /// <summary>Underruns so far (FilterStream mode): the network did not deliver in time.</summary>
        public long Underruns
        {
            get { return stream.Underruns; }
        }

        /// <summary>The AudioSource the voice plays through.</summary>
        public AudioSource Source
        {
            get { return source; }
        }

        /// <summary>The playhead time, smoothed, if a clock is available.</summary>
        public bool TryGetPlaybackTime(out double time)
        {
            time = clock.Value;
            return clock.HasValue;
        }

        /// <summary>Queues one <c>avatar_audio</c> block for playback; <paramref name="fps"/>: the session's fps (25).</summary>
        public void Enqueue(AvatarAudioBlock block, int fps)
        {
            if (block == null || block.Samples == null || block.Rate <= 0 || block.Channels <= 0 || fps <= 0)
            {
                return;
            }
            EnsureAwake();
            if (activeMode == PlaybackMode.FilterStream)
            {
                stream.StartBufferSeconds = startBufferSeconds;
                stream.MaxBufferSeconds = Mathf.Max(maxBufferSeconds, startBufferSeconds + 0.1f);
                stream.Write(block.Frame, fps, block.Rate, block.Channels, block.Samples);
            }
            else
            {
                ScheduleBlock(block);
            }
        }

        /// <summary>
        /// Local barge-in (called by the client's <c>Interrupt()</c>): when
        /// <see cref="CutOnInterrupt"/> is on, silences the avatar audio from the current playhead
        /// until the server's <c>interrupted</c> event says where its silence starts.
        /// </summary>
        public void Interrupt()
        {
            if (!cutOnInterrupt)
            {
                return;
            }
            EnsureAwake();
            if (activeMode == PlaybackMode.FilterStream)
            {
                stream.CutAt(stream.PlayheadTime);
                return;
            }
            double now;
            if (!scheduler.TryGetSessionTime(AudioSettings.dspTime, out now))
            {
                return;
            }
            cutFrom = now;
            cutUntil = double.PositiveInfinity;
            StopScheduledFrom(now);
        }

        /// <summary>
        /// The server's <c>turn_event interrupted</c> at session time <paramref name="time"/>: audio
        /// buffered beyond it is discarded and a local cut ends there.
        /// </summary>
        public void OnServerInterrupted(double time)
        {
            EnsureAwake();
            if (activeMode == PlaybackMode.FilterStream)
            {
                stream.EndCut(time);
                return;
            }
            if (!double.IsPositiveInfinity(cutFrom))
            {
                cutUntil = time;
            }
            StopScheduledFrom(time);
        }

        /// <summary>Forgets all audio and the clock (a new session).</summary>
        public void ResetPlayback()
        {
            stream.Clear();
            scheduler.Reset();
            clock.Reset();
            cutFrom = double.PositiveInfinity;
            cutUntil = double.PositiveInfinity;
            for (int i = scheduled.Count - 1; i >= 0; i--)
            {
                ReleaseBlock(i, true);
            }
        }

        private void Awake()
        {
            EnsureAwake();
        }

        private void EnsureAwake()
        {
            if (source != null)
            {
                return;
            }
            source = GetComponent<AudioSource>();
            activeMode = mode;
            if (activeMode == PlaybackMode.Auto)
            {
                activeMode = Application.platform == RuntimePlatform.WebGLPlayer
                    ? PlaybackMode.ScheduledClips
                    : PlaybackMode.FilterStream;
            }
            outputRate = AudioSettings.outputSampleRate;
            int bufferLength;
            int buffers;
            AudioSettings.GetDSPBufferSize(out bufferLength, out buffers);
            outputLatency = outputRate > 0 ? (double)bufferLength * buffers / outputRate : 0.0;
            if (activeMode == PlaybackMode.FilterStream)
            {
                source.clip = null;
                source.loop = false;
            }
            clock.TimeConstant = 0.2;
            clock.SnapThreshold = 0.15;
            filterActive = activeMode == PlaybackMode.FilterStream;
        }

        private void Update()
        {
            double raw;
            bool have;
            if (activeMode == PlaybackMode.FilterStream)
            {
                long now = Stopwatch.GetTimestamp();
                double latency = compensateOutputLatency ? outputLatency : 0.0;
                have = stream.TryGetPlaybackTime(now, Stopwatch.Frequency, latency, out raw);
                if (stream.HasStarted && stream.SecondsSinceRead(now, Stopwatch.Frequency) > 1.0 && !warnedNoAudioThread)
                {
                    warnedNoAudioThread = true;
                    UnityEngine.Debug.LogWarning(
                        "AvatarAudioPlayer: OnAudioFilterRead is not being called, so the avatar audio is silent and the face does not move. "
                        + "Keep this component and its AudioSource enabled (no clip needed), and audio enabled in the project settings.",
                        this);
                }
            }
            else
            {
                have = scheduler.TryGetSessionTime(AudioSettings.dspTime, out raw);
                ReleaseFinished();
            }
            if (!have)
            {
                return;
            }
            clock.Update(raw - avOffsetMs / 1000.0, Time.unscaledDeltaTime);
        }

        private void OnAudioFilterRead(float[] data, int channels)
        {
            if (!filterActive)
            {
                return;
            }
            stream.Read(data, channels, outputRate, Stopwatch.GetTimestamp());
        }

        private void OnDestroy()
        {
            filterActive = false;
            ResetPlayback();
            for (int i = 0; i < pool.Count; i++)
            {
                if (pool[i] != null && pool[i] != source)
                {
                    Destroy(pool[i].gameObject);
                }
            }
            pool.Clear();
        }

        private void ScheduleBlock(AvatarAudioBlock block)
        {
            float[] mono = AudioConvert.ToMono(block.Samples, block.Channels);
            if (mono.Length == 0)
            {
                return;
            }
            double blockEnd = block.T + (double)mono.Length / block.Rate;
            if (block.T < cutUntil && blockEnd > cutFrom)
            {
                for (int i = 0; i < mono.Length; i++)
                {
                    double t = block.T + (double)i / block.Rate;
                    if (t >= cutFrom && t < cutUntil)
                    {
                        mono[i] = 0f;
                    }
                }
            }
            double nowDsp = AudioSettings.dspTime;
            scheduler.StartDelaySeconds = startBufferSeconds;
            scheduler.MaxLeadSeconds = Mathf.Max(maxBufferSeconds, startBufferSeconds + 0.1f) + 0.5;
            double startDsp = scheduler.Schedule(block.T, nowDsp);
            AudioClip clip = AudioClip.Create("avatar_audio_" + block.Frame, mono.Length, 1, block.Rate, false);
            clip.SetData(mono, 0);
            AudioSource player = FreeSource(nowDsp);
            player.clip = clip;
            player.volume = source.volume;
            player.spatialBlend = source.spatialBlend;
            player.PlayScheduled(startDsp);
            scheduled.Add(new ScheduledBlock
            {
                Player = player,
                Clip = clip,
                StartTime = block.T,
                EndDsp = startDsp + (double)mono.Length / block.Rate,
            });
        }

        private AudioSource FreeSource(double nowDsp)
        {
            foreach (AudioSource candidate in pool)
            {
                bool busy = false;
                foreach (ScheduledBlock b in scheduled)
                {
                    if (b.Player == candidate && b.EndDsp > nowDsp)
                    {
                        busy = true;
                        break;
                    }
                }
                if (!busy)
                {
                    return candidate;
                }
            }
            var child = new GameObject("AvatarAudioBlock" + pool.Count);
            child.hideFlags = HideFlags.HideAndDontSave;
            child.transform.SetParent(transform, false);
            AudioSource created = child.AddComponent<AudioSource>();
            created.playOnAwake = false;
            created.loop = false;
            pool.Add(created);
            return created;
        }

        private void StopScheduledFrom(double time)
        {
            double nowDsp = AudioSettings.dspTime;
            for (int i = scheduled.Count - 1; i >= 0; i--)
            {
                ScheduledBlock b = scheduled[i];
                if (b.StartTime >= time)
                {
                    ReleaseBlock(i, true);
                }
                else if (b.EndDsp > nowDsp && b.Player != null)
                {
                    double endDsp = scheduler.DspTimeOf(time);
                    if (!double.IsNaN(endDsp))
                    {
                        b.Player.SetScheduledEndTime(System.Math.Max(nowDsp, endDsp));
                    }
                }
            }
        }

        private void ReleaseFinished()
        {
            double nowDsp = AudioSettings.dspTime;
            for (int i = scheduled.Count - 1; i >= 0; i--)
            {
                if (scheduled[i].EndDsp + 0.1 < nowDsp)
                {
                    ReleaseBlock(i, false);
                }
            }
        }

        private void ReleaseBlock(int index, bool stop)
        {
            ScheduledBlock b = scheduled[index];
            scheduled.RemoveAt(index);
            if (b.Player != null)
            {
                if (stop)
                {
                    b.Player.Stop();
                }
                if (b.Player.clip == b.Clip)
                {
                    b.Player.clip = null;
                }
            }
            if (b.Clip != null)
            {
                Destroy(b.Clip);
            }
        }

        private struct ScheduledBlock
        {
            public AudioSource Player;
            public AudioClip Clip;
            public double StartTime;
            public double EndDsp;
        }
    }
}
