// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Linq;

namespace AvatarForcing.Standalone
{
    /// <summary>Offline checks of <see cref="AvatarForcingSession"/> against a scripted server
    /// (<see cref="FakeTransport"/>): handshake, config, queueing, sequence numbers, message ids,
    /// reconnect with backoff and resume, a refused resume, fatal errors, bye.</summary>
    public static class SessionTests
    {
        /// <summary>Runs the checks.</summary>
        public static void Run()
        {
            Check.Section("AvatarForcingSession (scripted server)");
            HandshakeQueueAndResume();
            ReceivedMessages();
            BackoffAndGivingUp();
            FatalErrorsAndBye();
            TimeoutsAndManualResume();
            UserMotionAndValidation();
        }

        private static Dictionary<string, object> Map(params object[] kv)
        {
            var m = new Dictionary<string, object>();
            for (int i = 0; i < kv.Length; i += 2) m[(string)kv[i]] = kv[i + 1];
            return m;
        }

        private static Dictionary<string, object> Welcome(string id, bool resumed)
        {
            return Map("type", "welcome", "version", 1, "session_id", id, "resumed", resumed,
                "capabilities", new[] { "msgpack", "json", "resume" }, "fps", 25,
                "config", Map("naming", "arkit", "seed", null), "limits", Map("max_audio_chunk_s", 2.0), "resume_grace_s", 30.0);
        }

        private static List<long> Seqs(List<Dictionary<string, object>> msgs)
        {
            return msgs.Select(m => Json.ToLong(m["seq"])).ToList();
        }

        private static bool IdsIncrease(FakeTransport t)
        {
            long last = 0;
            foreach (var m in t.Sent)
            {
                long id = Json.ToLong(m["id"]);
                if (id <= last) return false;
                last = id;
            }
            return true;
        }

