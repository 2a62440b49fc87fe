// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;

namespace AvatarForcing.Standalone
{
    /// <summary>
    /// The engine-free core's test program (no Unity needed): unit checks of the JSON codec, PCM,
    /// ARKit names, backoff and the session state machine (on a scripted transport), then, given
    /// a server URL, the round trip against a live <c>avatar-forcing serve</c> (see
    /// <see cref="LiveTests"/>). Exits 0 only when every check passed.
    /// </summary>
    /// <example>
    /// <code>
    /// mcs -langversion:7.2 -out:CoreTests.exe unity_client/Runtime/Core/*.cs unity_client/Tests/Standalone/*.cs
    /// mono CoreTests.exe                                   # offline checks only
    /// mono CoreTests.exe ws://127.0.0.1:8765/ speech.wav   # plus the live round trip
    /// </code>
    /// </example>
    public static class CoreTests
    {
        /// <summary>Arguments: [server URL [audio file (16-kHz mono WAV, or .f32 raw float)]].</summary>
        public static int Main(string[] args)
        {
            // A culture with a decimal comma: the codec must not care.
            Thread.CurrentThread.CurrentCulture = new CultureInfo("de-DE");
            try
            {
                JsonTests();
                PcmTests();
                ArkitNamesTests();
                BackoffTests();
                SessionTests.Run();
                if (args.Length > 0) LiveTests.Run(args[0], args.Length > 1 ? args[1] : null);
                else Check.Note("no server URL given: live checks skipped");
            }
            catch (Exception e)
            {
                Check.That(false, "unexpected exception: " + e);
            }
            Console.WriteLine();
            Console.WriteLine(Check.Passed + " checks passed, " + Check.Failed + " failed");
            foreach (string failure in Check.Failures) Console.WriteLine("  failed: " + failure);
            return Check.Failed == 0 && Check.Passed > 0 ? 0 : 1;
        }

