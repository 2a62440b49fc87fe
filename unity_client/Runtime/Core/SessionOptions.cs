using System.Collections.Generic;

namespace AvatarForcing
{
    /// <summary>How an <see cref="AvatarForcingSession"/> connects and behaves. Read when the
    /// session needs a value (changes apply to the next connection attempt or send).</summary>
    public sealed class SessionOptions
    {
        /// <summary>The server's websocket URL (<c>avatar-forcing serve</c> listens on
        /// <c>ws://127.0.0.1:8765</c> by default).</summary>
        public string Url { get; set; } = "ws://127.0.0.1:8765";

        /// <summary>The server's token (<c>serve --token</c>), or null. Sent as an
        /// <c>Authorization: Bearer</c> header and, when <see cref="TokenInQuery"/> is set, as a
        /// <c>?token=</c> query parameter (WebGL cannot set websocket headers).</summary>
        public string Token { get; set; }

        /// <summary>Also send <see cref="Token"/> in the URL's query (default true: needed in
        /// WebGL; turn it off elsewhere to keep the token out of URLs and proxy logs).</summary>
        public bool TokenInQuery { get; set; } = true;

        /// <summary>The <c>hello.client</c> string (client name/version for the server's logs).</summary>
        public string ClientName { get; set; } = "avatar-forcing-unity/0.1";

        /// <summary>The session config sent after the <c>welcome</c> of a new session, e.g.
        /// <c>naming</c>, <c>arkit_spelling</c>, <c>outputs</c>, <c>seed</c>, <c>block_frames</c>
        /// (keys and values as in <c>docs/protocol.md</c>, Session config; values are strings,
        /// numbers, bools, null, lists and maps). Null or empty: the server's defaults. A resumed
        /// session keeps its config on the server, so nothing is sent then.</summary>
        public Dictionary<string, object> Config { get; set; }

        /// <summary>Reconnect by itself after a connection that was not closed on purpose is
        /// lost, resuming the session (default true). Off: a drop leaves the session
        /// <see cref="SessionState.Disconnected"/>, and <see cref="AvatarForcingSession.Connect"/>
        /// resumes it.</summary>
        public bool AutoReconnect { get; set; } = true;

        /// <summary>Delay before the first reconnect attempt, seconds; it doubles per failed
        /// attempt up to <see cref="ReconnectMaxDelay"/>, each jittered by ±20 %.</summary>
        public double ReconnectInitialDelay { get; set; } = 0.5;

        /// <summary>Largest delay between reconnect attempts, seconds.</summary>
        public double ReconnectMaxDelay { get; set; } = 10;

        /// <summary>Reconnect attempts after a drop before giving up (state
        /// <see cref="SessionState.Closed"/>); 0: forever.</summary>
        public int MaxReconnectAttempts { get; set; } = 0;

        /// <summary>Longest audio chunk sent, seconds (audio handed to the session is cut into
        /// chunks of at most this; 0.02..0.1 is typical, the server takes up to 2).</summary>
        public double AudioChunkSeconds { get; set; } = 0.04;

        /// <summary>Audio kept per stream while not <see cref="SessionState.Ready"/> (sent after
        /// the resume), seconds; beyond it the oldest chunks are dropped
        /// (<see cref="AvatarForcingSession.DroppedAudioChunks"/>).</summary>
        public double MaxQueuedAudioSeconds { get; set; } = 2.0;

        /// <summary>Other messages (config, turn, control, user motion) kept while not
        /// <see cref="SessionState.Ready"/>; beyond it the oldest are dropped
        /// (<see cref="AvatarForcingSession.DroppedMessages"/>).</summary>
        public int MaxQueuedMessages { get; set; } = 256;

        /// <summary>Seconds a connection may take to open before the attempt counts as failed.</summary>
        public double ConnectTimeout { get; set; } = 10;

        /// <summary>Seconds from an open connection to <c>welcome</c> before the attempt counts
        /// as failed.</summary>
        public double HandshakeTimeout { get; set; } = 10;

        /// <summary>A session id to resume on the first <see cref="AvatarForcingSession.Connect"/>
        /// (e.g. one kept across a scene load, or <c>"local"</c> for the session of a server
        /// started with <c>--mic</c>/<c>--webcam</c>). When the server no longer has it, a new
        /// session starts.</summary>
        public string ResumeSessionId { get; set; }

        /// <summary>Seed of the reconnect jitter (tests); null: random.</summary>
        public int? JitterSeed { get; set; }
    }
}
