using System;
using System.Collections.Generic;

namespace AvatarForcing
{
    /// <summary>
    /// One generated block of face motion (a <c>motion</c> message): <c>Values.Length</c>
    /// consecutive frames starting at frame <see cref="Frame"/>, at <see cref="Fps"/> (25).
    /// </summary>
    /// <remarks>
    /// Frame <c>k</c> of the session is at <c>k / fps</c> seconds on the session clock (the
    /// avatar-audio clock), so <c>Timestamps[i] = (Frame + i) / Fps</c>. Frame numbers increase
    /// strictly over the whole session, across resumes. With naming <c>arkit</c> the names are
    /// the 58 channels of <see cref="ArkitNames.All"/> (in the session's <c>arkit_spelling</c>):
    /// blendshapes 0..1, head rotation in degrees, head translation in cm.
    /// </remarks>
    public sealed class MotionBlock
    {
        private Dictionary<string, int> _index;

        /// <summary>Number of the block's first frame.</summary>
        public int Frame { get; set; }

        /// <summary>Frames per second (25).</summary>
        public int Fps { get; set; }

        /// <summary>Seconds on the session clock, one per frame: <c>(Frame + i) / Fps</c>.</summary>
        public double[] Timestamps { get; set; }

        /// <summary>The channel naming: <c>arkit</c>, <c>vrm</c>, <c>vrm1</c> or <c>vts</c>.</summary>
        public string Naming { get; set; }

        /// <summary>The channels, in the chosen naming.</summary>
        public string[] Names { get; set; }

        /// <summary><c>Values[i][j]</c>: channel <c>Names[j]</c> at frame <c>Frame + i</c>;
        /// shape (frames, channels).</summary>
        public float[][] Values { get; set; }

        /// <summary>Frames in the block.</summary>
        public int Count
        {
            get { return Values == null ? 0 : Values.Length; }
        }

        /// <summary>Number of the block's last frame (<c>Frame + Count - 1</c>).</summary>
        public int LastFrame
        {
            get { return Frame + Count - 1; }
        }

        /// <summary>The column of a channel: its exact name, else (ARKit channels) any spelling of
        /// it; -1 when the block has no such channel.</summary>
        public int IndexOf(string name)
        {
            if (name == null || Names == null) return -1;
            if (_index == null)
            {
                _index = new Dictionary<string, int>(Names.Length * 2, StringComparer.Ordinal);
                for (int j = 0; j < Names.Length; j++)
                {
                    _index[Names[j]] = j;
                }
                for (int j = 0; j < Names.Length; j++)
                {
                    string canonical;
                    if (ArkitNames.TryCanonical(Names[j], out canonical) && !_index.ContainsKey(canonical))
                        _index[canonical] = j;
                }
            }
            int index;
            if (_index.TryGetValue(name, out index)) return index;
            string c;
            if (ArkitNames.TryCanonical(name, out c) && _index.TryGetValue(c, out index)) return index;
            return -1;
        }

        /// <summary>Channel <paramref name="name"/> at frame <c>Frame + i</c>. Throws
        /// <see cref="KeyNotFoundException"/> when the block has no such channel.</summary>
        public float Get(int i, string name)
        {
            int j = IndexOf(name);
            if (j < 0) throw new KeyNotFoundException("the motion block has no channel '" + name + "'");
            return Values[i][j];
        }

        /// <summary>Like <see cref="Get"/>, without throwing: false when there is no such channel.</summary>
        public bool TryGet(int i, string name, out float value)
        {
            int j = IndexOf(name);
            value = j < 0 ? 0f : Values[i][j];
            return j >= 0;
        }
    }

    /// <summary>
    /// The avatar's voice as the server placed it on the session clock (an <c>avatar_audio</c>
    /// message), aligned with the motion block of the same <see cref="Frame"/>: play it at
    /// <see cref="T"/> and show the motion frames at their timestamps, and both stay in sync.
    /// </summary>
    public sealed class AvatarAudioBlock
    {
        /// <summary>First frame it covers (= the matching <see cref="MotionBlock.Frame"/>).</summary>
        public int Frame { get; set; }

        /// <summary>Motion frames it covers.</summary>
        public int Frames { get; set; }

        /// <summary><c>Frame / fps</c>: seconds on the session clock when its first sample plays.</summary>
        public double T { get; set; }

        /// <summary>Sample rate, Hz (the avatar stream's; 16000 before any avatar audio arrived).</summary>
        public int Rate { get; set; }

        /// <summary>Channels, interleaved in <see cref="Samples"/>.</summary>
        public int Channels { get; set; }

        /// <summary>The wire sample format it was decoded from: <c>s16le</c> or <c>f32le</c>.</summary>
        public string Format { get; set; }

        /// <summary>Interleaved float samples, -1..1: <c>SampleFrames * Channels</c> values.</summary>
        public float[] Samples { get; set; }

        /// <summary>Samples per channel.</summary>
        public int SampleFrames
        {
            get { return Samples == null || Channels <= 0 ? 0 : Samples.Length / Channels; }
        }
    }

    /// <summary>A change of turn state (a <c>turn_event</c> message).</summary>
    public sealed class TurnEventInfo
    {
        /// <summary><c>user_started</c>, <c>user_stopped</c>, <c>avatar_started</c>,
        /// <c>avatar_stopped</c> or <c>interrupted</c>.</summary>
        public string Event { get; set; }