        private static void HandshakeQueueAndResume()
        {
            var t = new FakeTransport();
            var options = new SessionOptions
            {
                Url = "ws://127.0.0.1:9/",
                Token = "s3cret&x",
                Config = Map("naming", "arkit", "seed", 0),
                JitterSeed = 1,
            };
            var s = new AvatarForcingSession(t, options);
            var states = new List<SessionState>();
            var welcomes = new List<WelcomeInfo>();
            s.StateChanged += states.Add;
            s.Welcomed += welcomes.Add;
            double now = 100;

            Check.Equal(SessionState.Disconnected, s.State, "a new session is Disconnected");
            s.SendConfig(Map("seed", 3));
            s.SendAvatarAudio(new float[1600], 16000, 1); // 0.1 s: chunks of 640, 640, 320 frames
            s.SendTurn("avatar_start");
            Check.Equal(5, s.QueuedMessages, "sends before the connection are queued");
            s.Connect();
            Check.Equal(SessionState.Connecting, s.State, "Connect: Connecting");
            Check.Equal("ws://127.0.0.1:9/?token=s3cret%26x", t.ConnectUrls[0], "the token goes in the query, escaped");
            Check.Equal("Bearer s3cret&x", t.ConnectHeaders[0]["Authorization"], "and in the Authorization header");
            t.ServerOpen();
            s.Update(now);
            Check.Equal(SessionState.Handshaking, s.State, "Opened: Handshaking");
            var hello = t.Sent[0];
            Check.Equal("hello", hello["type"], "hello first");
            Check.Equal(1L, hello["version"], "hello.version 1");
            Check.Equal("[\"json\"]", Json.Serialize(hello["capabilities"]), "hello.capabilities [json]");
            Check.Equal("avatar-forcing-unity/0.1", hello["client"], "hello.client");
            Check.That(hello.ContainsKey("resume") && hello["resume"] == null, "hello.resume null on a new session");

            t.ServerSend(Welcome("s1", false));
            s.Update(now += 0.02);
            Check.Equal(SessionState.Ready, s.State, "welcome: Ready");
            Check.Equal("s1", s.SessionId, "SessionId from the welcome");
            Check.Equal(1, welcomes.Count, "Welcomed raised");
            Check.Equal("Connecting,Handshaking,Ready", string.Join(",", states), "StateChanged sequence");
            var types = t.Sent.Select(m => (string)m["type"]).ToList();
            Check.Equal("hello,config,audio,audio,audio,turn", string.Join(",", types), "config first, then the queue in order");
            var config = (Dictionary<string, object>)t.Sent[1]["config"];
            Check.Equal("{\"naming\":\"arkit\",\"seed\":3}", Json.Serialize(config), "one config: the options merged with SendConfig changes");
            var audio = t.SentOfType("audio");
            Check.Equal("0,1,2", string.Join(",", Seqs(audio)), "audio seq from 0");
            Check.Equal(1280, Convert.FromBase64String((string)audio[0]["data"]).Length, "40-ms chunks at 16 kHz: 640 s16le samples");
            Check.Equal(640, Convert.FromBase64String((string)audio[2]["data"]).Length, "the remainder in a shorter chunk");
            Check.That(audio.All(a => (string)a["format"] == "s16le" && Json.ToInt(a["rate"]) == 16000 && Json.ToInt(a["channels"]) == 1
                                      && (string)a["stream"] == "avatar"), "audio fields: stream, format, rate, channels");
            Check.Equal(0, s.QueuedMessages, "queue flushed");

            // A drop: reconnect after the backoff delay, resume, queue meanwhile (bounded).
            int sentBefore = t.Sent.Count;
            t.ServerClose(1006, "gone");
            s.Update(now += 0.02);
            Check.Equal(SessionState.Reconnecting, s.State, "a drop: Reconnecting");
            s.SendAvatarAudio(new float[16000 * 3], 16000, 1); // 75 chunks; 50 fit in 2 s
            Check.Equal(25, s.DroppedAudioChunks, "audio beyond 2 s is dropped, oldest first");
            s.SendConfig(Map("motion_intensity", 0.5));
            s.Update(now += 0.35);
            Check.Equal(1, t.ConnectUrls.Count, "no reconnect before the backoff delay (0.5 s ± 20 %)");
            s.Update(now += 0.3);
            Check.Equal(2, t.ConnectUrls.Count, "reconnects after it");
            Check.Equal(SessionState.Reconnecting, s.State, "still Reconnecting while connecting");
            t.ServerOpen();
            s.Update(now += 0.02);
            var hello2 = t.Sent[sentBefore];
            Check.Equal("s1", hello2["resume"], "hello resumes the session");
            t.ServerSend(Welcome("s1", true));
            s.Update(now += 0.02);
            Check.Equal(SessionState.Ready, s.State, "resumed: Ready");
            Check.Equal(1, s.Reconnects, "Reconnects counted");
            Check.That(welcomes.Count == 2 && welcomes[1].Resumed, "Welcomed(resumed) raised");
            var after = t.Sent.Skip(sentBefore + 1).ToList();
            Check.Equal(0, after.Count(m => (string)m["type"] == "config" && ((Dictionary<string, object>)m["config"]).ContainsKey("naming")),
                "a resumed session is not sent the whole config again");
            Check.Equal(1, after.Count(m => (string)m["type"] == "config"), "the change made while away is sent");
            var resumedAudio = t.SentOfType("audio", sentBefore);
            Check.Equal(50, resumedAudio.Count, "the queued audio is sent after the resume");
            Check.That(Seqs(resumedAudio).SequenceEqual(Enumerable.Range(3, 50).Select(i => (long)i)), "audio seq continues (3..52) without a gap");
            Check.That(IdsIncrease(t), "message ids increase across the reconnect");

            // The socket dies before the transport reports it: sends wait instead of being lost.
            t.Vanish();
            int sentDead = t.Sent.Count;
            s.SendAvatarAudio(new float[640], 16000, 1);
            s.Update(now += 0.02);
            Check.That(t.Sent.Count == sentDead && s.QueuedMessages == 1, "a send on a dead socket is kept, without taking a seq");
            t.ServerClose(1006, "gone");
            s.Update(now += 0.02);
            s.Update(now += 1.0);
            t.ServerOpen();
            s.Update(now += 0.02);
            t.ServerSend(Welcome("s1", true));
            s.Update(now += 0.02);
            Check.Equal("53", string.Join(",", Seqs(t.SentOfType("audio", sentDead))), "and goes out after the resume with the next seq");

            // Another drop, and the server has forgotten the session: a new one starts at once.
            var errors = new List<ServerError>();
            s.ErrorReceived += errors.Add;
            sentBefore = t.Sent.Count;
            t.ServerClose(1006, "gone");
            s.Update(now += 0.02);
            s.Update(now += 1.0);
            t.ServerOpen();
            s.Update(now += 0.02);
            Check.Equal("s1", t.Sent[sentBefore]["resume"], "resume attempt");
            t.ServerSend(Map("type", "error", "code", "unknown_session", "message", "no session s1", "msg_id", 60, "fatal", true));
            t.ServerClose(1008, "unknown session");
            s.Update(now += 0.02);
            Check.That(errors.Count == 1 && errors[0].Code == "unknown_session" && errors[0].Fatal && errors[0].MsgId == 60,
                "the unknown_session error is reported");
            Check.Equal(5, t.ConnectUrls.Count, "connects again at once for a new session");
            t.ServerOpen();
            s.Update(now += 0.02);
            var hello3 = t.SentOfType("hello", sentBefore + 1);
            Check.That(hello3.Count == 1 && hello3[0]["resume"] == null, "the new hello does not resume");
            s.SendAvatarAudio(new float[640], 16000, 1); // queued before the welcome
            t.ServerSend(Welcome("s2", false));
            s.Update(now += 0.02);
            Check.Equal("s2", s.SessionId, "the new session's id");
            Check.That(welcomes.Count == 4 && !welcomes[3].Resumed, "Welcomed(resumed = false)");
            Check.Equal(SessionState.Ready, s.State, "Ready again");
            Check.Equal(3, s.Reconnects, "Reconnects counted");
            var fresh = t.Sent.Skip(sentBefore).ToList();
            var freshConfig = fresh.Where(m => (string)m["type"] == "config").ToList();
            Check.That(freshConfig.Count == 1 && Json.Serialize(freshConfig[0]["config"]) == "{\"naming\":\"arkit\",\"seed\":3,\"motion_intensity\":0.5}",
                "the new session gets the whole config again: " + (freshConfig.Count > 0 ? Json.Serialize(freshConfig[0]["config"]) : "none"));
            Check.Equal("0", string.Join(",", Seqs(t.SentOfType("audio", sentBefore))), "the new session's seq starts at 0");
            Check.That(IdsIncrease(t), "message ids still increase");
        }

