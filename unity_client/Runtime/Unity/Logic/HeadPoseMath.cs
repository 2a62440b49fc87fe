using System;

namespace AvatarForcing.Unity
{
    /// <summary>A rotation axis of a bone or of the character, in Unity's axes.</summary>
    public enum HeadAxis
    {
        /// <summary>The X axis (Unity: right).</summary>
        X = 0,

        /// <summary>The Y axis (Unity: up).</summary>
        Y = 1,

        /// <summary>The Z axis (Unity: forward).</summary>
        Z = 2,
    }

    /// <summary>Which axis one head angle turns about, and in which direction.</summary>
    [Serializable]
    public struct HeadAxisBinding
    {
        /// <summary>The axis the angle turns about.</summary>
        public HeadAxis axis;

        /// <summary>Negate the angle (for rigs whose axis points the other way).</summary>
        public bool invert;

        /// <summary>Creates a binding.</summary>
        public HeadAxisBinding(HeadAxis axis, bool invert)
        {
            this.axis = axis;
            this.invert = invert;
        }
    }

    /// <summary>
    /// How the protocol's head angles (<c>HeadYaw</c>, <c>HeadPitch</c>, <c>HeadRoll</c>, degrees)
    /// map onto three Euler angles of a bone.
    /// </summary>
    /// <remarks>
    /// The protocol's conventions, seen from the avatar (<c>models/motion/arkit.py</c>):
    /// +yaw turns the face to its own left, +pitch raises the chin, +roll tilts the head toward its
    /// own left shoulder. For a character that faces Unity's +Z with +Y up (its own left is -X),
    /// Unity's left-handed rotations give the <see cref="Default"/> mapping: yaw about -Y, pitch
    /// about -X, roll about +Z. Rigs whose head bone has other local axes need another mapping
    /// (or the driver's character-space mode, which uses the character's axes instead).
    /// </remarks>
    [Serializable]
    public class HeadAxisMapping
    {
        /// <summary>The axis of <c>HeadYaw</c>.</summary>
        public HeadAxisBinding yaw = new HeadAxisBinding(HeadAxis.Y, true);

        /// <summary>The axis of <c>HeadPitch</c>.</summary>
        public HeadAxisBinding pitch = new HeadAxisBinding(HeadAxis.X, true);

        /// <summary>The axis of <c>HeadRoll</c>.</summary>
        public HeadAxisBinding roll = new HeadAxisBinding(HeadAxis.Z, false);

        /// <summary>The mapping for a frame with X right, Y up, Z forward (Unity's own convention).</summary>
        public static HeadAxisMapping Default
        {
            get { return new HeadAxisMapping(); }
        }
    }

    /// <summary>Three floats in Unity's X, Y, Z order: Euler angles (degrees) or an offset (units).</summary>
    public struct Float3
    {
        /// <summary>The X component.</summary>
        public float X;

        /// <summary>The Y component.</summary>
        public float Y;

        /// <summary>The Z component.</summary>
        public float Z;

        /// <summary>Creates the value.</summary>
        public Float3(float x, float y, float z)
        {
            X = x;
            Y = y;
            Z = z;
        }
    }

    /// <summary>
    /// Head pose arithmetic of the head-pose driver, without engine types (unit-tested outside Unity).
    /// </summary>
    public static class HeadPoseMath
    {
        /// <summary>Centimetres to Unity units (metres).</summary>
        public const float CentimetresToUnits = 0.01f;

        /// <summary>
        /// The bone Euler angles for one head pose: each angle is multiplied by
        /// <paramref name="gain"/>, clamped to +-<paramref name="maxAngle"/> degrees (no clamp when
        /// 0 or less), then added to the component its binding names (negated when inverted).
        /// </summary>
        public static Float3 ToEuler(
            float yaw, float pitch, float roll, HeadAxisMapping mapping, float gain, float maxAngle)
        {
            if (mapping == null)
            {
                mapping = HeadAxisMapping.Default;
            }
            var e = new Float3(0f, 0f, 0f);
            Add(ref e, mapping.yaw, Limit(yaw * gain, maxAngle));
            Add(ref e, mapping.pitch, Limit(pitch * gain, maxAngle));
            Add(ref e, mapping.roll, Limit(roll * gain, maxAngle));
            return e;
        }

        /// <summary>
        /// The head translation (<c>HeadX/Y/Z</c>, centimetres; +x the avatar's own left, +y up, +z
        /// forward toward the camera) as a Unity offset in the character's axes (metres, X right):
        /// <c>(-x, y, z) * 0.01 * scale</c>.
        /// </summary>
        public static Float3 TranslationToCharacter(float headX, float headY, float headZ, float scale)
        {
            float k = CentimetresToUnits * scale;
            return new Float3(-headX * k, headY * k, headZ * k);
        }

        /// <summary>Clamps <paramref name="value"/> to +-<paramref name="limit"/> (no clamp for limit &lt;= 0).</summary>
        public static float Limit(float value, float limit)
        {
            if (limit <= 0f || float.IsNaN(value))
            {
                return float.IsNaN(value) ? 0f : value;
            }
            return Math.Max(-limit, Math.Min(limit, value));
        }

        private static void Add(ref Float3 e, HeadAxisBinding binding, float degrees)
        {
            float v = binding.invert ? -degrees : degrees;
            switch (binding.axis)
            {
                case HeadAxis.X:
                    e.X += v;
                    break;
                case HeadAxis.Y:
                    e.Y += v;
                    break;
                default:
                    e.Z += v;
                    break;
            }
        }
    }
}
