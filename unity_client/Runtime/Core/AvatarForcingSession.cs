using System;
using System.Collections.Generic;
using System.Text;

namespace AvatarForcing
{
    /// <summary>
    /// One avatar session with an <c>avatar-forcing serve</c> server: the connection and session
    /// state machine of the avatar protocol (JSON text frames), with automatic reconnect and
    /// resume.
    /// </summary>
    /// <remarks>
    /// <para>Sans-I/O: all I/O goes through the <see cref="ITransport"/>, and time is passed in.
    /// Call <see cref="Update"/> regularly (every frame) with a monotonic clock in seconds: it
    /// pumps the transport (all events are raised from inside it), runs the connect/handshake
    /// timeouts and the reconnect backoff. Not thread-safe: use one thread (Unity's main thread).
    /// Exceptions thrown by event handlers propagate to the caller of <see cref="Update"/>; the
    /// session's own state is updated before its events are raised.</para>
    /// <para>Lifecycle: <see cref="Connect"/> opens the connection and sends <c>hello</c>; on
    /// <c>welcome</c> the session is <see cref="SessionState.Ready"/>, sends
    /// <see cref="SessionOptions.Config"/> (merged with the <see cref="SendConfig"/> changes made
    /// so far) and then what was queued. When the connection is lost without <see cref="Bye"/>
    /// the session goes <see cref="SessionState.Reconnecting"/>: it reconnects after a backoff
    /// delay (initial, doubling, max, ±20 % jitter) and says <c>hello</c> with
    /// <c>resume = SessionId</c>; the server continues the session where it stopped (same clock,
    /// frame numbers, config and sequence counters; its clock was frozen meanwhile). If the
    /// server no longer has the session (<c>unknown_session</c>: its grace period expired), a
    /// new session starts at once: new <see cref="SessionId"/>, sequence counters from 0, the
    /// config sent again; <see cref="Welcomed"/> then has <c>Resumed == false</c>.
    /// Other fatal errors (<c>version_mismatch</c>, <c>too_many_sessions</c>) end in
    /// <see cref="SessionState.Closed"/>. A connection closed because another connection resumed
    /// the session (close code 4001) is not reconnected: <see cref="SessionState.Disconnected"/>.</para>
    /// <para>Sending: every Send method may be called in any state but
    /// <see cref="SessionState.Closed"/> (where sends are ignored). While not
    /// <see cref="SessionState.Ready"/>, messages are queued in order and sent after the
    /// (re)connection: audio up to <see cref="SessionOptions.MaxQueuedAudioSeconds"/> per stream
    /// (the oldest chunks dropped beyond, <see cref="DroppedAudioChunks"/>), other messages up
    /// to <see cref="SessionOptions.MaxQueuedMessages"/>. Sequence numbers are given when a
    /// message actually goes out, per stream, continuing across resumes, so dropped queued
    /// chunks leave no gap. Message ids increase over the session's whole life.</para>
    /// </remarks>
    public sealed class AvatarForcingSession : IDisposable
    {
        private enum Phase
        {
            Idle,
            Connecting,
            Handshaking,
            Ready,
            Waiting,
            Closed,
        }

        private enum Kind
        {
            Audio,
            Config,
            Other,
        }

        private sealed class Pending
        {
            public Kind Kind;
            public string Type;
            public Dictionary<string, object> Body;
            public string SeqKey; // "avatar", "user", "user_motion", or null: no seq
            public double Seconds; // audio duration
        }

        private const string UserMotionSeqKey = "user_motion";

        private readonly ITransport _transport;
        private readonly SessionOptions _options;
        private readonly Backoff _backoff;
        private readonly LinkedList<Pending> _pending = new LinkedList<Pending>();
        private readonly Dictionary<string, long> _seq = new Dictionary<string, long>();
        private readonly Dictionary<string, double> _queuedSeconds = new Dictionary<string, double>();
        private readonly Dictionary<string, object> _desiredConfig = new Dictionary<string, object>();

        private Phase _phase = Phase.Idle;
        private SessionState _raisedState = SessionState.Disconnected;
        private bool _reconnecting;
        private bool _fatal;
        private bool _disposed;
        private bool _inUpdate; // _now is current
        private double _now;
        private double _phaseSince = double.NaN; // when the phase began; NaN: at the next Update
        private double _retryDelay;
        private int _attempts;
        private int _nextId;
        private int _queuedOther;
        private string _resumeId; // what the next hello asks to resume
        private string _helloResume; // what the current connection's hello asked to resume
        private bool _hadWelcome; // this session (since Connect from scratch) was ready before
        private bool _closeAfterBye; // bye sent; close the transport when the server has not
        private bool _warnedAudioDrop;
        private bool _warnedMessageDrop;

