using System;
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.Events;

namespace AvatarForcing.Unity
{
    /// <summary>A UnityEvent with a turn event and the turn state after it (e.g. "interrupted", "user_speaking").</summary>
    [Serializable]
    public sealed class TurnUnityEvent : UnityEvent<string, string>
    {
    }

    /// <summary>A UnityEvent with a message.</summary>
    [Serializable]
    public sealed class MessageUnityEvent : UnityEvent<string>
    {
    }

    /// <summary>
    /// A talking, listening avatar session with a local <c>avatar-forcing serve</c>: connects,
    /// configures the session from the inspector, sends the avatar's voice and the user's
    /// microphone, forwards turn cues and barge-in, and exposes the returned face motion on the
    /// playback clock for the drivers.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A thin shell around the engine-free <see cref="AvatarForcingSession"/> (protocol, reconnect
    /// with backoff, session resume) on a <see cref="ITransport"/> (NativeWebSocket by default).
    /// Everything runs on the main thread in <c>Update</c>.
    /// </para>
    /// <para>
    /// The avatar's voice: <see cref="Speak(AudioClip)"/> streams a clip (e.g. a TTS result) a
    /// little ahead of real time; <see cref="SendAvatarAudio"/> takes samples from any source (a
    /// streaming TTS); <see cref="AvatarVoiceTap"/> captures an AudioSource's output. All are
    /// converted to one mono stream at <see cref="AvatarStreamRate"/> (the protocol fixes a
    /// stream's format with its first chunk). You hear the voice from the
    /// <see cref="AvatarAudioPlayer"/>, which plays the server's copy in step with the face, not
    /// the original.
    /// </para>
    /// <para>
    /// The face: <see cref="Timeline"/> holds the received motion by frame; <see cref="SampleMotion"/>
    /// gives the frame at <see cref="DisplayTime"/>, the player's playback time (or, without a
    /// player, a clock that follows the newest motion with a fixed delay).
    /// </para>
    /// </remarks>
    [AddComponentMenu("Avatar Forcing/Avatar Forcing Client")]
    [DisallowMultipleComponent]
    [DefaultExecutionOrder(-100)]
    public sealed class AvatarForcingClient : MonoBehaviour
    {
        /// <summary>The server's speech detector (<c>vad</c> config key).</summary>
        public enum VadKind
        {
            /// <summary>Whatever the server uses by default (silero when it has onnxruntime, else energy).</summary>
            ServerDefault,

            /// <summary>silero-vad, a neural detector that ignores noise (needs onnxruntime on the server).</summary>
            Silero,

            /// <summary>A level threshold: cheap, but any sound is speech.</summary>
            Energy,
        }

        /// <summary>
        /// Creates the transport of new clients; by default NativeWebSocket when it is installed.
        /// Replace it (before the client's <c>Awake</c>) to use another websocket library.
        /// </summary>
        public static Func<ITransport> TransportFactory = DefaultTransport;

        [Header("Server")]
        [Tooltip("The server's websocket URL (avatar-forcing serve listens on ws://127.0.0.1:8765).")]
        [SerializeField]
        private string url = "ws://127.0.0.1:8765";

        [Tooltip("The server's token (serve --token), or empty. WebGL sends it as ?token= in the URL.")]
        [SerializeField]
        private string token = string.Empty;

        [Tooltip("Connect when the component starts.")]
        [SerializeField]
        private bool autoConnect = true;

        [Tooltip("Reconnect with backoff after a lost connection and resume the session.")]
        [SerializeField]
        private bool autoReconnect = true;

        [Tooltip("Longest wait between reconnect attempts, seconds.")]
        [Range(1f, 60f)]
        [SerializeField]
        private float reconnectMaxDelay = 10f;

        [Tooltip("End the session on the server (bye) when this component is destroyed; off: the server keeps it for its resume grace period.")]
        [SerializeField]
        private bool byeOnDestroy = true;

        [Header("Session config (naming is always ARKit)")]
        [Tooltip("Use a fixed noise seed for reproducible motion.")]
        [SerializeField]
        private bool useSeed;

        [SerializeField]
        private int seed;

