using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>Tests of <see cref="HeadPoseMath"/> (the head-pose driver's arithmetic).</summary>
    [TestFixture]
    public class HeadPoseMathTests
    {
        /// <summary>Default mapping follows unitys axes for a character facing plus z.</summary>
        [Test]
        public void DefaultMappingFollowsUnitysAxesForACharacterFacingPlusZ()
        {
            // +yaw (turn to its own left = -X) is a negative rotation about Unity's Y,
            // +pitch (chin up) a negative rotation about X, +roll (toward its left shoulder) positive about Z.
            Float3 e = HeadPoseMath.ToEuler(10f, 5f, 3f, HeadAxisMapping.Default, 1f, 0f);
            Assert.AreEqual(-5.0, e.X, 1e-6);
            Assert.AreEqual(-10.0, e.Y, 1e-6);
            Assert.AreEqual(3.0, e.Z, 1e-6);
        }

        /// <summary>Gain clamp and custom axes.</summary>
        [Test]
        public void GainClampAndCustomAxes()
        {
            var mapping = new HeadAxisMapping
            {
                yaw = new HeadAxisBinding(HeadAxis.Z, false),
                pitch = new HeadAxisBinding(HeadAxis.Y, false),
                roll = new HeadAxisBinding(HeadAxis.X, true),
            };
            Float3 e = HeadPoseMath.ToEuler(30f, -50f, 4f, mapping, 2f, 45f);
            Assert.AreEqual(45.0, e.Z, 1e-6);
            Assert.AreEqual(-45.0, e.Y, 1e-6);
            Assert.AreEqual(-8.0, e.X, 1e-6);
        }

        /// <summary>Na n angles are ignored.</summary>
        [Test]
        public void NaNAnglesAreIgnored()
        {
            Assert.AreEqual(0.0, HeadPoseMath.Limit(float.NaN, 10f), 0.0);
            Assert.AreEqual(0.0, HeadPoseMath.Limit(float.NaN, 0f), 0.0);
            Assert.AreEqual(-12.0, HeadPoseMath.Limit(-12f, 0f), 0.0);
        }

        /// <summary>Translation is in metres with x to the characters right.</summary>
        [Test]
        public void TranslationIsInMetresWithXToTheCharactersRight()
        {
            Float3 t = HeadPoseMath.TranslationToCharacter(2f, 1f, -3f, 1f);
            Assert.AreEqual(-0.02, t.X, 1e-7);
            Assert.AreEqual(0.01, t.Y, 1e-7);
            Assert.AreEqual(-0.03, t.Z, 1e-7);
        }
    }
}
