"""`AvatarServer`: the websocket adapter around the sans-I/O session core (see README.md here).

Per connection (one asyncio task, as in the session core's recipe):

1. The first frame must be a `hello`: `SessionRegistry.open` gives the session and the `welcome`
   (a resume takes over the session, closing a still-open old socket with code 4001). Other
   first frames get a non-fatal `error` and the server keeps waiting for a `hello` until
   `hello_timeout_s`; fatal errors (`version_mismatch`, `unknown_session`, `too_many_sessions`)
   close the connection. Replies use the framing of the `hello` (binary: msgpack, text: JSON).
2. Three coroutines share the session: the **reader** passes frames to `session.handle_frame`; the
   **ticker** runs `session.tick` in the generation thread every `tick_interval_s` (or sooner,
   when the next block falls due); the **sender** pops `session.outbox` and sends as fast as the
   socket drains. A per-session `asyncio.Lock` serialises every call into the session (it is not
   thread-safe), and is held while its tick runs in the generation thread.
3. The connection number from `open` is checked before each call: when another connection resumed
   the session, this one stops driving it and closes. On disconnect the session is detached
   (resumable for `grace_s`); after `bye` it is closed. A janitor task expires sessions.

Generation runs on **one shared single-thread executor**: sessions never run the model at the
same time (on a small CPU, two concurrent forward passes only slow each other down and starve
the event loop). Tickers do not call the executor themselves: each queues its session (holding
its lock) with the generation loop, which waits up to `batch_window_s` for the other sessions
that fall due within that window, then ticks every queued session in one executor job
(`plugin_server.session.batching.tick_sessions`): the due blocks of compatible sessions run as one
batched forward pass (`models.generator.batched`), at most `max_batch` sessions per pass. Each
session has at most one tick queued, so no session waits for more than one job of the others.
Counters (steps, blocks, batched blocks) are in `/health` under `generation`. The event loop only
parses, encodes and sends.

A server given a `LocalSessionSpec` (`serve --mic` / `--webcam`) also holds one session of its
own (`local.py`): capture sources feed its user side, websocket clients attach to it with
`hello {"resume": "local"}`, and the server ticks it itself while no client is attached.

A slow client never stalls the others: its outbox is bounded (the oldest blocks are dropped,
counted in `stats.dropped_frames`), its sends run in its own sender task, and a single send that
cannot complete in `send_timeout_s` drops the connection (the session stays resumable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from models.bundle import AvatarForcingModel
from plugin_server.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Ack,
    ClientMessage,
    Error,
    ErrorCode,
    Hello,
    Limits,
    ProtocolError,
    ServerMessage,
    decode,
    encode,
)
from plugin_server.session import ModelFactory, RendererFactory, SessionLimits, SessionRegistry, Tracker
from plugin_server.session.batching import TickReport, tick_sessions
from plugin_server.session.frames import PendingFrame, client_renderers, renderer_available
from plugin_server.sinks import Sink

from .local import LocalSession, LocalSessionSpec
from .routing import SinkRouter
from .security import DEFAULT_ORIGINS, check_bind, is_loopback, origin_allowed, request_token, token_ok
from .session_sinks import SessionSinks
from .static import static_response
from .tap import TappedSession
from .watchers import WatchConnection, WatchHub

log = logging.getLogger(__name__)

HEALTH_PATH = "/health"
CLOSE_RESUMED = 4001
"""Close code of a connection whose session was resumed by another connection."""
CLOSE_HELLO_TIMEOUT = 4003
"""Close code of a connection that sent no valid `hello` within `hello_timeout_s`."""


@dataclass(frozen=True)
class ServerConfig:
    """Network, security and scheduling settings of an `AvatarServer`.

    Attributes:
        host / port: where to listen (port 0: any free port; see `AvatarServer.port`).
        token: required from every websocket client when set (`?token=` or a Bearer header);
            mandatory when `host` is not a loopback address.
        allowed_origins: browser `Origin`s accepted (see `security.origin_matches`); requests
            without an `Origin` header are always accepted.
        max_sessions / grace_s: the registry's bounds (sessions held, resume grace period).
        limits / session_limits: wire limits (also the websocket `max_size`) and queue bounds.
        tick_interval_s: the longest wait between two ticks of a session.
        send_timeout_s: a send that cannot complete in this time drops the connection.
        hello_timeout_s: time for a new connection to send a valid `hello`.
        ping_interval_s / ping_timeout_s / close_timeout_s: websocket keepalive and closing.
        expire_interval_s: how often detached sessions past their grace period are closed.
        max_queue: incoming frames the websocket library buffers per connection (backpressure).
        batch_window_s: sessions whose blocks fall due within this many seconds of each other
            share one batched generator step: the generation loop waits up to this long for
            them (0: batch only the sessions already queued).
        max_batch: most sessions in one batched generator step.
        session_sinks: sink names clients may ask for in their session config (`sinks`); None:
            every sink when `host` is a loopback address, none otherwise.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    max_sessions: int = 8
    grace_s: float = 30.0
    limits: Limits = DEFAULT_LIMITS
    session_limits: SessionLimits = field(default_factory=SessionLimits)
    tick_interval_s: float = 0.02
    send_timeout_s: float = 10.0
    hello_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    close_timeout_s: float = 2.0
    expire_interval_s: float = 1.0
    max_queue: int = 16
    batch_window_s: float = 0.005
    max_batch: int = 8
    session_sinks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if not 0.001 <= self.tick_interval_s <= 0.04:
            raise ValueError("tick_interval_s must be within 0.001..0.04 s (a block is 40 ms or more)")
        if not 0.0 <= self.batch_window_s <= 0.04:
            raise ValueError("batch_window_s must be within 0..0.04 s (a block is 40 ms or more)")
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        for name in ("send_timeout_s", "hello_timeout_s", "close_timeout_s", "expire_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def url_for(host: str, port: int, path: str = "/") -> str:
    """The `ws://` URL of a server bound to `host` (wildcards become 127.0.0.1)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}:{port}{path}"


@dataclass
class _Entry:
    """A live session with the lock that serialises calls into it and its current socket."""

    session: TappedSession
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ws: ServerConnection | None = None
    local: bool = False  # the server's own session (LocalSessionSpec): never detached or expired


@dataclass
class GenerationStats:
    """What the generation thread did since the server started (`/health` -> `generation`)."""

    jobs: int = 0  # executor jobs; each ticks every session queued at that moment
    steps: int = 0  # generator steps: one forward pass per group of compatible due sessions
    blocks: int = 0  # blocks generated
    batched_blocks: int = 0  # blocks that shared their step with other sessions' blocks
    largest_batch: int = 0  # most sessions in one step

    def add(self, report: TickReport) -> None:
        self.jobs += 1
        self.steps += report.steps
        self.blocks += report.blocks
        self.batched_blocks += report.batched_blocks
        self.largest_batch = max([self.largest_batch, *report.batch_sizes])

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "steps": self.steps,
            "blocks": self.blocks,
            "batched_blocks": self.batched_blocks,
            "blocks_per_step": round(self.blocks / self.steps, 3) if self.steps else 0.0,
            "largest_batch": self.largest_batch,
        }


_Request = tuple[TappedSession, "asyncio.Future[list[ServerMessage]]"]


class AvatarServer:
    """The avatar service on a websocket (see the module doc).

    Args:
        model: the model every session runs (or a `ModelFactory` for the config's `model` names).
        config: network, security and scheduling settings.
        sinks: server-level sinks (created, not started); they follow one session (`SinkRouter`).
        clock: the monotonic clock passed to sessions.
        local: the server's own local session (capture sources as its user side), or None.
        renderers: the `frames` output's renderer factory (`models.render.create_renderer`);
            "auto": that when skia (the `render` extra) is installed, else None (no `frames`).
        trackers: makes each session's face tracker for `user_video` frames; "auto": MediaPipe
            (`VideoFaceTracker`) when the `webcam` extra is installed, else None.

    Use `await start()` / `await stop()`, or `async with AvatarServer(...) as server:`.
    """

    def __init__(
        self,
        model: AvatarForcingModel | ModelFactory,
        config: ServerConfig | None = None,
        sinks: Sequence[Sink] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        local: LocalSessionSpec | None = None,
        renderers: RendererFactory | str | None = "auto",
        trackers: Callable[[], Tracker] | str | None = "auto",
    ) -> None:
        self.config = config or ServerConfig()
        self.renderers = default_renderers() if renderers == "auto" else renderers
        if isinstance(self.renderers, str):
            raise ValueError(f"renderers must be a factory, None or 'auto', not {renderers!r}")
        self.trackers = default_trackers() if trackers == "auto" else trackers
        if isinstance(self.trackers, str):
            raise ValueError(f"trackers must be a factory, None or 'auto', not {trackers!r}")
        self.local = local
        self._local_task: asyncio.Task[None] | None = None
        self._local_sources_started: list[Any] = []
        check_bind(self.config.host, self.config.token)
        self.model = model
        self.router = SinkRouter(sinks)
        self._clock = clock
        self.registry = SessionRegistry(
            self._new_session, grace_s=self.config.grace_s, max_sessions=self.config.max_sessions
        )
        self._entries: dict[str, _Entry] = {}
        self._attached: dict[str, float] = {}  # session id -> created_at, for sink ownership
        self._executor: ThreadPoolExecutor | None = None
        self._requests: list[_Request] = []  # sessions queued for the next generation job
        self._queued = asyncio.Event()
        self._generation: asyncio.Task[None] | None = None
        self.generation = GenerationStats()
        self._server: Server | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._started_at = 0.0
        self._stopping = False
        self.port = self.config.port
        fps = model.card.fps if isinstance(model, AvatarForcingModel) else 25
        allowed = self.config.session_sinks
        if allowed is None and not is_loopback(self.config.host):
            allowed = ()  # reachable from other machines: clients drive no local devices unless told
        self.session_sinks = SessionSinks(None if allowed is None else frozenset(allowed))
        self.watchers = WatchHub(
            self.renderers, self.config.limits, fps=fps, send_timeout_s=self.config.send_timeout_s
        )

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the sinks and listen. Raises OSError when the port is taken, and the sinks'
        `SinkUnavailableError` when one cannot run here."""
        cfg = self.config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avatar-generation")
        await asyncio.to_thread(self.router.start)
        try:
            await self._start_sources()
            self._server = await serve(
                self._handle,
                cfg.host,
                cfg.port,
                process_request=self._process_request,
                max_size=cfg.limits.max_message_bytes,
                max_queue=cfg.max_queue,
                compression=None,  # motion is small and PCM does not deflate: save the CPU
                ping_interval=cfg.ping_interval_s,
                ping_timeout=cfg.ping_timeout_s,
                close_timeout=cfg.close_timeout_s,
                open_timeout=cfg.hello_timeout_s,
            )
        except BaseException:
            await self._stop_sources()
            await asyncio.to_thread(self.router.stop)
            self._executor.shutdown(wait=False)
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._started_at = self._clock()
        self._janitor = asyncio.create_task(self._expire_loop(), name="avatar-janitor")
        self._generation = asyncio.create_task(self._generation_loop(), name="avatar-generation")
        if self.local is not None:
            self._open_local(self.local)
        log.info(
            "listening on %s (token %s, %d sink(s), up to %d sessions)",
            self.url,
            "required" if cfg.token else "off",
            len(self.router.sinks),
            cfg.max_sessions,
        )

    async def stop(self) -> None:
        """Graceful shutdown: refuse new connections, close open ones (code 1001), close every
        session, stop the sinks and the generation thread."""
        if self._stopping:
            return
        self._stopping = True
        log.info("shutting down")
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self._local_task is not None:
            self._local_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._local_task
        await self._stop_sources()
        await self.watchers.close_all()
        await self.session_sinks.close_all()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        for sid in list(self._entries):
            entry = self._entries.pop(sid)
            async with entry.lock:
                self.registry.close(sid)
        self._attached.clear()
        if self._generation is not None:
            self._generation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generation
        await asyncio.to_thread(self.router.stop)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
        log.info("stopped")

    async def __aenter__(self) -> AvatarServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down gracefully."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    @property
    def url(self) -> str:
        return url_for(self.config.host, self.port)

    def health(self) -> dict[str, Any]:
        """The /health document: status, protocol, session counts, uptime, sinks."""
        out: dict[str, Any] = {
            "status": "stopping" if self._stopping else "ok",
            "protocol": PROTOCOL_VERSION,
            "sessions": len(self.registry),
            "attached": len(self._attached),
            "max_sessions": self.config.max_sessions,
            "uptime_s": round(self._clock() - self._started_at, 3) if self._started_at else 0.0,
            "generation": self.generation.to_dict(),
            "watch": self.watchers.stats(),
            "session_sinks": self.session_sinks.stats(),
        }
        if self.router:
            out["sinks"] = self.router.stats()
        if self.local is not None:
            entry = self._entries.get(self.local.session_id)
            out["local_session"] = {
                "id": self.local.session_id,
                "open": entry is not None,
                "client_attached": entry is not None and entry.ws is not None,
                "sources": {s.name: _source_stats(s) for s in self.local.sources},
            }
        return out

    # --- handshake (HTTP) ---------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """/health answers JSON; websocket upgrades are checked for Origin (403) and token (401)."""
        path = urlsplit(request.path).path
        static = static_response(request, path)
        if static is not None:
            return static
        if path == HEALTH_PATH:
            body = json.dumps(self.health())
            status = HTTPStatus.SERVICE_UNAVAILABLE if self._stopping else HTTPStatus.OK
            response = connection.respond(status, body + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            response.headers["Cache-Control"] = "no-store"
            return response
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self.config.allowed_origins):
            log.warning("refused %s: origin %r is not allowed", connection.remote_address, origin)
            return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin!r} is not allowed\n")
        if not token_ok(self.config.token, request_token(request.path, request.headers)):
            log.warning("refused %s: missing or wrong token", connection.remote_address)
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="avatar-forcing"'
            return response
        return None

    # --- sessions -----------------------------------------------------------------------------
    def _new_session(self, session_id: str, now: float) -> TappedSession:
        return TappedSession(
            session_id,
            self.model,
            now,
            limits=self.config.limits,
            session_limits=self.config.session_limits,
            renderers=self.renderers,
            tracker=self.trackers() if self.trackers is not None else None,
            sink_check=self.session_sinks.check,
        )

    def _update_owner(self) -> None:
        owner = min(self._attached, key=self._attached.__getitem__) if self._attached else None
        self.router.set_owner(owner)

    def _forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)
        self._attached.pop(session_id, None)
        self.watchers.session_ended(session_id)
        task = asyncio.get_running_loop().create_task(self.session_sinks.close(session_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.expire_interval_s)
            for sid in self.registry.expire(self._clock()):
                self._forget(sid)
            for sid in [s for s in self._entries if s not in self.registry]:
                self._forget(sid)  # closed by a registry call elsewhere (e.g. open's expire)
            self._update_owner()

    async def _send_now(self, ws: ServerConnection, msg: ServerMessage, binary: bool) -> None:
        await asyncio.wait_for(ws.send(encode(msg, binary)), self.config.send_timeout_s)

    async def _await_hello(self, ws: ServerConnection) -> tuple[_Entry, int, bool] | WatchConnection | None:
        """Wait for a valid `hello` and open (or resume) its session; sends the welcome.
        Returns (entry, connection number, binary framing), a watching connection (`hello.watch`),
        or None when the connection ends."""
        deadline = self._clock() + self.config.hello_timeout_s
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                await ws.close(CLOSE_HELLO_TIMEOUT, "no hello in time")
                return None
            try:
                frame = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                continue
            binary = not isinstance(frame, str)
            try:
                msg = decode(frame, self.config.limits)
                if not isinstance(msg, Hello):
                    msg_id = msg.id if isinstance(msg, ClientMessage) else None
                    raise ProtocolError(
                        ErrorCode.BAD_STATE, f"the first message must be hello, not {msg.TYPE}", msg_id
                    )
                if msg.watch is not None:
                    watch = self.watchers.open(msg, ws, binary, lambda sid: sid in self._entries)
                    await self._send_now(ws, self.watchers.welcome(watch), binary)
                    return watch
                entry, welcome = await self._open(msg, ws)
            except ProtocolError as e:
                log.info("handshake with %s: %s", ws.remote_address, e)
                await self._send_now(ws, Error.from_exception(e), binary)
                if e.fatal:
                    await ws.close(1008, e.code.value)
                    return None
                continue
            conn = entry.session.connection
            await self._send_now(ws, welcome, binary)
            return entry, conn, binary

    async def _open(self, hello: Hello, ws: ServerConnection) -> tuple[_Entry, ServerMessage]:
        now = self._clock()
        old = self._entries.get(hello.resume) if hello.resume is not None else None
        if old is not None:
            async with old.lock:  # a tick of the old connection may be running
                session, out = self.registry.open(hello, now)
        else:
            try:
                session, out = self.registry.open(hello, now)
            except ProtocolError:
                raise
            except Exception as e:  # the session factory failed (a model that does not load, ...)
                log.exception("cannot create a session")
                raise ProtocolError(ErrorCode.INTERNAL, f"cannot create a session: {e}", hello.id) from None
        assert isinstance(session, TappedSession)
        entry = self._entries.get(session.id)
        if entry is None:
            entry = self._entries[session.id] = _Entry(session)
        previous, entry.ws = entry.ws, ws
        if previous is not None and previous is not ws:
            session.log.info("resumed by %s: closing the old connection", ws.remote_address)
            task = asyncio.create_task(previous.close(CLOSE_RESUMED, "session resumed by another connection"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._attached[session.id] = session.created_at
        self._update_owner()
        (welcome,) = out
        return entry, welcome

    # --- connection ---------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        if self._stopping:
            await ws.close(1001, "server shutting down")
            return
        try:
            opened = await self._await_hello(ws)
        except (ConnectionClosed, TimeoutError):
            return
        if opened is None:
            return
        if isinstance(opened, WatchConnection):
            await self.watchers.run(opened)
            return
        entry, conn, binary = opened
        session = entry.session
        session.log.info(
            "connection %d from %s (%s frames)", conn, ws.remote_address, "binary" if binary else "text"
        )
        stop = asyncio.Event()
        wake = asyncio.Event()
        wake.set()  # undelivered output of a resumed session
        local_bye = False
        sender = asyncio.create_task(self._guard(ws, self._sender(ws, entry, conn, binary, wake, stop)))
        ticker = asyncio.create_task(self._guard(ws, self._ticker(ws, entry, conn, wake, stop)))
        try:
            async for frame in ws:
                # A frame already received is handled even when the ticker or sender has ended (a
                # client's `bye` often arrives with its close frame, after a send failed): only
                # then does the loop stop for them.
                async with entry.lock:
                    if session.connection != conn or session.closed:
                        break
                    out = session.handle_frame(frame, self._clock())
                    session.outbox.put(out)
                if out:
                    try:
                        self.router.offer(session.id, session.fps, messages=out)  # interrupts
                    except Exception:
                        session.log.exception("routing to the sinks failed")
                    self.watchers.notify(session.id, self.router.owner, session.fps, [], out)
                    self.session_sinks.offer(session.id, session.fps, [], out)
                    if any(isinstance(m, Ack) and m.of == "config" for m in out):
                        await self._sync_sinks(session)
                wake.set()
                if session.closed:
                    session.log.info("bye")
                    break
                if entry.local and isinstance(session, LocalSession) and session.take_bye():
                    local_bye = True
                    break
                if ticker.done() or sender.done():
                    break  # superseded, stalled, or failed
        except ConnectionClosed:
            pass
        finally:
            stop.set()
            wake.set()
            await asyncio.gather(ticker, sender, return_exceptions=True)
            await self._release(entry, conn)
        if session.connection == conn and (session.closed or local_bye):
            await ws.close(1000, "bye")
        elif session.connection != conn:
            await ws.close(CLOSE_RESUMED, "session resumed by another connection")

    @staticmethod
    async def _guard(ws: ServerConnection, job: Coroutine[Any, Any, None]) -> None:
        """Run a connection's ticker or sender; a bug in it closes the connection (1011) rather
        than leaving a client connected to a session nobody drives."""
        try:
            await job
        except Exception:
            log.exception("connection %s: internal error", ws.remote_address)
            await ws.close(1011, "internal error")

    async def _release(self, entry: _Entry, conn: int) -> None:
        """The connection `conn` is done: detach (or close after bye) unless it was taken over."""
        session = entry.session
        async with entry.lock:
            if session.connection != conn:
                return
            if entry.local and not session.closed:  # the server's own: it goes on without a client
                entry.ws = None
                session.outbox.clear()
                session.log.info("client detached; the server drives the local session again")
                return
            if session.closed:
                self.registry.close(session.id)
                self._forget(session.id)
            elif not self._stopping:
                self.registry.detach(session.id, self._clock())
                self._attached.pop(session.id, None)
            entry.ws = None
        self._update_owner()

    async def _sync_sinks(self, session: TappedSession) -> None:
        """Run the sinks of the session's config (after an accepted `config`); a sink that fails
        to start is reported to the client as an `error` and left out."""
        try:
            await self.session_sinks.sync(session.id, list(session.config.sinks))
        except Exception as e:
            session.log.warning("session sinks failed to start: %s", e)
            session.outbox.put([Error(code=ErrorCode.UNSUPPORTED.value, message=f"sinks: {e}")])

    # --- the local session (local.py) ---------------------------------------------------------
    async def _start_sources(self) -> None:
        """Open the local session's capture devices (before listening: a missing device fails
        the start with its message)."""
        if self.local is None:
            return
        for source in self.local.sources:
            await asyncio.to_thread(source.start)
            self._local_sources_started.append(source)

    async def _stop_sources(self) -> None:
        while self._local_sources_started:
            source = self._local_sources_started.pop()
            try:
                await asyncio.to_thread(source.stop)
            except Exception:
                log.exception("stopping capture source %s failed", getattr(source, "name", source))

    def _open_local(self, spec: LocalSessionSpec) -> None:
        now = self._clock()
        session = LocalSession(
            spec.session_id,
            self.model,
            now,
            config=spec.config,
            limits=self.config.limits,
            session_limits=self.config.session_limits,
            renderers=self.renderers,
            sink_check=self.session_sinks.check,
        )
        self.registry.add(session, now)
        entry = self._entries[session.id] = _Entry(session, local=True)
        self._attached[session.id] = session.created_at
        self._update_owner()
        self._local_task = asyncio.create_task(self._local_loop(entry, spec), name="avatar-local")
        session.log.info(
            "local session open (sources: %s)", ", ".join(s.name for s in spec.sources) or "none"
        )

    async def _local_loop(self, entry: _Entry, spec: LocalSessionSpec) -> None:
        """Poll the capture sources into the local session; tick it while no client is attached
        (an attached client's connection ticks it then)."""
        session = entry.session
        interval = spec.poll_interval_s
        failures = 0
        while not session.closed:
            wait = interval
            try:
                messages = [m for source in spec.sources for m in source.poll()]
                async with entry.lock:
                    now = self._clock()
                    for msg in messages:  # errors (a sequence gap) are logged and counted by the session
                        session.handle(msg, now)
                    if entry.ws is None and not session.closed:
                        await self._generate(session)  # output went to the sinks; nobody to send it to
                        session.outbox.clear()
                        wait = min(interval, self._next_wait(session))
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("local session: polling or ticking failed (%d in a row)", failures)
                wait = min(1.0, 0.05 * failures)
            await asyncio.sleep(wait)

    # --- generation --------------------------------------------------------------------------
    def _tick_many(self, sessions: list[TappedSession]) -> list[list[ServerMessage]]:
        """In the generation thread: tick every queued session at the current time (compatible
        due blocks batched) and route each one's output and ARKit blocks to the sinks."""
        report = tick_sessions(
            sessions, self._clock(), early_s=self.config.batch_window_s, max_batch=self.config.max_batch
        )
        self.generation.add(report)
        for session, out in zip(sessions, report.outputs, strict=True):
            blocks = session.take_blocks()
            if blocks or out:
                try:
                    self.router.offer(session.id, session.fps, blocks, out)
                except Exception:  # a sink problem must never cost the client its output
                    session.log.exception("routing to the sinks failed")
                self.watchers.notify(session.id, self.router.owner, session.fps, blocks, out)
                self.session_sinks.offer(session.id, session.fps, blocks, out)
        return report.outputs

    def _time_to_due(self, session: TappedSession, now: float) -> float | None:
        """Seconds until the session's next block falls due (<= 0: due); None when it has none."""
        stream = session.stream
        if stream is None or not session.started or session.paused or session.closed:
            return None
        due = (session.next_frame + stream.block_frames) / session.fps
        return due - session.clock(now)

    def _next_wait(self, session: TappedSession) -> float:
        """Seconds until the session's next block falls due, within (1 ms, tick_interval_s)."""
        cap = self.config.tick_interval_s
        wait = self._time_to_due(session, self._clock())
        return cap if wait is None else min(cap, max(0.001, wait))

    async def _generate(self, session: TappedSession) -> list[ServerMessage]:
        """Queue a tick of `session` for the next generation job and wait for its output. The
        caller holds the session's lock until this returns (the thread may be running it)."""
        if self._generation is None or self._generation.done():
            raise RuntimeError("the generation loop is not running")
        future: asyncio.Future[list[ServerMessage]] = asyncio.get_running_loop().create_future()
        request = (session, future)
        self._requests.append(request)
        self._queued.set()
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if request in self._requests:  # not taken yet: withdraw it
                self._requests.remove(request)
            elif not future.done():  # never release the lock while the thread still runs the session
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await future
            raise

    async def _gather(self) -> None:
        """Before a job: wait (at most `batch_window_s`, plus 2 ms of timer slack) for the
        sessions whose blocks fall due within the window, so they share its batched steps."""
        window = self.config.batch_window_s
        if window <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window + 0.002
        while True:
            queued = {id(s) for s, _ in self._requests}
            now = self._clock()
            coming = False
            for entry in self._entries.values():
                if entry.ws is None or id(entry.session) in queued:
                    continue
                wait = self._time_to_due(entry.session, now)
                if wait is not None and wait <= window:
                    coming = True
                    break
            left = deadline - loop.time()
            if not coming or left <= 0:
                return
            self._queued.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), left)

    async def _generation_loop(self) -> None:
        """Run the queued ticks, one executor job at a time, until cancelled (by `stop`)."""
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        try:
            while True:
                await self._queued.wait()
                await self._gather()
                self._queued.clear()
                batch, self._requests = self._requests, []
                if not batch:
                    continue
                job = loop.run_in_executor(self._executor, self._tick_many, [s for s, _ in batch])
                try:
                    outputs = await asyncio.shield(job)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        outputs = await job  # let the running job finish and hand out its output
                        _settle(batch, outputs)
                    raise
                except Exception as e:
                    log.exception("a generation job failed")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                _settle(batch, outputs)
        finally:
            for _, future in self._requests:
                future.cancel()
            self._requests = []

    async def _ticker(
        self, ws: ServerConnection, entry: _Entry, conn: int, wake: asyncio.Event, stop: asyncio.Event
    ) -> None:
        session = entry.session
        while not stop.is_set():
            async with entry.lock:
                if session.connection != conn or session.closed:
                    break
                try:
                    out = await self._generate(session)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    session.log.exception("tick failed")
                    out = []
                if out:
                    session.outbox.put(out)
                    wake.set()
                wait = self._next_wait(session)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        if session.connection != conn:
            session.log.info("connection %d superseded: closing it", conn)
            await ws.close(CLOSE_RESUMED, "session resumed by another connection")

    async def _sender(
        self,
        ws: ServerConnection,
        entry: _Entry,
        conn: int,
        binary: bool,
        wake: asyncio.Event,
        stop: asyncio.Event,
    ) -> None:
        session = entry.session
        while True:
            if session.connection != conn:
                return
            msg = session.outbox.pop()
            if msg is None:
                if stop.is_set():
                    return
                wake.clear()
                await wake.wait()
                continue
            if isinstance(msg, PendingFrame):  # the `frames` output is drawn here, off the event loop
                try:
                    msg = await asyncio.to_thread(msg.materialize)
                except Exception:
                    session.log.exception("rendering frame %d failed: dropped", msg.frame)
                    continue
            try:
                frame = encode(msg, binary)
            except ProtocolError:
                session.log.exception("cannot encode a %s message: dropped", msg.TYPE)
                continue
            try:
                await asyncio.wait_for(ws.send(frame), self.config.send_timeout_s)
            except TimeoutError:
                session.log.warning(
                    "client took no data for %.1f s: dropping connection %d", self.config.send_timeout_s, conn
                )
                ws.transport.abort()
                return
            except ConnectionClosed:
                return


def default_trackers() -> Callable[[], Tracker] | None:
    """`VideoFaceTracker` (MediaPipe) when the `webcam` extra is installed, else None."""
    from plugin_server.capture.video import VideoFaceTracker, video_tracking_available

    return VideoFaceTracker if video_tracking_available() else None


def default_renderers() -> RendererFactory | None:
    """`models.render.create_renderer` for clients (no options naming server files) when skia (the
    `render` extra) is installed, else None."""
    if not renderer_available():
        log.info("no renderer: skia is missing (pip install 'avatar-forcing[render]'); no 'frames' output")
        return None
    from models.render import create_renderer

    return client_renderers(create_renderer)


def _source_stats(source: Any) -> dict[str, Any]:
    try:
        return dict(source.stats())
    except Exception as e:  # stats must never break /health
        return {"error": str(e)}


def _settle(batch: list[_Request], outputs: list[list[ServerMessage]]) -> None:
    for (_, future), out in zip(batch, outputs, strict=True):
        if not future.done():
            future.set_result(out)


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` (where the loop supports signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


async def run_server(server: AvatarServer, on_ready: Callable[[AvatarServer], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then shut down gracefully. `on_ready` runs once listening."""
    stop = asyncio.Event()
    install_signal_handlers(stop)
    await server.start()
    try:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
    finally:
        await server.stop()