        [Tooltip("Frames per generated block (latency vs. cost); 0: the model's default (4 = 160 ms).")]
        [Range(0f, 16f)]
        [SerializeField]
        private int blockFrames;

        [Tooltip("0..2: how strongly the face moves (1: as generated).")]
        [Range(0f, 2f)]
        [SerializeField]
        private float motionIntensity = 1f;

        [SerializeField]
        private bool blinkEnabled = true;

        [Tooltip("Blink frequency multiplier, 0..4.")]
        [Range(0f, 4f)]
        [SerializeField]
        private float blinkRate = 1f;

        [Tooltip("The server detects speech in both audio streams and sends turn events.")]
        [SerializeField]
        private bool serverVad = true;

        [Tooltip("The speech detector. Asking for silero on a server without onnxruntime makes it refuse the whole config.")]
        [SerializeField]
        private VadKind vad = VadKind.ServerDefault;

        [Tooltip("Also ask for the server's statistics messages (StatsReceived).")]
        [SerializeField]
        private bool requestStats;

        [Header("Avatar voice")]
        [Tooltip("Optional: Speak() without arguments streams this source's clip.")]
        [SerializeField]
        private AudioSource voiceSource;

        [Tooltip("Rate of the avatar audio stream sent to the server, Hz (every voice source is converted to it).")]
        [Range(8000f, 48000f)]
        [SerializeField]
        private int avatarStreamRate = 24000;

        [Tooltip("How far ahead of real time Speak() sends, seconds.")]
        [Range(0.1f, 5f)]
        [SerializeField]
        private float speakLeadSeconds = 1f;

        [Tooltip("Send avatar_start when an utterance starts and avatar_stop when it has been played (needed after a barge-in: the server mutes the avatar until avatar_start).")]
        [SerializeField]
        private bool sendAvatarTurnCues = true;

        [Header("User microphone")]
        [Tooltip("Send the user's microphone (listening behaviour, server-side turn detection). Not available on WebGL.")]
        [SerializeField]
        private bool captureMicrophone;

        [Tooltip("Microphone device name; empty: the default device.")]
        [SerializeField]
        private string microphoneDevice = string.Empty;

        [Tooltip("Rate of the user audio stream sent to the server, Hz.")]
        [Range(8000f, 48000f)]
        [SerializeField]
        private int userStreamRate = 16000;

        [Tooltip("Interrupt the avatar when the server hears the user start speaking while the avatar speaks. Use headphones or echo cancellation, or the avatar's own voice in the microphone interrupts it.")]
        [SerializeField]
        private bool bargeInOnUserSpeech;

        [Header("Playback")]
        [Tooltip("Plays the avatar audio and provides the clock (defaults to one on this object).")]
        [SerializeField]
        private AvatarAudioPlayer player;

        [Tooltip("Without a player: how far behind the newest received motion the face is drawn, seconds.")]
        [Range(0.05f, 1f)]
        [SerializeField]
        private float motionOnlyDelay = 0.3f;

        [Header("Events")]
        [SerializeField]
        private UnityEvent onConnected = new UnityEvent();

        [SerializeField]
        private UnityEvent onDisconnected = new UnityEvent();

        [SerializeField]
        private TurnUnityEvent onTurnEvent = new TurnUnityEvent();

        [SerializeField]
        private MessageUnityEvent onServerError = new MessageUnityEvent();

        private readonly MotionTimeline timeline = new MotionTimeline();
        private readonly PlaybackClock motionOnlyClock = new PlaybackClock();
        private readonly Queue<PacedSender> utterances = new Queue<PacedSender>();
        private AvatarForcingSession session;
        private PacedSender speaking;
        private double speakingStartedAt;
        private bool avatarCueOpen;
        private StreamResampler avatarResampler;
        private StreamResampler userResampler;
        private readonly List<AudioClip> pendingClips = new List<AudioClip>();
#if !UNITY_WEBGL || UNITY_EDITOR
        private AudioClip micClip;
        private string micDevice;
        private RingCursor micCursor;
#endif
        private bool wasReady;
        private int sampledFrame = -1;
        private bool sampledHas;
        private double displayTime;
        private readonly float[] sampled = new float[MotionTimeline.ChannelCount];

