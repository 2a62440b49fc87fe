"""One avatar's live stream, sans I/O: audio and user motion in, ARKit frames out.

`AvatarStream` owns the per-stream state (two audio conditioners sharing the model's encoder,
the user-motion buffer, the generator's streaming sampler) and produces motion block by block as
soon as the conditions of a whole block are in. The server, `animate`, the demo and evaluation all
drive this class; the denoising loop itself lives only in `StreamingSampler`.

`step` = `prepare_step` (take the block's conditions) + the generator + `finish_step` (ARKit
frames); a server that batches several streams' blocks calls the two halves itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.audio.frontend import AudioConditioner
from models.bundle import AvatarForcingModel
from models.generator.batched import compatible_groups, step_batched
from models.generator.cache import GeneratorCache
from models.generator.conditions import Conditions
from models.generator.config import SamplerConfig
from models.generator.sampler import StreamingSampler
from models.motion.arkit import ArkitSpace, mouth_channel_indices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingStep:
    """A block whose conditions are in, waiting for the generator (`AvatarStream.prepare_step`)."""

    stream: AvatarStream
    cond: Conditions  # (1, n, .) raw condition features of the block

    @property
    def frames(self) -> int:
        return self.cond.frames

    @property
    def sampler(self) -> StreamingSampler:
        return self.stream.sampler

    @property
    def generator(self) -> torch.Generator:
        """The stream's own random generator: seeded streams draw the same noise batched or not."""
        return self.stream._rng


class ConditionBuffers:
    """The three condition streams of one live avatar, buffered until a block takes them: the
    avatar's and the user's audio features from their front ends (`avatar_audio`, `user_audio`:
    anything with reset / push / push_silence / finish / frames_emitted) and the user's motion
    frames (n, D) as the model takes them. `AvatarStream` and the paper's `PaperAvatar` share it."""

    def __init__(self, avatar_audio: Any, user_audio: Any, dim: int) -> None:
        self.avatar_audio = avatar_audio
        self.user_audio = user_audio
        self.dim = dim
        self.reset()

    def reset(self) -> None:
        self.avatar_audio.reset()
        self.user_audio.reset()
        self._avatar: list[torch.Tensor] = []  # (n, dim_cond) chunks
        self._user: list[torch.Tensor] = []
        self._motion: list[torch.Tensor] = []  # (n, D) user motion chunks
        self._last_user_motion = torch.zeros(self.dim)  # held when the user's motion runs short
        self._motion_in = 0  # user-motion frames received (or held) since reset, all time

    def push_avatar_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self._avatar.append(self.avatar_audio.push(samples, rate, channels))

    def push_user_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self._user.append(self.user_audio.push(samples, rate, channels))

    def push_user_motion(self, motion: torch.Tensor) -> None:
        """(n, D) user motion, already checked and in the model's space."""
        self._motion.append(motion)
        self._motion_in += len(motion)
        if len(motion):
            self._last_user_motion = motion[-1]

    def finish_audio(self) -> None:
        """End of both audio inputs: flush the front ends (look-ahead, zero padding)."""
        self._avatar.append(self.avatar_audio.finish())
        self._user.append(self.user_audio.finish())

    def fill_silence(self, frames: int) -> None:
        """Make sure every condition stream covers `frames` frames since reset (an all-time count,
        not frames pending): missing audio becomes silence, missing user motion holds the last
        user frame (zeros before the first)."""
        for conditioner, chunks in ((self.avatar_audio, self._avatar), (self.user_audio, self._user)):
            if conditioner.frames_emitted < frames:
                chunks.append(conditioner.push_silence(frames))
        if self._motion_in < frames:
            self._motion.append(self._last_user_motion.expand(frames - self._motion_in, -1).clone())
            self._motion_in = frames

    def available_frames(self) -> int:
        """Condition frames buffered and not yet taken (complete in all three streams)."""
        return min(sum(len(c) for c in chunks) for chunks in (self._avatar, self._user, self._motion))

    def take(self, n: int) -> Conditions:
        """The next `n` frames of all three streams as one block's conditions, (1, n, .) each."""
        return Conditions(
            take_frames(self._avatar, n)[None],  # (1, n, dim_cond)
            take_frames(self._user, n)[None],  # (1, n, dim_cond)
            take_frames(self._motion, n)[None],  # (1, n, D)
        )


