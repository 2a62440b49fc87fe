using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using AvatarForcing.Unity;

namespace AvatarForcing.MonoChecks
{
    /// <summary>
    /// The Unity layer's playback logic against a live <c>avatar-forcing serve</c>, without Unity:
    /// speech is paced to the server as <c>AvatarForcingClient.Speak</c> does
    /// (<see cref="PacedSender"/>), the returned motion goes into a <see cref="MotionTimeline"/> and
    /// the returned avatar audio into an <see cref="AvatarAudioStream"/>, read in 1024-sample
    /// buffers at 48 kHz in real time as Unity's audio thread would. For every buffer, the face is
    /// sampled at the reported playback time. The mouth (openness: <c>JawOpen</c> plus half the lower
    /// lip's drop, as the evaluation measures it) must follow the loudness
    /// of the sound heard at the same moment: the lag with the best correlation must be close to 0.
    /// </summary>
    /// <remarks>
    /// Usage: <c>mono LiveSyncCheck.exe ws://127.0.0.1:PORT/ speech.wav</c> (16-bit PCM WAV). Built
    /// by tests/unity_client/test_unity_layer_compiles.py with the core and the standalone tests'
    /// <c>ClientWebSocketTransport</c>. Prints its measurements; exit code 0 when the checks pass.
    /// Not part of the Unity package (no assembly definition: Unity ignores it).
    /// </remarks>
    public static class LiveSyncCheck
    {
        private const int OutputRate = 48000;
        private const int BufferFrames = 1024;
        private const int MaxLagBuffers = 24;

        /// <summary>Runs the check; returns 0 when it passes.</summary>
        public static int Main(string[] args)
        {
            if (args.Length < 2)
            {
                Console.WriteLine("usage: LiveSyncCheck.exe <ws-url> <speech.wav>");
                return 2;
            }
            int rate;
            float[] speech = ReadWav(args[1], out rate);
            var transport = new Standalone.ClientWebSocketTransport();
            var options = new SessionOptions
            {
                Url = args[0],
                Config = new Dictionary<string, object>
                {
                    { "outputs", new List<object> { "motion", "audio", "events" } },
                    { "naming", "arkit" },
                    { "seed", 3 },
                },
            };
            var session = new AvatarForcingSession(transport, options);
            var timeline = new MotionTimeline();
            var stream = new AvatarAudioStream();
            int errors = 0;
            session.Welcomed += w => timeline.Fps = w.Fps;
            session.MotionReceived += b => timeline.Add(b);
            session.AvatarAudioReceived += a => stream.Write(a.Frame, timeline.Fps, a.Rate, a.Channels, a.Samples);
            session.ErrorReceived += e =>
            {
                errors++;
                Console.WriteLine("server error: " + e);
            };

            var clock = Stopwatch.StartNew();
            session.Connect();
            while (session.State != SessionState.Ready && clock.Elapsed.TotalSeconds < 20)
            {
                session.Update(clock.Elapsed.TotalSeconds);
                Thread.Sleep(5);
            }
            if (session.State != SessionState.Ready)
            {
                Console.WriteLine("FAIL: no session (state " + session.State + ")");
                return 1;
            }

            session.SendTurn("avatar_start");
            var sender = new PacedSender(speech, rate, 0.04, 0.3);
            double start = clock.Elapsed.TotalSeconds;
            double duration = sender.DurationSeconds + 2.0;
            var buffer = new float[BufferFrames];
            var face = new float[MotionTimeline.ChannelCount];
            // Mouth openness as the evaluation measures it (models/evaluation/metrics.py):
            // the jaw plus half the lower lip's drop.
            int jaw = ArkitNames.IndexOf("JawOpen");
            int lowerLeft = ArkitNames.IndexOf("MouthLowerDownLeft");
            int lowerRight = ArkitNames.IndexOf("MouthLowerDownRight");
            var mouths = new List<double>();
            var levels = new List<double>();
            double nextRead = 0.0;
            while (clock.Elapsed.TotalSeconds - start < duration)
            {
                double now = clock.Elapsed.TotalSeconds;
                session.Update(now);
                float[] chunk;
                while ((chunk = sender.NextChunk(now - start)) != null)
                {
                    session.SendAvatarAudio(chunk, rate, 1);
                }
                while (nextRead <= now - start)
                {
                    long ticks = Stopwatch.GetTimestamp();
                    stream.Read(buffer, 1, OutputRate, ticks);
                    double heard;
                    if (stream.IsPlaying && stream.TryGetPlaybackTime(ticks, Stopwatch.Frequency, 0.0, out heard)
                        && timeline.Sample(heard + 0.5 * BufferFrames / OutputRate, face))
                    {
                        mouths.Add(face[jaw] + 0.25 * (face[lowerLeft] + face[lowerRight]));
                        levels.Add(Rms(buffer));
                    }
                    nextRead += (double)BufferFrames / OutputRate;
                }
                Thread.Sleep(2);
            }
            session.Bye();
            session.Update(clock.Elapsed.TotalSeconds);
            transport.Dispose();

            double bestCorrelation = double.NegativeInfinity;
            int bestLag = 0;
            for (int lag = -MaxLagBuffers; lag <= MaxLagBuffers; lag++)
            {
                double c = Correlation(mouths, levels, lag);
                if (c > bestCorrelation)
                {
                    bestCorrelation = c;
                    bestLag = lag;
                }
            }
            double lagMs = 1000.0 * bestLag * BufferFrames / OutputRate;
            double atZero = Correlation(mouths, levels, 0);
            Console.WriteLine("buffers with face and sound: " + mouths.Count);
            Console.WriteLine("underruns: " + stream.Underruns + ", skips: " + stream.Skips + ", server errors: " + errors);
            Console.WriteLine("mouth openness/loudness correlation at lag 0: " + atZero.ToString("0.000"));
            Console.WriteLine("best lag: " + lagMs.ToString("0") + " ms (correlation " + bestCorrelation.ToString("0.000") + ")");

            bool ok = true;
            ok &= Check(mouths.Count > 0.5 * sender.DurationSeconds * OutputRate / BufferFrames, "the face was sampled during the speech");
            ok &= Check(errors == 0, "no server errors");
            ok &= Check(atZero > 0.3, "the mouth follows the sound heard (correlation > 0.3 at lag 0)");
            ok &= Check(Math.Abs(lagMs) <= 130.0, "the best lag is within 130 ms of 0");
            return ok ? 0 : 1;
        }