        /// <summary>Creates a session on <paramref name="transport"/>; nothing happens until
        /// <see cref="Connect"/>.</summary>
        public AvatarForcingSession(ITransport transport, SessionOptions options)
        {
            if (transport == null) throw new ArgumentNullException("transport");
            _transport = transport;
            _options = options ?? new SessionOptions();
            double initial = _options.ReconnectInitialDelay > 0 ? _options.ReconnectInitialDelay : 0.5;
            double max = Math.Max(initial, _options.ReconnectMaxDelay);
            _backoff = new Backoff(initial, max, 0.2, _options.JitterSeed);
            if (_options.Config != null)
            {
                foreach (var kv in _options.Config) _desiredConfig[kv.Key] = kv.Value;
            }
            _transport.Opened += OnOpened;
            _transport.TextReceived += OnText;
            _transport.Closed += OnClosed;
            _transport.Error += OnError;
        }

        // ------------------------------------------------------------------------------------
        // Events
        // ------------------------------------------------------------------------------------

        /// <summary>A <c>welcome</c> arrived: a new session, a resumed one
        /// (<see cref="WelcomeInfo.Resumed"/>) or a new one after a refused resume.</summary>
        public event Action<WelcomeInfo> Welcomed;

        /// <summary>A block of face motion arrived.</summary>
        public event Action<MotionBlock> MotionReceived;

        /// <summary>A block of the avatar's audio, as placed on the session clock, arrived.</summary>
        public event Action<AvatarAudioBlock> AvatarAudioReceived;

        /// <summary>The turn state changed.</summary>
        public event Action<TurnEventInfo> TurnEventReceived;

        /// <summary>The server sent an <c>error</c> (refused a message, or a fatal error).</summary>
        public event Action<ServerError> ErrorReceived;

        /// <summary><see cref="State"/> changed; the new state.</summary>
        public event Action<SessionState> StateChanged;

        /// <summary>The server accepted a <c>config</c>, <c>control</c> or <c>turn</c>: the
        /// acknowledged message type and, after <c>config</c>, the effective config (else null).</summary>
        public event Action<string, Dictionary<string, object>> AckReceived;

        /// <summary>Any other server message (<c>stats</c>, <c>rendered_frame</c>, types added
        /// to the protocol later): its type and the whole parsed map.</summary>
        public event Action<string, Dictionary<string, object>> MessageReceived;

        /// <summary>A client-side problem worth logging: a transport error, a server message
        /// that could not be read, queued messages dropped, a reconnect given up.</summary>
        public event Action<string> Warning;

        // ------------------------------------------------------------------------------------
        // Properties
        // ------------------------------------------------------------------------------------

        /// <summary>The session's state.</summary>
        public SessionState State
        {
            get { return ComputeState(); }
        }

        /// <summary>The options (read when needed).</summary>
        public SessionOptions Options
        {
            get { return _options; }
        }

        /// <summary>The transport.</summary>
        public ITransport Transport
        {
            get { return _transport; }
        }

        /// <summary>The server's session id (kept to resume), or null before the first welcome.</summary>
        public string SessionId { get; private set; }

        /// <summary>The latest welcome, or null before the first.</summary>
        public WelcomeInfo Welcome { get; private set; }

        /// <summary>The effective session config: from the latest welcome, updated by each
        /// <c>config</c> ack; null before the first welcome.</summary>
        public Dictionary<string, object> EffectiveConfig { get; private set; }

        /// <summary>Audio chunks dropped from the queue while not ready (queue over
        /// <see cref="SessionOptions.MaxQueuedAudioSeconds"/>).</summary>
        public int DroppedAudioChunks { get; private set; }

        /// <summary>Other queued messages dropped while not ready (queue over
        /// <see cref="SessionOptions.MaxQueuedMessages"/>).</summary>
        public int DroppedMessages { get; private set; }

        /// <summary>Times the session got back to <see cref="SessionState.Ready"/> after losing
        /// its connection (resumed or, after an expired grace period, renewed).</summary>
        public int Reconnects { get; private set; }

        /// <summary>Connection attempts since the connection was lost (0 while ready).</summary>
        public int ReconnectAttempts
        {
            get { return _attempts; }
        }

        /// <summary>Messages waiting to be sent.</summary>
        public int QueuedMessages
        {
            get { return _pending.Count; }
        }

