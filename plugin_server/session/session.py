"""`Session`: one client's live avatar stream, sans I/O.

The adapter (websocket server, test, offline driver) owns the socket and the wall clock; the
session owns everything else:

    frames/messages in ──► handle(msg, now) ──► acks, errors, turn events
                           tick(now)        ──► motion, avatar audio, rendered frames, events, stats

- Clock. The avatar-audio clock starts with the session's first message and then runs in real
  time (`now` minus the time spent paused). Frame i of the stream is at i / fps seconds on it.
- Blocks. Block k covers frames [s, s + n) (n = block frames of the generator, s = frames done);
  it is due when the clock reaches (s + n) / fps. `tick` generates every due block (at most
  `SessionLimits.max_blocks_per_tick` per call); when inputs are late, missing audio is silence and
  missing user motion holds the last frame. A session more than `max_lag_s` behind skips ahead
  (counted in stats) instead of piling up work. A tick is three phases, `prepare_block` (inputs
  placed, generator inputs taken), the generator step, `finish_block` (outputs), then `periodic`
  (stats); `batching.tick_sessions` runs them for several sessions at once, stepping the
  generators of compatible sessions as one batched forward pass.
- Inputs. Audio chunks are queued per stream and placed on the clock frame by frame (`timeline`);
  user motion is queued per frame; every queue is bounded.
- Turns. Client cues and a server-side speech detector per audio stream (`vad`: silero-vad, or a
  block-energy detector) drive idle / avatar_speaking / user_speaking / both. `interrupt`
  (barge-in) drops the avatar audio not yet played and mutes the avatar stream until the next
  `avatar_start` cue: from the next block on the generator hears silence, so the mouth closes
  within one block.
- Errors. Malformed or out-of-order input becomes an `error` message; the session goes on.

Threading: a session is not thread-safe; drive it from one task.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from models.bundle import AvatarForcingModel
from models.generator.config import ConfigError, SamplerConfig
from models.generator.sampler import StreamingSampler
from models.motion.arkit import ARKIT_DIM, INDEX, canonical_name
from models.stream import AvatarStream, PendingStep
from plugin_server.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Ack,
    Audio,
    AvatarAudio,
    Bye,
    ClientMessage,
    Config,
    Control,
    Error,
    ErrorCode,
    Hello,
    Limits,
    Message,
    Motion,
    ProtocolError,
    SequenceTracker,
    ServerMessage,
    SessionConfig,
    Stats,
    Turn,
    TurnEvent,
    UserMotion,
    UserVideo,
    Welcome,
    decode,
    decode_pcm,
    encode_pcm,
)

from .batching import tick_sessions
from .frames import FrameRenderer, RendererFactory
from .mapping import map_frames
from .outbox import Outbox
from .postprocess import MotionShaper
from .timeline import RATE_16K, AudioTimeline
from .turns import TurnState
from .vad import Vad, VadUnavailableError, make_vad, silero_available

logger = logging.getLogger(__name__)

ModelFactory = Callable[[str | None], AvatarForcingModel]
"""Returns the model for a config's `model` name (None = the server's default)."""

REBUILD_KEYS = frozenset({"model", "avatar", "block_frames", "guidance", "seed"})
"""Config keys whose change restarts the generator's state at the next block (the clock goes on)."""
SAMPLER_KEYS = frozenset({"nfe", "a_cfg", "a_cfg_speech", "u_cfg", "u_cfg_speech", "articulation"})
"""Config keys that swap the sampler settings at the next block, keeping the generator's state."""


class Tracker(Protocol):
    """Server-side face tracking of `user_video` frames."""

    def track(self, image: UserVideo) -> np.ndarray | None:
        """One camera frame -> a (58,) ARKit frame, or None when no face was found."""
        ...


