using System;
using System.Collections.Generic;

namespace AvatarForcing.Tests
{
    /// <summary>
    /// A scripted <see cref="ITransport"/>: the test plays the server (<see cref="Open"/>,
    /// <see cref="Receive"/>) and reads what the client sent (<see cref="Sent"/>). Events are
    /// raised from <see cref="Poll"/>, like a real transport.
    /// </summary>
    public sealed class LoopbackTransport : ITransport
    {
        private readonly Queue<Action> events = new Queue<Action>();

        /// <summary>Every text frame the client sent, in order.</summary>
        public readonly List<string> Sent = new List<string>();

        /// <summary>The URL of the last <see cref="Connect"/>.</summary>
        public string Url { get; private set; }

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

        /// <inheritdoc />
        public void Connect(string url, IDictionary<string, string> headers)
        {
            Url = url;
            events.Clear();
        }

        /// <inheritdoc />
        public void SendText(string text)
        {
            Sent.Add(text);
        }

        /// <inheritdoc />
        public void Close()
        {
            events.Enqueue(() =>
            {
                IsOpen = false;
                Raise(Closed, 1000, "closed");
            });
        }

        /// <inheritdoc />
        public void Poll()
        {
            while (events.Count > 0)
            {
                events.Dequeue()();
            }
        }

        /// <summary>The server accepts the connection.</summary>
        public void Open()
        {
            events.Enqueue(() =>
            {
                IsOpen = true;
                if (Opened != null)
                {
                    Opened();
                }
            });
        }

        /// <summary>The server sends a text frame.</summary>
        public void Receive(string text)
        {
            events.Enqueue(() =>
            {
                if (TextReceived != null)
                {
                    TextReceived(text);
                }
            });
        }

        /// <summary>The connection fails.</summary>
        public void Fail(string message)
        {
            events.Enqueue(() =>
            {
                IsOpen = false;
                if (Error != null)
                {
                    Error(message);
                }
                Raise(Closed, 1006, message);
            });
        }

        private static void Raise(Action<int, string> handler, int code, string reason)
        {
            if (handler != null)
            {
                handler(code, reason);
            }
        }
    }
}