        /// <summary>The <c>seq</c> the next avatar audio chunk will carry.</summary>
        public long NextAvatarSeq
        {
            get { return NextSeq(Protocol.AvatarStream); }
        }

        /// <summary>The <c>seq</c> the next user audio chunk will carry.</summary>
        public long NextUserSeq
        {
            get { return NextSeq(Protocol.UserStream); }
        }

        /// <summary>The <c>seq</c> the next <c>user_motion</c> message will carry.</summary>
        public long NextUserMotionSeq
        {
            get { return NextSeq(UserMotionSeqKey); }
        }

        /// <summary>The last message id used.</summary>
        public int LastMessageId
        {
            get { return _nextId; }
        }

        /// <summary>The number of the last motion frame received, or -1.</summary>
        public int LastMotionFrame { get; private set; } = -1;

        // ------------------------------------------------------------------------------------
        // Lifecycle
        // ------------------------------------------------------------------------------------

        /// <summary>Starts connecting (returns at once; see <see cref="Update"/>). When
        /// <see cref="SessionState.Disconnected"/> with a session id (or
        /// <see cref="SessionOptions.ResumeSessionId"/>), the session is resumed; after
        /// <see cref="SessionState.Closed"/> a new session starts (configured with
        /// <see cref="SessionOptions.Config"/> and the <see cref="SendConfig"/> changes made so
        /// far). Does nothing while connecting, connected or reconnecting.</summary>
        public void Connect()
        {
            if (_disposed) throw new ObjectDisposedException("AvatarForcingSession");
            if (_phase != Phase.Idle && _phase != Phase.Closed) return;
            if (_phase == Phase.Closed)
            {
                if (_closeAfterBye)
                {
                    _closeAfterBye = false;
                    SafeClose();
                }
                SessionId = null;
                _resumeId = null;
                _fatal = false;
                _hadWelcome = false;
                ClearQueue();
                _seq.Clear();
            }
            else
            {
                _resumeId = SessionId ?? _options.ResumeSessionId;
            }
            _reconnecting = false;
            _attempts = 0;
            _backoff.Reset();
            StartAttempt();
            RaiseStateIfChanged();
        }

        /// <summary>Pumps the transport (events are raised from here), runs the timeouts and the
        /// reconnect backoff. <paramref name="nowSeconds"/>: a monotonic clock in seconds
        /// (e.g. <c>Time.realtimeSinceStartupAsDouble</c>).</summary>
        public void Update(double nowSeconds)
        {
            if (_disposed) return;
            _now = nowSeconds;
            if (double.IsNaN(_phaseSince)) _phaseSince = nowSeconds;
            _inUpdate = true;
            try
            {
                _transport.Poll();
                double elapsed = _now - _phaseSince;
                switch (_phase)
                {
                    case Phase.Connecting:
                        if (elapsed > _options.ConnectTimeout) Lost("connecting timed out after " + _options.ConnectTimeout + " s", true);
                        break;
                    case Phase.Handshaking:
                        if (elapsed > _options.HandshakeTimeout) Lost("no welcome within " + _options.HandshakeTimeout + " s", true);
                        break;
                    case Phase.Waiting:
                        if (elapsed >= _retryDelay) StartAttempt();
                        break;
                    case Phase.Ready:
                        if (_pending.Count > 0 && _transport.IsOpen) Flush();
                        break;
                    case Phase.Closed:
                        if (_closeAfterBye && (!_transport.IsOpen || elapsed > ByeCloseDelay))
                        {
                            _closeAfterBye = false;
                            SafeClose();
                        }
                        break;
                }
            }
            finally
            {
                _inUpdate = false;
            }
            RaiseStateIfChanged();
        }

        /// <summary>Ends the session on the server (<c>bye</c>: no resume):
        /// <see cref="SessionState.Closed"/> at once; queued messages are discarded. The server
        /// closes the connection after the bye; the session closes it itself if that has not
        /// happened <see cref="ByeCloseDelay"/> seconds later (in <see cref="Update"/>), so that
        /// a close frame right behind the bye cannot overtake it.</summary>
        public void Bye()
        {
            if (_phase == Phase.Closed) return;
            if (_phase == Phase.Ready && _transport.IsOpen)
            {
                SendNow("bye", null, null);
                _closeAfterBye = true;
            }
            else
            {
                SafeClose();
            }
            ClearQueue();
            _reconnecting = false;
            SetPhase(Phase.Closed);
            RaiseStateIfChanged();
        }

        /// <summary>Seconds after <see cref="Bye"/> before the session closes a connection the
        /// server has not closed yet.</summary>
        public const double ByeCloseDelay = 1.0;