@dataclass(frozen=True)
class SessionLimits:
    """Bounds of a session's queues and of its catch-up work."""

    max_avatar_buffer_s: float = 60.0  # avatar audio queued ahead of the clock (TTS sends ahead)
    max_user_buffer_s: float = 2.0  # user audio queued (real time; the oldest is dropped)
    max_user_motion_frames: int = 50  # user motion frames queued (the oldest are dropped)
    outbox_max_frames: int = 50  # media frames waiting for a slow client (the oldest are dropped)
    outbox_max_messages: int = 256  # other messages waiting
    max_blocks_per_tick: int = 4  # blocks one tick may generate
    max_lag_s: float = 1.0  # further behind than this, the session skips ahead
    # Generator work one session may ask for, in model evaluations (times guidance branches) per
    # second of motion: the default config (nfe 10, 4-frame blocks, guidance) needs about 169.
    # One client asking for nfe 100 with 1-frame blocks (7425) would starve every other session.
    max_evaluations_per_s: float = 400.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluations_per_second(sampler: SamplerConfig, model_block_frames: int, fps: float) -> float:
    """Generator forward passes (batch-1 equivalents: guidance branches count) per second of
    motion that a sampler config costs: (nfe - 1) evaluations per block, the realtime schedule's
    key/value refresh counted as one."""
    block = sampler.block_frames or model_block_frames
    branches = 3 if sampler.guidance else 1
    return (sampler.nfe - 1) * branches * fps / block


@dataclass(frozen=True)
class PendingBlock:
    """A session's due block with its generator inputs taken (`Session.prepare_block`); the
    generator's motion for it goes back through `Session.finish_block`."""

    session: Session
    step: PendingStep  # the stream's conditions of the block, its sampler and random generator
    frame: int  # first frame of the block
    late: bool  # more than one block period after it was due

    @property
    def frames(self) -> int:
        return self.step.frames


class SessionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes records with the session id and sets `record.session_id`."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        sid = (self.extra or {}).get("session_id")
        kwargs["extra"] = {**(kwargs.get("extra") or {}), "session_id": sid}
        return f"[session {sid}] {msg}", kwargs


