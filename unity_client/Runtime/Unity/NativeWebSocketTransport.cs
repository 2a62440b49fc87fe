#if AVATAR_FORCING_NATIVEWEBSOCKET
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading.Tasks;
using NativeWebSocket;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// The session's <see cref="ITransport"/> on NativeWebSocket (<c>com.endel.nativewebsocket</c>,
    /// 1.x or 2.x), which works on every Unity platform including WebGL (where it uses the
    /// browser's WebSocket).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Compiled only when NativeWebSocket is installed: the assembly definition defines
    /// <c>AVATAR_FORCING_NATIVEWEBSOCKET</c> through a version define on the package
    /// <c>com.endel.nativewebsocket</c> (add the symbol to the Scripting Define Symbols yourself if
    /// you copied NativeWebSocket into Assets instead of installing the package).
    /// </para>
    /// <para>
    /// Threading: NativeWebSocket raises its events on different threads depending on version and
    /// platform. This class queues every event and raises the <see cref="ITransport"/> events only
    /// from <see cref="Poll"/> (the session's <c>Update</c>, on the main thread), after calling
    /// <c>DispatchMessageQueue()</c>, which NativeWebSocket needs on every platform but WebGL.
    /// Events of an older connection are dropped once a new <see cref="Connect"/> starts.
    /// </para>
    /// <para>
    /// Headers: NativeWebSocket passes them to <c>ClientWebSocket</c> on native platforms; browsers
    /// cannot set WebSocket headers, so on WebGL the session's token must travel in the URL
    /// (<c>SessionOptions.TokenInQuery</c>, on by default). Text frames arrive from NativeWebSocket
    /// as UTF-8 bytes and are decoded here.
    /// </para>
    /// </remarks>
    public sealed class NativeWebSocketTransport : ITransport
    {
        private const double CloseReportTimeoutSeconds = 3.0;

        private readonly MainThreadQueue queue = new MainThreadQueue();
        private Connection current;

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
            get { return current != null && current.Opened && !current.ClosedRaised; }
        }

        /// <inheritdoc />
        public void Connect(string url, IDictionary<string, string> headers)
        {
            Detach();
            var connection = new Connection();
            current = connection;
            var requestHeaders = new Dictionary<string, string>();
            if (headers != null)
            {
                foreach (var kv in headers)
                {
                    requestHeaders[kv.Key] = kv.Value;
                }
            }
            try
            {
                connection.Socket = new WebSocket(url, requestHeaders);
            }
            catch (Exception e)
            {
                Fail(connection, "cannot connect to " + url + ": " + e.Message);
                return;
            }
            WebSocket socket = connection.Socket;
            socket.OnOpen += () => queue.Post(() => RaiseOpened(connection));
            socket.OnMessage += data =>
            {
                string text = data == null ? string.Empty : Encoding.UTF8.GetString(data);
                queue.Post(() => RaiseText(connection, text));
            };
            socket.OnError += message => queue.Post(() => RaiseError(connection, message));
            socket.OnClose += code => queue.Post(() => RaiseClosed(connection, (int)code, code.ToString()));
            try
            {
                Task task = socket.Connect();
                Observe(task, connection, "connection failed");
            }
            catch (Exception e)
            {
                Fail(connection, "cannot connect to " + url + ": " + e.Message);
            }
        }

        /// <inheritdoc />
        public void SendText(string text)
        {
            Connection connection = current;
            if (connection == null || connection.Socket == null || !connection.Opened || connection.ClosedRaised)
            {
                return;
            }
            try
            {
                Observe(connection.Socket.SendText(text), connection, "send failed");
            }
            catch (Exception e)
            {
                RaiseError(connection, "send failed: " + e.Message);
            }
        }

        /// <inheritdoc />
        public void Close()
        {
            Connection connection = current;
            if (connection == null || connection.ClosedRaised || connection.CloseRequested)
            {
                return;
            }
            connection.CloseRequested = true;
            connection.CloseRequestedAt = Stopwatch.GetTimestamp();
            if (connection.Socket == null)
            {
                return;
            }
            try
            {
#if !UNITY_WEBGL || UNITY_EDITOR
                if (!connection.Opened)
                {
                    connection.Socket.CancelConnection();
                    return;
                }
#endif
                Observe(connection.Socket.Close(), connection, "close failed");
            }
            catch (Exception e)
            {
                RaiseError(connection, "close failed: " + e.Message);
            }
        }

        /// <inheritdoc />
        public void Poll()
        {
            Connection connection = current;
#if !UNITY_WEBGL || UNITY_EDITOR
            if (connection != null && connection.Socket != null && !connection.ClosedRaised)
            {
                connection.Socket.DispatchMessageQueue();
            }
#endif
            queue.Drain();
            if (connection != null && connection == current && connection.CloseRequested && !connection.ClosedRaised)
            {
                double waited = (double)(Stopwatch.GetTimestamp() - connection.CloseRequestedAt) / Stopwatch.Frequency;
                if (waited > CloseReportTimeoutSeconds)
                {
                    RaiseClosed(connection, 1006, "closed (no close event from the socket)");
                }
            }
        }

        private void Detach()
        {
            Connection old = current;
            current = null;
            queue.Clear();
            if (old == null || old.Socket == null || old.ClosedRaised)
            {
                return;
            }
            old.ClosedRaised = true;
            try
            {
#if !UNITY_WEBGL || UNITY_EDITOR
                if (!old.Opened)
                {
                    old.Socket.CancelConnection();
                    return;
                }
#endif
                Observe(old.Socket.Close(), old, "close failed");
            }
            catch (Exception)
            {
                // The old connection is abandoned; its errors no longer matter.
            }
        }

        private void Observe(Task task, Connection connection, string what)
        {
            if (task == null)
            {
                return;
            }
            task.ContinueWith(
                t =>
                {
                    Exception e = t.Exception == null ? null : t.Exception.GetBaseException();
                    string message = what + ": " + (e == null ? "unknown error" : e.Message);
                    queue.Post(() => RaiseError(connection, message));
                },
                TaskContinuationOptions.OnlyOnFaulted);
        }

        private void Fail(Connection connection, string message)
        {
            queue.Post(() =>
            {
                RaiseError(connection, message);
                RaiseClosed(connection, 1006, message);
            });
        }

        private void RaiseOpened(Connection connection)
        {
            if (connection != current || connection.Opened || connection.ClosedRaised)
            {
                return;
            }
            connection.Opened = true;
            var handler = Opened;
            if (handler != null)
            {
                handler();
            }
        }

        private void RaiseText(Connection connection, string text)
        {
            if (connection != current || connection.ClosedRaised)
            {
                return;
            }
            var handler = TextReceived;
            if (handler != null)
            {
                handler(text);
            }
        }

        private void RaiseError(Connection connection, string message)
        {
            if (connection != current || connection.ClosedRaised)
            {
                return;
            }
            var handler = Error;
            if (handler != null)
            {
                handler(message);
            }
        }

        private void RaiseClosed(Connection connection, int code, string reason)
        {
            if (connection != current || connection.ClosedRaised)
            {
                return;
            }
            connection.ClosedRaised = true;
            var handler = Closed;
            if (handler != null)
            {
                handler(code, reason);
            }
        }

        private sealed class Connection
        {
            public WebSocket Socket;
            public bool Opened;
            public bool ClosedRaised;
            public bool CloseRequested;
            public long CloseRequestedAt;
        }
    }
}
#endif