        /// <summary>Closes the connection without ending the session: the server keeps it for
        /// its resume grace period (<see cref="WelcomeInfo.ResumeGraceSeconds"/>), and
        /// <see cref="Connect"/> resumes it. <see cref="SessionState.Disconnected"/>; queued and
        /// later sends are kept for the resume.</summary>
        public void Disconnect()
        {
            if (_phase == Phase.Idle || _phase == Phase.Closed) return;
            SafeClose();
            _reconnecting = false;
            _resumeId = SessionId;
            SetPhase(Phase.Idle);
            RaiseStateIfChanged();
        }

        /// <summary><see cref="Bye"/>, closes the connection at once and lets go of the
        /// transport's events. (For the cleanest end, call <see cref="Bye"/> and keep calling
        /// <see cref="Update"/> until the transport is closed, or a second, before disposing.)</summary>
        public void Dispose()
        {
            if (_disposed) return;
            Bye();
            if (_closeAfterBye)
            {
                _closeAfterBye = false;
                SafeClose();
            }
            _disposed = true;
            _transport.Opened -= OnOpened;
            _transport.TextReceived -= OnText;
            _transport.Closed -= OnClosed;
            _transport.Error -= OnError;
        }

        // ------------------------------------------------------------------------------------
        // Sending
        // ------------------------------------------------------------------------------------

        /// <summary>Changes session config keys (merged into the current config by the server;
        /// acknowledged through <see cref="AckReceived"/> with the effective config). The keys
        /// are also remembered (top-level merge) and sent again if a new session has to be
        /// started.</summary>
        public void SendConfig(Dictionary<string, object> changes)
        {
            if (changes == null) throw new ArgumentNullException("changes");
            if (_phase == Phase.Closed) return;
            foreach (var kv in changes) _desiredConfig[kv.Key] = kv.Value;
            var body = new Dictionary<string, object>();
            body["config"] = Json.DeepCopy(new Dictionary<string, object>(changes));
            Enqueue(new Pending { Kind = Kind.Config, Type = "config", Body = body });
        }

        /// <summary>Sends the avatar's voice: interleaved float samples (-1..1) at
        /// <paramref name="rate"/> Hz, cut into chunks of at most
        /// <see cref="SessionOptions.AudioChunkSeconds"/>, sent as s16le. The first chunk fixes
        /// the stream's format until a <see cref="Reset"/>.</summary>
        public void SendAvatarAudio(float[] interleaved, int rate, int channels)
        {
            SendAudio(Protocol.AvatarStream, interleaved, 0, interleaved == null ? 0 : interleaved.Length, rate, channels);
        }

        /// <summary><see cref="SendAvatarAudio(float[], int, int)"/> of
        /// <paramref name="count"/> samples from <paramref name="offset"/>.</summary>
        public void SendAvatarAudio(float[] interleaved, int offset, int count, int rate, int channels)
        {
            SendAudio(Protocol.AvatarStream, interleaved, offset, count, rate, channels);
        }

        /// <summary>Sends the user's microphone audio (listening behaviour, server-side turn
        /// detection); like <see cref="SendAvatarAudio(float[], int, int)"/>.</summary>
        public void SendUserAudio(float[] interleaved, int rate, int channels)
        {
            SendAudio(Protocol.UserStream, interleaved, 0, interleaved == null ? 0 : interleaved.Length, rate, channels);
        }

        /// <summary><see cref="SendUserAudio(float[], int, int)"/> of <paramref name="count"/>
        /// samples from <paramref name="offset"/>.</summary>
        public void SendUserAudio(float[] interleaved, int offset, int count, int rate, int channels)
        {
            SendAudio(Protocol.UserStream, interleaved, offset, count, rate, channels);
        }

