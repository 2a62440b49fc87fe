// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;

namespace AvatarForcing.Standalone
{
    /// <summary>
    /// A scripted <see cref="ITransport"/> for offline tests of <see cref="AvatarForcingSession"/>:
    /// the test plays the server (<see cref="ServerOpen"/>, <see cref="ServerSend"/>,
    /// <see cref="ServerClose"/>) and reads what the client sent (<see cref="Sent"/>). Events are
    /// queued and raised from <see cref="Poll"/>, like a real transport.
    /// </summary>
    public sealed class FakeTransport : ITransport
    {
        private readonly Queue<Action> _events = new Queue<Action>();
        private int _generation;

        /// <summary>The URLs passed to <see cref="Connect"/>, in order.</summary>
        public readonly List<string> ConnectUrls = new List<string>();

        /// <summary>The headers passed to <see cref="Connect"/>, in order.</summary>
        public readonly List<IDictionary<string, string>> ConnectHeaders = new List<IDictionary<string, string>>();

        /// <summary>Every text frame the client sent, parsed, in order.</summary>
        public readonly List<Dictionary<string, object>> Sent = new List<Dictionary<string, object>>();

        /// <summary>Times <see cref="Close"/> was called.</summary>
        public int CloseCalls { get; private set; }

        /// <inheritdoc />
        public event Action Opened;

        /// <inheritdoc />
        public event Action<string> TextReceived;

        /// <inheritdoc />
        public event Action<int, string> Closed;

        /// <inheritdoc />
        public event Action<string> Error;

        /// <inheritdoc />
        public bool IsOpen { get; private set; }

        /// <summary>Whether a connection was started and has not closed yet.</summary>
        public bool Connecting { get; private set; }

        /// <inheritdoc />
        public void Connect(string url, IDictionary<string, string> headers)
        {
            _generation++;
            _events.Clear(); // no events of an earlier connection after a new Connect
            ConnectUrls.Add(url);
            ConnectHeaders.Add(headers == null ? null : new Dictionary<string, string>(headers));
            Connecting = true;
            IsOpen = false;
        }

        /// <inheritdoc />
        public void SendText(string text)
        {
            if (!IsOpen) throw new InvalidOperationException("SendText on a closed fake transport");
            Sent.Add(Json.ParseObject(text));
        }

        /// <inheritdoc />
        public void Close()
        {
            CloseCalls++;
            if (!Connecting && !IsOpen) return;
            ServerClose(1000, "closed by client");
        }

        /// <inheritdoc />
        public void Poll()
        {
            int generation = _generation;
            while (_events.Count > 0 && generation == _generation) _events.Dequeue()();
        }

        /// <summary>The server accepts the connection (Opened on the next Poll).</summary>
        public void ServerOpen()
        {
            IsOpen = true;
            _events.Enqueue(() =>
            {
                if (Opened != null) Opened();
            });
        }

        /// <summary>The server sends a message (a map, written as JSON).</summary>
        public void ServerSend(Dictionary<string, object> msg)
        {
            string text = Json.Serialize(msg);
            _events.Enqueue(() =>
            {
                if (TextReceived != null) TextReceived(text);
            });
        }

        /// <summary>The connection ends (or a connect fails): Closed on the next Poll.</summary>
        public void ServerClose(int code, string reason)
        {
            IsOpen = false;
            Connecting = false;
            _events.Enqueue(() =>
            {
                if (Closed != null) Closed(code, reason);
            });
        }

        /// <summary>The socket dies without the transport noticing yet (IsOpen false, no event).</summary>
        public void Vanish()
        {
            IsOpen = false;
        }

        /// <summary>The transport reports an error (then, usually, Closed).</summary>
        public void ServerError(string message)
        {
            _events.Enqueue(() =>
            {
                if (Error != null) Error(message);
            });
        }

        /// <summary>The messages sent since index <paramref name="from"/> of the given type.</summary>
        public List<Dictionary<string, object>> SentOfType(string type, int from = 0)
        {
            var result = new List<Dictionary<string, object>>();
            for (int i = from; i < Sent.Count; i++)
            {
                if (Json.GetString(Sent[i], "type") == type) result.Add(Sent[i]);
            }
            return result;
        }
    }
}
#endif