        private static void ReceivedMessages()
        {
            var t = new FakeTransport();
            var s = new AvatarForcingSession(t, new SessionOptions());
            var motions = new List<MotionBlock>();
            var audios = new List<AvatarAudioBlock>();
            var turns = new List<TurnEventInfo>();
            var acks = new List<string>();
            var others = new List<string>();
            var warnings = new List<string>();
            s.MotionReceived += motions.Add;
            s.AvatarAudioReceived += audios.Add;
            s.TurnEventReceived += turns.Add;
            s.AckReceived += (of, cfg) => acks.Add(of + ":" + (cfg == null ? "null" : Json.Serialize(cfg)));
            s.MessageReceived += (type, m) => others.Add(type);
            s.Warning += warnings.Add;
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Welcome("s1", false));
            s.Update(0.1);
            Check.Equal(0, t.SentOfType("config").Count, "no config sent when there is none to send");

            var row0 = new object[58];
            var row1 = new object[58];
            for (int j = 0; j < 58; j++)
            {
                row0[j] = 0.0;
                row1[j] = 0.5;
            }
            row0[17] = 0.25;
            t.ServerSend(Map("type", "motion", "frame", 48, "fps", 25, "timestamps", new[] { 1.92, 1.96 }, "naming", "arkit",
                "names", ArkitNames.All, "values", new[] { row0, row1 }, "future_field", 1));
            var pcm = Pcm.FloatToS16le(new[] { 0.5f, -0.25f, 0f, 0.125f });
            t.ServerSend(Map("type", "avatar_audio", "frame", 48, "frames", 2, "t", 1.92, "format", "s16le", "rate", 16000,
                "channels", 2, "data", Convert.ToBase64String(pcm)));
            t.ServerSend(Map("type", "turn_event", "event", "interrupted", "state", "user_speaking", "source", "client", "frame", 52, "t", 2.08));
            t.ServerSend(Map("type", "ack", "msg_id", 2, "of", "config", "frame", 48, "config", Map("naming", "vts")));
            t.ServerSend(Map("type", "ack", "msg_id", 3, "of", "turn", "frame", 50, "config", null));
            t.ServerSend(Map("type", "stats", "t", 12.0));
            t.ServerSend(Map("type", "shiny_new_type"));
            t.ServerSend(Map("type", "motion", "frame", "not a number"));
            s.Update(0.2);
            Check.Equal(1, motions.Count, "motion decoded");
            var block = motions[0];
            Check.That(block.Frame == 48 && block.Count == 2 && block.LastFrame == 49 && block.Fps == 25 && block.Naming == "arkit",
                "motion frame, count, fps, naming");
            Check.That(block.Timestamps[0] == 1.92 && block.Timestamps[1] == 1.96, "motion timestamps");
            Check.That(block.Get(0, "JawOpen") == 0.25f && block.Get(0, "jawOpen") == 0.25f && block.Get(1, "jawOpen") == 0.5f,
                "MotionBlock.Get by name, any ARKit spelling");
            Check.Throws<KeyNotFoundException>(() => block.Get(0, "Smile"), "MotionBlock.Get of an unknown channel throws");
            Check.Equal(49, s.LastMotionFrame, "LastMotionFrame");
            Check.That(audios.Count == 1 && audios[0].Frame == 48 && audios[0].Frames == 2 && audios[0].Channels == 2 && audios[0].Rate == 16000
                       && audios[0].T == 1.92, "avatar_audio fields");
            Check.That(audios.Count == 1 && audios[0].Samples.SequenceEqual(new[] { 0.5f, -0.25f, 0f, 0.125f }) && audios[0].SampleFrames == 2,
                "avatar_audio samples decoded from base64 s16le");
            Check.That(turns.Count == 1 && turns[0].Event == "interrupted" && turns[0].State == "user_speaking" && turns[0].Source == "client"
                       && turns[0].Frame == 52 && turns[0].T == 2.08, "turn_event decoded");
            Check.Equal("config:{\"naming\":\"vts\"}|turn:null", string.Join("|", acks), "acks with the effective config or null");
            Check.Equal("vts", (string)s.EffectiveConfig["naming"], "EffectiveConfig follows the config ack");
            Check.Equal("stats,shiny_new_type", string.Join(",", others), "other messages go to MessageReceived");
            Check.That(warnings.Count == 1 && warnings[0].Contains("motion"), "an unreadable message is a warning, not a crash");
            Check.Equal(SessionState.Ready, s.State, "still Ready");