        private void SendAudio(string stream, float[] samples, int offset, int count, int rate, int channels)
        {
            if (samples == null) throw new ArgumentNullException("interleaved");
            if (rate < Protocol.MinRate || rate > Protocol.MaxRate)
                throw new ArgumentOutOfRangeException("rate", rate, "the sample rate must be " + Protocol.MinRate + ".." + Protocol.MaxRate + " Hz");
            if (channels < 1 || channels > Protocol.MaxChannels)
                throw new ArgumentOutOfRangeException("channels", channels, "channels must be 1.." + Protocol.MaxChannels);
            if (offset < 0 || count < 0 || offset > samples.Length - count)
                throw new ArgumentOutOfRangeException("count", "offset and count must lie within the samples");
            if (count % channels != 0)
                throw new ArgumentException("the sample count must be a multiple of the channel count", "count");
            if (_phase == Phase.Closed) return;
            double chunkSeconds = Math.Min(Math.Max(_options.AudioChunkSeconds, 0.001), Protocol.MaxAudioChunkSeconds);
            int step = Math.Max(1, (int)Math.Round(rate * chunkSeconds));
            int frames = count / channels;
            for (int start = 0; start < frames; start += step)
            {
                int n = Math.Min(step, frames - start);
                byte[] pcm = Pcm.FloatToS16le(samples, offset + start * channels, n * channels);
                var body = new Dictionary<string, object>();
                body["stream"] = stream;
                body["format"] = Pcm.S16le;
                body["rate"] = rate;
                body["channels"] = channels;
                body["data"] = Convert.ToBase64String(pcm);
                Enqueue(new Pending { Kind = Kind.Audio, Type = "audio", Body = body, SeqKey = stream, Seconds = (double)n / rate });
            }
        }

        /// <summary>Sends the user's tracked face: <paramref name="frames"/>[i][j] is channel
        /// <paramref name="names"/>[j] (any ARKit spelling, plus HeadYaw/HeadPitch/HeadRoll in
        /// degrees and HeadX/HeadY/HeadZ in cm) at the session fps, in order; null names: all
        /// 58 channels of <see cref="ArkitNames.All"/>. Split into messages of at most 250 rows.
        /// Values must be finite.</summary>
        public void SendUserMotion(float[][] frames, string[] names)
        {
            if (frames == null) throw new ArgumentNullException("frames");
            int width = names == null ? ArkitNames.Count : names.Length;
            var rows = new List<float[]>(frames.Length);
            for (int i = 0; i < frames.Length; i++)
            {
                float[] row = frames[i];
                if (row == null || row.Length != width)
                    throw new ArgumentException("frame " + i + " must have " + width + " values", "frames");
                for (int j = 0; j < row.Length; j++)
                {
                    if (float.IsNaN(row[j]) || float.IsInfinity(row[j]))
                        throw new ArgumentException("frame " + i + " has a non-finite value", "frames");
                }
                rows.Add((float[])row.Clone());
            }
            if (_phase == Phase.Closed) return;
            string[] columns = names == null ? null : (string[])names.Clone();
            for (int start = 0; start < rows.Count; start += Protocol.MaxMotionFrames)
            {
                int n = Math.Min(Protocol.MaxMotionFrames, rows.Count - start);
                var body = new Dictionary<string, object>();
                body["frames"] = rows.GetRange(start, n);
                body["names"] = columns;
                Enqueue(new Pending { Kind = Kind.Other, Type = "user_motion", Body = body, SeqKey = UserMotionSeqKey });
            }
        }

        /// <summary>Sends a turn cue: <c>user_start</c>, <c>user_stop</c>, <c>avatar_start</c>,
        /// <c>avatar_stop</c> or <c>interrupt</c> (see <see cref="Protocol.TurnEvents"/>).</summary>
        public void SendTurn(string turnEvent)
        {
            if (!Protocol.IsTurnEvent(turnEvent))
                throw new ArgumentException("unknown turn event '" + turnEvent + "'; valid: " + string.Join(", ", Protocol.TurnEvents), "turnEvent");
            var body = new Dictionary<string, object>();
            body["event"] = turnEvent;
            Enqueue(new Pending { Kind = Kind.Other, Type = "turn", Body = body });
        }

        /// <summary>Barge-in: the server drops the avatar audio not yet played, mutes the avatar
        /// stream until the next <c>avatar_start</c> and closes the mouth within a block.</summary>
        public void Interrupt()
        {
            SendTurn("interrupt");
        }

        /// <summary>Freezes the session clock (no motion is generated; input is still queued).</summary>
        public void Pause()
        {
            SendControl("pause");
        }

        /// <summary>Continues the session clock after <see cref="Pause"/>.</summary>
        public void Resume()
        {
            SendControl("resume");
        }

        /// <summary>Forgets the queued input, the audio formats, the turn state and the
        /// generator's state (the face returns to rest); the clock and frame numbers go on.</summary>
        public void Reset()
        {
            SendControl("reset");
        }

        private void SendControl(string action)
        {
            var body = new Dictionary<string, object>();
            body["action"] = action;
            Enqueue(new Pending { Kind = Kind.Other, Type = "control", Body = body });
        }

        // ------------------------------------------------------------------------------------
        // Internals: queue and sending
        // ------------------------------------------------------------------------------------

