namespace AvatarForcing
{
    /// <summary>Where an <see cref="AvatarForcingSession"/> stands.</summary>
    public enum SessionState
    {
        /// <summary>Not connected: before <see cref="AvatarForcingSession.Connect"/>, after
        /// <see cref="AvatarForcingSession.Disconnect"/>, after a drop with
        /// <see cref="SessionOptions.AutoReconnect"/> off, or when another connection took the
        /// session over (close code 4001). A session id, when there is one, is
        /// kept: <see cref="AvatarForcingSession.Connect"/> resumes it.</summary>
        Disconnected,

        /// <summary>The first connection is being opened.</summary>
        Connecting,

        /// <summary>The first connection is open; <c>hello</c> sent, waiting for <c>welcome</c>.</summary>
        Handshaking,

        /// <summary>The session runs: messages flow both ways.</summary>
        Ready,

        /// <summary>The connection was lost (or could not be opened): waiting out the backoff
        /// delay, connecting again or handshaking again, until <c>welcome</c> (then
        /// <see cref="Ready"/>). Sends are queued meanwhile (audio bounded).</summary>
        Reconnecting,

        /// <summary>Ended: after <see cref="AvatarForcingSession.Bye"/> or
        /// <see cref="AvatarForcingSession.Dispose"/>, a fatal server error (e.g.
        /// <c>version_mismatch</c>, <c>too_many_sessions</c>) or when
        /// <see cref="SessionOptions.MaxReconnectAttempts"/> ran out.
        /// <see cref="AvatarForcingSession.Connect"/> starts a new session.</summary>
        Closed,
    }
}