        /// <summary>A motion block arrived (after it was added to <see cref="Timeline"/>).</summary>
        public event Action<MotionBlock> MotionReceived;

        /// <summary>A turn event arrived.</summary>
        public event Action<TurnEventInfo> TurnEventReceived;

        /// <summary>A <c>stats</c> message arrived (when <c>requestStats</c> is on): the parsed map.</summary>
        public event Action<Dictionary<string, object>> StatsReceived;

        /// <summary>The session (null before <c>Awake</c>).</summary>
        public AvatarForcingSession Session
        {
            get { return session; }
        }

        /// <summary>The session state (<c>Disconnected</c> before <c>Awake</c>).</summary>
        public SessionState State
        {
            get { return session == null ? SessionState.Disconnected : session.State; }
        }

        /// <summary>Whether the session is connected and running.</summary>
        public bool IsReady
        {
            get { return State == SessionState.Ready; }
        }

        /// <summary>The server's session id, or null.</summary>
        public string SessionId
        {
            get { return session == null ? null : session.SessionId; }
        }

        /// <summary>The received motion, by frame.</summary>
        public MotionTimeline Timeline
        {
            get { return timeline; }
        }

        /// <summary>The player that plays the avatar audio and gives the clock (may be null).</summary>
        public AvatarAudioPlayer Player
        {
            get { return player; }
            set { player = value; }
        }

        /// <summary>The server URL (applies at the next connection).</summary>
        public string Url
        {
            get { return url; }
            set
            {
                url = value;
                if (session != null)
                {
                    session.Options.Url = value;
                }
            }
        }

        /// <summary>The server token (applies at the next connection).</summary>
        public string Token
        {
            get { return token; }
            set
            {
                token = value;
                if (session != null)
                {
                    session.Options.Token = string.IsNullOrEmpty(value) ? null : value;
                }
            }
        }

        /// <summary>
        /// The avatar stream's rate, Hz. The server fixes a stream's format with its first chunk: change
        /// it only before connecting, or right after <see cref="ResetSession"/>.
        /// </summary>
        public int AvatarStreamRate
        {
            get { return avatarStreamRate; }
            set { avatarStreamRate = Clamp(value); }
        }

        /// <summary>The user stream's rate, Hz (like <see cref="AvatarStreamRate"/>: change it only before connecting or right after <see cref="ResetSession"/>).</summary>
        public int UserStreamRate
        {
            get { return userStreamRate; }
            set { userStreamRate = Clamp(value); }
        }

        /// <summary>The microphone device name (empty: the default device); applies at the next <see cref="StartMicrophone"/>.</summary>
        public string MicrophoneDevice
        {
            get { return microphoneDevice; }
            set { microphoneDevice = value ?? string.Empty; }
        }

        /// <summary>Whether an utterance passed to <see cref="Speak(AudioClip)"/> is still being sent or played.</summary>
        public bool IsSpeaking
        {
            get { return speaking != null || utterances.Count > 0 || pendingClips.Count > 0; }
        }

        /// <summary>The session time at which the face is drawn this frame (see <see cref="SampleMotion"/>).</summary>
        public double DisplayTime
        {
            get
            {
                EnsureSampled();
                return displayTime;
            }
        }

        /// <summary>
        /// The motion to show this frame (58 values, <see cref="ArkitNames.All"/> order) into
        /// <paramref name="destination"/>: the <see cref="Timeline"/> at <see cref="DisplayTime"/>.
        /// False when there is no motion for that time (the drivers relax to rest). Computed once
        /// per frame, so every driver shows the same instant.
        /// </summary>
        public bool SampleMotion(float[] destination)
        {
            EnsureSampled();
            if (sampledHas && destination != null)
            {
                Array.Copy(sampled, destination, Math.Min(destination.Length, sampled.Length));
            }
            return sampledHas;
        }

        /// <summary>Connects (or resumes after <see cref="Disconnect"/>) with the inspector's settings.</summary>
        public void Connect()
        {
            EnsureSession();
            if (session == null)
            {
                return;
            }
            session.Options.Url = url;
            session.Options.Token = string.IsNullOrEmpty(token) ? null : token;
            session.Options.AutoReconnect = autoReconnect;
            session.Connect();
        }

