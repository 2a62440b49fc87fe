using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>Tests of <see cref="MotionTimeline"/>.</summary>
    [TestFixture]
    public class MotionTimelineTests
    {
        private static readonly int Jaw = ArkitNames.IndexOf("JawOpen");
        private static readonly int Yaw = ArkitNames.IndexOf("HeadYaw");

        private static MotionBlock Block(int frame, string[] names, params float[][] rows)
        {
            var timestamps = new double[rows.Length];
            for (int i = 0; i < rows.Length; i++)
            {
                timestamps[i] = (frame + i) / 25.0;
            }
            return new MotionBlock { Frame = frame, Fps = 25, Naming = "arkit", Names = names, Timestamps = timestamps, Values = rows };
        }

        /// <summary>Interpolates between frames on the session clock.</summary>
        [Test]
        public void InterpolatesBetweenFramesOnTheSessionClock()
        {
            var timeline = new MotionTimeline();
            timeline.Add(Block(10, new[] { "JawOpen", "HeadYaw" }, new[] { 0.2f, 10f }, new[] { 0.4f, 20f }));
            var frame = new float[MotionTimeline.ChannelCount];
            Assert.IsTrue(timeline.Sample(10.5 / 25.0, frame));
            Assert.AreEqual(0.3, frame[Jaw], 1e-5);
            Assert.AreEqual(15.0, frame[Yaw], 1e-4);
            Assert.IsTrue(timeline.Sample(10.0 / 25.0, frame));
            Assert.AreEqual(0.2, frame[Jaw], 1e-6);
            Assert.AreEqual(11, timeline.NewestFrame);
        }

        /// <summary>Accepts every spelling and ignores other channels.</summary>
        [Test]
        public void AcceptsEverySpellingAndIgnoresOtherChannels()
        {
            var timeline = new MotionTimeline();
            timeline.Add(Block(0, new[] { "jawOpen", "eyeBlink_L", "MouthOpen" }, new[] { 0.5f, 0.7f, 0.9f }));
            var frame = new float[MotionTimeline.ChannelCount];
            Assert.IsTrue(timeline.Sample(0.0, frame));
            Assert.AreEqual(0.5, frame[Jaw], 1e-6);
            Assert.AreEqual(0.7, frame[ArkitNames.IndexOf("EyeBlinkLeft")], 1e-6);
            float sum = 0f;
            foreach (float v in frame)
            {
                sum += v;
            }
            Assert.AreEqual(1.2, sum, 1e-5);
        }

        /// <summary>Holds the newest frame then has no motion.</summary>
        [Test]
        public void HoldsTheNewestFrameThenHasNoMotion()
        {
            var timeline = new MotionTimeline { MaxHoldSeconds = 0.5 };
            timeline.Add(Block(0, null, Row(0.25f)));
            var frame = new float[MotionTimeline.ChannelCount];
            Assert.IsTrue(timeline.Sample(0.3, frame));
            Assert.AreEqual(0.25, frame[Jaw], 1e-6);
            Assert.IsFalse(timeline.Sample(0.6, frame));
        }

        /// <summary>Holds across gaps and uses the oldest frame before the start.</summary>
        [Test]
        public void HoldsAcrossGapsAndUsesTheOldestFrameBeforeTheStart()
        {
            var timeline = new MotionTimeline();
            timeline.Add(Block(100, null, Row(0.1f)));
            timeline.Add(Block(110, null, Row(0.9f)));
            var frame = new float[MotionTimeline.ChannelCount];
            Assert.IsTrue(timeline.Sample(105 / 25.0, frame));
            Assert.AreEqual(0.1, frame[Jaw], 1e-6);
            Assert.IsTrue(timeline.Sample(1.0, frame));
            Assert.AreEqual(0.1, frame[Jaw], 1e-6);
            timeline.Clear();
            Assert.IsTrue(timeline.IsEmpty);
            Assert.IsFalse(timeline.Sample(4.0, frame));
        }

        /// <summary>Overwrites old frames beyond its capacity.</summary>
        [Test]
        public void OverwritesOldFramesBeyondItsCapacity()
        {
            var timeline = new MotionTimeline(10);
            for (int f = 0; f < 25; f++)
            {
                timeline.AddFrame(f, Row(f / 100f));
            }
            Assert.IsFalse(timeline.HasFrame(14));
            Assert.IsTrue(timeline.HasFrame(15));
            var frame = new float[MotionTimeline.ChannelCount];
            Assert.IsTrue(timeline.TryGetFrame(24, frame));
            Assert.AreEqual(0.24, frame[Jaw], 1e-6);
        }

        private static float[] Row(float jaw)
        {
            var row = new float[ArkitNames.Count];
            row[Jaw] = jaw;
            return row;
        }
    }
}
