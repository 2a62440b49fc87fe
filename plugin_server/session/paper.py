"""`PaperSession`: a live session on the paper's photoreal path (`models.paper.pipeline`).

The same protocol, clock, audio placement, turn state / VAD, block scheduling (`prepare_block` /
the generator / `finish_block`), outbox and stats as `Session`; what differs is the stream and
what a generated block becomes:

- The stream is a `PaperAvatar` (behind `PaperStream`, the slice of `AvatarStream`'s interface
  the session drives): avatar and user audio -> causal wav2vec2 conditions; the user's face ->
  motion latents; the generator's blocks are motion latents (n, D) (D = 512 for the paper's
  weights), not ARKit frames. The portrait is the server's (`PaperServeSpec`), encoded ONCE and
  shared by every session; clients may not choose it.
- Outputs: `frames` (`rendered_frame`: Dec(z_S + m) at the autoencoder's size, S x S), `audio`
  (avatar audio re-emitted with its block), `events`, `stats`. The `motion` output is refused
  (`unsupported`): the motion space is the autoencoder's latents, not blendshapes, and no naming of
  the protocol describes it. The default config of a paper session asks for
  ["frames", "audio", "events", "stats"].
- Decoding never runs on the event loop nor in the generation thread: each frame of a block is a
  `PaperPendingFrame`; the first of a block that the adapter materializes (in a worker thread,
  right before sending) decodes the whole block in one batched call, the others take their image.
  Blocks a slow client loses to the outbox are never decoded.
- User side: `user_video` frames (JPEG / PNG / WebP / raw RGB(A), the user's face centred) are
  decoded on arrival and queued; the motion encoder encodes the queued images in one batch at the
  next `prepare_block` (the generation thread), as user motion latents, one per frame. Before the
  first one the user motion is zeros (the null condition, as in `PaperAvatar`); afterwards the
  last one is held. `user_motion` (ARKit frames) is refused.
- Config: `nfe`, `a_cfg`, `u_cfg`, `guidance`, `block_frames`, `seed` act as for `Session`
  (`u_cfg_speech` other than `u_cfg`, or `a_cfg_speech` other than `a_cfg`, is refused: the
  paper's latent motion names no jaw or lips);
  `model` must be None or "paper"; `renderer` / `renderer_options` are ignored (the frames are the
  portrait's); `frame_format` applies; `sinks` are refused (sinks take ARKit frames).

Batching: `batching.tick_sessions` drives paper sessions like any other, each stepped alone:
`PaperServer` sets `max_batch` to 1 (batching paper streams in one forward pass is untested).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.generator.config import ConfigError, SamplerConfig
from models.generator.sampler import StreamingSampler
from models.paper.motion_autoencoder import SourceEncoding
from models.paper.onnx_decoder import DecoderBackend
from models.paper.pipeline import PaperAudioStream, PaperAvatar, PaperComponents, to_model_images
from models.render import RendererError, encode_image
from models.stream import PendingStep
from plugin_server.protocol import (
    ErrorCode,
    ProtocolError,
    RenderedFrame,
    ServerMessage,
    SessionConfig,
    UserMotion,
    UserVideo,
)

from .frames import PendingFrame
from .session import ModelFactory, Session, evaluations_per_second, sampler_changes
from .timeline import RATE_16K
from .vad import silero_available

PAPER_MODEL = "paper"
"""The `model` name of a paper session's config (None means the same)."""
PAPER_OUTPUTS = ("frames", "audio", "events", "stats")
"""The default outputs of a paper session (no `motion`: see the module doc)."""
MOTION_REFUSED = (
    "output 'motion' is not available with the paper preset: its motion is the motion autoencoder's "
    "{dim}-d latents, not blendshapes; ask for 'frames' (decoded from the server's portrait) and 'audio'"
)


