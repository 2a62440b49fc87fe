using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>Tests of <see cref="AvatarAudioStream"/> (the player's ring buffer and clock).</summary>
    [TestFixture]
    public class AvatarAudioStreamTests
    {
        private const int Rate = 1000;
        private const int Fps = 25;

        private static float[] Ramp(int start, int count)
        {
            var s = new float[count];
            for (int i = 0; i < count; i++)
            {
                s[i] = (start + i) / 10000f;
            }
            return s;
        }

        private static AvatarAudioStream Filled(int blocks)
        {
            var stream = new AvatarAudioStream { StartBufferSeconds = 0.25, MaxBufferSeconds = 5.0 };
            for (int b = 0; b < blocks; b++)
            {
                stream.Write(b * 4, Fps, Rate, 1, Ramp(b * 160, 160));
            }
            return stream;
        }

        /// <summary>Plays blocks in order at their sample positions.</summary>
        [Test]
        public void PlaysBlocksInOrderAtTheirSamplePositions()
        {
            AvatarAudioStream stream = Filled(3);
            var output = new float[100];
            stream.Read(output, 1, Rate, 0);
            Assert.IsTrue(stream.IsPlaying);
            for (int i = 0; i < output.Length; i++)
            {
                Assert.AreEqual(i / 10000.0, output[i], 1e-6);
            }
            Assert.AreEqual(0.1, stream.PlayheadTime, 1e-9);
            Assert.AreEqual(0.38, stream.BufferedSeconds, 1e-9);
        }

        /// <summary>Waits for the start buffer and copies mono to every channel.</summary>
        [Test]
        public void WaitsForTheStartBufferAndCopiesMonoToEveryChannel()
        {
            var stream = new AvatarAudioStream { StartBufferSeconds = 0.25 };
            stream.Write(0, Fps, Rate, 1, Ramp(0, 160));
            var stereo = new float[20];
            stream.Read(stereo, 2, Rate, 0);
            Assert.IsFalse(stream.IsPlaying);
            Assert.AreEqual(0.0, stereo[5], 0.0);
            stream.Write(4, Fps, Rate, 1, Ramp(160, 160));
            stream.Read(stereo, 2, Rate, 0);
            Assert.IsTrue(stream.IsPlaying);
            Assert.AreEqual(stereo[6], stereo[7], 0.0);
            Assert.AreEqual(3 / 10000.0, stereo[6], 1e-6);
        }

        /// <summary>Mixes interleaved blocks to mono.</summary>
        [Test]
        public void MixesInterleavedBlocksToMono()
        {
            var stream = new AvatarAudioStream { StartBufferSeconds = 0.0 };
            var stereo = new float[320];
            for (int i = 0; i < 160; i++)
            {
                stereo[2 * i] = 0.2f;
                stereo[2 * i + 1] = 0.4f;
            }
            stream.Write(0, Fps, Rate, 2, stereo);
            var output = new float[10];
            stream.Read(output, 1, Rate, 0);
            Assert.AreEqual(0.3, output[3], 1e-6);
        }

        /// <summary>Resamples to the output rate.</summary>
        [Test]
        public void ResamplesToTheOutputRate()
        {
            AvatarAudioStream stream = Filled(3);
            var output = new float[200];
            stream.Read(output, 1, 2 * Rate, 0);
            Assert.AreEqual(0.0, output[0], 1e-6);
            Assert.AreEqual(0.5 / 10000.0, output[1], 1e-6);
            Assert.AreEqual(50 / 10000.0, output[100], 1e-6);
            Assert.AreEqual(0.1, stream.PlayheadTime, 1e-9);
        }

        /// <summary>Reports the time being heard.</summary>
        [Test]
        public void ReportsTheTimeBeingHeard()
        {
            AvatarAudioStream stream = Filled(3);
            double t;
            Assert.IsFalse(stream.TryGetPlaybackTime(0, 1000, 0.0, out t));
            stream.Read(new float[100], 1, Rate, 5000);
            Assert.IsTrue(stream.TryGetPlaybackTime(5050, 1000, 0.0, out t));
            Assert.AreEqual(0.05, t, 1e-9);
            Assert.IsTrue(stream.TryGetPlaybackTime(5050, 1000, 0.02, out t));
            Assert.AreEqual(0.03, t, 1e-9);
            Assert.IsTrue(stream.TryGetPlaybackTime(9000, 1000, 0.0, out t));
            Assert.AreEqual(0.15, t, 1e-9);
        }

        /// <summary>Holds the playhead on underrun and resumes after rebuffering.</summary>
        [Test]
        public void HoldsThePlayheadOnUnderrunAndResumesAfterRebuffering()
        {
            AvatarAudioStream stream = Filled(2);
            var output = new float[400];
            stream.Read(output, 1, Rate, 0);
            Assert.IsFalse(stream.IsPlaying);
            Assert.AreEqual(1L, stream.Underruns);
            Assert.AreEqual(0.0, output[399], 0.0);
            double held = stream.PlayheadTime;
            stream.Read(output, 1, Rate, 0);
            Assert.AreEqual(held, stream.PlayheadTime, 1e-12);
            stream.Write(8, Fps, Rate, 1, Ramp(320, 160));
            stream.Write(12, Fps, Rate, 1, Ramp(480, 160));
            stream.Read(new float[10], 1, Rate, 0);
            Assert.IsTrue(stream.IsPlaying);
        }

        /// <summary>Skips ahead when too much is buffered.</summary>
        [Test]
        public void SkipsAheadWhenTooMuchIsBuffered()
        {
            var stream = new AvatarAudioStream { StartBufferSeconds = 0.2, MaxBufferSeconds = 0.5 };
            for (int b = 0; b < 10; b++)
            {
                stream.Write(b * 4, Fps, Rate, 1, Ramp(b * 160, 160));
            }
            stream.Read(new float[10], 1, Rate, 0);
            Assert.AreEqual(1L, stream.Skips);
            Assert.AreEqual(1.6 - 0.2 + 0.01, stream.PlayheadTime, 1e-9);
        }

        /// <summary>Barge in silences until the servers interrupt frame.</summary>
        [Test]
        public void BargeInSilencesUntilTheServersInterruptFrame()
        {
            AvatarAudioStream stream = Filled(3);
            stream.Read(new float[100], 1, Rate, 0);
            stream.CutAt(stream.PlayheadTime);
            stream.Write(12, Fps, Rate, 1, Ramp(480, 160));
            stream.EndCut(0.56);
            stream.Write(16, Fps, Rate, 1, Ramp(640, 160));
            var output = new float[600];
            stream.Read(output, 1, Rate, 0);
            Assert.AreEqual(0.0, output[0], 0.0);
            Assert.AreEqual(0.0, output[459], 0.0);
            Assert.AreEqual(660 / 10000.0, output[560], 1e-6);
        }

        /// <summary>A rate change keeps the clock.</summary>
        [Test]
        public void ARateChangeKeepsTheClock()
        {
            AvatarAudioStream stream = Filled(3);
            stream.Read(new float[100], 1, Rate, 0);
            stream.Write(12, Fps, 2 * Rate, 1, new float[320]);
            Assert.AreEqual(2 * Rate, stream.SampleRate);
            Assert.AreEqual(0.1, stream.PlayheadTime, 1e-9);
        }

        /// <summary>Clear forgets everything.</summary>
        [Test]
        public void ClearForgetsEverything()
        {
            AvatarAudioStream stream = Filled(3);
            stream.Read(new float[100], 1, Rate, 0);
            stream.Clear();
            double t;
            Assert.IsFalse(stream.HasStarted);
            Assert.IsFalse(stream.TryGetPlaybackTime(0, 1000, 0.0, out t));
            stream.Write(1000, Fps, Rate, 1, Ramp(0, 160));
            Assert.AreEqual(40.0, stream.PlayheadTime, 1e-9);
        }
    }
}