        /// <summary>The state after it: <c>idle</c>, <c>avatar_speaking</c>,
        /// <c>user_speaking</c> or <c>both</c>.</summary>
        public string State { get; set; }

        /// <summary><c>client</c> (a cue this client sent) or <c>server</c> (its speech detector).</summary>
        public string Source { get; set; }

        /// <summary>The first frame the new state applies to.</summary>
        public int Frame { get; set; }

        /// <summary>That frame's time on the session clock, seconds.</summary>
        public double T { get; set; }
    }

    /// <summary>An <c>error</c> message from the server (see <see cref="ErrorCodes"/>).</summary>
    public sealed class ServerError
    {
        /// <summary>The error code, e.g. <c>sequence_gap</c>, <c>bad_config</c>, <c>unknown_session</c>.</summary>
        public string Code { get; set; }

        /// <summary>Human-readable detail (names the field, the limit, the valid values).</summary>
        public string Message { get; set; }

        /// <summary>The offending message's id, when the server could read it.</summary>
        public int? MsgId { get; set; }

        /// <summary>True: the server closes the connection after this error.</summary>
        public bool Fatal { get; set; }

        /// <summary>"code: message".</summary>
        public override string ToString()
        {
            return Code + ": " + Message;
        }
    }

    /// <summary>The server's <c>welcome</c>: the session and what the server offers.</summary>
    public sealed class WelcomeInfo
    {
        /// <summary>The server's protocol version (1).</summary>
        public int Version { get; set; }

        /// <summary>The session id; the client resumes with it after a drop.</summary>
        public string SessionId { get; set; }

        /// <summary>True when this connection resumed an existing session.</summary>
        public bool Resumed { get; set; }

        /// <summary>Frames per second of motion (25).</summary>
        public int Fps { get; set; }

        /// <summary><c>msgpack</c>, <c>json</c>, <c>resume</c>, <c>naming:&lt;n&gt;</c>,
        /// <c>output:&lt;o&gt;</c>, <c>input:&lt;i&gt;</c>, ...</summary>
        public string[] Capabilities { get; set; }

        /// <summary>The effective session config.</summary>
        public Dictionary<string, object> Config { get; set; }

        /// <summary>The wire and queue limits (<c>max_message_bytes</c>, <c>max_audio_chunk_s</c>, ...).</summary>
        public Dictionary<string, object> Limits { get; set; }

        /// <summary>How long a dropped session waits for a resume, seconds.</summary>
        public double ResumeGraceSeconds { get; set; }

        /// <summary>Whether the server announced <paramref name="capability"/>.</summary>
        public bool HasCapability(string capability)
        {
            return Capabilities != null && Array.IndexOf(Capabilities, capability) >= 0;
        }
    }

    /// <summary>The protocol's error codes (<c>docs/protocol.md</c>, Errors).</summary>
    public static class ErrorCodes
    {
        /// <summary>Not JSON/msgpack, or not a map.</summary>
        public const string Malformed = "malformed";
        /// <summary>A list, string or nesting over its limit.</summary>
        public const string TooLarge = "too_large";
        /// <summary>An unknown message type.</summary>
        public const string UnknownType = "unknown_type";
        /// <summary>A required field is absent.</summary>
        public const string MissingField = "missing_field";
        /// <summary>A field the message type does not have.</summary>
        public const string UnknownField = "unknown_field";
        /// <summary>A value of the wrong type.</summary>
        public const string WrongType = "wrong_type";
        /// <summary>A value out of range or inconsistent.</summary>
        public const string BadValue = "bad_value";
        /// <summary>An audio chunk longer than <c>max_audio_chunk_s</c>.</summary>
        public const string ChunkTooLong = "chunk_too_long";
        /// <summary>A sample or image format the server does not take.</summary>
        public const string UnsupportedFormat = "unsupported_format";
        /// <summary>A sample rate outside 8000..96000 Hz.</summary>
        public const string UnsupportedRate = "unsupported_rate";
        /// <summary>A stream's chunk in another format than its first chunk.</summary>
        public const string FormatChanged = "format_changed";
        /// <summary>A <c>seq</c> skipped ahead (the chunk is kept).</summary>
        public const string SequenceGap = "sequence_gap";
        /// <summary>A <c>seq</c> not above the last accepted one (dropped).</summary>
        public const string SequenceRepeat = "sequence_repeat";
        /// <summary>Another protocol version (fatal).</summary>
        public const string VersionMismatch = "version_mismatch";
        /// <summary>A message that makes no sense now.</summary>
        public const string BadState = "bad_state";
        /// <summary>An invalid config (nothing changed).</summary>
        public const string BadConfig = "bad_config";
        /// <summary>A valid request this server cannot serve.</summary>
        public const string Unsupported = "unsupported";
        /// <summary>The avatar audio queue is full.</summary>
        public const string BufferFull = "buffer_full";
        /// <summary>Resume of a session that does not exist (any more) (fatal).</summary>
        public const string UnknownSession = "unknown_session";
        /// <summary>The server holds its maximum of sessions (fatal).</summary>
        public const string TooManySessions = "too_many_sessions";
        /// <summary>A server bug.</summary>
        public const string Internal = "internal";
    }
}
