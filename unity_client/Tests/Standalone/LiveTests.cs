// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace AvatarForcing.Standalone
{
    /// <summary>
    /// The round trip against a live <c>avatar-forcing serve</c>, over a real websocket
    /// (<see cref="ClientWebSocketTransport"/>): handshake, config, speech streamed in real time,
    /// motion and avatar audio decoded and checked, a forced disconnect followed by a resumed
    /// session, bye, and a resume of the ended session (refused: a new session starts).
    /// </summary>
    public static class LiveTests
    {
        private const int Fps = 25;
        private const double Lead = 0.2; // audio is sent this far ahead of the session clock, s
        private const double JawThreshold = 0.08; // the trained model opens the jaw well past this for speech

        private sealed class Recorder
        {
            public readonly List<MotionBlock> Motion = new List<MotionBlock>();
            public readonly List<AvatarAudioBlock> Audio = new List<AvatarAudioBlock>();
            public readonly List<ServerError> Errors = new List<ServerError>();
            public readonly List<TurnEventInfo> Turns = new List<TurnEventInfo>();
            public readonly List<KeyValuePair<string, Dictionary<string, object>>> Acks = new List<KeyValuePair<string, Dictionary<string, object>>>();
            public readonly List<WelcomeInfo> Welcomes = new List<WelcomeInfo>();
            public readonly List<SessionState> States = new List<SessionState>();
            public readonly List<string> Warnings = new List<string>();
            public int Stats;
            public long SkippedFrames; // the server's latest stats: frames skipped (lag) or dropped (outbox)
            public int ResumeIndex = -1; // Motion.Count when a resumed welcome came

            public void Attach(AvatarForcingSession s)
            {
                s.MotionReceived += Motion.Add;
                s.AvatarAudioReceived += Audio.Add;
                s.ErrorReceived += e =>
                {
                    Errors.Add(e);
                    Check.Note("server error: " + e);
                };
                s.TurnEventReceived += Turns.Add;
                s.AckReceived += (of, cfg) => Acks.Add(new KeyValuePair<string, Dictionary<string, object>>(of, cfg));
                s.Welcomed += w =>
                {
                    Welcomes.Add(w);
                    if (w.Resumed) ResumeIndex = Motion.Count;
                };
                s.StateChanged += st =>
                {
                    States.Add(st);
                    Check.Note("state: " + st);
                };
                s.Warning += w =>
                {
                    Warnings.Add(w);
                    Check.Note("warning: " + w);
                };
                s.MessageReceived += (type, m) =>
                {
                    if (type == "stats")
                    {
                        Stats++;
                        SkippedFrames = Json.ToLong(m["skipped_frames"]) + Json.ToLong(m["dropped_frames"]);
                        Check.Note(string.Format(CultureInfo.InvariantCulture, "stats: t {0:0.00} s, rtf {1:0.00}, {2} late blocks, {3} frames skipped/dropped",
                            Json.GetDouble(m, "t"), Json.GetDouble(m, "rtf"), Json.GetInt(m, "late_blocks"), SkippedFrames));
                    }
                };
            }
        }

        /// <summary>Runs the live checks against <paramref name="url"/>, streaming
        /// <paramref name="audioPath"/> (16-kHz mono speech) or, when null, a synthetic voice.</summary>
        public static void Run(string url, string audioPath)
        {
            Check.Section("live server at " + url);
            int rate;
            float[] speech;
            if (audioPath != null)
            {
                speech = AudioFile.Read(audioPath, out rate);
                Check.Note("audio: " + audioPath + ", " + (speech.Length / (double)rate).ToString("0.00", CultureInfo.InvariantCulture) + " s at " + rate + " Hz");
            }
            else
            {
                rate = 16000;
                speech = AudioFile.Speech(5, rate);
                Check.Note("audio: a synthetic voice, 5 s at 16 kHz");
            }
            int partA = Math.Min(speech.Length, 3 * rate);
            int partB = Math.Min(speech.Length - partA, 3 * rate / 2);
            if (!Check.That(partB > rate / 2, "the audio is long enough (3 s before the drop, 1.5 s after)")) return;

            var clock = Stopwatch.StartNew();
            var transport = new ClientWebSocketTransport();
            var options = new SessionOptions
            {
                Url = url,
                ClientName = "avatar-forcing-core-tests/1",
                Config = new Dictionary<string, object>
                {
                    { "naming", "arkit" }, { "seed", 0 }, { "outputs", new[] { "motion", "audio", "events", "stats" } },
                    { "nfe", 5 }, // fewer denoising steps: keeps up in real time on a busy 2-core machine
                },
                ReconnectInitialDelay = 0.3,
            };
            var session = new AvatarForcingSession(transport, options);
            var rec = new Recorder();
            rec.Attach(session);
            Action pump = () => session.Update(clock.Elapsed.TotalSeconds);

            // --- handshake and config ------------------------------------------------------------
            session.Connect();
            if (!Check.That(PumpUntil(pump, () => session.State == SessionState.Ready, 15), "handshake: Ready")) return;
            WelcomeInfo welcome = session.Welcome;
            Check.That(!string.IsNullOrEmpty(session.SessionId) && !welcome.Resumed, "welcome: a new session " + session.SessionId);
            Check.Equal(1, welcome.Version, "welcome: protocol version 1");
            Check.Equal(25, welcome.Fps, "welcome: fps 25");
            Check.That(welcome.HasCapability("json") && welcome.HasCapability("resume") && welcome.HasCapability("naming:arkit"),
                "welcome: capabilities json, resume, naming:arkit (" + string.Join(" ", welcome.Capabilities) + ")");
            Check.That(welcome.ResumeGraceSeconds > 1, "welcome: resume grace " + welcome.ResumeGraceSeconds + " s");
            Check.Equal("Connecting,Handshaking,Ready", string.Join(",", rec.States), "states on connect");

            session.SendTurn("avatar_start");
            bool acked = PumpUntil(pump, () => rec.Acks.Any(a => a.Key == "config") && rec.Acks.Any(a => a.Key == "turn"), 5);
            Check.That(acked, "config and turn acknowledged");
            var configAck = rec.Acks.FirstOrDefault(a => a.Key == "config").Value;
            Check.That(configAck != null && (string)configAck["naming"] == "arkit" && Json.ToInt(configAck["seed"]) == 0,
                "the ack carries the effective config: naming arkit, seed 0");

            // --- 3 s of speech in real time --------------------------------------------------------
            double start = clock.Elapsed.TotalSeconds;
            int sentA = StreamPaced(session, speech, 0, partA, rate, start, clock, pump);
            long seqA = session.NextAvatarSeq;
            int chunkFrames = (int)Math.Round(rate * options.AudioChunkSeconds);
            Check.Equal((long)((partA + chunkFrames - 1) / chunkFrames), seqA, "avatar audio sent as 40-ms chunks, seq 0.." + (seqA - 1));
            int lastFrameA = (int)((clock.Elapsed.TotalSeconds - start + 0.3) * Fps);
            PumpUntil(pump, () => session.LastMotionFrame >= lastFrameA, 5);
            PumpUntil(pump, () => rec.Audio.Count >= rec.Motion.Count, 2); // each block's audio follows its motion
            Check.Note("streamed " + sentA + " samples; " + rec.Motion.Count + " motion blocks, " + rec.Audio.Count
                       + " avatar audio blocks, " + rec.Stats + " stats");

            List<MotionBlock> before = rec.Motion.ToList();
            if (!Check.That(before.Count >= 15, "motion blocks received (" + before.Count + ")")) return;
            int stats = rec.Stats;
            PumpUntil(pump, () => rec.Stats > stats, 2); // fresh skip counts
            CheckMotion(before, "before the drop", rec);
            CheckAudio(before, rec.Audio.ToList(), speech, partA, rate);
            Check.That(rec.Turns.Any(e => e.Event == "avatar_started"), "turn events: avatar_started");
            float jawA = MaxOf(before, "JawOpen");
            Check.That(jawA > JawThreshold, "the mouth moves with the speech: max JawOpen " + jawA.ToString("0.000", CultureInfo.InvariantCulture));
            Check.Equal(0, rec.Errors.Count, "no server errors so far");

            // --- forced disconnect, resume ---------------------------------------------------------
            string id = session.SessionId;
            long skippedAtDrop = rec.SkippedFrames;
            rec.States.Clear();
            Check.Note("dropping the connection (no close frame, no bye) after frame " + session.LastMotionFrame);
            transport.Drop();
            double startB = clock.Elapsed.TotalSeconds;
            // Keep "speaking" meanwhile: the chunks are queued while reconnecting and sent after the resume.
            int sentB = StreamPaced(session, speech, partA, partB, rate, startB, clock, pump);
            PumpUntil(pump, () => session.State == SessionState.Ready, 10);
            Check.That(rec.States.Count >= 2 && rec.States[0] == SessionState.Reconnecting && rec.States[rec.States.Count - 1] == SessionState.Ready,
                "the session reconnected by itself: " + string.Join(",", rec.States));
            Check.Equal(1, session.Reconnects, "Reconnects = 1");
            WelcomeInfo resumed = rec.Welcomes.Last();
            Check.That(rec.Welcomes.Count == 2 && resumed.Resumed, "welcome resumed = true");
            Check.Equal(id, resumed.SessionId, "the same session id");
            Check.Equal(0, session.DroppedAudioChunks, "no queued audio dropped");
            Check.Equal(seqA + (sentB + chunkFrames - 1) / chunkFrames, session.NextAvatarSeq, "audio seq continued across the resume");
            int split = rec.ResumeIndex; // blocks from here on came over the new connection
            int lastBefore = split > 0 ? rec.Motion[split - 1].LastFrame : -1;
            // The audio sent since the drop (1.5 s) is placed from the resume on: wait for its motion.
            int lastFrameB = lastBefore + (int)((partB / (double)rate + 0.3) * Fps);
            // A server that fell behind skips frames and plays the queued audio after them: wait for those too.
            PumpUntil(pump, () => session.LastMotionFrame >= lastFrameB + (rec.SkippedFrames - skippedAtDrop), 10);
            List<MotionBlock> after = split >= 0 ? rec.Motion.Skip(split).ToList() : new List<MotionBlock>();
            int span = after.Count > 0 ? after.Last().LastFrame - after[0].Frame + 1 : 0; // skipped frames count: the clock ran
            if (!Check.That(span >= partB * Fps / rate, "motion resumed (" + after.Count + " blocks, frames "
                                                                      + (after.Count > 0 ? after[0].Frame + ".." + after.Last().LastFrame : "none") + ")")) return;
            Check.That(after[0].Frame > lastBefore, "frame numbers continue after the resume: " + lastBefore + " then " + after[0].Frame
                                                    + " (no restart from 0)");
            stats = rec.Stats;
            PumpUntil(pump, () => rec.Stats > stats, 2);
            CheckMotion(after, "after the resume", rec);
            CheckContiguous(rec.Motion, "over the whole session (a gap allowed at the resume)", split, rec);
            float jawB = MaxOf(after, "JawOpen");
            Check.That(jawB > JawThreshold, "the mouth moves with the audio sent while reconnecting: max JawOpen " + jawB.ToString("0.000", CultureInfo.InvariantCulture));
            Check.That(!rec.Errors.Any(e => e.Code == ErrorCodes.SequenceGap || e.Code == ErrorCodes.SequenceRepeat),
                "no sequence_gap / sequence_repeat errors");
            Check.Equal(0, rec.Errors.Count, "no server errors at all");
            Check.Equal(1, rec.Acks.Count(a => a.Key == "config"), "the resumed session was not configured again");

            // --- bye -----------------------------------------------------------------------------
            session.Bye();
            Check.Equal(SessionState.Closed, session.State, "bye: Closed");
            PumpUntil(pump, () => !transport.IsOpen, 3);
            Check.That(!transport.IsOpen, "the connection is closed");
            pump();
            Check.Equal(SessionState.Closed, session.State, "and stays closed (no reconnect)");
            session.Dispose();
            transport.Dispose();

            // --- the ended session cannot be resumed: a new one starts --------------------------------
            var transport2 = new ClientWebSocketTransport();
            var session2 = new AvatarForcingSession(transport2, new SessionOptions
            {
                Url = url,
                ResumeSessionId = id,
                Config = new Dictionary<string, object> { { "seed", 1 } },
            });
            var rec2 = new Recorder();
            rec2.Attach(session2);
            Action pump2 = () => session2.Update(clock.Elapsed.TotalSeconds);
            session2.Connect();
            bool ready = PumpUntil(pump2, () => session2.State == SessionState.Ready, 10);
            Check.That(ready && rec2.Errors.Count == 1 && rec2.Errors[0].Code == ErrorCodes.UnknownSession && rec2.Errors[0].Fatal,
                "resuming the ended session is refused with unknown_session");
            Check.That(ready && session2.SessionId != id && !session2.Welcome.Resumed, "and a new session starts: " + session2.SessionId);
            Check.That(PumpUntil(pump2, () => rec2.Acks.Any(a => a.Key == "config"), 5), "the new session is configured");
            session2.Dispose();
            PumpUntil(() => transport2.Poll(), () => !transport2.IsOpen, 3);
            Check.Equal(SessionState.Closed, session2.State, "Dispose: Closed");
            transport2.Dispose();
        }

        /// <summary>Sends samples [from, from + count) as the avatar's voice, each 40-ms chunk
        /// <see cref="Lead"/> s before its time (clock start <paramref name="start"/>), pumping
        /// the session meanwhile. Returns the samples sent.</summary>
        private static int StreamPaced(AvatarForcingSession s, float[] x, int from, int count, int rate, double start, Stopwatch clock, Action pump)
        {
            int chunk = (int)Math.Round(rate * s.Options.AudioChunkSeconds);
            int sent = 0;
            while (sent < count)
            {
                double t = clock.Elapsed.TotalSeconds - start;
                int due = Math.Min(count, (int)((t + Lead) * rate));
                while (sent + chunk <= due || (due == count && sent < count))
                {
                    int n = Math.Min(chunk, count - sent);
                    s.SendAvatarAudio(x, from + sent, n, rate, 1);
                    sent += n;
                }
                pump();
                Thread.Sleep(5);
            }
            return sent;
        }

        private static bool PumpUntil(Action pump, Func<bool> done, double seconds)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                pump();
                if (done()) return true;
                Thread.Sleep(5);
            }
            pump();
            return done();
        }

        private static float MaxOf(List<MotionBlock> blocks, string name)
        {
            float max = float.MinValue;
            foreach (var b in blocks)
            {
                for (int i = 0; i < b.Count; i++) max = Math.Max(max, b.Get(i, name));
            }
            return max;
        }

        private static void CheckMotion(List<MotionBlock> blocks, string when, Recorder rec)
        {
            bool names = blocks.All(b => b.Naming == "arkit" && b.Names.SequenceEqual(ArkitNames.All));
            Check.That(names, "motion " + when + ": naming arkit, the 58 channels in canonical order (JawOpen at "
                              + blocks[0].IndexOf("JawOpen") + ")");
            bool stamps = true, finite = true, ranges = true, fps = true;
            foreach (var b in blocks)
            {
                fps &= b.Fps == Fps && b.Timestamps.Length == b.Count && b.Count > 0;
                for (int i = 0; i < b.Count && i < b.Timestamps.Length; i++)
                {
                    stamps &= Math.Abs(b.Timestamps[i] - (b.Frame + i) / (double)Fps) < 1e-9;
                    for (int j = 0; j < b.Values[i].Length; j++)
                    {
                        float v = b.Values[i][j];
                        finite &= !float.IsNaN(v) && !float.IsInfinity(v);
                        if (j < ArkitNames.BlendshapeCount) ranges &= v >= 0f && v <= 1f;
                    }
                }
            }
            Check.That(fps, "motion " + when + ": fps 25, one timestamp per frame");
            Check.That(stamps, "motion " + when + ": timestamps = frame / 25");
            Check.That(finite, "motion " + when + ": values finite");
            Check.That(ranges, "motion " + when + ": blendshapes within 0..1");
            CheckContiguous(blocks, when, -1, rec);
        }

        /// <summary>Frames strictly increasing over the blocks, and contiguous except at block
        /// index <paramref name="allowGapAt"/>, or where the server said it skipped frames (a
        /// server more than 1 s behind skips ahead; on a busy machine that is correct).</summary>
        private static void CheckContiguous(List<MotionBlock> blocks, string when, int allowGapAt, Recorder rec)
        {
            bool increasing = true;
            long missing = 0;
            for (int k = 1; k < blocks.Count; k++)
            {
                int expected = blocks[k - 1].Frame + blocks[k - 1].Count;
                increasing &= blocks[k].Frame >= expected;
                if (k != allowGapAt) missing += Math.Max(0, blocks[k].Frame - expected);
            }
            string range = " (" + blocks[0].Frame + ".." + blocks[blocks.Count - 1].LastFrame + ")";
            Check.That(increasing, "motion " + when + ": frames strictly increasing" + range);
            if (missing > 0 && missing <= rec.SkippedFrames)
            {
                Check.Note(missing + " frames missing " + when + ": the server reports " + rec.SkippedFrames
                           + " skipped/dropped frames (it fell behind: a busy machine)");
            }
            Check.That(missing <= rec.SkippedFrames, "motion " + when + ": frames contiguous across blocks"
                                                     + (missing > 0 ? " but for the " + missing + " frames the server skipped" : ""));
        }

        private static void CheckAudio(List<MotionBlock> motion, List<AvatarAudioBlock> audio, float[] sent, int sentCount, int rate)
        {
            var byFrame = new Dictionary<int, AvatarAudioBlock>();
            foreach (var a in audio) byFrame[a.Frame] = a;
            bool inStep = motion.All(m => byFrame.ContainsKey(m.Frame) && byFrame[m.Frame].Frames == m.Count);
            Check.That(inStep, "avatar audio in step: one block per motion block, same frame and frame count");
            bool format = audio.All(a => a.Rate == rate && a.Channels == 1 && Math.Abs(a.T - a.Frame / (double)Fps) < 1e-9
                                         && a.SampleFrames == (a.Frame + a.Frames) * rate / Fps - a.Frame * rate / Fps);
            Check.That(format, "avatar audio: the stream's rate, mono, t = frame / 25, frames * rate / 25 samples");

            // The audio comes back as placed on the clock: our samples, bit-exact after s16 rounding.
            var back = new List<float>();
            foreach (var a in audio.OrderBy(a => a.Frame)) back.AddRange(a.Samples);
            var expected = new float[sentCount];
            for (int i = 0; i < sentCount; i++) expected[i] = Pcm.FloatToShort(sent[i]) / 32768f;
            int firstSent = Array.FindIndex(expected, v => v != 0);
            int firstBack = back.FindIndex(v => v != 0);
            int matched = 0, compared = 0;
            if (firstSent >= 0 && firstBack >= 0)
            {
                int shift = firstBack - firstSent;
                for (int i = firstSent; i < sentCount && i + shift < back.Count; i++)
                {
                    compared++;
                    if (back[i + shift] == expected[i]) matched++;
                }
            }
            Check.That(compared > rate * 2 && matched >= compared * 0.98,
                "the avatar audio returned is the audio sent: " + matched + " of " + compared + " samples equal");
        }
    }
}
#endif
