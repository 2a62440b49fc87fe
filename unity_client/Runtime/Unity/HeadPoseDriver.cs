using UnityEngine;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Turns a head (or neck) bone by the session's head pose: <c>HeadYaw</c>, <c>HeadPitch</c>,
    /// <c>HeadRoll</c> in degrees, relative to the bone's rest rotation, and optionally moves it by
    /// <c>HeadX/Y/Z</c> (cm).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Protocol conventions, seen from the avatar: +yaw turns the face to its own left, +pitch
    /// raises the chin, +roll tilts the head toward its own left shoulder; +x is its own left,
    /// +y up, +z toward the camera.
    /// </para>
    /// <para>
    /// <c>Character</c> space (default) applies the rotation about the axes of
    /// <see cref="CharacterRoot"/> (a character facing its +Z with +Y up), whatever the bone's own
    /// local axes, which differ between rigs; <c>BoneLocal</c> applies it about the bone's local
    /// axes, for rigs where you prefer to set the axis mapping yourself. The
    /// <see cref="AxisMapping"/> (axis and sign per angle) adapts either to unusual rigs.
    /// </para>
    /// <para>
    /// With <see cref="AdditiveToAnimation"/> the pose is added on top of what an Animator wrote
    /// this frame (the driver runs in <c>LateUpdate</c>, after animation); without it, it replaces
    /// the bone's rotation relative to the rest pose captured at start (do not combine that with an
    /// Animator that animates the same bone).
    /// </para>
    /// </remarks>
    [AddComponentMenu("Avatar Forcing/Head Pose Driver")]
    public sealed class HeadPoseDriver : MonoBehaviour
    {
        /// <summary>Which axes the rotation is applied about.</summary>
        public enum RotationSpace
        {
            /// <summary>The character root's axes (X right, Y up, Z forward).</summary>
            Character,

            /// <summary>The bone's own local axes.</summary>
            BoneLocal,
        }

        [Tooltip("The client whose motion is shown (defaults to one on this object or its parents).")]
        [SerializeField]
        private AvatarForcingClient client;

        [Tooltip("The head (or neck) bone. Filled from a humanoid Animator when empty.")]
        [SerializeField]
        private Transform headBone;

        [Tooltip("The character's root (facing +Z, +Y up); Character space rotates about its axes. Defaults to this transform.")]
        [SerializeField]
        private Transform characterRoot;

        [SerializeField]
        private RotationSpace space = RotationSpace.Character;

        [Tooltip("Axis and direction of yaw, pitch and roll. The default suits a character facing +Z in Character space.")]
        [SerializeField]
        private HeadAxisMapping axisMapping = new HeadAxisMapping();

        [Header("Amount")]
        [Tooltip("Multiplies the angles.")]
        [Range(0f, 2f)]
        [SerializeField]
        private float rotationGain = 1f;

        [Tooltip("Largest angle per axis after the gain, degrees (0: no limit).")]
        [Range(0f, 90f)]
        [SerializeField]
        private float maxAngle = 40f;

        [Tooltip("Multiplies HeadX/Y/Z (cm) into a bone offset; 0 turns translation off (the usual choice for a bone).")]
        [Range(0f, 2f)]
        [SerializeField]
        private float translationScale;

        [Tooltip("Exponential smoothing time constant, seconds (0: none).")]
        [Range(0f, 0.5f)]
        [SerializeField]
        private float smoothingTime = 0.05f;

        [Tooltip("Add the pose on top of the Animator's pose of this frame instead of the rest pose.")]
        [SerializeField]
        private bool additiveToAnimation;

        private readonly float[] frame = new float[MotionTimeline.ChannelCount];
        private readonly float[] pose = new float[6];
        private readonly float[] poseTarget = new float[6];
        private Quaternion restRotation = Quaternion.identity;
        private Vector3 restPosition;
        private bool hasRest;

        /// <summary>The client whose motion is shown.</summary>
        public AvatarForcingClient Client
        {
            get { return client; }
            set { client = value; }
        }

        /// <summary>The driven bone (setting it captures its rest pose).</summary>
        public Transform HeadBone
        {
            get { return headBone; }
            set
            {
                headBone = value;
                CaptureRestPose();
            }
        }

        /// <summary>The character root of <c>Character</c> space.</summary>
        public Transform CharacterRoot
        {
            get { return characterRoot; }
            set { characterRoot = value; }
        }

        /// <summary>The rotation space.</summary>
        public RotationSpace Space
        {
            get { return space; }
            set { space = value; }
        }

        /// <summary>Axis and sign of each angle.</summary>
        public HeadAxisMapping AxisMapping
        {
            get { return axisMapping; }
            set { axisMapping = value ?? new HeadAxisMapping(); }
        }

        /// <summary>Multiplier of the angles.</summary>
        public float RotationGain
        {
            get { return rotationGain; }
            set { rotationGain = value; }
        }

        /// <summary>Largest angle per axis, degrees (0: none).</summary>
        public float MaxAngle
        {
            get { return maxAngle; }
            set { maxAngle = value; }
        }

        /// <summary>Multiplier of the translation (0: off).</summary>
        public float TranslationScale
        {
            get { return translationScale; }
            set { translationScale = value; }
        }

        /// <summary>Smoothing time constant, seconds.</summary>
        public float SmoothingTime
        {
            get { return smoothingTime; }
            set { smoothingTime = Mathf.Max(0f, value); }
        }

        /// <summary>Whether the pose is added to the animated pose.</summary>
        public bool AdditiveToAnimation
        {
            get { return additiveToAnimation; }
            set { additiveToAnimation = value; }
        }

        /// <summary>Remembers the bone's current local rotation and position as its rest pose.</summary>
        public void CaptureRestPose()
        {
            if (headBone == null)
            {
                hasRest = false;
                return;
            }
            restRotation = headBone.localRotation;
            restPosition = headBone.localPosition;
            hasRest = true;
        }

        /// <summary>Puts the bone back into its rest pose.</summary>
        public void RestoreRestPose()
        {
            if (headBone != null && hasRest)
            {
                headBone.localRotation = restRotation;
                headBone.localPosition = restPosition;
            }
        }

        /// <summary>
        /// Applies a head pose (degrees and cm, protocol conventions) after
        /// <paramref name="deltaTime"/> seconds of smoothing. <c>LateUpdate</c> calls it with the
        /// client's motion (zeros when there is none, so the head relaxes to rest).
        /// </summary>
        public void ApplyPose(float yaw, float pitch, float roll, float x, float y, float z, float deltaTime)
        {
            if (headBone == null)
            {
                return;
            }
            if (!hasRest)
            {
                CaptureRestPose();
            }
            poseTarget[0] = yaw;
            poseTarget[1] = pitch;
            poseTarget[2] = roll;
            poseTarget[3] = x;
            poseTarget[4] = y;
            poseTarget[5] = z;
            Smoothing.Step(pose, poseTarget, Smoothing.Alpha(deltaTime, smoothingTime));

            Float3 e = HeadPoseMath.ToEuler(pose[0], pose[1], pose[2], axisMapping, rotationGain, maxAngle);
            Quaternion delta = Quaternion.Euler(e.X, e.Y, e.Z);
            Quaternion baseRotation = additiveToAnimation ? headBone.localRotation : restRotation;
            Transform parent = headBone.parent;
            if (space == RotationSpace.BoneLocal)
            {
                headBone.localRotation = baseRotation * delta;
            }
            else
            {
                Quaternion toParent = ToParentSpace(parent);
                headBone.localRotation = toParent * delta * Quaternion.Inverse(toParent) * baseRotation;
            }

            if (translationScale > 0f)
            {
                Float3 t = HeadPoseMath.TranslationToCharacter(pose[3], pose[4], pose[5], translationScale);
                Vector3 world = RootRotation() * new Vector3(t.X, t.Y, t.Z);
                Vector3 local = parent != null ? parent.InverseTransformVector(world) : world;
                Vector3 basePosition = additiveToAnimation ? headBone.localPosition : restPosition;
                headBone.localPosition = basePosition + local;
            }
        }

        private Quaternion RootRotation()
        {
            Transform root = characterRoot != null ? characterRoot : transform;
            return root.rotation;
        }

        private Quaternion ToParentSpace(Transform parent)
        {
            Quaternion parentWorld = parent != null ? parent.rotation : Quaternion.identity;
            return Quaternion.Inverse(parentWorld) * RootRotation();
        }

        private void Reset()
        {
            client = GetComponentInParent<AvatarForcingClient>();
            Animator animator = GetComponentInChildren<Animator>();
            if (animator == null)
            {
                animator = GetComponentInParent<Animator>();
            }
            if (animator != null && animator.isHuman)
            {
                headBone = animator.GetBoneTransform(HumanBodyBones.Head);
                characterRoot = animator.transform;
            }
        }

        private void Start()
        {
            if (client == null)
            {
                client = GetComponentInParent<AvatarForcingClient>();
            }
            if (headBone == null)
            {
                Reset();
            }
            CaptureRestPose();
        }

        private void LateUpdate()
        {
            if (client == null)
            {
                return;
            }
            if (client.SampleMotion(frame))
            {
                int head = ArkitNames.BlendshapeCount;
                ApplyPose(frame[head], frame[head + 1], frame[head + 2], frame[head + 3], frame[head + 4], frame[head + 5], Time.deltaTime);
            }
            else
            {
                ApplyPose(0f, 0f, 0f, 0f, 0f, 0f, Time.deltaTime);
            }
        }

        private void OnDisable()
        {
            if (!additiveToAnimation)
            {
                RestoreRestPose();
            }
        }
    }
}