class Session:
    """One live avatar session. All methods take the adapter's clock `now` (seconds, monotonic).

    Args:
        session_id: the id clients resume with.
        model: the model, or a factory called with the config's `model` name.
        now: the adapter's clock at creation.
        config: the initial config (defaults when None); `config` messages change it.
        limits: wire limits (for `handle_frame` and the welcome message).
        session_limits: queue bounds.
        renderers: makes the `frames` output's renderer from the config's `renderer` and
            `renderer_options` (e.g. `models.render.create_renderer`); None: no `frames` output.
        tracker: optional hook for `user_video` input.
        sink_check: checks the config's `sinks` (raises ProtocolError naming what is wrong); the
            adapter creates and runs them. None: this server takes no sinks from session config.
        timer: a monotonic clock used only to measure compute time for stats (never to schedule).
    """

    def __init__(
        self,
        session_id: str,
        model: AvatarForcingModel | ModelFactory,
        now: float,
        *,
        config: SessionConfig | None = None,
        limits: Limits = DEFAULT_LIMITS,
        session_limits: SessionLimits | None = None,
        renderers: RendererFactory | None = None,
        tracker: Tracker | None = None,
        sink_check: Callable[[list[dict[str, Any]]], None] | None = None,
        timer: Callable[[], float] = time.perf_counter,
        keep_arkit_blocks: int = 0,
    ) -> None:
        self.id = session_id
        # Generated blocks as shaped ARKit frames, for server-side sinks (take_arkit_blocks);
        # bounded: a consumer that stops taking them loses the oldest.
        self._arkit_blocks: deque[tuple[int, np.ndarray]] | None = (
            deque(maxlen=keep_arkit_blocks) if keep_arkit_blocks > 0 else None
        )
        self.log = SessionLog(logger, {"session_id": session_id})
        self._model_source = model
        self._models: dict[str | None, AvatarForcingModel] = {}
        self.limits = limits
        self.session_limits = session_limits or SessionLimits()
        self.frame_renderer = FrameRenderer(renderers) if renderers is not None else None
        self.tracker = tracker
        self.sink_check = sink_check
        self._timer = timer
        sl = self.session_limits
        self.outbox = Outbox(sl.outbox_max_frames, sl.outbox_max_messages)
        self.config = config or SessionConfig()
        self.fps = self._model_fps(self._check_config(self.config))
        self.created_at = now
        self._last_now = now
        self.closed = False
        self.connection = 0  # bumped by every (re)attach: an adapter drives only its own connection
        # clock
        self._origin: float | None = None
        self._pause_reasons: set[str] = set()
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self.next_frame = 0
        # inputs
        self._avatar = AudioTimeline("avatar", self.fps, sl.max_avatar_buffer_s, "refuse", self.log)
        self._user = AudioTimeline("user", self.fps, sl.max_user_buffer_s, "drop_oldest", self.log)
        self._seq = {k: SequenceTracker(k) for k in ("avatar", "user", "user_motion", "user_video")}
        self._motion_q: deque[np.ndarray] = deque()
        self._neutral_user = np.zeros(ARKIT_DIM, np.float32)
        self._last_user = self._neutral_user
        self.user_motion_dropped = 0
        # turns
        self.turns = TurnState()
        self._vad_kind = self.config.vad
        self._vad: dict[str, Vad] = self._make_vads(self._vad_kind)
        # generator
        self.stream: AvatarStream | None = None
        self._shaper: MotionShaper | None = None
        self._rebuild = True
        self._swap_sampler = False
        self._look_frames = 0
        # stats
        self.frames_generated = 0
        self.blocks_generated = 0
        self.batched_blocks = 0  # blocks generated in a forward pass shared with other sessions
        self.late_blocks = 0
        self.skipped_frames = 0
        self.errors = 0
        self._last_stats = now
        self._iv_compute = 0.0
        self._iv_frames = 0
        self._iv_blocks = 0
        self.log.info("created (model %s, %d fps)", self.config.model or "default", self.fps)

    # --- public API ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return bool(self._pause_reasons)

    @property
    def started(self) -> bool:
        return self._origin is not None

    @property
    def detached(self) -> bool:
        return "detached" in self._pause_reasons

    def clock(self, now: float) -> float:
        """Seconds on the avatar-audio clock at `now` (0 before the session started)."""
        if self._origin is None:
            return 0.0
        end = self._paused_at if self._paused_at is not None else now
        return max(0.0, end - self._origin - self._paused_total)

    def capabilities(self) -> list[str]:
        caps = ["msgpack", "json", "resume", "naming:arkit", "naming:vrm", "naming:vrm1", "naming:vts"]
        caps += ["output:motion", "output:audio", "output:events", "output:stats"]
        if self.frame_renderer is not None:
            caps.append("output:frames")
        if self.tracker is not None:
            caps.append("input:user_video")
        return [*caps, "input:audio", "input:user_motion"]

    def welcome(self, resumed: bool, resume_grace_s: float) -> Welcome:
        return Welcome(
            version=PROTOCOL_VERSION,
            session_id=self.id,
            resumed=resumed,
            capabilities=self.capabilities(),
            fps=self.fps,
            config=self.config.to_dict(),
            limits={**self.limits.to_dict(), **self.session_limits.to_dict()},
            resume_grace_s=resume_grace_s,
        )

    def handle_frame(self, frame: bytes | str, now: float) -> list[ServerMessage]:
        """Decode one websocket frame and handle it; undecodable frames become `error` messages."""
        try:
            msg = decode(frame, self.limits)
        except ProtocolError as e:
            return [self._error(e)]
        return self.handle(msg, now)

    def handle(self, msg: Message, now: float) -> list[ServerMessage]:
        """Handle one client message; returns what to send now. Never raises for bad input."""
        now = self._now(now)
        if self.closed:
            return [self._error(ProtocolError(ErrorCode.BAD_STATE, "the session is closed", _id(msg)))]
        if self._origin is None and not isinstance(msg, (Bye, Hello)):
            self._origin = now
            if self._paused_at is not None:
                self._paused_at = now
            self.log.info("clock started")
        try:
            if isinstance(msg, ClientMessage):
                msg.validate(self.limits)  # decode has done this already; adapters may build messages
            return self._dispatch(msg, now)
        except ProtocolError as e:
            return [self._error(e.with_id(_id(msg)))]
        except Exception as e:  # a bug must not end the session
            self.log.exception("internal error handling %s", msg.TYPE)
            return [self._error(ProtocolError(ErrorCode.INTERNAL, f"{type(e).__name__}: {e}", _id(msg)))]

    def take_arkit_blocks(self) -> list[tuple[int, np.ndarray]]:
        """Blocks generated since the last call, as (first frame number, (n, 58) shaped ARKit
        frames), whatever naming the client chose; empty unless `keep_arkit_blocks` was set."""
        if self._arkit_blocks is None:
            return []
        blocks = list(self._arkit_blocks)
        self._arkit_blocks.clear()
        return blocks

    def tick(self, now: float) -> list[ServerMessage]:
        """Generate every block that is due at `now`, plus periodic stats.

        The same phases as a server that batches several sessions (`batching.tick_sessions`):
        `prepare_block` -> the generator -> `finish_block`, then `periodic`."""
        return tick_sessions([self], now).outputs[0]

    # --- the phases of a tick (batching.tick_sessions drives them for several sessions) ------
    def prepare_block(self, now: float, early_s: float = 0.0) -> PendingBlock | None:
        """The next block when it is due at `now` (or within `early_s` of it): config changes
        applied, its audio and user motion placed and fed to the stream, its generator inputs
        taken. None when no block is due (or the session is closed, paused or not started).
        Raises on internal errors: report them with `fail_block`."""
        now = self._now(now)
        if self.closed or self._origin is None or self.paused:
            return None
        self._apply_pending()
        stream = self.stream
        assert stream is not None
        n = stream.block_frames
        clock = self.clock(now)
        due = (self.next_frame + n) / self.fps
        if clock + early_s + 1e-9 < due:  # (float rounding of now - origin)
            return None
        if clock - due > self.session_limits.max_lag_s:
            self._skip_ahead(clock, n)
        late = clock - due > n / self.fps
        k0 = self.next_frame
        need = stream.frames_out + n
        end = k0 + n + self._look_frames
        self._feed(
            self._avatar, stream.push_avatar_audio, lambda: stream.avatar_audio.frames_emitted, need, k0, end
        )
        self._feed(
            self._user, stream.push_user_audio, lambda: stream.user_audio.frames_emitted, need, k0, end
        )
        motion = []
        for _ in range(n):
            if self._motion_q:
                self._last_user = self._motion_q.popleft()
            motion.append(self._last_user)
        stream.push_user_motion(np.stack(motion))
        step = stream.prepare_step()
        if step is None:  # the feeds place up to 16 extra frames of audio: cannot happen
            raise RuntimeError(f"no block after feeding {need} frames")
        return PendingBlock(self, step, k0, late)

    def finish_block(
        self,
        block: PendingBlock,
        motion: torch.Tensor,  # (1, n, D) the generator's normalised motion for `block`
        compute_s: float = 0.0,
        batch: int = 1,
    ) -> list[ServerMessage]:
        """Emit a block the generator has run: motion, avatar audio, frames, turn events.
        `compute_s`: this session's share of the generator time; `batch`: sessions in that step."""
        if block.session is not self:
            raise ValueError("this block belongs to another session")
        self._iv_compute += compute_s
        if batch > 1:
            self.batched_blocks += 1
        frames = block.step.stream.finish_step(block.step, motion)  # (n, 58) ARKit
        return self._emit_block(block.frame, block.frames, frames, block.late)

    def fail_block(self, error: BaseException) -> ServerMessage:
        """An internal error while generating a block: report it, restart the generator at the
        next block and move on by one frame (a bug must not end the session)."""
        self.log.error("internal error generating a block", exc_info=error)
        self._rebuild = True
        self.next_frame += 1
        return self._error(ProtocolError(ErrorCode.INTERNAL, f"{type(error).__name__}: {error}"))

    def periodic(self, now: float) -> list[ServerMessage]:
        """The end of a tick: the stats message when its interval is up."""
        now = self._now(now)
        if self.closed or not self.config.wants("stats"):
            return []
        if now - self._last_stats >= self.config.stats_interval_s:
            return [self.stats(now)]
        return []

    def stats(self, now: float) -> Stats:
        """The stats message now (resets the interval measures)."""
        media_s = self._iv_frames / self.fps
        msg = Stats(
            t=round(self.clock(now), 6),
            frames_generated=self.frames_generated,
            blocks_generated=self.blocks_generated,
            batched_blocks=self.batched_blocks,
            late_blocks=self.late_blocks,
            skipped_frames=self.skipped_frames,
            dropped_frames=self.outbox.dropped_frames,
            dropped_messages=self.outbox.dropped_messages,
            avatar_audio_dropped_s=round(self._avatar.dropped_s, 6),
            errors=self.errors,
            rtf=round(self._iv_compute / media_s, 6) if media_s else 0.0,
            block_ms=round(1000.0 * self._iv_compute / self._iv_blocks, 3) if self._iv_blocks else 0.0,
            queues={
                "avatar_audio_s": round(self._avatar.pending_s, 6),
                "user_audio_s": round(self._user.pending_s, 6),
                "user_motion_frames": float(len(self._motion_q)),
                "outbox_frames": float(self.outbox.pending_frames),
                "outbox_messages": float(len(self.outbox)),
            },
        )
        self._last_stats = now
        self._iv_compute, self._iv_frames, self._iv_blocks = 0.0, 0, 0
        return msg

    def detach(self, now: float) -> None:
        """The client is gone: freeze the clock until `attach` (its queues are kept)."""
        self._pause("detached", self._now(now))
        self.log.info("detached at clock %.3f s", self.clock(now))

    def attach(self, now: float) -> int:
        """A client (re)connected: unfreeze; returns the new connection number."""
        self._unpause("detached", self._now(now))
        self.connection += 1
        self.log.info("attached (connection %d)", self.connection)
        return self.connection

    def close(self) -> None:
        self.closed = True
        self.outbox.clear()
        for hook in (self.tracker, self.frame_renderer):  # a face mesh, a renderer: release them
            close = getattr(hook, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    self.log.exception("closing %s failed", type(hook).__name__)
        self.log.info("closed after %d frames", self.frames_generated)

    # --- dispatch -----------------------------------------------------------------------------
    def _dispatch(self, msg: Message, now: float) -> list[ServerMessage]:
        if isinstance(msg, Audio):
            return self._on_audio(msg)
        if isinstance(msg, UserMotion):
            return self._on_user_motion(msg)
        if isinstance(msg, Turn):
            return self._on_turn(msg)
        if isinstance(msg, Config):
            return self._on_config(msg)
        if isinstance(msg, Control):
            return self._on_control(msg, now)
        if isinstance(msg, UserVideo):
            return self._on_user_video(msg)
        if isinstance(msg, Bye):
            self.close()
            return []
        if isinstance(msg, Hello):
            raise ProtocolError(ErrorCode.BAD_STATE, "hello is only valid as a connection's first message")
        raise ProtocolError(ErrorCode.BAD_STATE, f"{msg.TYPE!r} is not a client message")

    def _check_seq(self, stream: str, seq: int, msg_id: int | None) -> list[ServerMessage]:
        """Repeat: raises (the message is dropped). Gap: the error to report, message kept."""
        try:
            self._seq[stream].check(seq, msg_id)
        except ProtocolError as e:
            if e.code == ErrorCode.SEQUENCE_REPEAT:
                raise
            return [self._error(e)]
        return []

    def _on_audio(self, msg: Audio) -> list[ServerMessage]:
        out = self._check_seq(msg.stream, msg.seq, msg.id)
        samples = decode_pcm(msg.data, msg.format, msg.channels, msg.id)
        timeline = self._avatar if msg.stream == "avatar" else self._user
        timeline.push(samples, msg.format, msg.rate, msg.channels, msg.id)
        return out

    def _on_user_motion(self, msg: UserMotion) -> list[ServerMessage]:
        out = self._check_seq("user_motion", msg.seq, msg.id)
        if not msg.frames:
            return out
        values = np.asarray(msg.frames, np.float32).reshape(len(msg.frames), -1)
        if msg.names is None:
            frames = values
        else:
            frames = np.zeros((len(values), ARKIT_DIM), np.float32)
            frames[:, [INDEX[canonical_name(n)] for n in msg.names]] = values
        self._queue_user_frames(frames)
        return out

    def _on_user_video(self, msg: UserVideo) -> list[ServerMessage]:
        if self.tracker is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, "this server has no face tracker for user_video")
        out = self._check_seq("user_video", msg.seq, msg.id)
        frame = self.tracker.track(msg)
        if frame is not None:
            x = np.asarray(frame, np.float32).reshape(-1)
            if x.shape != (ARKIT_DIM,) or not np.isfinite(x).all():
                raise ProtocolError(ErrorCode.INTERNAL, "the tracker returned an invalid frame", msg.id)
            self._queue_user_frames(x[None])
        return out

    def _queue_user_frames(self, frames: np.ndarray) -> None:
        for row in frames:
            self._motion_q.append(row)
        over = len(self._motion_q) - self.session_limits.max_user_motion_frames
        for _ in range(max(0, over)):
            self._motion_q.popleft()
            self.user_motion_dropped += 1

    def _on_turn(self, msg: Turn) -> list[ServerMessage]:
        out: list[ServerMessage] = [Ack(msg_id=msg.id, of=msg.TYPE, frame=self.next_frame)]
        cue = msg.event
        if cue in ("user_start", "user_stop"):
            out += self._turn_event(self.turns.set_user(cue == "user_start"), "client", self.next_frame)
        elif cue == "avatar_start":
            self._avatar.unmute()
            out += self._turn_event(self.turns.set_avatar(True), "client", self.next_frame)
        elif cue == "avatar_stop":
            out += self._turn_event(self.turns.set_avatar(False), "client", self.next_frame)
        else:  # interrupt: barge-in
            dropped = self._avatar.interrupt()
            self._vad["avatar"].reset()
            self.log.info("interrupt: %.3f s of avatar audio dropped", dropped)
            out += self._turn_event(self.turns.set_avatar(False), "client", self.next_frame)
            out += self._turn_event("interrupted", "client", self.next_frame)
        return out

    def _turn_event(self, event: str | None, source: str, frame: int) -> list[ServerMessage]:
        if event is None or not self.config.wants("events"):
            return []
        return [
            TurnEvent(
                event=event,  # type: ignore[arg-type]
                state=self.turns.state,  # type: ignore[arg-type]
                source=source,  # type: ignore[arg-type]
                frame=frame,
                t=frame / self.fps,
            )
        ]

    def _on_config(self, msg: Config) -> list[ServerMessage]:
        new = self.config.merged(msg.config)
        self._check_config(new)
        if new.vad != self._vad_kind:
            vads = self._make_vads(new.vad)
            for name, vad in vads.items():  # the new detector takes over the current decision
                vad.speaking = self._vad[name].speaking
            self._vad, self._vad_kind = vads, new.vad
        changed = set(new.changed_keys(self.config))
        if changed & REBUILD_KEYS:
            self._rebuild = True
        elif changed & SAMPLER_KEYS:
            self._swap_sampler = True
        self.config = new
        if changed:
            self.log.info("config changed: %s (from frame %d)", sorted(changed), self.next_frame)
        return [Ack(msg_id=msg.id, of=msg.TYPE, frame=self.next_frame, config=new.to_dict())]

    def _on_control(self, msg: Control, now: float) -> list[ServerMessage]:
        out: list[ServerMessage] = []
        if msg.action == "pause":
            self._pause("client", now)
        elif msg.action == "resume":
            self._unpause("client", now)
        else:
            self._avatar.reset()
            self._user.reset()
            for t in self._seq.values():
                t.reset()
            self._motion_q.clear()
            self._last_user = self._neutral_user
            for v in self._vad.values():
                v.reset()
            out += self._turn_event(self.turns.set_user(False), "client", self.next_frame)
            out += self._turn_event(self.turns.set_avatar(False), "client", self.next_frame)
            self._rebuild = True
            self.log.info("reset at frame %d", self.next_frame)
        return [Ack(msg_id=msg.id, of=msg.TYPE, frame=self.next_frame), *out]

    # --- config and model ---------------------------------------------------------------------
    def _model(self, name: str | None) -> AvatarForcingModel:
        if name in self._models:
            return self._models[name]
        if isinstance(self._model_source, AvatarForcingModel):
            if name is not None:
                raise ProtocolError(
                    ErrorCode.BAD_CONFIG, f"this server has a single model; model {name!r} is not available"
                )
            model = self._model_source
        else:
            try:
                model = self._model_source(name)
            except Exception as e:
                raise ProtocolError(ErrorCode.BAD_CONFIG, f"model {name!r}: {e}") from None
        self._models[name] = model
        return model

    def _sampler_config(self, model: AvatarForcingModel, cfg: SessionConfig) -> SamplerConfig:
        changes = sampler_changes(cfg)
        try:
            sc = dataclasses.replace(model.card.sampler, **changes)
            StreamingSampler(model.generator, sc)  # checks block size against the model
        except (ConfigError, ValueError) as e:
            raise ProtocolError(ErrorCode.BAD_CONFIG, str(e)) from None
        cost = evaluations_per_second(sc, model.card.generator.block_frames, model.card.generator.fps)
        limit = self.session_limits.max_evaluations_per_s
        if cost > limit:
            block = sc.block_frames or model.card.generator.block_frames
            raise ProtocolError(
                ErrorCode.BAD_CONFIG,
                f"nfe {sc.nfe} with {block}-frame blocks{' and guidance' if sc.guidance else ''} needs "
                f"{cost:.0f} model evaluations per second of motion; this server allows {limit:.0f} per "
                "session: use fewer steps (nfe), larger blocks (block_frames) or guidance off",
            )
        return sc

    def _make_vads(self, kind: str) -> dict[str, Vad]:
        try:
            return {"avatar": make_vad(kind), "user": make_vad(kind)}
        except VadUnavailableError as e:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"vad {kind!r}: {e}; use vad 'energy'") from None

    def _model_fps(self, model: Any) -> int:
        """The frame rate of what `_check_config` returned (a subclass may serve another kind of model)."""
        return int(model.card.fps)

    def _check_config(self, cfg: SessionConfig) -> AvatarForcingModel:
        """Refuse a config this session cannot serve; returns its model."""
        model = self._model(cfg.model)
        if cfg.vad == "silero" and not silero_available():
            raise ProtocolError(
                ErrorCode.UNSUPPORTED,
                "vad 'silero' needs onnxruntime (pip install 'avatar-forcing[vad]') and the bundled "
                "models/weights/silero_vad.onnx; this server has 'energy' only",
            )
        if cfg.fps != model.card.fps:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED,
                f"fps {cfg.fps} is not available: the model runs at {model.card.fps} fps",
            )
        if cfg.wants("frames") and self.frame_renderer is None:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED,
                "output 'frames' needs a renderer; this server has none "
                "(pip install 'avatar-forcing[render]')",
            )
        self._sampler_config(model, cfg)
        if cfg.sinks:
            if self.sink_check is None:
                raise ProtocolError(ErrorCode.UNSUPPORTED, "this server takes no sinks from session config")
            self.sink_check(cfg.sinks)
        if cfg.wants("frames") and self.frame_renderer is not None:  # last: nothing after it can fail
            self.frame_renderer.configure(cfg.renderer, cfg.renderer_options, cfg.frame_format)
        return model

    def _apply_pending(self) -> None:
        """Config changes take effect here, at a block boundary."""
        if self._rebuild:
            model = self._model(self.config.model)
            self.stream = AvatarStream(model, self._sampler_config(model, self.config), seed=self.config.seed)
            self.fps = model.card.fps
            self._look_frames = math.ceil(model.card.front_end.lookahead_ms * self.fps / 1000)
            rest = model.card.stats.denormalize(model.rest_reference(1))[0].detach().cpu().numpy()
            self._neutral_user = rest.astype(np.float32)
            if not self._motion_q and self.frames_generated == 0:
                self._last_user = self._neutral_user
            self._shaper = MotionShaper(rest, self.fps, self.config.seed)
            for timeline, push in (
                (self._avatar, self.stream.push_avatar_audio),
                (self._user, self.stream.push_user_audio),
            ):
                primed = timeline.replay_16k()  # placed ahead for the old stream: feed the new one
                if len(primed):
                    push(primed, RATE_16K)
            self._rebuild = self._swap_sampler = False
            self.log.info("generator (re)started at frame %d", self.next_frame)
        elif self._swap_sampler:
            assert self.stream is not None
            model = self.stream.model
            old = self.stream.sampler
            new = StreamingSampler(model.generator, self._sampler_config(model, self.config))
            new.cache = old.cache
            self.stream.sampler = new
            self._swap_sampler = False

    # --- blocks -------------------------------------------------------------------------------
    def _skip_ahead(self, clock: float, n: int) -> None:
        target = max(self.next_frame, math.floor(clock * self.fps) - n)
        skipped = target - self.next_frame
        if skipped <= 0:
            return
        self._avatar.skip_to(target)
        self._user.skip_to(target)
        self.skipped_frames += skipped
        self.next_frame = target
        self.log.warning("fell %.2f s behind: skipped %d frames", skipped / self.fps, skipped)

    def _feed(
        self,
        timeline: AudioTimeline,
        push: Callable[..., None],
        emitted: Callable[[], int],
        need: int,
        frame0: int,
        end: int,
    ) -> None:
        x = timeline.place_until(end, frame0)
        if len(x):
            push(x, RATE_16K)
        extra = 0
        while emitted() < need and extra < 16:  # libsoxr still filling its pipeline
            assert timeline.next_place is not None
            x = timeline.place_until(timeline.next_place + 1, frame0)
            if len(x):
                push(x, RATE_16K)
            extra += 1

    def _emit_block(self, k0: int, n: int, block: np.ndarray, late: bool) -> list[ServerMessage]:
        """Frames k0 .. k0 + n - 1 are generated ((n, 58) ARKit): shape, count and send them."""
        shaper = self._shaper
        assert shaper is not None
        frames = shaper.apply(block, self.config.motion_intensity, self.config.blink)
        if self._arkit_blocks is not None:
            self._arkit_blocks.append((k0, frames))
        cfg = self.config
        motion: list[ServerMessage] = []
        if cfg.wants("motion"):
            names, values = map_frames(frames, cfg.naming, cfg.arkit_spelling)
            motion.append(
                Motion(
                    frame=k0,
                    fps=self.fps,
                    timestamps=[(k0 + i) / self.fps for i in range(n)],
                    naming=cfg.naming,
                    names=names,
                    values=np.round(values.astype(np.float64), 6).tolist(),
                )
            )
        images: list[ServerMessage] = []
        if cfg.wants("frames") and self.frame_renderer is not None:  # drawn when sent (PendingFrame)
            for i in range(n):
                images.append(self.frame_renderer.pending(k0 + i, (k0 + i) / self.fps, frames[i].copy()))
        return self._emit(k0, n, late, motion, images)

    def _emit(
        self, k0: int, n: int, late: bool, motion: list[ServerMessage], images: list[ServerMessage]
    ) -> list[ServerMessage]:
        """What every generated block sends, around its `motion` and `images` messages: the block's
        audio taken from the timelines and counted, the avatar audio re-emitted (output `audio`),
        and the server-side speech detection's turn events."""
        audio, audio16 = self._avatar.take_block_with_16k(k0, n)
        user_audio, user16 = self._user.take_block_with_16k(k0, n)
        self.next_frame = k0 + n
        self.frames_generated += n
        self.blocks_generated += 1
        self._iv_frames += n
        self._iv_blocks += 1
        if late:
            self.late_blocks += 1
        out: list[ServerMessage] = list(motion)
        cfg = self.config
        if cfg.wants("audio"):
            a = self._avatar
            out.append(
                AvatarAudio(
                    frame=k0,
                    frames=n,
                    t=k0 / self.fps,
                    format=a.sample_format,
                    rate=a.rate,
                    channels=a.channels,
                    data=encode_pcm(audio, a.sample_format),
                )
            )
        out += images
        if cfg.server_vad:
            seconds = n / self.fps
            at_16k = self._vad_kind == "silero"  # silero: the front end's 16 kHz mono audio
            for name, samples, setter in (
                ("avatar", audio16 if at_16k else audio, self.turns.set_avatar),
                ("user", user16 if at_16k else user_audio, self.turns.set_user),
            ):
                change = self._vad[name].update(samples, seconds)
                if change is not None:
                    out += self._turn_event(setter(change), "server", k0)
        return out

    # --- helpers ------------------------------------------------------------------------------
    def _now(self, now: float) -> float:
        self._last_now = max(self._last_now, float(now))
        return self._last_now

    def _pause(self, reason: str, now: float) -> None:
        if not self._pause_reasons:
            self._paused_at = now
        self._pause_reasons.add(reason)

    def _unpause(self, reason: str, now: float) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons and self._paused_at is not None:
            if self._origin is not None:
                self._paused_total += now - self._paused_at
            self._paused_at = None

    def _error(self, e: ProtocolError) -> Error:
        self.errors += 1
        level = logging.WARNING if e.code == ErrorCode.INTERNAL else logging.INFO
        self.log.log(level, "error %s (msg %s): %s", e.code.value, e.msg_id, e.message)
        return Error.from_exception(e)


def _id(msg: Message) -> int | None:
    return msg.id if isinstance(msg, ClientMessage) else None


# Session config key -> SamplerConfig field, for the sampler settings a session may change.
SAMPLER_FIELDS = (
    ("nfe", "nfe"),
    ("a_cfg", "a_cfg_scale"),
    ("a_cfg_speech", "a_cfg_speech"),
    ("u_cfg", "u_cfg_scale"),
    ("u_cfg_speech", "u_cfg_speech"),
    ("articulation", "articulation"),
    ("guidance", "guidance"),
    ("block_frames", "block_frames"),
)


def sampler_changes(cfg: SessionConfig) -> dict[str, Any]:
    """The SamplerConfig fields a session config sets (those it leaves None keep the model's)."""
    return {name: getattr(cfg, key) for key, name in SAMPLER_FIELDS if getattr(cfg, key) is not None}