        private static void JsonTests()
        {
            Check.Section("Json");
            var map = Json.ParseObject("{\"type\": \"motion\", \"frame\": 48, \"t\": 1.92, \"ok\": true, \"none\": null,"
                                       + " \"names\": [\"A\", \"B\"], \"values\": [[0.5, -1e-3], [2, 3.25E2]], \"nested\": {\"x\": {}}}");
            Check.Equal("motion", Json.GetString(map, "type"), "reads a string");
            Check.That(map["frame"] is long && (long)map["frame"] == 48, "integers read as long");
            Check.That(map["t"] is double && (double)map["t"] == 1.92, "fractions read as double");
            Check.Equal(true, Json.GetBool(map, "ok"), "reads true");
            Check.That(map.ContainsKey("none") && map["none"] == null, "reads null");
            var values = Json.GetList(map, "values");
            Check.That(Json.ToDouble(((List<object>)values[0])[1]) == -0.001 && Json.ToDouble(((List<object>)values[1])[1]) == 325.0,
                "reads negative and exponent numbers");
            Check.That(Json.GetMap(Json.GetMap(map, "nested"), "x").Count == 0, "reads nested objects");
            Check.Equal(2, Json.GetStringArray(map, "names").Length, "reads string arrays");

            string escaped = "quote\" backslash\\ slash/ newline\n tab\t cr\r bs\b ff\f ctl\u0001 nul\0 é 😀 \u2028";
            string written = Json.Serialize(escaped);
            Check.Equal("\"quote\\\" backslash\\\\ slash/ newline\\n tab\\t cr\\r bs\\b ff\\f ctl\\u0001 nul\\u0000 é 😀 \\u2028\"",
                written, "escapes quotes, backslashes and control characters; keeps other text");
            Check.Equal(escaped, (string)Json.Parse(written), "string round trip");
            Check.Equal("é😀/\"", (string)Json.Parse("\"\\u00e9\\ud83d\\ude00\\/\\\"\""), "reads \\u escapes and surrogate pairs");
            Check.Equal("\u00e9\u00c9", (string)Json.Parse("\"\\u00E9\\u00c9\""), "hex digits in either case");
            Check.Equal("\"a\uFFFDb\uFFFD\"", Json.Serialize("a\ud800b\udc00"), "lone surrogates are written as U+FFFD");

            var doc = new Dictionary<string, object>
            {
                { "int", 7 }, { "long", 1L << 53 }, { "neg", -12 }, { "double", 0.1 }, { "third", 1.0 / 3 },
                { "tiny", 5e-324 }, { "big", 1.7976931348623157e308 }, { "float", 0.1f }, { "half", 2.5 },
                { "bool", false }, { "null", null }, { "bytes", new byte[] { 0, 1, 2, 253, 254, 255 } },
                { "list", new object[] { 1, "two", new List<object> { 3.5 } } }, { "floats", new[] { 1.5f, -2f } },
                { "map", new Dictionary<string, object> { { "k", "v" } } }, { "unicode key é", "x" },
            };
            string json = Json.Serialize(doc);
            Check.That(json.IndexOf(',') > 0 && json.IndexOf("0,1", StringComparison.Ordinal) < 0, "writes invariant numbers under a comma culture: " + json);
            var back = Json.ParseObject(json);
            Check.Equal(7L, back["int"], "int round trip");
            Check.Equal(1L << 53, back["long"], "2^53 round trip");
            Check.Equal(-12L, back["neg"], "negative round trip");
            Check.Equal(0.1, back["double"], "0.1 round trip");
            Check.Equal(1.0 / 3, back["third"], "1/3 round trip (17 digits)");
            Check.Equal(5e-324, back["tiny"], "smallest double round trip");
            Check.Equal(1.7976931348623157e308, back["big"], "largest double round trip");
            Check.Equal(0.1, back["float"], "floats are written in their shortest form (0.1f -> 0.1)");
            Check.Equal("AAEC/f7/", back["bytes"], "byte[] is written as padded base64");
            Check.Equal("[1,\"two\",[3.5]]", Json.Serialize(back["list"]), "nested list round trip");
            Check.Equal("[1.5,-2]", Json.Serialize(back["floats"]), "float arrays");
            Check.Equal("x", back["unicode key é"], "unicode keys");
            Check.Equal("{\"k\":\"v\"}", Json.Serialize(back["map"]), "nested map round trip");
            Check.Equal("1E-07", Json.Serialize(1e-7), "exponents are valid JSON");
            Check.Equal(1e-7, Json.Parse("1E-07"), "and read back");
            Check.Equal(12345678901234L, Json.Parse("12345678901234"), "large integers stay exact");
            Check.Equal(1e300, Json.Parse("1e300"), "a double with an exponent");
            Check.Equal(18446744073709551615.0, Json.Parse("18446744073709551615"), "integers beyond long read as double");
            Check.Equal(-0.0, Json.Parse("-0.0"), "negative zero");
            Check.Equal("3", Json.Serialize(3.0), "integral doubles are written without a fraction");

            foreach (string bad in new[] { "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "NaN", "Infinity", "\"\\x\"",
                                           "\"abc", "\"a\nb\"", "{a:1}", "[1 2]", "tru", "nul", "1e", "\"\\u12\"", "1 2", "1e999" })
            {
                string b = bad;
                Check.Throws<JsonException>(() => Json.Parse(b), "refuses " + Escape(bad));
            }
            Check.Throws<JsonException>(() => Json.Parse(new string('[', 100) + new string(']', 100)), "refuses nesting deeper than 64");
            Check.Equal(2, ((List<object>)Json.Parse(" \t\r\n[ 1 , {} ] \n")).Count, "whitespace anywhere between tokens");
            Check.Throws<JsonException>(() => Json.Serialize(double.NaN), "refuses to write NaN");
            Check.Throws<JsonException>(() => Json.Serialize(float.PositiveInfinity), "refuses to write infinity");
            Check.Throws<JsonException>(() => Json.Serialize(new Dictionary<int, int> { { 1, 2 } }), "refuses non-string keys");
            Check.Throws<JsonException>(() => Json.ParseObject("[1]"), "ParseObject refuses arrays");
            Check.Throws<JsonException>(() => Json.GetString(Json.ParseObject("{\"a\": 1}"), "a"), "typed access refuses the wrong type");
            Check.Throws<JsonException>(() => Json.ToInt(1.5), "ToInt refuses fractions");
            Check.Equal(0, Json.GetInt(Json.ParseObject("{}"), "missing"), "absent members give the fallback");
            Check.Throws<JsonException>(() => Json.GetBytes(Json.ParseObject("{\"d\": \"not base64!\"}"), "d"), "bad base64 is refused");
        }