            s.Interrupt();
            s.Pause();
            s.Resume();
            s.Reset();
            s.SendTurn("user_start");
            var sent = t.Sent.Skip(1).Select(m => Json.Serialize(m)).ToList();
            Check.Equal("{\"type\":\"turn\",\"id\":2,\"event\":\"interrupt\"}", sent[0], "Interrupt sends turn interrupt");
            Check.Equal("pause,resume,reset", string.Join(",", t.SentOfType("control").Select(m => (string)m["action"])), "control actions");
            Check.Throws<ArgumentException>(() => s.SendTurn("shout"), "unknown turn events are refused");
        }

        private static void BackoffAndGivingUp()
        {
            var t = new FakeTransport();
            var s = new AvatarForcingSession(t, new SessionOptions
            {
                ReconnectInitialDelay = 1, ReconnectMaxDelay = 4, MaxReconnectAttempts = 4, JitterSeed = 3,
            });
            var warnings = new List<string>();
            s.Warning += warnings.Add;
            s.Connect();
            var connectTimes = new List<double>();
            int seen = 0;
            double now = 0;
            for (int step = 0; step < 4000 && s.State != SessionState.Closed; step++)
            {
                now = step * 0.01;
                s.Update(now);
                if (t.ConnectUrls.Count > seen)
                {
                    seen = t.ConnectUrls.Count;
                    connectTimes.Add(now);
                    t.ServerClose(1006, "refused"); // the server is down: every attempt fails
                }
            }
            Check.Equal(5, connectTimes.Count, "the first connect and 4 retries");
            var gaps = new List<double>();
            for (int i = 1; i < connectTimes.Count; i++) gaps.Add(connectTimes[i] - connectTimes[i - 1]);
            double[] expected = { 1, 2, 4, 4 };
            bool ok = gaps.Count == 4;
            for (int i = 0; ok && i < 4; i++) ok = gaps[i] >= expected[i] * 0.8 - 0.03 && gaps[i] <= expected[i] * 1.2 + 0.03;
            Check.That(ok, "retry delays double up to the maximum, ±20 %: " + string.Join(", ", gaps.Select(g => g.ToString("0.00"))));
            Check.Equal(SessionState.Closed, s.State, "gives up after MaxReconnectAttempts: Closed");
            Check.That(warnings.Any(w => w.Contains("giving up")), "and says so");
        }