        private long NextSeq(string key)
        {
            long seq;
            return _seq.TryGetValue(key, out seq) ? seq : 0;
        }

        private void Enqueue(Pending p)
        {
            if (_disposed || _phase == Phase.Closed) return;
            if (_phase == Phase.Ready && _pending.Count == 0 && _transport.IsOpen)
            {
                Send(p);
                return;
            }
            // Not ready, or the socket died and the transport has not reported it yet (then the
            // message waits for the resume instead of being lost with a sequence number).
            _pending.AddLast(p);
            if (p.Kind == Kind.Audio)
            {
                double queued;
                _queuedSeconds.TryGetValue(p.SeqKey, out queued);
                queued += p.Seconds;
                int dropped = 0;
                while (queued > _options.MaxQueuedAudioSeconds + 1e-9)
                {
                    LinkedListNode<Pending> oldest = FindFirst(Kind.Audio, p.SeqKey);
                    if (oldest == null) break;
                    queued -= oldest.Value.Seconds;
                    _pending.Remove(oldest);
                    dropped++;
                }
                _queuedSeconds[p.SeqKey] = Math.Max(0, queued);
                if (dropped > 0)
                {
                    DroppedAudioChunks += dropped;
                    RaiseWarningOnce(ref _warnedAudioDrop, "not connected: dropping the oldest queued " + p.SeqKey + " audio (over "
                        + _options.MaxQueuedAudioSeconds + " s queued)");
                }
            }
            else
            {
                _queuedOther++;
                if (_queuedOther > Math.Max(1, _options.MaxQueuedMessages))
                {
                    LinkedListNode<Pending> oldest = _pending.First;
                    while (oldest != null && oldest.Value.Kind == Kind.Audio) oldest = oldest.Next;
                    if (oldest != null)
                    {
                        _pending.Remove(oldest);
                        _queuedOther--;
                        DroppedMessages++;
                        RaiseWarningOnce(ref _warnedMessageDrop, "not connected: dropping the oldest queued messages (over "
                            + _options.MaxQueuedMessages + ")");
                    }
                }
            }
            if (_phase == Phase.Ready && _transport.IsOpen) Flush();
        }

        private void RaiseWarningOnce(ref bool flag, string message)
        {
            if (flag) return;
            flag = true;
            RaiseWarning(message);
        }

        private LinkedListNode<Pending> FindFirst(Kind kind, string seqKey)
        {
            for (LinkedListNode<Pending> n = _pending.First; n != null; n = n.Next)
            {
                if (n.Value.Kind == kind && n.Value.SeqKey == seqKey) return n;
            }
            return null;
        }

        private void ClearQueue()
        {
            _pending.Clear();
            _queuedSeconds.Clear();
            _queuedOther = 0;
        }

        /// <summary>Sends the queued messages in order (after a welcome).</summary>
        private void Flush()
        {
            while (_pending.Count > 0 && _phase == Phase.Ready && _transport.IsOpen)
            {
                Pending p = _pending.First.Value;
                _pending.RemoveFirst();
                if (p.Kind == Kind.Audio)
                {
                    double queued;
                    _queuedSeconds.TryGetValue(p.SeqKey, out queued);
                    _queuedSeconds[p.SeqKey] = Math.Max(0, queued - p.Seconds);
                }
                else
                {
                    _queuedOther--;
                }
                Send(p);
            }
            if (_pending.Count == 0)
            {
                _warnedAudioDrop = false;
                _warnedMessageDrop = false;
            }
        }

        private void Send(Pending p)
        {
            Dictionary<string, object> body = p.Body;
            if (p.SeqKey != null)
            {
                long seq = NextSeq(p.SeqKey);
                _seq[p.SeqKey] = seq + 1;
                body = new Dictionary<string, object>(p.Body);
                body["seq"] = seq;
            }
            SendNow(p.Type, body, null);
        }

        private void SendNow(string type, Dictionary<string, object> body, Dictionary<string, object> complete)
        {
            Dictionary<string, object> msg = complete ?? Protocol.Compose(type, ++_nextId, body);
            string text;
            try
            {
                text = Json.Serialize(msg);
            }
            catch (JsonException e)
            {
                RaiseWarning("cannot send " + type + ": " + e.Message);
                return;
            }
            _transport.SendText(text);
        }

        // ------------------------------------------------------------------------------------
        // Internals: connection
        // ------------------------------------------------------------------------------------

