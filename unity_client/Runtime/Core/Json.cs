using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace AvatarForcing
{
    /// <summary>
    /// A JSON text could not be read (bad syntax, nesting too deep), or a value cannot be written
    /// as JSON (NaN, infinities, an unsupported type, a non-string map key).
    /// </summary>
    public sealed class JsonException : FormatException
    {
        /// <summary>Character offset in the text where reading failed, or -1 when writing.</summary>
        public int Position { get; private set; }

        /// <summary>Creates the exception.</summary>
        public JsonException(string message, int position = -1)
            : base(position >= 0 ? message + " (at character " + position + ")" : message)
        {
            Position = position;
        }
    }

    /// <summary>
    /// A small, strict JSON reader and writer for the protocol's text frames (RFC 8259).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Why not a library: the core must build with nothing but the base class library, on every
    /// Unity scripting backend (Mono, IL2CPP, WebGL) without code generation or reflection, and
    /// without a package dependency. Newtonsoft.Json is an optional Unity package, MessagePack-CSharp
    /// needs generated code under IL2CPP, and <c>UnityEngine.JsonUtility</c> is bound to the engine
    /// and cannot read or write maps (<c>config</c>, <c>limits</c>) or lists of lists
    /// (<c>motion.values</c>). The protocol's messages are small maps, so a plain object model is
    /// enough.
    /// </para>
    /// <para>
    /// Object model (what <see cref="Parse"/> returns and <see cref="Serialize"/> accepts):
    /// JSON objects are <c>Dictionary&lt;string, object&gt;</c>,
    /// arrays are <c>List&lt;object&gt;</c>, strings are <c>string</c>, <c>true</c>/<c>false</c>
    /// are <c>bool</c>, <c>null</c> is <c>null</c>. Numbers written without a fraction or an
    /// exponent that fit a <c>long</c> are <c>long</c>; all others are <c>double</c>.
    /// Numbers are read and written with the invariant culture, whatever the thread's culture.
    /// </para>
    /// <para>
    /// The writer also accepts any <c>IDictionary</c> with string keys (and any
    /// <c>IDictionary&lt;string, object&gt;</c>), any <c>IEnumerable</c>
    /// (arrays, lists), every primitive number type, <c>char</c>, enums (written as their name)
    /// and <c>byte[]</c>, written as a standard base64 string with padding (the protocol's
    /// encoding of <c>bytes</c> fields). Doubles are written in the shortest form that reads back
    /// to the same value where the runtime allows ("R", checked, else 17 digits); floats in the
    /// shortest form of the float. NaN and infinities are refused (the protocol refuses them).
    /// Strings are written as UTF-16 text with <c>"</c>, <c>\</c> and control characters
    /// escaped (plus U+2028/U+2029); a lone surrogate, which has no UTF-8 encoding, is written
    /// as U+FFFD. The reader decodes every escape, including <c>\uXXXX</c> and surrogate pairs.
    /// </para>
    /// </remarks>
    public static class Json
    {
        /// <summary>Deepest nesting of arrays and objects <see cref="Parse"/> accepts.</summary>
        public const int MaxDepth = 64;

        // ------------------------------------------------------------------------------------
        // Reading
        // ------------------------------------------------------------------------------------

        /// <summary>Reads one JSON value (surrounding whitespace allowed). Throws
        /// <see cref="JsonException"/> on any syntax error or trailing text.</summary>
        public static object Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            var reader = new Reader(text);
            reader.SkipWhitespace();
            object value = reader.ReadValue(0);
            reader.SkipWhitespace();
            if (reader.Pos != text.Length) throw new JsonException("unexpected text after the JSON value", reader.Pos);
            return value;
        }

        /// <summary>Reads a JSON object. Throws <see cref="JsonException"/> when the text is not
        /// valid JSON or its top-level value is not an object.</summary>
        public static Dictionary<string, object> ParseObject(string text)
        {
            var map = Parse(text) as Dictionary<string, object>;
            if (map == null) throw new JsonException("the JSON value is not an object");
            return map;
        }

        private sealed class Reader
        {
            private readonly string _s;
            public int Pos;
            private readonly StringBuilder _sb = new StringBuilder();

            public Reader(string s)
            {
                _s = s;
            }

            public void SkipWhitespace()
            {
                while (Pos < _s.Length)
                {
                    char c = _s[Pos];
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') Pos++;
                    else break;
                }
            }

            private JsonException Error(string message)
            {
                return new JsonException(message, Pos);
            }

            public object ReadValue(int depth)
            {
                if (Pos >= _s.Length) throw Error("unexpected end of JSON text");
                char c = _s[Pos];
                switch (c)
                {
                    case '{': return ReadObject(depth + 1);
                    case '[': return ReadArray(depth + 1);
                    case '"': return ReadString();
                    case 't': Expect("true"); return true;
                    case 'f': Expect("false"); return false;
                    case 'n': Expect("null"); return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                        throw Error("unexpected character '" + c + "'");
                }
            }

            private void Expect(string word)
            {
                if (string.CompareOrdinal(_s, Pos, word, 0, word.Length) != 0) throw Error("invalid literal");
                Pos += word.Length;
            }

            private Dictionary<string, object> ReadObject(int depth)
            {
                if (depth > MaxDepth) throw Error("JSON nested deeper than " + MaxDepth);
                var map = new Dictionary<string, object>();
                Pos++; // '{'
                SkipWhitespace();
                if (Pos < _s.Length && _s[Pos] == '}')
                {
                    Pos++;
                    return map;
                }
                while (true)
                {
                    SkipWhitespace();
                    if (Pos >= _s.Length || _s[Pos] != '"') throw Error("expected a string key");
                    string key = ReadString();
                    SkipWhitespace();
                    if (Pos >= _s.Length || _s[Pos] != ':') throw Error("expected ':'");
                    Pos++;
                    SkipWhitespace();
                    map[key] = ReadValue(depth); // a repeated key keeps the last value, like most readers
                    SkipWhitespace();
                    if (Pos >= _s.Length) throw Error("unterminated object");
                    char c = _s[Pos++];
                    if (c == '}') return map;
                    if (c != ',') throw new JsonException("expected ',' or '}'", Pos - 1);
                }
            }

            private List<object> ReadArray(int depth)
            {
                if (depth > MaxDepth) throw Error("JSON nested deeper than " + MaxDepth);
                var list = new List<object>();
                Pos++; // '['
                SkipWhitespace();
                if (Pos < _s.Length && _s[Pos] == ']')
                {
                    Pos++;
                    return list;
                }
                while (true)
                {
                    SkipWhitespace();
                    list.Add(ReadValue(depth));
                    SkipWhitespace();
                    if (Pos >= _s.Length) throw Error("unterminated array");
                    char c = _s[Pos++];
                    if (c == ']') return list;
                    if (c != ',') throw new JsonException("expected ',' or ']'", Pos - 1);
                }
            }

            private string ReadString()
            {
                Pos++; // opening quote
                int start = Pos;
                // Fast path: no escapes.
                while (Pos < _s.Length)
                {
                    char c = _s[Pos];
                    if (c == '"')
                    {
                        Pos++;
                        return _s.Substring(start, Pos - 1 - start);
                    }
                    if (c == '\\') break;
                    if (c < ' ') throw Error("control character in a string");
                    Pos++;
                }
                _sb.Length = 0;
                _sb.Append(_s, start, Pos - start);
                while (Pos < _s.Length)
                {
                    char c = _s[Pos++];
                    if (c == '"') return _sb.ToString();
                    if (c < ' ') throw new JsonException("control character in a string", Pos - 1);
                    if (c != '\\')
                    {
                        _sb.Append(c);
                        continue;
                    }
                    if (Pos >= _s.Length) break;
                    char e = _s[Pos++];
                    switch (e)
                    {
                        case '"': _sb.Append('"'); break;
                        case '\\': _sb.Append('\\'); break;
                        case '/': _sb.Append('/'); break;
                        case 'b': _sb.Append('\b'); break;
                        case 'f': _sb.Append('\f'); break;
                        case 'n': _sb.Append('\n'); break;
                        case 'r': _sb.Append('\r'); break;
                        case 't': _sb.Append('\t'); break;
                        case 'u':
                            // \uXXXX is one UTF-16 code unit; a surrogate pair written as two
                            // escapes becomes the same two code units of the C# string.
                            _sb.Append(ReadHex4());
                            break;
                        default:
                            throw new JsonException("invalid escape '\\" + e + "'", Pos - 2);
                    }
                }
                throw Error("unterminated string");
            }

            private char ReadHex4()
            {
                if (Pos + 4 > _s.Length) throw Error("truncated \\u escape");
                int v = 0;
                for (int i = 0; i < 4; i++)
                {
                    char h = _s[Pos + i];
                    int d;
                    if (h >= '0' && h <= '9') d = h - '0';
                    else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
                    else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
                    else throw new JsonException("invalid \\u escape", Pos + i);
                    v = (v << 4) | d;
                }
                Pos += 4;
                return (char)v;
            }

            private object ReadNumber()
            {
                int start = Pos;
                bool integral = true;
                if (_s[Pos] == '-') Pos++;
                if (Pos >= _s.Length) throw Error("truncated number");
                if (_s[Pos] == '0')
                {
                    Pos++;
                    if (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') throw Error("leading zero in a number");
                }
                else if (_s[Pos] >= '1' && _s[Pos] <= '9')
                {
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                }
                else
                {
                    throw Error("invalid number");
                }
                if (Pos < _s.Length && _s[Pos] == '.')
                {
                    integral = false;
                    Pos++;
                    int digits = Pos;
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                    if (Pos == digits) throw Error("digits expected after '.'");
                }
                if (Pos < _s.Length && (_s[Pos] == 'e' || _s[Pos] == 'E'))
                {
                    integral = false;
                    Pos++;
                    if (Pos < _s.Length && (_s[Pos] == '+' || _s[Pos] == '-')) Pos++;
                    int digits = Pos;
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                    if (Pos == digits) throw Error("digits expected in the exponent");
                }
                string token = _s.Substring(start, Pos - start);
                if (integral)
                {
                    long l;
                    if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                }
                double d;
                if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out d)
                    || double.IsInfinity(d))
                {
                    throw new JsonException("number out of range: " + token, start);
                }
                return d;
            }
        }

        // ------------------------------------------------------------------------------------
        // Writing
        // ------------------------------------------------------------------------------------

        /// <summary>Writes a value (see the object model in the class remarks) as compact JSON.
        /// Throws <see cref="JsonException"/> for NaN, infinities, unsupported types, non-string
        /// map keys and nesting deeper than <see cref="MaxDepth"/>.</summary>
        public static string Serialize(object value)
        {
            var sb = new StringBuilder(256);
            Write(sb, value, 0);
            return sb.ToString();
        }

        /// <summary>Appends the JSON of <paramref name="value"/> to <paramref name="sb"/>.</summary>
        public static void Write(StringBuilder sb, object value)
        {
            Write(sb, value, 0);
        }

        private static void Write(StringBuilder sb, object value, int depth)
        {
            if (depth > MaxDepth) throw new JsonException("value nested deeper than " + MaxDepth);
            if (value == null)
            {
                sb.Append("null");
                return;
            }
            string s = value as string;
            if (s != null)
            {
                WriteString(sb, s);
                return;
            }
            if (value is bool)
            {
                sb.Append((bool)value ? "true" : "false");
                return;
            }
            if (value is double)
            {
                WriteDouble(sb, (double)value);
                return;
            }
            if (value is float)
            {
                WriteFloat(sb, (float)value);
                return;
            }
            if (value is int || value is long || value is short || value is sbyte || value is byte
                || value is ushort || value is uint || value is ulong)
            {
                sb.Append(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                return;
            }
            if (value is decimal)
            {
                sb.Append(((decimal)value).ToString(CultureInfo.InvariantCulture));
                return;
            }
            if (value is char)
            {
                WriteString(sb, value.ToString());
                return;
            }
            if (value is Enum)
            {
                WriteString(sb, value.ToString());
                return;
            }
            byte[] bytes = value as byte[];
            if (bytes != null)
            {
                sb.Append('"').Append(Convert.ToBase64String(bytes)).Append('"');
                return;
            }
            IDictionary dict = value as IDictionary;
            if (dict != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (DictionaryEntry entry in dict)
                {
                    string key = entry.Key as string;
                    if (key == null) throw new JsonException("JSON object keys must be strings, not " + entry.Key.GetType().Name);
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, key);
                    sb.Append(':');
                    Write(sb, entry.Value, depth + 1);
                }
                sb.Append('}');
                return;
            }
            var generic = value as IDictionary<string, object>;
            if (generic != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in generic)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    Write(sb, kv.Value, depth + 1);
                }
                sb.Append('}');
                return;
            }
            IEnumerable list = value as IEnumerable;
            if (list != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (object item in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, item, depth + 1);
                }
                sb.Append(']');
                return;
            }
            throw new JsonException("cannot write a " + value.GetType().FullName + " as JSON");
        }

        /// <summary>Appends a double in the shortest invariant form that reads back exactly.</summary>
        public static void WriteDouble(StringBuilder sb, double d)
        {
            if (double.IsNaN(d) || double.IsInfinity(d)) throw new JsonException("NaN and infinities cannot be written as JSON");
            if (d == Math.Floor(d) && Math.Abs(d) < 1e15)
            {
                // Integral values: "3" rather than "3.0" (JSON does not distinguish them).
                sb.Append(((long)d).ToString(CultureInfo.InvariantCulture));
                return;
            }
            string r = d.ToString("R", CultureInfo.InvariantCulture);
            double back;
            if (!double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out back) || back != d)
            {
                r = d.ToString("G17", CultureInfo.InvariantCulture); // some runtimes' "R" is not exact
            }
            sb.Append(r);
        }

        /// <summary>Appends a float in the shortest invariant form of the float (0.1f is "0.1").</summary>
        public static void WriteFloat(StringBuilder sb, float f)
        {
            if (float.IsNaN(f) || float.IsInfinity(f)) throw new JsonException("NaN and infinities cannot be written as JSON");
            if (f == Math.Floor(f) && Math.Abs(f) < 1e7f)
            {
                sb.Append(((long)f).ToString(CultureInfo.InvariantCulture));
                return;
            }
            string r = f.ToString("R", CultureInfo.InvariantCulture);
            float back;
            if (!float.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out back) || back != f)
            {
                r = f.ToString("G9", CultureInfo.InvariantCulture);
            }
            sb.Append(r);
        }

        /// <summary>Appends a quoted, escaped JSON string.</summary>
        public static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            int runStart = 0;
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                string escape = null;
                char replacement = '\0';
                if (c == '"') escape = "\\\"";
                else if (c == '\\') escape = "\\\\";
                else if (c < ' ')
                {
                    switch (c)
                    {
                        case '\n': escape = "\\n"; break;
                        case '\r': escape = "\\r"; break;
                        case '\t': escape = "\\t"; break;
                        case '\b': escape = "\\b"; break;
                        case '\f': escape = "\\f"; break;
                        default: escape = "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture); break;
                    }
                }
                else if (c == '\u2028') escape = "\\u2028";
                else if (c == '\u2029') escape = "\\u2029";
                else if (char.IsHighSurrogate(c))
                {
                    if (i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                    {
                        i++; // a valid pair: written as is
                        continue;
                    }
                    replacement = '\uFFFD';
                }
                else if (char.IsLowSurrogate(c))
                {
                    replacement = '\uFFFD'; // a low surrogate without its high half
                }
                if (escape == null && replacement == '\0') continue;
                sb.Append(s, runStart, i - runStart);
                if (escape != null) sb.Append(escape);
                else sb.Append(replacement);
                runStart = i + 1;
            }
            sb.Append(s, runStart, s.Length - runStart);
            sb.Append('"');
        }

        // ------------------------------------------------------------------------------------
        // Typed access to parsed values
        // ------------------------------------------------------------------------------------

        /// <summary>Whether <paramref name="value"/> is a JSON number (long or double, or any
        /// other CLR number type).</summary>
        public static bool IsNumber(object value)
        {
            return value is long || value is double || value is int || value is float || value is short
                || value is byte || value is sbyte || value is ushort || value is uint || value is ulong
                || value is decimal;
        }

        /// <summary>A JSON number as a double. Throws <see cref="JsonException"/> for non-numbers.</summary>
        public static double ToDouble(object value)
        {
            if (value is double) return (double)value;
            if (value is long) return (long)value;
            if (IsNumber(value)) return Convert.ToDouble(value, CultureInfo.InvariantCulture);
            throw new JsonException("expected a number, got " + Describe(value));
        }

        /// <summary>A JSON number as a long; throws unless it is integral and in range.</summary>
        public static long ToLong(object value)
        {
            if (value is long) return (long)value;
            double d = ToDouble(value);
            if (d != Math.Floor(d) || d < long.MinValue || d > long.MaxValue)
                throw new JsonException("expected an integer, got " + d.ToString("R", CultureInfo.InvariantCulture));
            return (long)d;
        }

        /// <summary>A JSON number as an int; throws unless it is integral and in range.</summary>
        public static int ToInt(object value)
        {
            long l = ToLong(value);
            if (l < int.MinValue || l > int.MaxValue) throw new JsonException("integer out of range: " + l);
            return (int)l;
        }

        /// <summary>The value under <paramref name="key"/>, or null when the key is absent.</summary>
        public static object Get(IDictionary<string, object> map, string key)
        {
            object v;
            return map != null && map.TryGetValue(key, out v) ? v : null;
        }

        /// <summary>A string member; <paramref name="fallback"/> when absent or null. Throws when
        /// it is there with another type.</summary>
        public static string GetString(IDictionary<string, object> map, string key, string fallback = null)
        {
            object v = Get(map, key);
            if (v == null) return fallback;
            string s = v as string;
            if (s == null) throw new JsonException("'" + key + "' must be a string, got " + Describe(v));
            return s;
        }

        /// <summary>An integer member; <paramref name="fallback"/> when absent or null.</summary>
        public static int GetInt(IDictionary<string, object> map, string key, int fallback = 0)
        {
            object v = Get(map, key);
            return v == null ? fallback : ToInt(v);
        }

        /// <summary>An integer member, or null when absent or null.</summary>
        public static int? GetNullableInt(IDictionary<string, object> map, string key)
        {
            object v = Get(map, key);
            return v == null ? (int?)null : ToInt(v);
        }

        /// <summary>A number member; <paramref name="fallback"/> when absent or null.</summary>
        public static double GetDouble(IDictionary<string, object> map, string key, double fallback = 0)
        {
            object v = Get(map, key);
            return v == null ? fallback : ToDouble(v);
        }

        /// <summary>A boolean member; <paramref name="fallback"/> when absent or null.</summary>
        public static bool GetBool(IDictionary<string, object> map, string key, bool fallback = false)
        {
            object v = Get(map, key);
            if (v == null) return fallback;
            if (!(v is bool)) throw new JsonException("'" + key + "' must be a boolean, got " + Describe(v));
            return (bool)v;
        }

        /// <summary>An object member, or null when absent or null.</summary>
        public static Dictionary<string, object> GetMap(IDictionary<string, object> map, string key)
        {
            object v = Get(map, key);
            if (v == null) return null;
            var m = v as Dictionary<string, object>;
            if (m == null) throw new JsonException("'" + key + "' must be an object, got " + Describe(v));
            return m;
        }

        /// <summary>An array member, or null when absent or null.</summary>
        public static List<object> GetList(IDictionary<string, object> map, string key)
        {
            object v = Get(map, key);
            if (v == null) return null;
            var l = v as List<object>;
            if (l == null) throw new JsonException("'" + key + "' must be an array, got " + Describe(v));
            return l;
        }

        /// <summary>An array of strings, or null when absent or null.</summary>
        public static string[] GetStringArray(IDictionary<string, object> map, string key)
        {
            List<object> l = GetList(map, key);
            if (l == null) return null;
            var result = new string[l.Count];
            for (int i = 0; i < l.Count; i++)
            {
                result[i] = l[i] as string;
                if (result[i] == null) throw new JsonException("'" + key + "' must hold strings, got " + Describe(l[i]));
            }
            return result;
        }

        /// <summary>An array of numbers as doubles, or null when absent or null.</summary>
        public static double[] GetDoubleArray(IDictionary<string, object> map, string key)
        {
            List<object> l = GetList(map, key);
            if (l == null) return null;
            var result = new double[l.Count];
            for (int i = 0; i < l.Count; i++) result[i] = ToDouble(l[i]);
            return result;
        }

        /// <summary>A base64 member (the protocol's <c>bytes</c> in JSON), or null when absent or
        /// null. Throws <see cref="JsonException"/> for text that is not base64.</summary>
        public static byte[] GetBytes(IDictionary<string, object> map, string key)
        {
            string s = GetString(map, key);
            if (s == null) return null;
            try
            {
                return Convert.FromBase64String(s);
            }
            catch (FormatException)
            {
                throw new JsonException("'" + key + "' is not valid base64");
            }
        }

        /// <summary>A short description of a value's JSON type, for error messages.</summary>
        public static string Describe(object value)
        {
            if (value == null) return "null";
            if (value is string) return "a string";
            if (value is bool) return "a boolean";
            if (IsNumber(value)) return "a number";
            if (value is IDictionary) return "an object";
            if (value is IEnumerable) return "an array";
            return "a " + value.GetType().Name;
        }

        /// <summary>A deep copy of a parsed value (maps and lists are copied; scalars shared).</summary>
        public static object DeepCopy(object value)
        {
            var map = value as IDictionary<string, object>;
            if (map != null)
            {
                var copy = new Dictionary<string, object>(map.Count);
                foreach (var kv in map) copy[kv.Key] = DeepCopy(kv.Value);
                return copy;
            }
            var list = value as List<object>;
            if (list != null)
            {
                var copy = new List<object>(list.Count);
                foreach (object item in list) copy.Add(DeepCopy(item));
                return copy;
            }
            return value;
        }
    }
}
