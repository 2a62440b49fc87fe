using System;
using System.Collections.Generic;

namespace AvatarForcing
{
    /// <summary>
    /// A websocket as <see cref="AvatarForcingSession"/> needs it: event-driven, text frames only,
    /// pumped from the caller's loop. Implementations: NativeWebSocket in Unity (all platforms,
    /// WebGL included), <c>ClientWebSocketTransport</c> (System.Net.WebSockets) in the standalone
    /// tests, or a fake in unit tests.
    /// </summary>
    /// <remarks>
    /// <para>Threading: the session calls every member from one thread (Unity's main thread), and
    /// expects the events to be raised only from inside <see cref="Poll"/> on that same thread.
    /// A transport whose socket works on other threads queues what happens and dispatches it in
    /// <see cref="Poll"/> (NativeWebSocket: <c>DispatchMessageQueue()</c>).</para>
    /// <para>Lifetime: one transport object serves every connection of a session. Each
    /// <see cref="Connect"/> starts a new connection (after a <see cref="Close"/>, or after the
    /// previous one closed by itself) and from then on the transport must not raise events of
    /// an earlier connection (unsubscribe from, or ignore, the old socket). A connection raises
    /// <see cref="Opened"/> at most once, then any number of <see cref="TextReceived"/>, then
    /// <see cref="Closed"/> once; <see cref="Error"/> may come at any time, usually just before
    /// <see cref="Closed"/>. A failed connect raises <see cref="Closed"/> (or <see cref="Error"/>)
    /// without <see cref="Opened"/>.</para>
    /// </remarks>
    public interface ITransport
    {
        /// <summary>The connection is open: text can be sent.</summary>
        event Action Opened;

        /// <summary>A text frame arrived (a whole message, UTF-8 decoded).</summary>
        event Action<string> TextReceived;

        /// <summary>The connection closed or failed: the close code (RFC 6455: 1000 normal,
        /// 1006 abnormal/no close frame, 1009 message too big, ...) and reason.</summary>
        event Action<int, string> Closed;

        /// <summary>Something went wrong (a failed connect, a broken socket); a description.</summary>
        event Action<string> Error;

        /// <summary>Whether the connection is open now.</summary>
        bool IsOpen { get; }

        /// <summary>Starts connecting to <paramref name="url"/> (<c>ws://</c> or <c>wss://</c>)
        /// with extra HTTP request headers (may be null or ignored where the platform cannot set
        /// headers, like WebGL). Does not block: the outcome is raised later from
        /// <see cref="Poll"/> as <see cref="Opened"/>, or <see cref="Closed"/>/<see cref="Error"/>.</summary>
        void Connect(string url, IDictionary<string, string> headers);

        /// <summary>Sends one text frame (does not block; frames go out in call order). Ignored,
        /// or reported through <see cref="Error"/>, when the connection is not open.</summary>
        void SendText(string text);

        /// <summary>Closes the connection normally (code 1000) after the frames already passed
        /// to <see cref="SendText"/>; raises <see cref="Closed"/> later. Also cancels a connect in
        /// progress. Harmless when there is no connection.</summary>
        void Close();

        /// <summary>Raises the queued events on the calling thread.</summary>
        void Poll();
    }
}
