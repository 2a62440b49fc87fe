using System;
using System.Collections.Generic;

namespace AvatarForcing
{
    /// <summary>
    /// The avatar protocol (version 1, <c>docs/protocol.md</c>) in its JSON form: constants,
    /// client message bodies and readers of server messages. Every message is a JSON object
    /// with a <c>"type"</c> string; <c>bytes</c> fields are standard base64 with padding.
    /// </summary>
    /// <remarks>
    /// Readers follow the protocol's versioning rule: fields they do not know are ignored.
    /// A field present with the wrong type throws <see cref="JsonException"/>.
    /// </remarks>
    public static class Protocol
    {
        /// <summary>The protocol's major version this client speaks.</summary>
        public const int Version = 1;

        /// <summary>Frames per second of the service's motion.</summary>
        public const int Fps = 25;

        /// <summary>Most rows the server takes in one <c>user_motion</c> message.</summary>
        public const int MaxMotionFrames = 250;

        /// <summary>Longest audio chunk the server takes, seconds.</summary>
        public const double MaxAudioChunkSeconds = 2.0;

        /// <summary>Lowest sample rate the server takes, Hz.</summary>
        public const int MinRate = 8000;

        /// <summary>Highest sample rate the server takes, Hz.</summary>
        public const int MaxRate = 96000;

        /// <summary>Most interleaved channels the server takes.</summary>
        public const int MaxChannels = 8;

        /// <summary>The audio stream of the avatar's voice (drives the mouth, re-emitted).</summary>
        public const string AvatarStream = "avatar";

        /// <summary>The audio stream of the user's microphone (listening behaviour).</summary>
        public const string UserStream = "user";

        /// <summary>The websocket close code the server sends a connection whose session was
        /// resumed by another connection (taken over): that client must not resume it back.</summary>
        public const int CloseSessionTakenOver = 4001;

        /// <summary>The <c>turn</c> events a client may send.</summary>
        public static readonly string[] TurnEvents = { "user_start", "user_stop", "avatar_start", "avatar_stop", "interrupt" };

        /// <summary>A message map: <c>type</c> first, then <c>id</c> (when given), then
        /// <paramref name="body"/>'s fields.</summary>
        public static Dictionary<string, object> Compose(string type, int? id, IDictionary<string, object> body)
        {
            var msg = new Dictionary<string, object>((body == null ? 0 : body.Count) + 2);
            msg["type"] = type;
            if (id.HasValue) msg["id"] = id.Value;
            if (body != null)
            {
                foreach (var kv in body) msg[kv.Key] = kv.Value;
            }
            return msg;
        }

        /// <summary>The <c>hello</c> message: version 1, JSON capability, resuming
        /// <paramref name="resume"/> when it is not null.</summary>
        public static Dictionary<string, object> Hello(int id, string client, string resume)
        {
            var body = new Dictionary<string, object>();
            body["version"] = Version;
            body["capabilities"] = new List<object> { "json" };
            if (client != null) body["client"] = client;
            body["resume"] = resume;
            return Compose("hello", id, body);
        }

        /// <summary>Reads a <c>welcome</c> message.</summary>
        public static WelcomeInfo ReadWelcome(IDictionary<string, object> msg)
        {
            return new WelcomeInfo
            {
                Version = Json.GetInt(msg, "version", Version),
                SessionId = Json.GetString(msg, "session_id"),
                Resumed = Json.GetBool(msg, "resumed"),
                Fps = Json.GetInt(msg, "fps", Fps),
                Capabilities = Json.GetStringArray(msg, "capabilities") ?? new string[0],
                Config = Json.GetMap(msg, "config") ?? new Dictionary<string, object>(),
                Limits = Json.GetMap(msg, "limits") ?? new Dictionary<string, object>(),
                ResumeGraceSeconds = Json.GetDouble(msg, "resume_grace_s", 30.0),
            };
        }

        /// <summary>Reads a <c>motion</c> message. Throws <see cref="JsonException"/> when a row's
        /// width differs from the number of names.</summary>
        public static MotionBlock ReadMotion(IDictionary<string, object> msg)
        {
            string[] names = Json.GetStringArray(msg, "names") ?? new string[0];
            List<object> rows = Json.GetList(msg, "values") ?? new List<object>();
            var values = new float[rows.Count][];
            for (int i = 0; i < rows.Count; i++)
            {
                var row = rows[i] as List<object>;
                if (row == null) throw new JsonException("motion values must be rows of numbers");
                if (row.Count != names.Length)
                    throw new JsonException("motion row " + i + " has " + row.Count + " values for " + names.Length + " names");
                var r = new float[row.Count];
                for (int j = 0; j < r.Length; j++) r[j] = (float)Json.ToDouble(row[j]);
                values[i] = r;
            }
            int frame = Json.GetInt(msg, "frame");
            int fps = Json.GetInt(msg, "fps", Fps);
            double[] timestamps = Json.GetDoubleArray(msg, "timestamps");
            if (timestamps == null)
            {
                timestamps = new double[values.Length];
                for (int i = 0; i < timestamps.Length; i++) timestamps[i] = (double)(frame + i) / fps;
            }
            return new MotionBlock
            {
                Frame = frame,
                Fps = fps,
                Timestamps = timestamps,
                Naming = Json.GetString(msg, "naming", "arkit"),
                Names = names,
                Values = values,
            };
        }

        /// <summary>Reads an <c>avatar_audio</c> message, decoding its PCM to floats.</summary>
        public static AvatarAudioBlock ReadAvatarAudio(IDictionary<string, object> msg)
        {
            string format = Json.GetString(msg, "format", Pcm.S16le);
            byte[] data = Json.GetBytes(msg, "data") ?? new byte[0];
            float[] samples;
            try
            {
                samples = Pcm.Decode(data, format);
            }
            catch (ArgumentException e)
            {
                throw new JsonException("avatar_audio: " + e.Message);
            }
            return new AvatarAudioBlock
            {
                Frame = Json.GetInt(msg, "frame"),
                Frames = Json.GetInt(msg, "frames"),
                T = Json.GetDouble(msg, "t"),
                Rate = Json.GetInt(msg, "rate", 16000),
                Channels = Json.GetInt(msg, "channels", 1),
                Format = format,
                Samples = samples,
            };
        }

        /// <summary>Reads a <c>turn_event</c> message.</summary>
        public static TurnEventInfo ReadTurnEvent(IDictionary<string, object> msg)
        {
            return new TurnEventInfo
            {
                Event = Json.GetString(msg, "event"),
                State = Json.GetString(msg, "state"),
                Source = Json.GetString(msg, "source"),
                Frame = Json.GetInt(msg, "frame"),
                T = Json.GetDouble(msg, "t"),
            };
        }

        /// <summary>Reads an <c>error</c> message.</summary>
        public static ServerError ReadError(IDictionary<string, object> msg)
        {
            return new ServerError
            {
                Code = Json.GetString(msg, "code", ErrorCodes.Internal),
                Message = Json.GetString(msg, "message", ""),
                MsgId = Json.GetNullableInt(msg, "msg_id"),
                Fatal = Json.GetBool(msg, "fatal"),
            };
        }

        /// <summary>Whether <paramref name="turnEvent"/> is one of <see cref="TurnEvents"/>.</summary>
        public static bool IsTurnEvent(string turnEvent)
        {
            return turnEvent != null && Array.IndexOf(TurnEvents, turnEvent) >= 0;
        }
    }
}
