using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>Tests of the smoothing and clock helpers.</summary>
    [TestFixture]
    public class PlaybackLogicTests
    {
        /// <summary>Smoothing is frame rate independent.</summary>
        [Test]
        public void SmoothingIsFrameRateIndependent()
        {
            float one = Smoothing.Step(0f, 1f, Smoothing.Alpha(0.1f, 0.05f));
            float half = Smoothing.Step(0f, 1f, Smoothing.Alpha(0.05f, 0.05f));
            float two = Smoothing.Step(half, 1f, Smoothing.Alpha(0.05f, 0.05f));
            Assert.AreEqual(one, two, 1e-6);
            Assert.AreEqual(1.0, Smoothing.Alpha(0.1f, 0f), 0.0);
            Assert.AreEqual(0.0, Smoothing.Alpha(0f, 0.1f), 0.0);
            var state = new[] { 0f, 10f };
            Smoothing.Step(state, new[] { 1f, 0f }, 0.5f);
            Assert.AreEqual(0.5, state[0], 1e-6);
            Assert.AreEqual(5.0, state[1], 1e-6);
        }

        /// <summary>Playback clock follows the reference smoothly.</summary>
        [Test]
        public void PlaybackClockFollowsTheReferenceSmoothly()
        {
            var clock = new PlaybackClock { TimeConstant = 0.1, SnapThreshold = 0.15 };
            Assert.AreEqual(1.0, clock.Update(1.0, 0.016), 0.0);
            Assert.AreEqual(1.016, clock.Update(1.016, 0.016), 1e-9);
            double t = clock.Update(1.062, 0.016);
            Assert.Greater(t, 1.032);
            Assert.Less(t, 1.062);
            Assert.AreEqual(5.0, clock.Update(5.0, 0.016), 0.0);
            double before = clock.Value;
            Assert.AreEqual(before, clock.Update(before - 0.1, 0.0), 0.0);
            Assert.AreEqual(before + 0.5, clock.Advance(0.5), 1e-9);
            clock.Reset();
            Assert.IsFalse(clock.HasValue);
        }

        /// <summary>Block scheduler joins blocks and shifts late ones.</summary>
        [Test]
        public void BlockSchedulerJoinsBlocksAndShiftsLateOnes()
        {
            var s = new BlockScheduler { StartDelaySeconds = 0.25, MinLeadSeconds = 0.05, MaxLeadSeconds = 1.5 };
            double t;
            Assert.IsFalse(s.TryGetSessionTime(10.0, out t));
            Assert.AreEqual(10.25, s.Schedule(2.0, 10.0), 1e-9);
            Assert.AreEqual(10.41, s.Schedule(2.16, 10.1), 1e-9);
            Assert.IsTrue(s.TryGetSessionTime(10.35, out t));
            Assert.AreEqual(2.1, t, 1e-9);
            Assert.AreEqual(10.85, s.Schedule(2.32, 10.6), 1e-9);
            Assert.AreEqual(1, s.Shifts);
            Assert.AreEqual(10.6 + 0.25 + 5.0, s.DspTimeOf(7.32), 1e-9);
            Assert.AreEqual(10.95, s.Schedule(9.0, 10.7), 1e-9);
            Assert.AreEqual(2, s.Shifts);
        }

        /// <summary>Stream resampler keeps phase across chunks.</summary>
        [Test]
        public void StreamResamplerKeepsPhaseAcrossChunks()
        {
            var whole = new StreamResampler(16000, 24000);
            var chunked = new StreamResampler(16000, 24000);
            var input = new float[1600];
            for (int i = 0; i < input.Length; i++)
            {
                input[i] = (float)System.Math.Sin(i * 0.05);
            }
            float[] a = whole.Process(input);
            var b = new System.Collections.Generic.List<float>();
            for (int start = 0; start < input.Length; start += 137)
            {
                int n = System.Math.Min(137, input.Length - start);
                var part = new float[n];
                System.Array.Copy(input, start, part, 0, n);
                b.AddRange(chunked.Process(part));
            }
            Assert.AreEqual(2399, a.Length);
            Assert.AreEqual(a.Length, b.Count);
            for (int i = 0; i < a.Length; i++)
            {
                Assert.AreEqual(a[i], b[i], 1e-5);
            }
            Assert.AreEqual(input[2], a[3], 1e-6);
        }

        /// <summary>Stream resampler downsamples without drift.</summary>
        [Test]
        public void StreamResamplerDownsamplesWithoutDrift()
        {
            var r = new StreamResampler(48000, 16000);
            int total = 0;
            for (int k = 0; k < 100; k++)
            {
                total += r.Process(new float[480]).Length;
            }
            Assert.AreEqual(16000, total, 1.0);
            Assert.AreEqual(10, new StreamResampler(8000, 8000).Process(new float[10]).Length);
        }

        /// <summary>Paced sender releases ahead of real time.</summary>
        [Test]
        public void PacedSenderReleasesAheadOfRealTime()
        {
            var sender = new PacedSender(new float[1000], 1000, 0.1, 0.3);
            int released = 0;
            float[] chunk;
            while ((chunk = sender.NextChunk(0.0)) != null)
            {
                released += chunk.Length;
            }
            Assert.AreEqual(300, released);
            while ((chunk = sender.NextChunk(0.45)) != null)
            {
                released += chunk.Length;
            }
            Assert.AreEqual(800, released);
            while ((chunk = sender.NextChunk(10.0)) != null)
            {
                released += chunk.Length;
            }
            Assert.AreEqual(1000, released);
            Assert.IsTrue(sender.IsDone);
            Assert.AreEqual(1.0, sender.DurationSeconds, 1e-9);
        }

        /// <summary>Ring cursor follows a looping recording.</summary>
        [Test]
        public void RingCursorFollowsALoopingRecording()
        {
            var cursor = new RingCursor(100);
            int start;
            Assert.AreEqual(0, cursor.Advance(10, out start));
            Assert.AreEqual(30, cursor.Advance(40, out start));
            Assert.AreEqual(10, start);
            Assert.AreEqual(80, cursor.Advance(20, out start));
            Assert.AreEqual(40, start);
            Assert.AreEqual(0, cursor.Advance(20, out start));
            Assert.AreEqual(0, cursor.Advance(-1, out start));
        }

        /// <summary>Queues run in order and drop the oldest samples.</summary>
        [Test]
        public void QueuesRunInOrderAndDropTheOldestSamples()
        {
            var queue = new MainThreadQueue();
            var log = new System.Collections.Generic.List<int>();
            queue.Post(() => log.Add(1));
            queue.Post(() => { log.Add(2); queue.Post(() => log.Add(3)); });
            Assert.AreEqual(2, queue.Drain());
            Assert.AreEqual(2, log.Count);
            Assert.AreEqual(1, queue.Drain());
            Assert.AreEqual(3, log[2]);

            var fifo = new SampleFifo(4);
            fifo.WriteMixed(new[] { 0.1f, 0.3f, 0.2f, 0.2f, 0.5f, 0.5f }, 2);
            fifo.WriteMixed(new[] { 1f, 2f, 3f }, 1);
            float[] all = fifo.ReadAll();
            Assert.AreEqual(4, all.Length);
            Assert.AreEqual(0.5, all[0], 1e-6);
            Assert.AreEqual(3.0, all[3], 1e-6);
            Assert.AreEqual(2L, fifo.Dropped);
            Assert.AreEqual(0, fifo.ReadAll().Length);
        }
    }
}
