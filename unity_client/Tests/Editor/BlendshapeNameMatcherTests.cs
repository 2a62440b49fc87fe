using System.Collections.Generic;
using AvatarForcing.Unity;
using NUnit.Framework;

namespace AvatarForcing.Tests
{
    /// <summary>Tests of <see cref="BlendshapeNameMatcher"/> (the driver's auto-mapping).</summary>
    [TestFixture]
    public class BlendshapeNameMatcherTests
    {
        private static string MeshNameOf(BlendshapeMatchReport report, string channel)
        {
            foreach (BlendshapeMatch m in report.Matches)
            {
                if (m.Channel == channel)
                {
                    return m.MeshShape;
                }
            }
            return null;
        }

        /// <summary>Keys are spelling independent.</summary>
        [Test]
        public void KeysAreSpellingIndependent()
        {
            string key = BlendshapeNameMatcher.Key("EyeBlinkLeft");
            Assert.AreEqual("eyeblinkleft", key);
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("eyeBlinkLeft"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("eyeBlink_L"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("Eye_Blink_L"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("eyeBlink.L"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("blendShape1.eyeBlinkLeft"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("BS_eyeBlinkLeft"));
            Assert.AreEqual(key, BlendshapeNameMatcher.Key("ARKit_EyeBlink_L"));
            Assert.AreEqual("jawopen", BlendshapeNameMatcher.Key("Face.jawOpen"));
        }

        /// <summary>Matches a complete arkit mesh in any spelling.</summary>
        [Test]
        public void MatchesACompleteArkitMeshInAnySpelling()
        {
            var names = new List<string>();
            foreach (string n in ArkitNames.Blendshapes)
            {
                names.Add("blendShape1." + ArkitNames.Spell(n, "lr"));
            }
            names.Add("Fcl_ALL_Joy");
            BlendshapeMatchReport report = BlendshapeNameMatcher.Match(names);
            Assert.AreEqual(52, report.Matches.Count);
            Assert.AreEqual(0, report.MissingChannels.Count);
            Assert.AreEqual(1, report.UnusedShapes.Count);
            Assert.AreEqual("blendShape1.eyeBlink_L", MeshNameOf(report, "EyeBlinkLeft"));
            Assert.AreEqual("blendShape1.jawOpen", MeshNameOf(report, "JawOpen"));
            Assert.AreEqual(names.IndexOf("blendShape1.jawOpen"), report.Matches[ArkitNames.IndexOf("JawOpen")].MeshIndex);
        }

        /// <summary>Reports missing duplicate and suffix matches.</summary>
        [Test]
        public void ReportsMissingDuplicateAndSuffixMatches()
        {
            var names = new[] { "jawOpen", "JawOpen", "Head_mouthSmileLeft", "eyeBlinkLeft", "browInnerUp_extra" };
            BlendshapeMatchReport report = BlendshapeNameMatcher.Match(names);
            Assert.AreEqual("jawOpen", MeshNameOf(report, "JawOpen"));
            Assert.Contains("JawOpen", report.Duplicates);
            Assert.AreEqual("Head_mouthSmileLeft", MeshNameOf(report, "MouthSmileLeft"));
            Assert.IsNull(MeshNameOf(report, "BrowInnerUp"));
            Assert.Contains("browInnerUp_extra", report.UnusedShapes);
            Assert.Contains("EyeBlinkRight", report.MissingChannels);
            Assert.AreEqual(3, report.Matches.Count);
            bool bySuffix = false;
            foreach (BlendshapeMatch m in report.Matches)
            {
                bySuffix |= m.BySuffix && m.Channel == "MouthSmileLeft";
            }
            Assert.IsTrue(bySuffix);
            StringAssertContains(report.Summary(), "3 of 52");
        }

        /// <summary>An ambiguous suffix is not guessed.</summary>
        [Test]
        public void AnAmbiguousSuffixIsNotGuessed()
        {
            BlendshapeMatchReport report = BlendshapeNameMatcher.Match(new[] { "A_jawOpen", "B_jawOpen" });
            Assert.AreEqual(0, report.Matches.Count);
            Assert.AreEqual(2, report.UnusedShapes.Count);
        }

        private static void StringAssertContains(string text, string part)
        {
            Assert.IsTrue(text.Contains(part), "'" + text + "' should contain '" + part + "'");
        }
    }
}
