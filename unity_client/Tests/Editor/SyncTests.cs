using System;
using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>
    /// Audio and face on one clock: blocks as the server sends them (motion and avatar audio of the
    /// same frames), played through <see cref="AvatarAudioStream"/> with a simulated audio thread,
    /// while the face is sampled from <see cref="MotionTimeline"/> at the reported playback time.
    /// </summary>
    [TestFixture]
    public class SyncTests
    {
        private const int Fps = 25;
        private const int Rate = 16000;
        private const int OutputRate = 48000;
        private const int BlockFrames = 4;

        /// <summary>Frames 20..39 speak (loud audio, open jaw); the rest is silent with a closed jaw.</summary>
        private static bool Speaking(int frame)
        {
            return frame >= 20 && frame < 40;
        }

        /// <summary>The face shown is the face of the sound heard, across network jitter.</summary>
        [Test]
        public void TheFaceShownBelongsToTheSoundHeard()
        {
            var stream = new AvatarAudioStream { StartBufferSeconds = 0.25, MaxBufferSeconds = 1.0 };
            var timeline = new MotionTimeline();
            var random = new Random(7);
            int jaw = ArkitNames.IndexOf("JawOpen");
            var face = new float[MotionTimeline.ChannelCount];
            var buffer = new float[1024 * 2];
            long ticksPerSecond = 1000000;
            long now = 0;
            int nextBlock = 0;
            double arrivals = 0.0;
            int checkedFrames = 0;
            int mismatches = 0;

            for (int callback = 0; callback < 150; callback++)
            {
                // The network delivers blocks with jitter (0..120 ms late).
                while (nextBlock < 64 && arrivals <= (double)now / ticksPerSecond)
                {
                    int frame = nextBlock * BlockFrames;
                    Deliver(stream, timeline, frame);
                    nextBlock++;
                    arrivals = (double)(nextBlock * BlockFrames) / Fps + random.NextDouble() * 0.12;
                }

                stream.Read(buffer, 2, OutputRate, now);
                double heard;
                if (stream.TryGetPlaybackTime(now, ticksPerSecond, 0.0, out heard) && stream.IsPlaying && timeline.Sample(heard, face))
                {
                    bool loud = Math.Abs(buffer[0]) > 0.1 || Math.Abs(buffer[buffer.Length / 2]) > 0.1;
                    bool open = face[jaw] > 0.5f;
                    int frameHeard = (int)Math.Floor(heard * Fps);
                    double intoFrame = heard * Fps - frameHeard;
                    if (intoFrame > 0.1 && intoFrame < 0.9 && Speaking(frameHeard) == Speaking(frameHeard + 1))
                    {
                        checkedFrames++;
                        if (loud != open)
                        {
                            mismatches++;
                        }
                    }
                }
                now += 1024L * ticksPerSecond / OutputRate;
            }
            Assert.Greater(checkedFrames, 40);
            Assert.AreEqual(0, mismatches);
        }

        private static void Deliver(AvatarAudioStream stream, MotionTimeline timeline, int frame)
        {
            var values = new float[BlockFrames][];
            for (int i = 0; i < BlockFrames; i++)
            {
                values[i] = new float[ArkitNames.Count];
                values[i][ArkitNames.IndexOf("JawOpen")] = Speaking(frame + i) ? 0.9f : 0f;
            }
            timeline.Add(new MotionBlock { Frame = frame, Fps = Fps, Names = ArkitNames.All, Values = values });

            long start = (long)frame * Rate / Fps;
            long end = (long)(frame + BlockFrames) * Rate / Fps;
            var samples = new float[end - start];
            for (long s = start; s < end; s++)
            {
                int f = (int)(s * Fps / Rate);
                samples[s - start] = Speaking(f) ? (float)(0.8 * Math.Sign(Math.Sin(2.0 * Math.PI * 200.0 * s / Rate) + 1e-9)) : 0f;
            }
            stream.Write(frame, Fps, Rate, 1, samples);
        }
    }
}
