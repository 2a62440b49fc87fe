// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace AvatarForcing.Standalone
{
    /// <summary>
    /// <see cref="ITransport"/> over <c>System.Net.WebSockets.ClientWebSocket</c>, for desktop
    /// .NET / Mono programs and the standalone tests. Not usable in Unity WebGL (no sockets
    /// there: Unity builds use NativeWebSocket, which wraps the browser's WebSocket).
    /// </summary>
    /// <remarks>
    /// Each <see cref="Connect"/> makes a new <c>ClientWebSocket</c> with its own background
    /// tasks: one connects and then receives (whole messages, UTF-8), one sends the queued text
    /// frames in order (a ClientWebSocket allows one send at a time). What happens is queued and
    /// raised by <see cref="Poll"/> on the caller's thread; events of a connection replaced by a
    /// later <see cref="Connect"/> are dropped.
    /// </remarks>
    public sealed class ClientWebSocketTransport : ITransport, IDisposable
    {
        private sealed class Connection
        {
            public int Generation;
            public ClientWebSocket Socket;
            public readonly CancellationTokenSource Cancel = new CancellationTokenSource();
            public readonly ConcurrentQueue<string> Outgoing = new ConcurrentQueue<string>();
            public readonly SemaphoreSlim Signal = new SemaphoreSlim(0);
            public volatile bool CloseRequested;
            public int ClosedRaised; // 0/1, Interlocked
        }

        private struct Event
        {
            public int Generation;
            public int Kind; // 0 opened, 1 text, 2 closed, 3 error
            public string Text;
            public int Code;
        }

        private readonly ConcurrentQueue<Event> _events = new ConcurrentQueue<Event>();
        private Connection _current;
        private int _generation;

        /// <summary>Largest message accepted, bytes (the server's default limit is 2 MiB).</summary>
        public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;

        /// <summary>Seconds to wait for the server's close frame after <see cref="Close"/>
        /// before the socket is aborted.</summary>
        public double CloseTimeout { get; set; } = 2.0;

        /// <inheritdoc />
        public event Action Opened;

        /// <inheritdoc />
        public event Action<string> TextReceived;

        /// <inheritdoc />
        public event Action<int, string> Closed;

        /// <inheritdoc />
        public event Action<string> Error;

        /// <inheritdoc />
        public bool IsOpen
        {
            get
            {
                Connection c = _current;
                return c != null && !c.CloseRequested && c.Socket.State == WebSocketState.Open;
            }
        }

        /// <summary>Text frames sent since this transport was made.</summary>
        public int SentMessages { get; private set; }

        /// <inheritdoc />
        public void Connect(string url, IDictionary<string, string> headers)
        {
            Connection old = _current;
            if (old != null) Abort(old);
            var c = new Connection { Generation = Interlocked.Increment(ref _generation), Socket = new ClientWebSocket() };
            if (headers != null)
            {
                foreach (var kv in headers) c.Socket.Options.SetRequestHeader(kv.Key, kv.Value);
            }
            _current = c;
            var uri = new Uri(url);
            Task.Run(() => Run(c, uri));
        }

        /// <inheritdoc />
        public void SendText(string text)
        {
            Connection c = _current;
            if (c == null || c.CloseRequested) return;
            c.Outgoing.Enqueue(text);
            c.Signal.Release();
            SentMessages++;
        }

        /// <inheritdoc />
        public void Close()
        {
            Connection c = _current;
            if (c == null || c.CloseRequested) return;
            c.CloseRequested = true;
            c.Signal.Release(); // the sender sends what is queued, then the close frame
            if (c.Socket.State == WebSocketState.None || c.Socket.State == WebSocketState.Connecting) c.Cancel.Cancel();
        }

        /// <summary>Test helper: kills the connection at once, without a close frame, like a
        /// network failure (the session sees code 1006 and must resume).</summary>
        public void Drop()
        {
            Connection c = _current;
            if (c != null) Abort(c);
        }

        /// <inheritdoc />
        public void Poll()
        {
            Event e;
            while (_events.TryDequeue(out e))
            {
                Connection c = _current;
                if (c == null || e.Generation != c.Generation) continue; // an old connection's event
                switch (e.Kind)
                {
                    case 0:
                        if (Opened != null) Opened();
                        break;
                    case 1:
                        if (TextReceived != null) TextReceived(e.Text);
                        break;
                    case 2:
                        if (Closed != null) Closed(e.Code, e.Text);
                        break;
                    default:
                        if (Error != null) Error(e.Text);
                        break;
                }
            }
        }

        /// <summary>Aborts the connection (no events after this).</summary>
        public void Dispose()
        {
            Connection c = _current;
            _current = null;
            if (c != null) Abort(c);
        }

        private static void Abort(Connection c)
        {
            try
            {
                c.Cancel.Cancel();
                c.Socket.Abort();
            }
            catch (Exception)
            {
                // already gone
            }
            c.Signal.Release();
        }

        private void Post(Connection c, int kind, string text = null, int code = 0)
        {
            _events.Enqueue(new Event { Generation = c.Generation, Kind = kind, Text = text, Code = code });
        }

        private void PostClosed(Connection c, int code, string reason)
        {
            if (Interlocked.Exchange(ref c.ClosedRaised, 1) == 0) Post(c, 2, reason ?? "", code);
        }

        private async Task Run(Connection c, Uri uri)
        {
            try
            {
                await c.Socket.ConnectAsync(uri, c.Cancel.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Post(c, 3, "cannot connect to " + uri + ": " + Describe(e));
                PostClosed(c, 1006, "connect failed");
                return;
            }
            Post(c, 0);
            Task sender = Task.Run(() => SendLoop(c));
            var buffer = new byte[64 * 1024];
            var message = new MemoryStream();
            try
            {
                while (true)
                {
                    WebSocketReceiveResult r = await c.Socket.ReceiveAsync(new ArraySegment<byte>(buffer), c.Cancel.Token).ConfigureAwait(false);
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        int code = r.CloseStatus.HasValue ? (int)r.CloseStatus.Value : 1005;
                        if (c.Socket.State == WebSocketState.CloseReceived)
                        {
                            try
                            {
                                await c.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).ConfigureAwait(false);
                            }
                            catch (Exception)
                            {
                                // the peer is gone already
                            }
                        }
                        PostClosed(c, code, r.CloseStatusDescription);
                        break;
                    }
                    message.Write(buffer, 0, r.Count);
                    if (message.Length > MaxMessageBytes)
                    {
                        Post(c, 3, "message over " + MaxMessageBytes + " bytes");
                        Abort(c);
                        PostClosed(c, 1009, "message too big");
                        break;
                    }
                    if (!r.EndOfMessage) continue;
                    if (r.MessageType == WebSocketMessageType.Text)
                    {
                        Post(c, 1, Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                    }
                    message.SetLength(0);
                }
            }
            catch (Exception e)
            {
                if (!c.CloseRequested) Post(c, 3, "connection lost: " + Describe(e));
                PostClosed(c, 1006, c.CloseRequested ? "closed" : "connection lost");
            }
            finally
            {
                c.CloseRequested = true;
                c.Signal.Release();
            }
            try
            {
                await sender.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // reported by the receiver
            }
            c.Socket.Dispose();
        }

        private async Task SendLoop(Connection c)
        {
            try
            {
                while (true)
                {
                    await c.Signal.WaitAsync().ConfigureAwait(false);
                    string text;
                    while (c.Outgoing.TryDequeue(out text))
                    {
                        if (c.Socket.State != WebSocketState.Open) return;
                        byte[] bytes = Encoding.UTF8.GetBytes(text);
                        await c.Socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, c.Cancel.Token).ConfigureAwait(false);
                    }
                    if (c.CloseRequested)
                    {
                        if (c.Socket.State == WebSocketState.Open)
                        {
                            var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(CloseTimeout));
                            await c.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token).ConfigureAwait(false);
                            // The receiver raises Closed on the server's close frame; abort if none comes.
                            DateTime deadline = DateTime.UtcNow.AddSeconds(CloseTimeout);
                            while (c.Socket.State != WebSocketState.Closed && c.Socket.State != WebSocketState.Aborted
                                   && DateTime.UtcNow < deadline)
                            {
                                await Task.Delay(20).ConfigureAwait(false);
                            }
                            if (c.Socket.State != WebSocketState.Closed) Abort(c);
                        }
                        return;
                    }
                }
            }
            catch (Exception e)
            {
                if (!c.CloseRequested) Post(c, 3, "send failed: " + Describe(e));
                Abort(c);
            }
        }

        private static string Describe(Exception e)
        {
            while (e is AggregateException && e.InnerException != null) e = e.InnerException;
            string s = e.GetType().Name + ": " + e.Message;
            if (e.InnerException != null) s += " (" + e.InnerException.Message + ")";
            return s;
        }
    }
}
#endif