        private static bool Check(bool condition, string what)
        {
            Console.WriteLine((condition ? "ok   " : "FAIL ") + what);
            return condition;
        }

        private static double Rms(float[] x)
        {
            double sum = 0.0;
            foreach (float v in x)
            {
                sum += v * v;
            }
            return Math.Sqrt(sum / x.Length);
        }

        /// <summary>Pearson correlation of a[i] and b[i + lag].</summary>
        private static double Correlation(List<double> a, List<double> b, int lag)
        {
            int from = Math.Max(0, -lag);
            int to = Math.Min(a.Count, b.Count - lag);
            int n = to - from;
            if (n < 10)
            {
                return double.NegativeInfinity;
            }
            double ma = 0.0;
            double mb = 0.0;
            for (int i = from; i < to; i++)
            {
                ma += a[i];
                mb += b[i + lag];
            }
            ma /= n;
            mb /= n;
            double sab = 0.0;
            double saa = 0.0;
            double sbb = 0.0;
            for (int i = from; i < to; i++)
            {
                double da = a[i] - ma;
                double db = b[i + lag] - mb;
                sab += da * db;
                saa += da * da;
                sbb += db * db;
            }
            return saa > 0.0 && sbb > 0.0 ? sab / Math.Sqrt(saa * sbb) : 0.0;
        }

        /// <summary>Reads a 16-bit PCM WAV file (channels mixed to mono).</summary>
        private static float[] ReadWav(string path, out int rate)
        {
            byte[] bytes = File.ReadAllBytes(path);
            int channels = 1;
            rate = 0;
            int pos = 12;
            while (pos + 8 <= bytes.Length)
            {
                string id = System.Text.Encoding.ASCII.GetString(bytes, pos, 4);
                int size = BitConverter.ToInt32(bytes, pos + 4);
                if (id == "fmt ")
                {
                    channels = BitConverter.ToInt16(bytes, pos + 10);
                    rate = BitConverter.ToInt32(bytes, pos + 12);
                }
                else if (id == "data")
                {
                    int frames = size / (2 * channels);
                    var mono = new float[frames];
                    for (int f = 0; f < frames; f++)
                    {
                        float sum = 0f;
                        for (int c = 0; c < channels; c++)
                        {
                            sum += BitConverter.ToInt16(bytes, pos + 8 + 2 * (f * channels + c)) / 32768f;
                        }
                        mono[f] = sum / channels;
                    }
                    return mono;
                }
                pos += 8 + size + (size & 1);
            }
            throw new InvalidDataException(path + ": no 16-bit PCM data");
        }
    }
}
