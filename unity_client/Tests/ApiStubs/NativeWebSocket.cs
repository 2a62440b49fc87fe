// Compile-only stand-ins for the NativeWebSocket API members the Avatar Forcing package uses.
//
// NOT the library: declarations with the signatures of endel/NativeWebSocket, UPM branch `upm`
// (package com.endel.nativewebsocket 1.1.5, file WebSocket/WebSocket.cs, the non-WebGL class;
// https://github.com/endel/NativeWebSocket/blob/upm/WebSocket/WebSocket.cs). The 2.x line
// (src/NativeWebSocket/WebSocket.cs, IWebSocket.cs) keeps these members; its Close takes optional
// (WebSocketCloseCode code = Normal, string reason = null), which a call without arguments also
// fits. The WebGL class (WebSocketWebGL.cs / the #if UNITY_WEBGL block) has the same members except
// DispatchMessageQueue, which the transport only calls under #if !UNITY_WEBGL || UNITY_EDITOR.
// Unity ignores this folder (no assembly definition in a package).
#pragma warning disable 1591, 67

using System.Collections.Generic;
using System.Threading.Tasks;

namespace NativeWebSocket
{
    /// WebSocket.cs: public delegate void WebSocketOpenEventHandler();
    public delegate void WebSocketOpenEventHandler();

    /// WebSocket.cs: public delegate void WebSocketMessageEventHandler(byte[] data);
    public delegate void WebSocketMessageEventHandler(byte[] data);

    /// WebSocket.cs: public delegate void WebSocketErrorEventHandler(string errorMsg);
    public delegate void WebSocketErrorEventHandler(string errorMsg);

    /// WebSocket.cs: public delegate void WebSocketCloseEventHandler(WebSocketCloseCode closeCode);
    public delegate void WebSocketCloseEventHandler(WebSocketCloseCode closeCode);

    /// WebSocket.cs: public enum WebSocketCloseCode
    public enum WebSocketCloseCode
    {
        NotSet = 0,
        Normal = 1000,
        Away = 1001,
        ProtocolError = 1002,
        UnsupportedData = 1003,
        Undefined = 1004,
        NoStatus = 1005,
        Abnormal = 1006,
        InvalidData = 1007,
        PolicyViolation = 1008,
        TooBig = 1009,
        MandatoryExtension = 1010,
        ServerError = 1011,
        TlsHandshakeFailure = 1015,
    }

    /// WebSocket.cs: public enum WebSocketState
    public enum WebSocketState
    {
        Connecting,
        Open,
        Closing,
        Closed,
    }

    /// WebSocket.cs: public class WebSocket : IWebSocket
    public class WebSocket
    {
        /// public WebSocket(string url, Dictionary<string, string> headers = null)
        public WebSocket(string url, Dictionary<string, string> headers = null) { }

        /// public event WebSocketOpenEventHandler OnOpen;
        public event WebSocketOpenEventHandler OnOpen;

        /// public event WebSocketMessageEventHandler OnMessage;
        public event WebSocketMessageEventHandler OnMessage;

        /// public event WebSocketErrorEventHandler OnError;
        public event WebSocketErrorEventHandler OnError;

        /// public event WebSocketCloseEventHandler OnClose;
        public event WebSocketCloseEventHandler OnClose;

        /// public WebSocketState State { get; }
        public WebSocketState State { get { return WebSocketState.Closed; } }

        /// public async Task Connect() (completes when the connection ends)
        public Task Connect() { return Task.FromResult(0); }

        /// public void CancelConnection()
        public void CancelConnection() { }

        /// public Task Send(byte[] bytes)
        public Task Send(byte[] bytes) { return Task.FromResult(0); }

        /// public Task SendText(string message)
        public Task SendText(string message) { return Task.FromResult(0); }

        /// public void DispatchMessageQueue() (not in the WebGL class)
        public void DispatchMessageQueue() { }

        /// public async Task Close()
        public Task Close() { return Task.FromResult(0); }
    }
}