        private static void FatalErrorsAndBye()
        {
            var t = new FakeTransport();
            var s = new AvatarForcingSession(t, new SessionOptions());
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Map("type", "error", "code", "version_mismatch", "message", "v2 only", "msg_id", 1, "fatal", true));
            t.ServerClose(1002, "");
            s.Update(0.1);
            s.Update(100);
            Check.Equal(SessionState.Closed, s.State, "version_mismatch: Closed");
            Check.Equal(1, t.ConnectUrls.Count, "and no reconnect");
            s.Connect();
            Check.Equal(SessionState.Connecting, s.State, "Connect after Closed starts over");

            t = new FakeTransport();
            s = new AvatarForcingSession(t, new SessionOptions());
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Welcome("s1", false));
            s.Update(0.1);
            s.Bye();
            Check.Equal(SessionState.Closed, s.State, "Bye: Closed at once");
            Check.Equal("bye", t.Sent[t.Sent.Count - 1]["type"], "bye sent");
            int sent = t.Sent.Count;
            s.SendAvatarAudio(new float[640], 16000, 1);
            s.Update(0.5);
            Check.Equal(0, t.CloseCalls, "the server has a moment to close after the bye");
            s.Update(1.6);
            Check.Equal(1, t.CloseCalls, "then the client closes");
            s.Update(50);
            Check.That(t.Sent.Count == sent && t.ConnectUrls.Count == 1, "after Bye: no sends, no reconnect");
            s.Dispose();
            Check.Equal(SessionState.Closed, s.State, "Dispose after Bye is harmless");

            t = new FakeTransport();
            s = new AvatarForcingSession(t, new SessionOptions());
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Welcome("s1", false));
            s.Update(0.1);
            s.Dispose();
            Check.That(t.Sent[t.Sent.Count - 1]["type"].Equals("bye") && s.State == SessionState.Closed, "Dispose says bye");
            Check.Equal(1, t.CloseCalls, "and closes at once");
        }

        private static void TimeoutsAndManualResume()
        {
            var t = new FakeTransport();
            var s = new AvatarForcingSession(t, new SessionOptions { HandshakeTimeout = 5, ConnectTimeout = 5, AutoReconnect = true });
            s.Connect();
            s.Update(10);
            s.Update(14);
            Check.Equal(1, t.ConnectUrls.Count, "waits for a slow connect");
            s.Update(15.5);
            Check.Equal(SessionState.Reconnecting, s.State, "a connect that takes too long is given up");
            s.Update(17);
            Check.Equal(2, t.ConnectUrls.Count, "and retried");
            t.ServerOpen();
            s.Update(17.1);
            s.Update(22.5);
            Check.Equal(SessionState.Reconnecting, s.State, "no welcome in time: retried too");

            t = new FakeTransport();
            s = new AvatarForcingSession(t, new SessionOptions { AutoReconnect = false, ResumeSessionId = "local" });
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            Check.Equal("local", t.Sent[0]["resume"], "ResumeSessionId is resumed on the first connect");
            t.ServerSend(Welcome("local", true));
            s.Update(0.1);
            Check.That(s.State == SessionState.Ready && s.SessionId == "local" && s.Reconnects == 0, "attached to it");
            t.ServerClose(1006, "gone");
            s.Update(0.2);
            Check.Equal(SessionState.Disconnected, s.State, "AutoReconnect off: a drop leaves Disconnected");
            s.Update(60);
            Check.Equal(1, t.ConnectUrls.Count, "and nothing reconnects by itself");
            s.Connect();
            t.ServerOpen();
            s.Update(61);
            Check.Equal("local", t.SentOfType("hello")[1]["resume"], "Connect resumes the session");
            t.ServerSend(Welcome("local", true));
            s.Update(61.1);
            s.Disconnect();
            Check.Equal(SessionState.Disconnected, s.State, "Disconnect: Disconnected, the session kept");
            Check.That(t.SentOfType("bye").Count == 0, "Disconnect sends no bye");

            t = new FakeTransport();
            s = new AvatarForcingSession(t, new SessionOptions());
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Welcome("s1", false));
            s.Update(0.1);
            t.ServerClose(4001, "session resumed by another connection");
            s.Update(0.2);
            s.Update(30);
            Check.That(s.State == SessionState.Disconnected && t.ConnectUrls.Count == 1,
                "taken over by another connection (4001): Disconnected, no reconnect fight");
        }

        private static void UserMotionAndValidation()
        {
            var t = new FakeTransport();
            var s = new AvatarForcingSession(t, new SessionOptions());
            s.Connect();
            t.ServerOpen();
            s.Update(0);
            t.ServerSend(Welcome("s1", false));
            s.Update(0.1);
            var frames = new float[300][];
            for (int i = 0; i < frames.Length; i++) frames[i] = new float[58];
            s.SendUserMotion(frames, null);
            var motion = t.SentOfType("user_motion");
            Check.That(motion.Count == 2 && ((List<object>)motion[0]["frames"]).Count == 250 && ((List<object>)motion[1]["frames"]).Count == 50,
                "user motion is split into messages of at most 250 rows");
            Check.That(motion[0]["names"] == null && Json.ToLong(motion[0]["seq"]) == 0 && Json.ToLong(motion[1]["seq"]) == 1,
                "names null (all 58 channels), seq 0, 1");
            s.SendUserMotion(new[] { new[] { 0.5f, 10f } }, new[] { "jawOpen", "HeadYaw" });
            var named = t.SentOfType("user_motion")[2];
            Check.Equal("[\"jawOpen\",\"HeadYaw\"]", Json.Serialize(named["names"]), "named columns sent as given");
            Check.Equal("[[0.5,10]]", Json.Serialize(named["frames"]), "rows");
            Check.Throws<ArgumentException>(() => s.SendUserMotion(new[] { new float[3] }, new[] { "JawOpen" }), "a row of the wrong width is refused");
            Check.Throws<ArgumentException>(() => s.SendUserMotion(new[] { new[] { float.NaN } }, new[] { "JawOpen" }), "NaN is refused");
            Check.Throws<ArgumentOutOfRangeException>(() => s.SendAvatarAudio(new float[10], 4000, 1), "a rate below 8 kHz is refused");
            Check.Throws<ArgumentOutOfRangeException>(() => s.SendAvatarAudio(new float[10], 16000, 9), "more than 8 channels are refused");
            Check.Throws<ArgumentException>(() => s.SendAvatarAudio(new float[3], 16000, 2), "a partial frame is refused");
            s.SendUserAudio(new float[2 * 960], 48000, 2);
            var user = t.SentOfType("audio");
            Check.That(user.Count == 1 && (string)user[0]["stream"] == "user" && Json.ToInt(user[0]["channels"]) == 2
                       && Convert.FromBase64String((string)user[0]["data"]).Length == 2 * 960 * 2, "user audio: stereo 48 kHz, one 20-ms chunk");
            Check.Equal(1L, s.NextUserSeq, "user seq counted separately");
            Check.Equal(0L, s.NextAvatarSeq, "the avatar seq is separate");
        }
    }
}
#endif
