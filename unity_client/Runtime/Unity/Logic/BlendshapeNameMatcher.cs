using System;
using System.Collections.Generic;
using System.Text;

namespace AvatarForcing.Unity
{
    /// <summary>One ARKit channel matched to one mesh blendshape.</summary>
    public sealed class BlendshapeMatch
    {
        /// <summary>The canonical ARKit name (e.g. <c>EyeBlinkLeft</c>).</summary>
        public string Channel { get; set; }

        /// <summary>Its index in <see cref="ArkitNames.All"/> (0..51).</summary>
        public int ChannelIndex { get; set; }

        /// <summary>The mesh blendshape's name (e.g. <c>blendShape1.eyeBlinkLeft</c>).</summary>
        public string MeshShape { get; set; }

        /// <summary>The blendshape's index in the mesh.</summary>
        public int MeshIndex { get; set; }

        /// <summary>True when found by the suffix rule rather than by an exact normalised name.</summary>
        public bool BySuffix { get; set; }
    }

    /// <summary>The outcome of matching a mesh's blendshapes to the 52 ARKit channels.</summary>
    public sealed class BlendshapeMatchReport
    {
        /// <summary>Creates an empty report.</summary>
        public BlendshapeMatchReport()
        {
            Matches = new List<BlendshapeMatch>();
            MissingChannels = new List<string>();
            UnusedShapes = new List<string>();
            Duplicates = new List<string>();
        }

        /// <summary>The matches, in ARKit channel order.</summary>
        public List<BlendshapeMatch> Matches { get; private set; }

        /// <summary>ARKit channels with no blendshape on the mesh (they are not animated).</summary>
        public List<string> MissingChannels { get; private set; }

        /// <summary>Mesh blendshapes no channel drives.</summary>
        public List<string> UnusedShapes { get; private set; }

        /// <summary>Mesh blendshapes that match a channel another blendshape already matched (ignored).</summary>
        public List<string> Duplicates { get; private set; }

        /// <summary>A short human-readable report (for the inspector and logs).</summary>
        public string Summary()
        {
            var sb = new StringBuilder();
            sb.Append(Matches.Count).Append(" of ").Append(ArkitNames.BlendshapeCount).Append(" ARKit blendshapes mapped");
            int suffix = 0;
            foreach (var m in Matches)
            {
                if (m.BySuffix)
                {
                    suffix++;
                }
            }
            if (suffix > 0)
            {
                sb.Append(" (").Append(suffix).Append(" by name suffix: check them)");
            }
            sb.Append('.');
            if (MissingChannels.Count > 0)
            {
                sb.Append("\nMissing on the mesh: ").Append(string.Join(", ", MissingChannels.ToArray()));
            }
            if (Duplicates.Count > 0)
            {
                sb.Append("\nIgnored duplicates: ").Append(string.Join(", ", Duplicates.ToArray()));
            }
            if (UnusedShapes.Count > 0)
            {
                sb.Append("\nOther mesh blendshapes (not driven): ").Append(UnusedShapes.Count);
            }
            return sb.ToString();
        }
    }

    /// <summary>
    /// Matches the blendshape names of a mesh to the 52 ARKit channels, whatever the rig's
    /// spelling: <c>EyeBlinkLeft</c>, <c>eyeBlinkLeft</c>, <c>eyeBlink_L</c>, <c>Eye_Blink_L</c>,
    /// <c>eyeBlink.L</c>, with an FBX namespace (<c>blendShape1.eyeBlinkLeft</c>,
    /// <c>Face.eyeBlinkLeft</c>) or a common prefix (<c>BS_</c>, <c>ARKit_</c>, <c>blendShape_</c>).
    /// </summary>
    /// <remarks>
    /// Engine-free (unit-tested outside Unity). Names are first reduced to a key (namespace and
    /// prefix removed, <c>_L</c>/<c>_R</c> written <c>Left</c>/<c>Right</c>, separators dropped,
    /// lower case) and matched exactly; a channel still unmatched then takes the one unused mesh
    /// name whose key ends with the channel's key (e.g. <c>head_mouthsmileleft</c>), if exactly
    /// one does. The first mesh blendshape wins when several match a channel.
    /// </remarks>
    public static class BlendshapeNameMatcher
    {
        /// <summary>Prefixes removed (any case) when followed by <c>_</c>, <c>-</c>, <c>:</c> or a space.</summary>
        public static readonly string[] Prefixes =
        {
            "blendShape", "blendShapes", "BS", "ARKit", "shape", "shapes", "morph", "facial",
        };