        private static string Escape(string s)
        {
            return Json.Serialize(s);
        }

        private static void PcmTests()
        {
            Check.Section("Pcm");
            var x = new[] { 0f, 0.5f, -0.5f, 1f, -1f, 2f, -2f, 1f / 32768, float.NaN, 0.25f / 32768 * 3 };
            byte[] s16 = Pcm.FloatToS16le(x);
            Check.Equal(20, s16.Length, "s16le: 2 bytes per sample");
            Check.That(s16[2] == 0x00 && s16[3] == 0x40, "s16le is little-endian (0.5 -> 0x4000 as 00 40)");
            float[] y = Pcm.S16leToFloat(s16);
            Check.That(y[1] == 0.5f && y[2] == -0.5f, "s16le round trip of exact values");
            Check.That(y[3] == 32767f / 32768 && y[5] == 32767f / 32768, "1.0 and above clip to 32767");
            Check.That(y[4] == -1f && y[6] == -1f, "-1.0 and below clip to -32768");
            Check.That(y[7] == 1f / 32768 && y[8] == 0f, "one step is one step; NaN is 0");
            Check.Equal(1f / 32768, y[9], "rounds to the nearest step (0.75 steps -> 1)");
            Check.Equal((short)2, Pcm.FloatToShort(2.5f / 32768), "halfway rounds to even (2.5 -> 2)");
            Check.Equal((short)4, Pcm.FloatToShort(3.5f / 32768), "halfway rounds to even (3.5 -> 4)");
            var f = new[] { 0.1f, -3.5f, 1e-20f };
            byte[] f32 = Pcm.FloatToF32le(f);
            Check.Equal(12, f32.Length, "f32le: 4 bytes per sample");
            float[] g = Pcm.F32leToFloat(f32);
            Check.That(g[0] == 0.1f && g[1] == -3.5f && g[2] == 1e-20f, "f32le round trip is exact");
            Check.That(f32[4] == 0 && f32[5] == 0 && f32[6] == 0x60 && f32[7] == 0xC0, "f32le is little-endian (-3.5 = 0xC0600000)");
            Check.Throws<ArgumentException>(() => Pcm.FloatToF32le(new[] { float.NaN }), "f32le refuses NaN");
            Check.Throws<ArgumentException>(() => Pcm.S16leToFloat(new byte[3]), "s16le refuses an odd byte count");
            Check.Equal(4, Pcm.FloatToS16le(x, 1, 2).Length, "offset and count");
            Check.Throws<ArgumentOutOfRangeException>(() => Pcm.FloatToS16le(x, 9, 2), "a range outside the samples is refused");
        }