        /// <summary>Closes the connection; the server keeps the session for its grace period and <see cref="Connect"/> resumes it.</summary>
        public void Disconnect()
        {
            if (session != null)
            {
                session.Disconnect();
            }
        }

        /// <summary>Ends the session on the server (no resume).</summary>
        public void Bye()
        {
            StopMicrophone();
            ClearSpeech();
            if (session != null)
            {
                session.Bye();
            }
        }

        /// <summary>
        /// Sends the inspector's session config (after changing it at run time). The config of the
        /// inspector at <c>Awake</c> is sent automatically after each new session's <c>welcome</c>.
        /// </summary>
        public void ApplyConfig()
        {
            if (session != null)
            {
                session.SendConfig(BuildConfig());
            }
        }

        /// <summary>
        /// Speaks <paramref name="clip"/>: its samples are streamed to the server as the avatar's
        /// voice, a little ahead of real time (queued after an utterance still being sent). The clip
        /// must be readable: Load Type "Decompress On Load" for imported clips (else it reads as
        /// silence). A clip whose data is not loaded yet (e.g. on WebGL, where it loads asynchronously)
        /// is loaded first; later clips wait for it, so utterances keep their order.
        /// </summary>
        public void Speak(AudioClip clip)
        {
            if (clip == null)
            {
                return;
            }
            if (pendingClips.Count > 0 || clip.loadState != AudioDataLoadState.Loaded)
            {
                if (clip.loadState != AudioDataLoadState.Loaded)
                {
                    clip.LoadAudioData();
                }
                pendingClips.Add(clip);
                return;
            }
            EnqueueClip(clip);
        }

        private void EnqueueClip(AudioClip clip)
        {
            var data = new float[clip.samples * clip.channels];
            if (data.Length == 0 || !clip.GetData(data, 0))
            {
                UnityEngine.Debug.LogWarning("AvatarForcingClient: cannot read the samples of clip '" + clip.name + "'.", this);
                return;
            }
            Speak(data, clip.frequency, clip.channels);
        }

        /// <summary>Speaks the clip of the voice source set in the inspector.</summary>
        public void Speak()
        {
            if (voiceSource != null)
            {
                Speak(voiceSource.clip);
            }
        }

        /// <summary>Speaks raw samples (interleaved, -1..1) at <paramref name="sampleRate"/> Hz: like <see cref="Speak(AudioClip)"/>.</summary>
        public void Speak(float[] interleaved, int sampleRate, int channels)
        {
            if (interleaved == null || sampleRate <= 0 || channels <= 0)
            {
                throw new ArgumentException("samples, a rate and a channel count are required");
            }
            float[] mono = AudioConvert.ToMono(interleaved, channels);
            float[] converted = new StreamResampler(sampleRate, avatarStreamRate).Process(mono);
            utterances.Enqueue(new PacedSender(converted, avatarStreamRate, 0.1, speakLeadSeconds));
        }

        /// <summary>Stops sending the utterances of <see cref="Speak(AudioClip)"/> (what was sent still plays; see <see cref="Interrupt"/>).</summary>
        public void StopSpeaking()
        {
            ClearSpeech();
            CloseAvatarCue();
        }

        /// <summary>
        /// Sends avatar voice samples from any source (a streaming TTS, a custom capture): mixed to
        /// mono and converted to <see cref="AvatarStreamRate"/> continuously, so call it with
        /// consecutive chunks of one stream at one rate.
        /// </summary>
        public void SendAvatarAudio(float[] interleaved, int sampleRate, int channels)
        {
            if (session == null || interleaved == null || interleaved.Length == 0)
            {
                return;
            }
            if (avatarResampler == null || avatarResampler.FromRate != sampleRate || avatarResampler.ToRate != avatarStreamRate)
            {
                avatarResampler = new StreamResampler(sampleRate, avatarStreamRate);
            }
            float[] converted = avatarResampler.Process(AudioConvert.ToMono(interleaved, channels));
            if (converted.Length > 0)
            {
                session.SendAvatarAudio(converted, avatarStreamRate, 1);
            }
        }

