using System.Text;
using AvatarForcing.Unity;
using NUnit.Framework;
using UnityEngine;

namespace AvatarForcing.Tests
{
    /// <summary>
    /// Play Mode tests of the components (they need the engine: GameObjects, transforms, meshes).
    /// </summary>
    [TestFixture]
    public class ComponentTests
    {
        private GameObject root;

        /// <summary>Destroys the test's objects.</summary>
        [TearDown]
        public void TearDown()
        {
            if (root != null)
            {
                Object.DestroyImmediate(root);
            }
        }

        /// <summary>Yaw and pitch turn the head about the character's axes, in the protocol's directions.</summary>
        [Test]
        public void HeadPoseDriverTurnsTheHeadInCharacterSpace()
        {
            root = new GameObject("character");
            var head = new GameObject("head");
            head.transform.SetParent(root.transform, false);
            head.transform.localRotation = Quaternion.Euler(0f, 0f, 90f);
            HeadPoseDriver driver = root.AddComponent<HeadPoseDriver>();
            driver.CharacterRoot = root.transform;
            driver.HeadBone = head.transform;
            driver.SmoothingTime = 0f;
            driver.MaxAngle = 0f;

            driver.ApplyPose(20f, 0f, 0f, 0f, 0f, 0f, 0.02f);
            Quaternion expected = Quaternion.Euler(0f, -20f, 0f) * Quaternion.Euler(0f, 0f, 90f);
            Assert.Less(Quaternion.Angle(head.transform.localRotation, expected), 0.01f);

            driver.ApplyPose(0f, 10f, 0f, 0f, 0f, 0f, 0.02f);
            expected = Quaternion.Euler(-10f, 0f, 0f) * Quaternion.Euler(0f, 0f, 90f);
            Assert.Less(Quaternion.Angle(head.transform.localRotation, expected), 0.01f);

            driver.RestoreRestPose();
            Assert.Less(Quaternion.Angle(head.transform.localRotation, Quaternion.Euler(0f, 0f, 90f)), 0.01f);
        }

        /// <summary>Auto-mapping and weights on a real mesh, in both weight ranges.</summary>
        [Test]
        public void BlendshapeDriverMapsAndScalesWeights()
        {
            root = new GameObject("face");
            SkinnedMeshRenderer renderer = root.AddComponent<SkinnedMeshRenderer>();
            var mesh = new Mesh();
            mesh.vertices = new Vector3[3];
            mesh.AddBlendShapeFrame("blendShape1.jawOpen", 100f, new Vector3[3], null, null);
            mesh.AddBlendShapeFrame("eyeBlink_L", 100f, new Vector3[3], null, null);
            renderer.sharedMesh = mesh;
            BlendshapeDriver driver = root.AddComponent<BlendshapeDriver>();
            driver.TargetRenderer = renderer;
            driver.SmoothingTime = 0f;
            Assert.AreEqual(2, driver.AutoMap().Matches.Count);

            var frame = new float[ArkitNames.Count];
            frame[ArkitNames.IndexOf("JawOpen")] = 0.5f;
            frame[ArkitNames.IndexOf("EyeBlinkLeft")] = 1.5f;
            driver.ApplyFrame(frame, 0.02f);
            Assert.AreEqual(50.0, renderer.GetBlendShapeWeight(0), 1e-3);
            Assert.AreEqual(100.0, renderer.GetBlendShapeWeight(1), 1e-3);

            driver.Range = BlendshapeDriver.WeightRange.ZeroToOne;
            driver.ApplyFrame(frame, 0.02f);
            Assert.AreEqual(0.5, renderer.GetBlendShapeWeight(0), 1e-4);
            driver.ApplyFrame(null, 0.02f);
            Assert.AreEqual(0.0, renderer.GetBlendShapeWeight(0), 1e-4);
            Object.DestroyImmediate(mesh);
        }

        /// <summary>The client says hello, sends its ARKit config and fills the timeline from motion messages.</summary>
        [Test]
        public void ClientRunsTheSessionAndFillsTheTimeline()
        {
            var transport = new LoopbackTransport();
            var previous = AvatarForcingClient.TransportFactory;
            AvatarForcingClient.TransportFactory = () => transport;
            try
            {
                root = new GameObject("npc");
                AvatarForcingClient client = root.AddComponent<AvatarForcingClient>();
                client.Connect();
                transport.Open();
                client.Session.Update(0.0);
                Assert.IsTrue(transport.Sent.Count >= 1 && transport.Sent[0].Contains("\"hello\""));

                transport.Receive("{\"type\":\"welcome\",\"version\":1,\"session_id\":\"s1\",\"resumed\":false,\"capabilities\":[\"json\"],"
                    + "\"fps\":25,\"config\":{},\"limits\":{},\"resume_grace_s\":30.0}");
                client.Session.Update(0.1);
                Assert.IsTrue(client.IsReady);
                Assert.AreEqual("s1", client.SessionId);
                string all = string.Join("\n", transport.Sent.ToArray());
                Assert.IsTrue(all.Contains("\"naming\":\"arkit\""), all);

                var motion = new StringBuilder("{\"type\":\"motion\",\"frame\":0,\"fps\":25,\"timestamps\":[0,0.04,0.08,0.12],\"naming\":\"arkit\",\"names\":[\"JawOpen\",\"HeadYaw\"],\"values\":[");
                motion.Append("[0.1,1],[0.2,2],[0.3,3],[0.4,4]]}");
                transport.Receive(motion.ToString());
                client.Session.Update(0.2);
                Assert.AreEqual(3, client.Timeline.NewestFrame);
                var frame = new float[ArkitNames.Count];
                Assert.IsTrue(client.Timeline.Sample(0.06, frame));
                Assert.AreEqual(0.25, frame[ArkitNames.IndexOf("JawOpen")], 1e-5);
            }
            finally
            {
                AvatarForcingClient.TransportFactory = previous;
            }
        }
    }
}