        private static void ArkitNamesTests()
        {
            Check.Section("ArkitNames");
            Check.Equal(52, ArkitNames.Blendshapes.Length, "52 blendshapes");
            Check.Equal(58, ArkitNames.All.Length, "58 channels");
            Check.Equal("JawOpen", ArkitNames.All[17], "JawOpen is channel 17");
            Check.Equal("HeadYaw", ArkitNames.All[52], "the head pose follows the blendshapes");
            Check.Equal("HeadZ", ArkitNames.All[57], "HeadZ is the last channel");
            Check.Equal(58, new HashSet<string>(ArkitNames.All).Count, "names are unique");
            foreach (string s in new[] { "EyeBlinkLeft", "eyeBlinkLeft", "eyeBlink_L", "EYEBLINKLEFT", "eyeblink_l", " EyeBlinkLeft " })
            {
                Check.Equal("EyeBlinkLeft", ArkitNames.Canonical(s), "Canonical(\"" + s + "\")");
            }
            Check.Equal("MouthSmileRight", ArkitNames.Canonical("mouthSmile_R"), "mouthSmile_R");
            Check.Equal("JawOpen", ArkitNames.Canonical("jawOpen"), "jawOpen");
            Check.Equal("HeadPitch", ArkitNames.Canonical("headPitch"), "headPitch");
            Check.Equal("TongueOut", ArkitNames.Canonical("tongue_out"), "underscores inside are ignored");
            Check.Throws<KeyNotFoundException>(() => ArkitNames.Canonical("Smile"), "unknown names throw");
            string name;
            Check.That(!ArkitNames.TryCanonical("Smile", out name) && name == null, "TryCanonical is false for unknown names");
            Check.Equal(17, ArkitNames.IndexOf("jawOpen"), "IndexOf any spelling");
            Check.Equal(-1, ArkitNames.IndexOf("Nope"), "IndexOf unknown is -1");
            Check.That(ArkitNames.IsBlendshape("cheekPuff") && !ArkitNames.IsBlendshape("HeadYaw"), "IsBlendshape");
            Check.Equal("eyeBlink_L", ArkitNames.Spell("EyeBlinkLeft", "lr"), "Spell lr");
            Check.Equal("eyeBlinkLeft", ArkitNames.Spell("eyeBlink_L", "camel"), "Spell camel");
            Check.Equal("headYaw", ArkitNames.Spell("HeadYaw", "lr"), "head channels stay camelCase in lr");
            Check.Equal("jawOpen", ArkitNames.Spell("JawOpen", "lr"), "no side: camelCase in lr");
            foreach (string n in ArkitNames.All)
            {
                foreach (string spelling in new[] { "pascal", "camel", "lr" })
                {
                    if (ArkitNames.Canonical(ArkitNames.Spell(n, spelling)) != n) Check.That(false, "spelling round trip of " + n);
                }
            }
            Check.That(true, "every channel round-trips through every spelling");
        }

        private static void BackoffTests()
        {
            Check.Section("Backoff");
            var b = new Backoff(0.5, 10, 0.2, 1);
            Check.That(b.BaseDelay(0) == 0.5 && b.BaseDelay(1) == 1 && b.BaseDelay(2) == 2 && b.BaseDelay(4) == 8, "base delays double");
            Check.That(b.BaseDelay(5) == 10 && b.BaseDelay(50) == 10, "capped at the maximum");
            bool inRange = true;
            var seen = new HashSet<double>();
            for (int i = 0; i < 30; i++)
            {
                double expected = b.BaseDelay(i);
                double d = b.Next();
                seen.Add(Math.Round(d / expected, 6));
                if (d < expected * 0.8 - 1e-12 || d > expected * 1.2 + 1e-12) inRange = false;
            }
            Check.That(inRange, "jittered delays stay within ±20 %");
            Check.That(seen.Count > 20, "jitter varies");
            Check.Equal(30, b.Attempts, "attempts counted");
            b.Reset();
            double first = b.Next();
            Check.That(first >= 0.4 && first <= 0.6, "Reset starts over at the initial delay");
            Check.Throws<ArgumentOutOfRangeException>(() => new Backoff(0, 1), "refuses a zero initial delay");
            Check.Throws<ArgumentOutOfRangeException>(() => new Backoff(2, 1), "refuses max < initial");
            var noJitter = new Backoff(1, 4, 0);
            Check.That(noJitter.Next() == 1 && noJitter.Next() == 2 && noJitter.Next() == 4 && noJitter.Next() == 4, "no jitter: exact delays");
        }
    }
}
#endif
