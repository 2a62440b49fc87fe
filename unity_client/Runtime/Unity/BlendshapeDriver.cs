using System;
using System.Collections.Generic;
using UnityEngine;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Drives the blendshapes of a <c>SkinnedMeshRenderer</c> from the session's ARKit motion,
    /// through a mapping table (ARKit channel name to mesh blendshape name), at the time of the
    /// audio being heard.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The table is filled by <see cref="AutoMap"/> (the inspector's "Auto-map ARKit names" button,
    /// or on start when empty): mesh blendshapes are matched to the 52 ARKit channels in any common
    /// spelling (<see cref="BlendshapeNameMatcher"/>). Edit entries to fix a rig's odd names; an
    /// entry's weight scales that one shape. Extra renderers (teeth, tongue, beard meshes that share
    /// the face's blendshape names) are driven with the same table, by name.
    /// </para>
    /// <para>
    /// Each frame (<c>LateUpdate</c>): the client's motion at the playback time, times
    /// <see cref="Gain"/> and the entry's weight, clamped to 0..1 (optional), smoothed
    /// exponentially with <see cref="SmoothingTime"/>, scaled to the mesh's weight range (0..1 or
    /// 0..100; FBX imports use 0..100) and set with <c>SkinnedMeshRenderer.SetBlendShapeWeight</c>.
    /// Without motion (not connected, stream stalled) the shapes relax to 0.
    /// </para>
    /// </remarks>
    [AddComponentMenu("Avatar Forcing/Blendshape Driver")]
    public sealed class BlendshapeDriver : MonoBehaviour
    {
        /// <summary>The weight range of the mesh's blendshapes.</summary>
        public enum WeightRange
        {
            /// <summary>0..1 (some glTF/VRM importers).</summary>
            ZeroToOne,

            /// <summary>0..100 (Unity's FBX import, most rigs).</summary>
            ZeroToHundred,
        }

        /// <summary>One row of the mapping table.</summary>
        [Serializable]
        public class Mapping
        {
            /// <summary>The ARKit channel, any spelling (e.g. <c>JawOpen</c>, <c>jawOpen</c>, <c>eyeBlink_L</c>).</summary>
            [Tooltip("ARKit channel, any spelling (JawOpen, jawOpen, eyeBlink_L).")]
            public string arkitName;

            /// <summary>The mesh blendshape it drives (exact name as in the mesh).</summary>
            [Tooltip("Blendshape name on the mesh (exact).")]
            public string blendshapeName;

            /// <summary>A per-shape multiplier (1 by default).</summary>
            [Tooltip("Multiplier for this shape only.")]
            [Range(0f, 2f)]
            public float weight = 1f;

            /// <summary>Creates an empty row.</summary>
            public Mapping()
            {
            }

            /// <summary>Creates a row.</summary>
            public Mapping(string arkitName, string blendshapeName, float weight)
            {
                this.arkitName = arkitName;
                this.blendshapeName = blendshapeName;
                this.weight = weight;
            }
        }

        [Tooltip("The client whose motion is shown (defaults to one on this object or its parents).")]
        [SerializeField]
        private AvatarForcingClient client;

        [Tooltip("The face mesh.")]
        [SerializeField]
        private SkinnedMeshRenderer targetRenderer;

        [Tooltip("Other meshes with the same blendshape names (teeth, tongue, beard), driven by name with the same table.")]
        [SerializeField]
        private SkinnedMeshRenderer[] additionalRenderers = new SkinnedMeshRenderer[0];

        [Header("Weights")]
        [Tooltip("The meshes' blendshape weight range: Unity's FBX import uses 0..100.")]
        [SerializeField]
        private WeightRange weightRange = WeightRange.ZeroToHundred;

        [Tooltip("Multiplies every channel (before the clamp).")]
        [Range(0f, 3f)]
        [SerializeField]
        private float gain = 1f;

        [Tooltip("Clamp each weight to 0..1 before scaling to the range.")]
        [SerializeField]
        private bool clampWeights = true;

        [Tooltip("Exponential smoothing time constant, seconds (0: none). The motion is already smooth; 0.02-0.05 hides frame-rate beats.")]
        [Range(0f, 0.5f)]
        [SerializeField]
        private float smoothingTime = 0.03f;

        [Header("Mapping")]
        [Tooltip("Fill the table from the mesh's blendshape names when it is empty at start.")]
        [SerializeField]
        private bool autoMapOnStart = true;

        [SerializeField]
        private List<Mapping> mappings = new List<Mapping>();

        private readonly float[] frame = new float[MotionTimeline.ChannelCount];
        private readonly List<SkinnedMeshRenderer> renderers = new List<SkinnedMeshRenderer>();
        private int[] channelOf = new int[0];
        private int[][] shapeIndexOf = new int[0][];
        private float[] current = new float[0];
        private float[] target = new float[0];
        private BlendshapeMatchReport lastReport;

        /// <summary>The client whose motion is shown.</summary>
        public AvatarForcingClient Client
        {
            get { return client; }
            set { client = value; }
        }

        /// <summary>The face mesh.</summary>
        public SkinnedMeshRenderer TargetRenderer
        {
            get { return targetRenderer; }
            set
            {
                targetRenderer = value;
                Resolve();
            }
        }

        /// <summary>Other meshes driven with the same table, by blendshape name.</summary>
        public SkinnedMeshRenderer[] AdditionalRenderers
        {
            get { return additionalRenderers; }
            set
            {
                additionalRenderers = value ?? new SkinnedMeshRenderer[0];
                Resolve();
            }
        }

        /// <summary>The meshes' weight range.</summary>
        public WeightRange Range
        {
            get { return weightRange; }
            set { weightRange = value; }
        }

        /// <summary>Multiplier of every channel.</summary>
        public float Gain
        {
            get { return gain; }
            set { gain = value; }
        }

        /// <summary>Smoothing time constant, seconds.</summary>
        public float SmoothingTime
        {
            get { return smoothingTime; }
            set { smoothingTime = Mathf.Max(0f, value); }
        }

        /// <summary>The mapping table (call <see cref="Resolve"/> after editing it from code).</summary>
        public List<Mapping> Mappings
        {
            get { return mappings; }
        }

        /// <summary>The report of the last <see cref="AutoMap"/>, or null.</summary>
        public BlendshapeMatchReport LastReport
        {
            get { return lastReport; }
        }

        /// <summary>The blendshape names of the target mesh (empty without one).</summary>
        public string[] MeshBlendshapeNames()
        {
            Mesh mesh = targetRenderer != null ? targetRenderer.sharedMesh : null;
            if (mesh == null)
            {
                return new string[0];
            }
            var names = new string[mesh.blendShapeCount];
            for (int i = 0; i < names.Length; i++)
            {
                names[i] = mesh.GetBlendShapeName(i);
            }
            return names;
        }

        /// <summary>
        /// Rebuilds the table from the target mesh's blendshape names; returns what matched, what is
        /// missing and what is left over.
        /// </summary>
        public BlendshapeMatchReport AutoMap()
        {
            lastReport = BlendshapeNameMatcher.Match(MeshBlendshapeNames());
            mappings.Clear();
            foreach (BlendshapeMatch m in lastReport.Matches)
            {
                mappings.Add(new Mapping(m.Channel, m.MeshShape, 1f));
            }
            Resolve();
            return lastReport;
        }

        /// <summary>
        /// A description of the current table against the target mesh: rows whose channel is no ARKit
        /// blendshape or whose blendshape is not on the mesh.
        /// </summary>
        public string DescribeMapping()
        {
            Resolve();
            if (targetRenderer == null || targetRenderer.sharedMesh == null)
            {
                return "No target SkinnedMeshRenderer (or it has no mesh).";
            }
            var problems = new List<string>();
            int ok = 0;
            for (int k = 0; k < mappings.Count; k++)
            {
                Mapping m = mappings[k];
                if (channelOf[k] < 0)
                {
                    problems.Add("'" + m.arkitName + "' is no ARKit blendshape");
                }
                else if (shapeIndexOf.Length == 0 || shapeIndexOf[0][k] < 0)
                {
                    problems.Add("'" + m.blendshapeName + "' is not on the mesh");
                }
                else
                {
                    ok++;
                }
            }
            string text = ok + " of " + mappings.Count + " rows drive a blendshape of '" + targetRenderer.sharedMesh.name + "'.";
            if (problems.Count > 0)
            {
                text += "\n" + string.Join("\n", problems.ToArray());
            }
            return text;
        }

        /// <summary>Looks up the channel and blendshape indices of every row (after the table or a mesh changed).</summary>
        public void Resolve()
        {
            int n = mappings.Count;
            channelOf = new int[n];
            for (int k = 0; k < n; k++)
            {
                int c = ArkitNames.IndexOf(mappings[k].arkitName);
                channelOf[k] = c >= 0 && c < ArkitNames.BlendshapeCount ? c : -1;
            }
            renderers.Clear();
            renderers.Add(targetRenderer);
            if (additionalRenderers != null)
            {
                renderers.AddRange(additionalRenderers);
            }
            shapeIndexOf = new int[renderers.Count][];
            for (int r = 0; r < renderers.Count; r++)
            {
                Mesh mesh = renderers[r] != null ? renderers[r].sharedMesh : null;
                shapeIndexOf[r] = new int[n];
                for (int k = 0; k < n; k++)
                {
                    shapeIndexOf[r][k] = mesh != null && !string.IsNullOrEmpty(mappings[k].blendshapeName)
                        ? mesh.GetBlendShapeIndex(mappings[k].blendshapeName)
                        : -1;
                }
            }
            if (current.Length != n)
            {
                current = new float[n];
                target = new float[n];
            }
        }

        /// <summary>
        /// Applies one motion frame (58 values, <see cref="ArkitNames.All"/> order; null relaxes to 0)
        /// after <paramref name="deltaTime"/> seconds of smoothing. <c>LateUpdate</c> calls it with the
        /// client's motion; call it yourself to drive the face from another source.
        /// </summary>
        public void ApplyFrame(float[] motion, float deltaTime)
        {
            if (channelOf.Length != mappings.Count)
            {
                Resolve();
            }
            for (int k = 0; k < mappings.Count; k++)
            {
                int c = channelOf[k];
                float v = motion != null && c >= 0 && c < motion.Length ? motion[c] * gain * mappings[k].weight : 0f;
                target[k] = clampWeights ? Mathf.Clamp01(v) : v;
            }
            Smoothing.Step(current, target, Smoothing.Alpha(deltaTime, smoothingTime));
            float scale = weightRange == WeightRange.ZeroToHundred ? 100f : 1f;
            for (int r = 0; r < renderers.Count && r < shapeIndexOf.Length; r++)
            {
                SkinnedMeshRenderer renderer = renderers[r];
                if (renderer == null)
                {
                    continue;
                }
                int[] indices = shapeIndexOf[r];
                for (int k = 0; k < indices.Length && k < current.Length; k++)
                {
                    if (indices[k] >= 0)
                    {
                        renderer.SetBlendShapeWeight(indices[k], current[k] * scale);
                    }
                }
            }
        }

        private void Reset()
        {
            client = GetComponentInParent<AvatarForcingClient>();
            targetRenderer = GetComponent<SkinnedMeshRenderer>();
        }

        private void Start()
        {
            if (client == null)
            {
                client = GetComponentInParent<AvatarForcingClient>();
            }
            if (mappings.Count == 0 && autoMapOnStart && targetRenderer != null)
            {
                BlendshapeMatchReport report = AutoMap();
                UnityEngine.Debug.Log("BlendshapeDriver (" + name + "): " + report.Summary());
            }
            Resolve();
        }

        private void LateUpdate()
        {
            if (client == null)
            {
                return;
            }
            ApplyFrame(client.SampleMotion(frame) ? frame : null, Time.deltaTime);
        }

        private void OnValidate()
        {
            Resolve();
        }
    }
}