        /// <summary>Sends user voice samples from any source (e.g. a WebGL microphone bridge): like <see cref="SendAvatarAudio"/>, at <see cref="UserStreamRate"/>.</summary>
        public void SendUserAudio(float[] interleaved, int sampleRate, int channels)
        {
            if (session == null || interleaved == null || interleaved.Length == 0)
            {
                return;
            }
            if (userResampler == null || userResampler.FromRate != sampleRate || userResampler.ToRate != userStreamRate)
            {
                userResampler = new StreamResampler(sampleRate, userStreamRate);
            }
            float[] converted = userResampler.Process(AudioConvert.ToMono(interleaved, channels));
            if (converted.Length > 0)
            {
                session.SendUserAudio(converted, userStreamRate, 1);
            }
        }

        /// <summary>Turn cue: the user started speaking (e.g. push-to-talk pressed).</summary>
        public void UserStartedSpeaking()
        {
            SendTurn("user_start");
        }

        /// <summary>Turn cue: the user stopped speaking.</summary>
        public void UserStoppedSpeaking()
        {
            SendTurn("user_stop");
        }

        /// <summary>Turn cue: the avatar starts an utterance (also un-mutes the avatar stream after a barge-in).</summary>
        public void AvatarStartedSpeaking()
        {
            SendTurn("avatar_start");
            avatarCueOpen = true;
        }

        /// <summary>Turn cue: the avatar finished its utterance (queued audio still plays out).</summary>
        public void AvatarStoppedSpeaking()
        {
            SendTurn("avatar_stop");
            avatarCueOpen = false;
        }

        /// <summary>
        /// Barge-in: the user talks over the avatar. Stops sending the current utterances, tells the
        /// server (which drops the unplayed avatar audio, mutes the avatar stream until the next
        /// <c>avatar_start</c> and closes the mouth within a block) and, with the player's
        /// <c>CutOnInterrupt</c>, silences the buffered audio at once.
        /// </summary>
        public void Interrupt()
        {
            ClearSpeech();
            avatarCueOpen = false;
            if (session != null)
            {
                session.Interrupt();
            }
            if (player != null)
            {
                player.Interrupt();
            }
        }

        /// <summary>Freezes the session clock on the server.</summary>
        public void PauseSession()
        {
            if (session != null)
            {
                session.Pause();
            }
        }

        /// <summary>Continues the session clock.</summary>
        public void ResumeSession()
        {
            if (session != null)
            {
                session.Resume();
            }
        }

        /// <summary>Resets the session on the server (queues, audio formats, turn state, generator; the face returns to rest).</summary>
        public void ResetSession()
        {
            ClearSpeech();
            avatarResampler = null;
            userResampler = null;
            if (session != null)
            {
                session.Reset();
            }
        }

        /// <summary>Starts sending the microphone (<c>captureMicrophone</c> does it on start).</summary>
        public void StartMicrophone()
        {
#if UNITY_WEBGL && !UNITY_EDITOR
            UnityEngine.Debug.LogWarning("AvatarForcingClient: Unity's Microphone class is not available on WebGL; send the user's audio with SendUserAudio from a JavaScript bridge.", this);
#else
            if (micClip != null)
            {
                return;
            }
            if (Microphone.devices.Length == 0)
            {
                UnityEngine.Debug.LogWarning("AvatarForcingClient: no microphone found.", this);
                return;
            }
            micDevice = string.IsNullOrEmpty(microphoneDevice) ? null : microphoneDevice;
            int minRate;
            int maxRate;
            Microphone.GetDeviceCaps(micDevice, out minRate, out maxRate);
            int rate = userStreamRate;
            if (maxRate > 0)
            {
                rate = Math.Max(minRate, Math.Min(maxRate, rate));
            }
            micClip = Microphone.Start(micDevice, true, 1, rate);
            if (micClip == null)
            {
                UnityEngine.Debug.LogWarning("AvatarForcingClient: the microphone did not start.", this);
                return;
            }
            micCursor = new RingCursor(micClip.samples);
#endif
        }

        /// <summary>Stops sending the microphone.</summary>
        public void StopMicrophone()
        {
#if !UNITY_WEBGL || UNITY_EDITOR
            if (micClip != null)
            {
                Microphone.End(micDevice);
                micClip = null;
                micCursor = null;
            }
#endif
        }