        private void StartAttempt()
        {
            _helloResume = _resumeId;
            SetPhase(Phase.Connecting);
            var headers = new Dictionary<string, string>();
            if (!string.IsNullOrEmpty(_options.Token)) headers["Authorization"] = "Bearer " + _options.Token;
            try
            {
                _transport.Connect(BuildUrl(), headers);
            }
            catch (Exception e)
            {
                Lost("cannot connect to " + _options.Url + ": " + e.Message, true);
            }
        }

        private string BuildUrl()
        {
            string url = _options.Url ?? "";
            if (string.IsNullOrEmpty(_options.Token) || !_options.TokenInQuery) return url;
            var sb = new StringBuilder(url);
            int hash = url.IndexOf('#');
            string fragment = "";
            if (hash >= 0)
            {
                fragment = url.Substring(hash);
                sb.Length = hash;
            }
            sb.Append(url.IndexOf('?') >= 0 && (hash < 0 || url.IndexOf('?') < hash) ? '&' : '?');
            sb.Append("token=").Append(Uri.EscapeDataString(_options.Token)).Append(fragment);
            return sb.ToString();
        }

        /// <summary>The connection (or the attempt) is gone: reconnect later, or stop.</summary>
        private void Lost(string reason, bool closeTransport)
        {
            if (closeTransport) SafeClose();
            if (_fatal)
            {
                SetPhase(Phase.Closed);
                return;
            }
            if (!_options.AutoReconnect)
            {
                RaiseWarning(reason);
                _reconnecting = false;
                _resumeId = SessionId;
                SetPhase(Phase.Idle);
                return;
            }
            if (_options.MaxReconnectAttempts > 0 && _attempts >= _options.MaxReconnectAttempts)
            {
                RaiseWarning(reason + "; giving up after " + _attempts + " reconnect attempt(s)");
                _reconnecting = false;
                SetPhase(Phase.Closed);
                return;
            }
            _retryDelay = _backoff.Next();
            _attempts++;
            _reconnecting = true;
            _resumeId = SessionId ?? _resumeId;
            RaiseWarning(reason + "; reconnecting in " + _retryDelay.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " s");
            SetPhase(Phase.Waiting);
        }

        private void SafeClose()
        {
            try
            {
                _transport.Close();
            }
            catch (Exception e)
            {
                RaiseWarning("closing the transport failed: " + e.Message);
            }
        }

        private void OnOpened()
        {
            if (_disposed || _phase != Phase.Connecting) return;
            SetPhase(Phase.Handshaking);
            SendNow("hello", null, Protocol.Hello(++_nextId, _options.ClientName, _helloResume));
            RaiseStateIfChanged();
        }

        private void OnClosed(int code, string reason)
        {
            if (_disposed) return;
            if (code == Protocol.CloseSessionTakenOver && (_phase == Phase.Handshaking || _phase == Phase.Ready))
            {
                // Another connection resumed this session: resuming it back would fight over it.
                RaiseWarning("the session was taken over by another connection (" + code + "); not reconnecting");
                _reconnecting = false;
                SetPhase(Phase.Idle);
                RaiseStateIfChanged();
                return;
            }
            if (_phase == Phase.Connecting || _phase == Phase.Handshaking || _phase == Phase.Ready)
            {
                string what = _phase == Phase.Connecting ? "could not connect to " + _options.Url : "connection closed";
                Lost(what + " (" + code + (string.IsNullOrEmpty(reason) ? "" : " " + reason) + ")", false);
                RaiseStateIfChanged();
            }
        }

        private void OnError(string message)
        {
            if (_disposed) return;
            RaiseWarning("transport: " + message);
            if ((_phase == Phase.Connecting || _phase == Phase.Handshaking || _phase == Phase.Ready) && !_transport.IsOpen)
            {
                Lost("connection failed: " + message, true);
                RaiseStateIfChanged();
            }
        }

        private void OnText(string text)
        {
            if (_disposed || (_phase != Phase.Handshaking && _phase != Phase.Ready)) return;
            Dictionary<string, object> msg;
            string type;
            try
            {
                msg = Json.ParseObject(text);
                type = Json.GetString(msg, "type");
            }
            catch (JsonException e)
            {
                RaiseWarning("unreadable server message: " + e.Message);
                return;
            }
            try
            {
                Dispatch(type, msg);
            }
            catch (JsonException e)
            {
                RaiseWarning("unreadable " + type + " message: " + e.Message);
            }
        }