class AvatarStream:
    def __init__(
        self,
        model: AvatarForcingModel,
        sampler_config: SamplerConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        card = model.card
        self.dim = card.generator.dim_motion
        self.sampler = StreamingSampler(model.generator, sampler_config or card.sampler)
        self.conditions = ConditionBuffers(
            AudioConditioner(model.audio_encoder, card.front_end),
            AudioConditioner(model.audio_encoder, card.front_end),
            self.dim,
        )
        self.avatar_audio = self.conditions.avatar_audio
        self.user_audio = self.conditions.user_audio
        self.seed = seed
        self.reset()

    @property
    def block_frames(self) -> int:
        return self.sampler.next_block_frames

    def reset(self, ref_motion: np.ndarray | None = None) -> None:
        """Start over. ref_motion: the avatar's rest frame (58,) un-normalised, or the model's."""
        self.conditions.reset()  # before any user motion: zeros, the normalised mean
        self.frames_out = 0
        self._rng = torch.Generator()
        if self.seed is None:
            self._rng.seed()  # fresh entropy, without touching torch's global generator
        else:
            self._rng.manual_seed(self.seed)
        if ref_motion is None:
            ref = self.model.rest_reference(1)
        else:
            ref = self.model.card.stats.normalize(torch.as_tensor(np.asarray(ref_motion, np.float32)))[None]
        cache = self.sampler.reset(ref)
        if self.sampler.config.start_at_rest:
            self._start_at_rest(cache, ref)

    def _start_at_rest(self, cache: GeneratorCache, ref: torch.Tensor) -> None:
        """Give the first block a history: the context frames at `ref` (1, D) with the mouth at
        ARKit's neutral (every jaw, mouth, cheek and tongue weight 0: closed, no smile), over
        silent audio and a neutral user, as if the avatar had been sitting quietly."""
        c, h = cache.context_frames, cache.history_frames
        if c == 0 or self.model.card.motion_space != "arkit":
            return
        stats = self.model.card.stats
        frame = stats.denormalize(ref)[0].detach().clone()  # (D,) ARKit units
        frame[mouth_channel_indices()] = 0.0
        start = stats.normalize(frame).to(ref)  # (D,)
        cache.context = start.expand(1, c, -1).clone()  # (1, c, D)
        # (1, h, dim_cond): the front end and encoder on silence from their fresh state, the same
        # for the avatar's audio and the user's
        conditioner = AudioConditioner(self.model.audio_encoder, self.model.card.front_end)
        silent = conditioner.push_silence(h)[-h:][None]
        cache.context_cond = Conditions(silent, silent.clone(), torch.zeros(1, h, self.dim))  # user: 0

    # --- input --------------------------------------------------------------------------------
    def push_avatar_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self.conditions.push_avatar_audio(samples, rate, channels)

    def push_user_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self.conditions.push_user_audio(samples, rate, channels)

    def push_user_motion(self, frames: np.ndarray) -> None:
        """User face motion at the stream's fps, (n, 58) un-normalised ARKit frames."""
        x = np.asarray(frames, np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"user motion must be (n, {self.dim}); got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("user motion contains NaN or infinite values")
        self.conditions.push_user_motion(
            self.model.card.stats.normalize(torch.from_numpy(ArkitSpace.clamp(x)))
        )

    def finish_audio(self) -> None:
        """End of both audio inputs: flush the front ends' look-ahead (zero padding)."""
        self.conditions.finish_audio()

    def fill_silence(self, frames: int) -> None:
        """Make every condition stream cover `frames` frames since reset (see ConditionBuffers)."""
        self.conditions.fill_silence(frames)

    # --- output -------------------------------------------------------------------------------
    def available_frames(self) -> int:
        """Condition frames buffered and not yet generated (complete in all three streams)."""
        return self.conditions.available_frames()

    def step(self, allow_partial: bool = False) -> np.ndarray | None:
        """Generate the next block when its conditions are in: (n, 58) clamped ARKit frames."""
        pending = self.prepare_step(allow_partial)
        if pending is None:
            return None
        return self.finish_step(pending, self.sampler.step(pending.cond, generator=pending.generator))

    def prepare_step(self, allow_partial: bool = False) -> PendingStep | None:
        """The generator inputs of the next block, when its conditions are in (taken from the
        buffers). Run the generator on them (`StreamingSampler.step`, or several streams at once
        with `models.generator.batched.step_batched`), then hand the motion to `finish_step`."""
        need = self.block_frames
        have = self.available_frames()
        if have < need and not (allow_partial and have > 0):
            return None
        return PendingStep(self, self.conditions.take(min(need, have)))

    def finish_step(
        self,
        pending: PendingStep,
        motion: torch.Tensor,  # (1, n, D) normalised motion from the generator
    ) -> np.ndarray:  # (n, 58) clamped ARKit frames
        """The generated block of `prepare_step` as ARKit frames."""
        if pending.stream is not self:
            raise ValueError("this pending step belongs to another stream")
        if tuple(motion.shape) != (1, pending.frames, self.dim):
            raise ValueError(f"motion must be {(1, pending.frames, self.dim)}; got {tuple(motion.shape)}")
        self.frames_out += pending.frames
        out = self.model.card.stats.denormalize(motion[0]).numpy()
        return ArkitSpace.clamp(out)

    def generate_available(self, allow_partial: bool = False) -> np.ndarray:
        """Every block whose conditions are complete, (n, 58)."""
        out = []
        while (block := self.step(allow_partial)) is not None:
            out.append(block)
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def take_frames(chunks: list[torch.Tensor], n: int) -> torch.Tensor:
    """Pop the first n frames from a list of (k, C) chunks -> (n, C) (the chunks list is consumed)."""
    got: list[torch.Tensor] = []
    while n > 0:
        head = chunks[0]
        if len(head) <= n:
            got.append(head)
            chunks.pop(0)
            n -= len(head)
        else:
            got.append(head[:n])
            chunks[0] = head[n:]
            n = 0
    return torch.cat(got)


@dataclass(frozen=True)
class Recording:
    """Whole recordings of one conversation side to animate offline (`animate_many`)."""

    avatar_audio: np.ndarray  # (n,) or (n, channels), any rate
    avatar_rate: float
    user_audio: np.ndarray | None = None  # None: silence
    user_rate: float | None = None  # None: avatar_rate
    user_motion: np.ndarray | None = None  # (T, 58) ARKit frames at the model's fps; None: neutral


class _Feeder:
    """Feeds one recording into its stream in chunks, exactly as a live session would."""

    def __init__(self, stream: AvatarStream, rec: Recording, chunk_seconds: float) -> None:
        self.stream = stream
        self.rec = rec
        self.a = np.asarray(rec.avatar_audio)
        self.u_rate = float(rec.avatar_rate if rec.user_rate is None else rec.user_rate)
        u_len = round(len(self.a) * self.u_rate / rec.avatar_rate)
        if rec.user_audio is None:
            u = np.zeros(u_len, np.float32)  # a missing user side is silence
        else:  # the user track is cut or padded with silence to the avatar's duration
            u = np.asarray(rec.user_audio)
            if len(u) >= u_len:
                u = u[:u_len]
            else:
                u = np.concatenate([u, np.zeros((u_len - len(u), *u.shape[1:]), u.dtype)])
        self.u = u
        self.step_a = max(1, int(chunk_seconds * rec.avatar_rate))
        self.step_u = max(1, int(chunk_seconds * self.u_rate))
        self.chunks = -(-len(self.a) // self.step_a)
        self.motion_fed = 0
        self.out: list[np.ndarray] = []

    def feed(self, i: int) -> None:
        """Chunk i of both audio tracks and the user motion they cover."""
        st, rec = self.stream, self.rec
        st.push_avatar_audio(self.a[i * self.step_a : (i + 1) * self.step_a], rec.avatar_rate)
        st.push_user_audio(self.u[i * self.step_u : (i + 1) * self.step_u], self.u_rate)
        if rec.user_motion is not None:
            target = min(len(rec.user_motion), st.avatar_audio.frames_emitted)
            st.push_user_motion(rec.user_motion[self.motion_fed : target])
            self.motion_fed = target

    def finish(self) -> int:
        """End of the recordings: flush the front ends, pad every stream; the total frame count."""
        st, rec = self.stream, self.rec
        st.finish_audio()
        total = st.avatar_audio.frames_emitted
        if rec.user_motion is not None and self.motion_fed < len(rec.user_motion):
            st.push_user_motion(rec.user_motion[self.motion_fed : total])
        st.fill_silence(total)
        return total


def step_streams(
    streams: list[AvatarStream], allow_partial: bool = False, max_batch: int | None = None
) -> list[np.ndarray]:
    """Every block whose conditions are in, for each stream, with the due blocks of compatible
    streams run as one batched generator pass (`models.generator.batched`); per stream (n_i, 58).
    Seeded streams draw their own noise, so the result equals stepping each alone (up to float
    rounding of the larger matrix products)."""
    out: list[list[np.ndarray]] = [[] for _ in streams]
    while True:
        pending = [
            (i, p) for i, st in enumerate(streams) if (p := st.prepare_step(allow_partial)) is not None
        ]
        if not pending:
            break
        samplers = [p.sampler for _, p in pending]
        for group in compatible_groups(samplers, [p.frames for _, p in pending], max_batch):
            steps = [pending[j][1] for j in group]
            motions = step_batched(
                [p.sampler for p in steps], [p.cond for p in steps], generators=[p.generator for p in steps]
            )
            for j, p, m in zip(group, steps, motions, strict=True):
                out[pending[j][0]].append(p.stream.finish_step(p, m))
    return [
        np.concatenate(o) if o else np.zeros((0, st.dim), np.float32)
        for o, st in zip(out, streams, strict=True)
    ]


def animate_many(
    model: AvatarForcingModel,
    recordings: list[Recording],
    sampler_config: SamplerConfig | None = None,
    seeds: list[int] | int = 0,
    chunk_seconds: float = 0.5,
    max_batch: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Animate several recordings side by side, each through its own live stream (seeded with
    `seeds[i]`, or `seeds` for all), their blocks batched into one generator pass at a time
    (at most `max_batch` streams): the same motion as `animate` on each, several times faster
    on a CPU. `on_chunk(done, total)` is called after each round of chunks (progress). Returns
    one (T_i, 58) array per recording."""
    seed_list = [seeds] * len(recordings) if isinstance(seeds, int) else list(seeds)
    if len(seed_list) != len(recordings):
        raise ValueError(f"{len(recordings)} recordings but {len(seed_list)} seeds")
    feeders = [
        _Feeder(AvatarStream(model, sampler_config, seed=seed), rec, chunk_seconds)
        for rec, seed in zip(recordings, seed_list, strict=True)
    ]
    streams = [f.stream for f in feeders]
    rounds = max((f.chunks for f in feeders), default=0)
    for i in range(rounds):
        live = [f for f in feeders if i < f.chunks]
        for f in live:
            f.feed(i)
        for f, block in zip(live, step_streams([f.stream for f in live], max_batch=max_batch), strict=True):
            f.out.append(block)
        if on_chunk is not None:
            on_chunk(i + 1, rounds)
    totals = [f.finish() for f in feeders]
    for f, block in zip(feeders, step_streams(streams, allow_partial=True, max_batch=max_batch), strict=True):
        f.out.append(block)
    return [np.concatenate(f.out)[:total] for f, total in zip(feeders, totals, strict=True)]


def animate(
    model: AvatarForcingModel,
    avatar_audio: np.ndarray,
    avatar_rate: float,
    user_audio: np.ndarray | None = None,
    user_rate: float | None = None,
    user_motion: np.ndarray | None = None,
    sampler_config: SamplerConfig | None = None,
    seed: int = 0,
    chunk_seconds: float = 0.5,
) -> np.ndarray:
    """Animate whole recordings through the live streaming path. Returns (T, 58) at the model's
    fps with T = ceil(avatar samples at 16 kHz / 640). A missing user side is silence and a
    neutral face; all inputs are fed in chunks, exactly as a live session would."""
    rec = Recording(avatar_audio, avatar_rate, user_audio, user_rate, user_motion)
    return animate_many(model, [rec], sampler_config, seed, chunk_seconds)[0]