        private static ITransport DefaultTransport()
        {
#if AVATAR_FORCING_NATIVEWEBSOCKET
            return new NativeWebSocketTransport();
#else
            return null;
#endif
        }

        private static int Clamp(int rate)
        {
            return Math.Max(Protocol.MinRate, Math.Min(Protocol.MaxRate, rate));
        }

        private void Awake()
        {
            if (player == null)
            {
                player = GetComponent<AvatarAudioPlayer>();
            }
            motionOnlyClock.TimeConstant = 0.5;
            motionOnlyClock.SnapThreshold = 0.6;
            EnsureSession();
        }

        private void Start()
        {
            if (autoConnect)
            {
                Connect();
            }
            if (captureMicrophone)
            {
                StartMicrophone();
            }
        }

        private void Update()
        {
            if (session == null)
            {
                return;
            }
            session.Update(Time.realtimeSinceStartupAsDouble);
            PumpSpeech();
            PumpMicrophone();
        }

        private void OnDestroy()
        {
            StopMicrophone();
            if (session == null)
            {
                return;
            }
            if (byeOnDestroy)
            {
                session.Dispose();
            }
            else
            {
                session.Disconnect();
            }
            session = null;
        }

        private void EnsureSession()
        {
            if (session != null)
            {
                return;
            }
            ITransport transport = TransportFactory != null ? TransportFactory() : null;
            if (transport == null)
            {
                UnityEngine.Debug.LogError(
                    "AvatarForcingClient: no websocket transport. Install NativeWebSocket (Package Manager > Add package from git URL: "
                    + "https://github.com/endel/NativeWebSocket.git#upm) or set AvatarForcingClient.TransportFactory.",
                    this);
                return;
            }
            var options = new SessionOptions
            {
                Url = url,
                Token = string.IsNullOrEmpty(token) ? null : token,
                AutoReconnect = autoReconnect,
                ReconnectMaxDelay = reconnectMaxDelay,
                Config = BuildConfig(),
            };
            session = new AvatarForcingSession(transport, options);
            session.Welcomed += OnWelcomed;
            session.StateChanged += OnStateChanged;
            session.MotionReceived += OnMotion;
            session.AvatarAudioReceived += OnAvatarAudio;
            session.TurnEventReceived += OnTurnEvent;
            session.ErrorReceived += OnServerError;
            session.MessageReceived += OnOtherMessage;
            session.Warning += OnWarning;
        }

        private Dictionary<string, object> BuildConfig()
        {
            var outputs = new List<object> { "motion", "audio", "events" };
            if (requestStats)
            {
                outputs.Add("stats");
            }
            var config = new Dictionary<string, object>
            {
                { "outputs", outputs },
                { "naming", "arkit" },
                { "arkit_spelling", "pascal" },
                { "motion_intensity", motionIntensity },
                { "blink", new Dictionary<string, object> { { "enabled", blinkEnabled }, { "rate", blinkRate } } },
                { "server_vad", serverVad },
                { "seed", useSeed ? (object)seed : null },
                { "block_frames", blockFrames > 0 ? (object)blockFrames : null },
            };
            if (vad != VadKind.ServerDefault)
            {
                config["vad"] = vad == VadKind.Energy ? "energy" : "silero";
            }
            return config;
        }

        private void OnWelcomed(WelcomeInfo welcome)
        {
            if (welcome.Fps > 0)
            {
                timeline.Fps = welcome.Fps;
            }
            if (!welcome.Resumed)
            {
                timeline.Clear();
                motionOnlyClock.Reset();
                avatarResampler = null;
                userResampler = null;
                if (player != null)
                {
                    player.ResetPlayback();
                }
            }
        }

        private void OnStateChanged(SessionState state)
        {
            bool ready = state == SessionState.Ready;
            if (ready && !wasReady)
            {
                onConnected.Invoke();
            }
            else if (!ready && wasReady)
            {
                onDisconnected.Invoke();
            }
            wasReady = ready;
        }

        private void OnMotion(MotionBlock block)
        {
            timeline.Add(block);
            var handler = MotionReceived;
            if (handler != null)
            {
                handler(block);
            }
        }

        private void OnAvatarAudio(AvatarAudioBlock block)
        {
            if (player != null)
            {
                player.Enqueue(block, timeline.Fps);
            }
        }