        private void Dispatch(string type, Dictionary<string, object> msg)
        {
            if (_phase == Phase.Handshaking)
            {
                if (type == "welcome") HandleWelcome(msg);
                else if (type == "error") HandleError(msg);
                else if (MessageReceived != null) MessageReceived(type, msg);
                return;
            }
            switch (type)
            {
                case "motion":
                    MotionBlock block = Protocol.ReadMotion(msg);
                    if (block.Count > 0) LastMotionFrame = block.LastFrame;
                    if (MotionReceived != null) MotionReceived(block);
                    break;
                case "avatar_audio":
                    AvatarAudioBlock audio = Protocol.ReadAvatarAudio(msg);
                    if (AvatarAudioReceived != null) AvatarAudioReceived(audio);
                    break;
                case "turn_event":
                    TurnEventInfo turn = Protocol.ReadTurnEvent(msg);
                    if (TurnEventReceived != null) TurnEventReceived(turn);
                    break;
                case "ack":
                    string of = Json.GetString(msg, "of");
                    Dictionary<string, object> config = Json.GetMap(msg, "config");
                    if (config != null) EffectiveConfig = config;
                    if (AckReceived != null) AckReceived(of, config);
                    break;
                case "error":
                    HandleError(msg);
                    break;
                default:
                    if (MessageReceived != null) MessageReceived(type, msg);
                    break;
            }
        }

        private void HandleWelcome(Dictionary<string, object> msg)
        {
            WelcomeInfo info = Protocol.ReadWelcome(msg);
            if (string.IsNullOrEmpty(info.SessionId)) throw new JsonException("welcome without a session_id");
            bool fresh = !info.Resumed;
            if (fresh)
            {
                // A new session: counters from 0; the whole desired config replaces queued changes.
                _seq.Clear();
                for (LinkedListNode<Pending> n = _pending.First; n != null;)
                {
                    LinkedListNode<Pending> next = n.Next;
                    if (n.Value.Kind == Kind.Config)
                    {
                        _pending.Remove(n);
                        _queuedOther--;
                    }
                    n = next;
                }
            }
            SessionId = info.SessionId;
            _resumeId = info.SessionId;
            Welcome = info;
            EffectiveConfig = info.Config;
            if (_reconnecting && _hadWelcome) Reconnects++;
            _hadWelcome = true;
            _reconnecting = false;
            _attempts = 0;
            _backoff.Reset();
            SetPhase(Phase.Ready);
            if (fresh && _desiredConfig.Count > 0)
            {
                var body = new Dictionary<string, object>();
                body["config"] = Json.DeepCopy(_desiredConfig);
                Send(new Pending { Kind = Kind.Config, Type = "config", Body = body });
            }
            Flush();
            RaiseStateIfChanged();
            if (Welcomed != null) Welcomed(info);
        }

        private void HandleError(Dictionary<string, object> msg)
        {
            ServerError error = Protocol.ReadError(msg);
            if (error.Fatal)
            {
                if (error.Code == ErrorCodes.UnknownSession && _phase == Phase.Handshaking && _helloResume != null)
                {
                    // The session is gone (grace period over, or never existed): start a new one now.
                    RaiseWarning("session " + _helloResume + " is gone (" + error.Message + "); starting a new session");
                    SessionId = null;
                    _resumeId = null;
                    _seq.Clear();
                    SafeClose();
                    _reconnecting = true;
                    _retryDelay = 0;
                    SetPhase(Phase.Waiting);
                }
                else
                {
                    _fatal = true;
                    _reconnecting = false;
                    SafeClose();
                    SetPhase(Phase.Closed);
                }
                RaiseStateIfChanged();
            }
            if (ErrorReceived != null) ErrorReceived(error);
        }

        // ------------------------------------------------------------------------------------
        // Internals: state
        // ------------------------------------------------------------------------------------

        private void SetPhase(Phase phase)
        {
            _phase = phase;
            // Timers run from now when the clock is known (inside Update), else from the next Update.
            _phaseSince = _inUpdate ? _now : double.NaN;
        }

        private SessionState ComputeState()
        {
            switch (_phase)
            {
                case Phase.Connecting: return _reconnecting ? SessionState.Reconnecting : SessionState.Connecting;
                case Phase.Handshaking: return _reconnecting ? SessionState.Reconnecting : SessionState.Handshaking;
                case Phase.Ready: return SessionState.Ready;
                case Phase.Waiting: return SessionState.Reconnecting;
                case Phase.Closed: return SessionState.Closed;
                default: return SessionState.Disconnected;
            }
        }

        private void RaiseStateIfChanged()
        {
            SessionState state = ComputeState();
            if (state == _raisedState) return;
            _raisedState = state;
            if (StateChanged != null) StateChanged(state);
        }

        private void RaiseWarning(string message)
        {
            if (Warning != null) Warning(message);
        }
    }
}