        /// <summary>The spelling-independent key of a mesh blendshape or channel name.</summary>
        public static string Key(string name)
        {
            if (string.IsNullOrEmpty(name))
            {
                return string.Empty;
            }
            string n = name.Trim();
            if (n.Length > 2 && n[n.Length - 2] == '.')
            {
                char side = n[n.Length - 1];
                if (side == 'L' || side == 'l' || side == 'R' || side == 'r')
                {
                    n = n.Substring(0, n.Length - 2) + "_" + char.ToUpperInvariant(side);
                }
            }
            int dot = n.LastIndexOf('.');
            if (dot >= 0 && dot < n.Length - 1)
            {
                n = n.Substring(dot + 1);
            }
            n = StripPrefixes(n);
            if (n.EndsWith("_L", StringComparison.OrdinalIgnoreCase))
            {
                n = n.Substring(0, n.Length - 2) + "Left";
            }
            else if (n.EndsWith("_R", StringComparison.OrdinalIgnoreCase))
            {
                n = n.Substring(0, n.Length - 2) + "Right";
            }
            var sb = new StringBuilder(n.Length);
            foreach (char ch in n)
            {
                if (ch != '_' && ch != '-' && ch != ' ' && ch != ':')
                {
                    sb.Append(char.ToLowerInvariant(ch));
                }
            }
            return sb.ToString();
        }

        /// <summary>
        /// Matches <paramref name="meshShapeNames"/> (index = blendshape index in the mesh, as
        /// <c>Mesh.GetBlendShapeName(i)</c> gives them) to the 52 ARKit blendshape channels.
        /// </summary>
        public static BlendshapeMatchReport Match(IList<string> meshShapeNames)
        {
            if (meshShapeNames == null)
            {
                throw new ArgumentNullException("meshShapeNames");
            }
            var report = new BlendshapeMatchReport();
            int channels = ArkitNames.BlendshapeCount;
            var channelByKey = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int c = 0; c < channels; c++)
            {
                channelByKey[Key(ArkitNames.All[c])] = c;
            }
            var meshByChannel = new int[channels];
            var bySuffix = new bool[channels];
            for (int c = 0; c < channels; c++)
            {
                meshByChannel[c] = -1;
            }
            var used = new bool[meshShapeNames.Count];
            var keys = new string[meshShapeNames.Count];
            for (int i = 0; i < meshShapeNames.Count; i++)
            {
                keys[i] = Key(meshShapeNames[i]);
                int c;
                if (keys[i].Length > 0 && channelByKey.TryGetValue(keys[i], out c))
                {
                    if (meshByChannel[c] < 0)
                    {
                        meshByChannel[c] = i;
                        used[i] = true;
                    }
                    else
                    {
                        report.Duplicates.Add(meshShapeNames[i]);
                        used[i] = true;
                    }
                }
            }
            for (int c = 0; c < channels; c++)
            {
                if (meshByChannel[c] >= 0)
                {
                    continue;
                }
                string key = Key(ArkitNames.All[c]);
                int found = -1;
                int candidates = 0;
                for (int i = 0; i < keys.Length; i++)
                {
                    if (!used[i] && keys[i].Length > key.Length && keys[i].EndsWith(key, StringComparison.Ordinal))
                    {
                        found = i;
                        candidates++;
                    }
                }
                if (candidates == 1)
                {
                    meshByChannel[c] = found;
                    bySuffix[c] = true;
                    used[found] = true;
                }
            }
            for (int c = 0; c < channels; c++)
            {
                int i = meshByChannel[c];
                if (i < 0)
                {
                    report.MissingChannels.Add(ArkitNames.All[c]);
                    continue;
                }
                report.Matches.Add(new BlendshapeMatch
                {
                    Channel = ArkitNames.All[c],
                    ChannelIndex = c,
                    MeshShape = meshShapeNames[i],
                    MeshIndex = i,
                    BySuffix = bySuffix[c],
                });
            }
            for (int i = 0; i < meshShapeNames.Count; i++)
            {
                if (!used[i])
                {
                    report.UnusedShapes.Add(meshShapeNames[i]);
                }
            }
            return report;
        }

        private static string StripPrefixes(string n)
        {
            for (int round = 0; round < 2; round++)
            {
                bool stripped = false;
                foreach (string prefix in Prefixes)
                {
                    if (n.Length > prefix.Length + 1 && n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                    {
                        char sep = n[prefix.Length];
                        if (sep == '_' || sep == '-' || sep == ':' || sep == ' ')
                        {
                            n = n.Substring(prefix.Length + 1);
                            stripped = true;
                            break;
                        }
                    }
                }
                if (!stripped)
                {
                    break;
                }
            }
            return n;
        }
    }
}