        private void OnTurnEvent(TurnEventInfo e)
        {
            if (e.Event == "interrupted" && player != null)
            {
                player.OnServerInterrupted(e.T);
            }
            if (bargeInOnUserSpeech && e.Event == "user_started" && e.State == "both")
            {
                Interrupt();
            }
            onTurnEvent.Invoke(e.Event, e.State);
            var handler = TurnEventReceived;
            if (handler != null)
            {
                handler(e);
            }
        }

        private void OnServerError(ServerError error)
        {
            UnityEngine.Debug.LogWarning("AvatarForcingClient: server error " + error, this);
            onServerError.Invoke(error.ToString());
        }

        private void OnOtherMessage(string type, Dictionary<string, object> message)
        {
            if (type == "stats")
            {
                var handler = StatsReceived;
                if (handler != null)
                {
                    handler(message);
                }
            }
        }

        private void OnWarning(string message)
        {
            UnityEngine.Debug.LogWarning("AvatarForcingClient: " + message, this);
        }

        private void PumpSpeech()
        {
            while (pendingClips.Count > 0)
            {
                AudioClip clip = pendingClips[0];
                AudioDataLoadState state = clip == null ? AudioDataLoadState.Failed : clip.loadState;
                if (state == AudioDataLoadState.Loaded)
                {
                    pendingClips.RemoveAt(0);
                    EnqueueClip(clip);
                }
                else if (state == AudioDataLoadState.Failed)
                {
                    pendingClips.RemoveAt(0);
                    UnityEngine.Debug.LogWarning("AvatarForcingClient: a clip passed to Speak failed to load.", this);
                }
                else
                {
                    break;
                }
            }
            double now = Time.realtimeSinceStartupAsDouble;
            if (speaking == null && utterances.Count > 0)
            {
                speaking = utterances.Dequeue();
                speakingStartedAt = now;
                if (sendAvatarTurnCues && !avatarCueOpen)
                {
                    AvatarStartedSpeaking();
                }
            }
            if (speaking == null)
            {
                return;
            }
            double elapsed = now - speakingStartedAt;
            float[] chunk;
            while ((chunk = speaking.NextChunk(elapsed)) != null)
            {
                session.SendAvatarAudio(chunk, speaking.SampleRate, 1);
            }
            if (speaking.IsDone && elapsed >= speaking.DurationSeconds)
            {
                speaking = null;
                if (utterances.Count == 0)
                {
                    CloseAvatarCue();
                }
            }
        }

        private void CloseAvatarCue()
        {
            if (sendAvatarTurnCues && avatarCueOpen)
            {
                AvatarStoppedSpeaking();
            }
        }

        private void ClearSpeech()
        {
            utterances.Clear();
            speaking = null;
            pendingClips.Clear();
        }

        private void PumpMicrophone()
        {
#if !UNITY_WEBGL || UNITY_EDITOR
            if (micClip == null || micCursor == null)
            {
                return;
            }
            int start;
            int count = micCursor.Advance(Microphone.GetPosition(micDevice), out start);
            if (count <= 0)
            {
                return;
            }
            int channels = Math.Max(1, micClip.channels);
            var data = new float[count * channels];
            if (micClip.GetData(data, start))
            {
                SendUserAudio(data, micClip.frequency, channels);
            }
#endif
        }

        private void SendTurn(string turnEvent)
        {
            if (session != null)
            {
                session.SendTurn(turnEvent);
            }
        }

        private void EnsureSampled()
        {
            int frameNumber = Time.frameCount;
            if (sampledFrame == frameNumber)
            {
                return;
            }
            sampledFrame = frameNumber;
            double time;
            if (player != null && player.TryGetPlaybackTime(out time))
            {
                displayTime = time;
            }
            else if (!timeline.IsEmpty)
            {
                double reference = timeline.NewestTime + 1.0 / timeline.Fps - motionOnlyDelay;
                displayTime = motionOnlyClock.Update(reference, Time.unscaledDeltaTime);
            }
            else
            {
                sampledHas = false;
                return;
            }
            sampledHas = timeline.Sample(displayTime, sampled);
        }
    }
}
