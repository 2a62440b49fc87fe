using AvatarForcing.Unity;
using UnityEditor;
using UnityEngine;

namespace AvatarForcing.EditorTools
{
    /// <summary>
    /// <c>GameObject &gt; Avatar Forcing &gt; Talking NPC</c>: adds a ready-to-run setup under the
    /// selected character (or on its own): an <see cref="AvatarForcingClient"/>, an
    /// <see cref="AvatarAudioPlayer"/> with its AudioSource, a <see cref="BlendshapeDriver"/> on the
    /// character's mesh with the most ARKit blendshapes (auto-mapped), and a
    /// <see cref="HeadPoseDriver"/> on the head bone of a humanoid Animator.
    /// </summary>
    public static class AvatarForcingMenu
    {
        /// <summary>The menu path.</summary>
        public const string MenuPath = "GameObject/Avatar Forcing/Talking NPC";

        /// <summary>Creates the setup (see the class summary) and selects it.</summary>
        [MenuItem(MenuPath, false, 10)]
        public static void CreateTalkingNpc()
        {
            GameObject character = Selection.activeGameObject;
            GameObject root = CreateSetup(character);
            Undo.RegisterCreatedObjectUndo(root, "Create Avatar Forcing NPC");
            Selection.activeGameObject = root;
        }

        /// <summary>Builds the setup under <paramref name="character"/> (may be null) and returns its root.</summary>
        public static GameObject CreateSetup(GameObject character)
        {
            var root = new GameObject("Avatar Forcing NPC");
            if (character != null)
            {
                root.transform.SetParent(character.transform, false);
            }
            root.AddComponent<AudioSource>();
            AvatarAudioPlayer player = root.AddComponent<AvatarAudioPlayer>();
            AvatarForcingClient client = root.AddComponent<AvatarForcingClient>();
            client.Player = player;
            if (character == null)
            {
                return root;
            }

            SkinnedMeshRenderer face = FindFace(character);
            if (face != null)
            {
                BlendshapeDriver driver = root.AddComponent<BlendshapeDriver>();
                driver.Client = client;
                driver.TargetRenderer = face;
                BlendshapeMatchReport report = driver.AutoMap();
                UnityEngine.Debug.Log("Avatar Forcing: blendshapes of '" + face.name + "': " + report.Summary(), driver);
            }
            else
            {
                UnityEngine.Debug.LogWarning("Avatar Forcing: no SkinnedMeshRenderer with ARKit blendshapes under '" + character.name + "'.", character);
            }

            Animator animator = character.GetComponentInChildren<Animator>();
            if (animator != null && animator.isHuman && animator.GetBoneTransform(HumanBodyBones.Head) != null)
            {
                HeadPoseDriver head = root.AddComponent<HeadPoseDriver>();
                head.Client = client;
                head.CharacterRoot = animator.transform;
                head.HeadBone = animator.GetBoneTransform(HumanBodyBones.Head);
            }
            else
            {
                UnityEngine.Debug.LogWarning("Avatar Forcing: no humanoid Animator under '" + character.name + "'; add a HeadPoseDriver and assign the head bone yourself.", character);
            }
            return root;
        }

        /// <summary>The renderer under <paramref name="character"/> whose mesh matches the most ARKit blendshapes, or null.</summary>
        public static SkinnedMeshRenderer FindFace(GameObject character)
        {
            SkinnedMeshRenderer best = null;
            int bestCount = 0;
            foreach (SkinnedMeshRenderer renderer in character.GetComponentsInChildren<SkinnedMeshRenderer>(true))
            {
                Mesh mesh = renderer.sharedMesh;
                if (mesh == null || mesh.blendShapeCount == 0)
                {
                    continue;
                }
                var names = new string[mesh.blendShapeCount];
                for (int i = 0; i < names.Length; i++)
                {
                    names[i] = mesh.GetBlendShapeName(i);
                }
                int count = BlendshapeNameMatcher.Match(names).Matches.Count;
                if (count > bestCount)
                {
                    best = renderer;
                    bestCount = count;
                }
            }
            return best;
        }
    }
}
