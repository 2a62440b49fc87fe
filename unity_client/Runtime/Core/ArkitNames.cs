using System;
using System.Collections.Generic;

namespace AvatarForcing
{
    /// <summary>
    /// The <c>arkit</c> motion channels: the 52 ARKit blendshapes (0..1) then the head pose
    /// (<c>HeadYaw HeadPitch HeadRoll</c> in degrees, <c>HeadX HeadY HeadZ</c> in centimetres),
    /// 58 channels in the server's canonical order (<c>models/motion/arkit.py</c>).
    /// </summary>
    /// <remarks>
    /// Names are accepted in the three spellings seen in the wild, in any capitalisation:
    /// <c>EyeBlinkLeft</c> (PascalCase, canonical), <c>eyeBlinkLeft</c> (camelCase, Apple's)
    /// and <c>eyeBlink_L</c> (the <c>_L</c>/<c>_R</c> form of many FBX/VRM rigs).
    /// Head pose axes, seen from the avatar: +yaw turns the face to its own left, +pitch raises
    /// the chin, +roll tilts the head toward its own left shoulder; +x is the avatar's left,
    /// +y up, +z forward (toward the camera).
    /// </remarks>
    public static class ArkitNames
    {
        /// <summary>The 52 ARKit blendshapes, PascalCase, in canonical order.</summary>
        public static readonly string[] Blendshapes =
        {
            "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
            "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
            "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft",
            "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
            "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
            "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
            "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
            "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
            "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
            "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
        };

        /// <summary>The six head pose channels: rotation in degrees, translation in cm.</summary>
        public static readonly string[] HeadPose = { "HeadYaw", "HeadPitch", "HeadRoll", "HeadX", "HeadY", "HeadZ" };

        /// <summary>All 58 channels in canonical order: <see cref="Blendshapes"/> then
        /// <see cref="HeadPose"/> (the order of <c>motion.names</c> with naming <c>arkit</c>).</summary>
        public static readonly string[] All;

        /// <summary>52: the number of blendshape channels (indices 0..51 of <see cref="All"/>).</summary>
        public const int BlendshapeCount = 52;

        /// <summary>58: the number of channels.</summary>
        public const int Count = 58;

        private static readonly Dictionary<string, string> ByKey;
        private static readonly Dictionary<string, int> IndexByName;

        static ArkitNames()
        {
            All = new string[Count];
            Array.Copy(Blendshapes, All, Blendshapes.Length);
            Array.Copy(HeadPose, 0, All, Blendshapes.Length, HeadPose.Length);
            ByKey = new Dictionary<string, string>(Count, StringComparer.Ordinal);
            IndexByName = new Dictionary<string, int>(Count, StringComparer.Ordinal);
            for (int i = 0; i < All.Length; i++)
            {
                ByKey[Key(All[i])] = All[i];
                IndexByName[All[i]] = i;
            }
        }

        /// <summary>The spelling-independent lookup key: <c>eyeBlink_L</c>, <c>EyeBlinkLeft</c>,
        /// <c>EYEBLINKLEFT</c> all give <c>eyeblinkleft</c>.</summary>
        private static string Key(string name)
        {
            string n = name.Trim();
            if (n.EndsWith("_L", StringComparison.Ordinal) || n.EndsWith("_l", StringComparison.Ordinal))
                n = n.Substring(0, n.Length - 2) + "Left";
            else if (n.EndsWith("_R", StringComparison.Ordinal) || n.EndsWith("_r", StringComparison.Ordinal))
                n = n.Substring(0, n.Length - 2) + "Right";
            return n.Replace("_", "").ToLowerInvariant();
        }

        /// <summary>The canonical PascalCase name of any accepted spelling
        /// (<c>eyeBlink_L</c> gives <c>EyeBlinkLeft</c>). Throws
        /// <see cref="KeyNotFoundException"/> for names that are no ARKit channel.</summary>
        public static string Canonical(string anySpelling)
        {
            string name;
            if (TryCanonical(anySpelling, out name)) return name;
            throw new KeyNotFoundException("unknown ARKit channel '" + anySpelling + "'");
        }

        /// <summary>Like <see cref="Canonical"/>, without throwing: false (and null) for unknown
        /// or null names.</summary>
        public static bool TryCanonical(string anySpelling, out string canonical)
        {
            canonical = null;
            return anySpelling != null && ByKey.TryGetValue(Key(anySpelling), out canonical);
        }

        /// <summary>The channel's index in <see cref="All"/> (0..57), any spelling; -1 when it is
        /// no ARKit channel.</summary>
        public static int IndexOf(string anySpelling)
        {
            string name;
            return TryCanonical(anySpelling, out name) ? IndexByName[name] : -1;
        }

        /// <summary>Whether the channel (any spelling) is one of the 52 blendshapes (0..1), as
        /// opposed to a head pose channel.</summary>
        public static bool IsBlendshape(string anySpelling)
        {
            int i = IndexOf(anySpelling);
            return i >= 0 && i < BlendshapeCount;
        }

        /// <summary>A channel written in one of the protocol's <c>arkit_spelling</c>s:
        /// <c>"pascal"</c> (EyeBlinkLeft), <c>"camel"</c> (eyeBlinkLeft) or <c>"lr"</c>
        /// (eyeBlink_L; head channels stay camelCase). Throws <see cref="KeyNotFoundException"/>
        /// for unknown names and <see cref="ArgumentException"/> for unknown spellings.</summary>
        public static string Spell(string anySpelling, string spelling)
        {
            if (spelling != "pascal" && spelling != "camel" && spelling != "lr")
                throw new ArgumentException("unknown spelling '" + spelling + "'; valid: pascal, camel, lr", "spelling");
            string canonical = Canonical(anySpelling);
            if (spelling == "pascal") return canonical;
            string camel = char.ToLowerInvariant(canonical[0]) + canonical.Substring(1);
            if (spelling == "camel" || Array.IndexOf(HeadPose, canonical) >= 0) return camel;
            if (camel.EndsWith("Left", StringComparison.Ordinal)) return camel.Substring(0, camel.Length - 4) + "_L";
            if (camel.EndsWith("Right", StringComparison.Ordinal)) return camel.Substring(0, camel.Length - 5) + "_R";
            return camel;
        }
    }
}