@dataclass
class PaperServeSpec:
    """What every paper session of a server shares: the networks, the portrait's encoding (done
    once), the decoder backend and the default sampler settings."""

    components: PaperComponents
    source: SourceEncoding
    decoder: DecoderBackend
    sampler: SamplerConfig
    audio_lookahead_s: float = 0.04

    @classmethod
    def create(
        cls,
        components: PaperComponents,
        portrait: np.ndarray,
        sampler: SamplerConfig | None = None,
        decoder_backend: str | DecoderBackend = "torch",
    ) -> PaperServeSpec:
        """Encode `portrait` (RGB uint8 (H, W, 3), a face-centred crop) once."""
        avatar = PaperAvatar(components, sampler, seed=0, decoder_backend=decoder_backend)
        avatar.set_portrait(portrait)
        assert avatar.source is not None
        return cls(components, avatar.source, avatar.decoder, sampler or components.config.sampler)

    @property
    def fps(self) -> int:
        return int(self.components.generator.config.fps)

    @property
    def dim(self) -> int:
        return int(self.components.generator.config.dim_motion)

    @property
    def size(self) -> int:
        return self.components.size

    def new_avatar(self, sampler: SamplerConfig, seed: int | None) -> PaperAvatar:
        """A fresh stream on the shared portrait (no re-encoding)."""
        avatar = PaperAvatar(self.components, sampler, seed=seed, decoder_backend=self.decoder)
        avatar.source = self.source
        avatar.reset()
        return avatar


class PaperStream:
    """A `PaperAvatar` behind the part of `AvatarStream`'s interface that `Session` drives
    (feeding, `prepare_step` / `finish_step`); `finish_step` gives motion latents (n, D)."""

    def __init__(self, avatar: PaperAvatar) -> None:
        self.avatar = avatar

    @property
    def sampler(self) -> StreamingSampler:
        return self.avatar.sampler

    @property
    def _rng(self) -> torch.Generator:  # PendingStep.generator reads it
        return self.avatar._rng

    @property
    def block_frames(self) -> int:
        return self.avatar.block_frames

    @property
    def frames_out(self) -> int:
        return self.avatar.frames_out

    @property
    def avatar_audio(self) -> PaperAudioStream:
        return self.avatar.avatar_audio

    @property
    def user_audio(self) -> PaperAudioStream:
        return self.avatar.user_audio

    def push_avatar_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self.avatar.push_avatar_audio(samples, rate, channels)

    def push_user_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self.avatar.push_user_audio(samples, rate, channels)

    def push_user_motion(self, frames: np.ndarray) -> None:
        self.avatar.push_user_motion(frames)

    def prepare_step(self) -> PendingStep | None:
        a = self.avatar
        n = a.sampler.next_block_frames
        if a.available_frames() < n:
            return None
        return PendingStep(self, a.conditions.take(n))  # type: ignore[arg-type]

    def finish_step(self, pending: PendingStep, motion: torch.Tensor) -> torch.Tensor:
        """The generator's (1, n, D) motion of `pending` -> latents (n, D)."""
        if pending.stream is not self:  # type: ignore[comparison-overlap]
            raise ValueError("this pending step belongs to another stream")
        if tuple(motion.shape) != (1, pending.frames, self.avatar.dim):
            raise ValueError(
                f"motion must be {(1, pending.frames, self.avatar.dim)}; got {tuple(motion.shape)}"
            )
        self.avatar.frames_out += pending.frames
        return motion[0].detach()


class LatentBlock:
    """One block's motion latents, decoded (one batched call) the first time a frame is asked for."""

    def __init__(self, latents: torch.Tensor, decode: Callable[[torch.Tensor], np.ndarray]) -> None:
        self._latents: torch.Tensor | None = latents
        self._decode = decode
        self._frames: np.ndarray | None = None
        self._lock = threading.Lock()

    def frame(self, i: int) -> np.ndarray:
        """Frame i of the block, RGB uint8 (S, S, 3)."""
        with self._lock:
            if self._frames is None:
                assert self._latents is not None
                self._frames = self._decode(self._latents)
                self._latents = None
            return self._frames[i]


@dataclass(frozen=True, kw_only=True)
class PaperPendingFrame(PendingFrame):
    """A `rendered_frame` of a paper session, decoded only when it is sent (see the module doc)."""

    block: LatentBlock = field(repr=False, compare=False)
    index: int = 0

    def materialize(self) -> RenderedFrame:
        rgb = self.block.frame(self.index)
        rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
        data = encode_image(rgba, self.format)
        return RenderedFrame(
            frame=self.frame, t=self.t, width=self.width, height=self.height, format=self.format, data=data
        )


def decode_user_video(msg: UserVideo) -> np.ndarray:
    """A `user_video` message -> RGB uint8 (height, width, 3); ProtocolError when it is not an
    image of the stated size."""
    if msg.format in ("rgb24", "rgba32"):
        channels = 3 if msg.format == "rgb24" else 4
        arr = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, channels)
        return arr[..., :3].copy()  # writable: torch takes it as it is
    from models.render.encode import decode_image

    try:
        img = decode_image(msg.data)
    except RendererError as e:  # RendererUnavailableError (no skia) is one
        code = ErrorCode.UNSUPPORTED if "skia" in str(e) else ErrorCode.BAD_VALUE
        raise ProtocolError(code, f"user_video: {e}", msg.id) from None
    if img.shape[:2] != (msg.height, msg.width):
        raise ProtocolError(
            ErrorCode.BAD_VALUE,
            f"user_video: the image is {img.shape[1]}x{img.shape[0]}, the message says "
            f"{msg.width}x{msg.height}",
            msg.id,
        )
    return np.ascontiguousarray(img[..., :3])


class PaperSession(Session):
    """One live session on the paper's photoreal path (see the module doc).

    Args:
        session_id, now, limits, session_limits, timer: as for `Session`.
        spec: the server's networks and portrait.
        config: the initial config (default: outputs frames, audio, events, stats).
    """

    def __init__(
        self,
        session_id: str,
        spec: PaperServeSpec,
        now: float,
        *,
        config: SessionConfig | None = None,
        **kwargs: Any,
    ) -> None:
        self.spec = spec
        self._video_q: deque[np.ndarray] = deque()
        for key in ("renderers", "tracker", "sink_check"):  # the paper path has its own (or none)
            kwargs.pop(key, None)
        kwargs["keep_arkit_blocks"] = 0
        model: ModelFactory = _no_model
        super().__init__(
            session_id, model, now, config=config or SessionConfig(outputs=PAPER_OUTPUTS), **kwargs
        )
        self._neutral_user = np.zeros(spec.dim, np.float32)  # the null condition: no user motion known
        self._last_user = self._neutral_user

    # --- Session hooks ------------------------------------------------------------------------
    def capabilities(self) -> list[str]:
        return [
            "msgpack",
            "json",
            "resume",
            "preset:paper",
            "output:frames",
            "output:audio",
            "output:events",
            "output:stats",
            "input:audio",
            "input:user_video",
        ]

    def _model_fps(self, model: Any) -> int:
        return self.spec.fps

    def _check_config(self, cfg: SessionConfig) -> PaperServeSpec:  # type: ignore[override]
        spec = self.spec
        if cfg.model not in (None, PAPER_MODEL):
            raise ProtocolError(
                ErrorCode.BAD_CONFIG,
                f"this server runs the paper preset only; model {cfg.model!r} is not available",
            )
        if cfg.vad == "silero" and not silero_available():
            raise ProtocolError(
                ErrorCode.UNSUPPORTED,
                "vad 'silero' needs onnxruntime (pip install 'avatar-forcing[vad]'); use vad 'energy'",
            )
        if cfg.fps != spec.fps:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED, f"fps {cfg.fps} is not available: the model runs at {spec.fps} fps"
            )
        if cfg.wants("motion"):
            raise ProtocolError(ErrorCode.UNSUPPORTED, MOTION_REFUSED.format(dim=spec.dim))
        if cfg.sinks:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED, "session sinks take ARKit frames: not available with the paper preset"
            )
        self._paper_sampler(cfg)
        return spec

    def _paper_sampler(self, cfg: SessionConfig) -> SamplerConfig:
        changes = sampler_changes(cfg)
        generator = self.spec.components.generator
        try:
            sc = dataclasses.replace(self.spec.sampler, **changes)
            block = StreamingSampler(generator, sc).block
        except (ConfigError, ValueError) as e:
            raise ProtocolError(ErrorCode.BAD_CONFIG, str(e)) from None
        cost = evaluations_per_second(sc, block, self.spec.fps)
        limit = self.session_limits.max_evaluations_per_s
        if cost > limit:
            raise ProtocolError(
                ErrorCode.BAD_CONFIG,
                f"nfe {sc.nfe} with {block}-frame blocks needs {cost:.0f} model evaluations per second "
                f"of motion; this server allows {limit:.0f} per session",
            )
        return sc

    def _apply_pending(self) -> None:
        if self._rebuild:
            avatar = self.spec.new_avatar(self._paper_sampler(self.config), self.config.seed)
            stream = PaperStream(avatar)
            self.stream = stream  # type: ignore[assignment]
            self._look_frames = math.ceil(self.spec.audio_lookahead_s * self.fps)
            if not self._motion_q and self.frames_generated == 0:
                self._last_user = self._neutral_user
            for timeline, push in (
                (self._avatar, stream.push_avatar_audio),
                (self._user, stream.push_user_audio),
            ):
                primed = timeline.replay_16k()
                if len(primed):
                    push(primed, RATE_16K)
            self._rebuild = self._swap_sampler = False
            self.log.info("paper stream (re)started at frame %d", self.next_frame)
        elif self._swap_sampler:
            stream = self.stream  # type: ignore[assignment]
            assert isinstance(stream, PaperStream)
            new = StreamingSampler(self.spec.components.generator, self._paper_sampler(self.config))
            new.cache = stream.avatar.sampler.cache
            stream.avatar.sampler = new
            self._swap_sampler = False

    def prepare_block(self, now: float, early_s: float = 0.0) -> Any:
        self._encode_user_video()  # the generation thread: never the event loop
        return super().prepare_block(now, early_s)

    def finish_block(
        self, block: Any, motion: torch.Tensor, compute_s: float = 0.0, batch: int = 1
    ) -> list[ServerMessage]:
        if block.session is not self:
            raise ValueError("this block belongs to another session")
        self._iv_compute += compute_s
        if batch > 1:
            self.batched_blocks += 1
        latents = block.step.stream.finish_step(block.step, motion)  # (n, D)
        return self._emit_latents(block.frame, block.frames, latents, block.late)

    def _on_user_motion(self, msg: UserMotion) -> list[ServerMessage]:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED,
            "user_motion carries ARKit frames; the paper preset takes the user's face as user_video frames",
        )

    def _on_user_video(self, msg: UserVideo) -> list[ServerMessage]:
        out = self._check_seq("user_video", msg.seq, msg.id)
        self._video_q.append(decode_user_video(msg))
        over = len(self._video_q) + len(self._motion_q) - self.session_limits.max_user_motion_frames
        for _ in range(max(0, min(over, len(self._video_q)))):
            self._video_q.popleft()
            self.user_motion_dropped += 1
        return out

    def _on_control(self, msg: Any, now: float) -> list[ServerMessage]:
        if msg.action == "reset":
            self._video_q.clear()
        return super()._on_control(msg, now)

    # --- the paper parts ----------------------------------------------------------------------
    @torch.inference_mode()
    def _encode_user_video(self) -> None:
        """Queued face images -> user motion latents (one batched motion-encoder call per size)."""
        if not self._video_q:
            return
        images = list(self._video_q)
        self._video_q.clear()
        ae = self.spec.components.autoencoder
        dtype = next(ae.parameters()).dtype
        size, device = self.spec.size, self.spec.components.device
        batch = torch.cat([to_model_images(img, size, device) for img in images])  # (n, 3, S, S)
        latents = ae.motion_latent(ae.encode_motion(batch.to(dtype))).float().cpu().numpy()
        if not np.isfinite(latents).all():
            self.log.warning(
                "the motion encoder gave non-finite latents: %d user frames dropped", len(latents)
            )
            return
        self._queue_user_frames(latents.astype(np.float32))

    def _emit_latents(self, k0: int, n: int, latents: torch.Tensor, late: bool) -> list[ServerMessage]:
        """Frames k0 .. k0 + n - 1 are generated (motion latents (n, D)): count and send them."""
        cfg = self.config
        images: list[ServerMessage] = []
        if cfg.wants("frames"):
            stream = self.stream
            assert isinstance(stream, PaperStream)
            block = LatentBlock(latents, stream.avatar.decode)
            size = self.spec.size
            for i in range(n):
                images.append(
                    PaperPendingFrame(
                        frame=k0 + i,
                        t=(k0 + i) / self.fps,
                        width=size,
                        height=size,
                        format=cfg.frame_format,
                        data=b"",
                        arkit=np.zeros(0, np.float32),
                        source=None,  # type: ignore[arg-type]
                        block=block,
                        index=i,
                    )
                )
        return self._emit(k0, n, late, [], images)


def _no_model(name: str | None) -> Any:
    raise ProtocolError(ErrorCode.BAD_CONFIG, "this server runs the paper preset only")
