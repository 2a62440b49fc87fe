"""Typed configuration of the motion generator, defined once, with presets.

`GeneratorConfig` is the architecture and training-time geometry (it travels inside every
checkpoint); `SamplerConfig` is how a stream is sampled (schedule, steps, guidance) and can change
per session without touching the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

ScheduleName = Literal["official", "realtime"]
SCHEDULES: tuple[str, ...] = ("official", "realtime")

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration was given a key or value it does not accept."""


def strict_from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys (the error lists valid ones)."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {what} key(s) {unknown}; valid keys: {names}")
    return cls(**data)


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of the causal DFoT motion generator and its Dual Motion Encoder."""

    dim_motion: int = 512  # width of a motion frame (latent or ARKit vector)
    dim_cond: int = 512  # width of audio features and of the Dual Motion Encoder
    hidden: int = 1024
    depth: int = 8
    heads: int = 8
    cond_heads: int = 4
    mlp_ratio: float = 4.0
    fps: int = 25
    window_frames: int = 50  # attention span in frames (2 s at 25 fps)
    block_frames: int = 10  # frames that share one timestep in training
    context_frames: int = 2  # clean frames re-fed before each streamed block
    lookahead_frames: int = 2  # frame q may attend to keys up to q + lookahead
    cond_window: int = 2  # frame q sees condition frames within +-cond_window
    num_train_timesteps: int = 1000
    rope_theta: float = 10000.0
    time_freq_dim: int = 256
    cond_dropout: float = 0.1  # per condition stream, per sample, in training
    # Not in the paper: a direct path from the user tokens to the condition tokens (zero-initialised),
    # so user motion does not have to pass through the avatar-audio attention alone.
    user_skip: bool = False
    ref_dropout: float = 0.1
    # Not in the paper: how many past frames of raw conditions the Dual Motion Encoder sees when
    # it encodes a streamed block (None: context_frames, as released). The release encodes each
    # block with its 2 context frames only, so a token knows the user's motion of the last
    # ~6 frames (240 ms): an answer that comes 0.15-0.75 s after the user's smile starts cannot
    # be timed from it. Training encodes its windows the same way (encode_conditions_blockwise).
    cond_context_frames: int | None = None
    # Not in the paper: RoPE (theta rope_theta) on the Dual Motion Encoder's two attentions, so
    # condition tokens know where in their window the user's motion happened. No weights added.
    cond_rope: bool = False
    # Not in the paper: training windows stop each frame's look-ahead (self-attention and the
    # condition window) at the end of its block, as a realtime stream sees it (masks.within_block_limit).
    # The release trains with look-ahead across blocks that streaming never has. No weights added.
    streaming_masks: bool = False
    # Not in the paper: a learned bias per cross-attention head and relative offset (k - q in
    # -cond_window..cond_window), zero-initialised. The release's cross-attention has no positions,
    # so a frame cannot tell its own condition frame from its neighbours' (a +-cond_window blur of
    # the audio: short lip closures come out shallow). Adds (heads, 2 cond_window + 1) per layer.
    cross_position_bias: bool = False
    # Not in the paper: an articulation head (models/generator/articulation.py) with this many
    # classes (0: none), a per-frame MLP (articulation_hidden wide) from the avatar-audio token to
    # a class posterior and a target mouth pose; samplers blend it into the speech channels
    # (SamplerConfig.articulation). Trained after the generator (`avatar-forcing articulation`).
    articulation_classes: int = 0
    articulation_hidden: int = 256

    def __post_init__(self) -> None:
        checks = {
            "hidden must be divisible by heads": self.hidden % self.heads == 0,
            "head width (hidden / heads) must be even for RoPE": (self.hidden // self.heads) % 2 == 0,
            "dim_cond must be divisible by cond_heads": self.dim_cond % self.cond_heads == 0,
            "cond head width (dim_cond / cond_heads) must be even for cond_rope": not self.cond_rope
            or (self.dim_cond // self.cond_heads) % 2 == 0,
            "window_frames must exceed block_frames + context_frames": self.window_frames
            > self.block_frames + self.context_frames,
            "block_frames must be positive": self.block_frames > 0,
            "context_frames, lookahead_frames and cond_window must be >= 0": min(
                self.context_frames, self.lookahead_frames, self.cond_window
            )
            >= 0,
            "time_freq_dim must be even": self.time_freq_dim % 2 == 0,
            "cond_context_frames must be >= context_frames": self.cond_context_frames is None
            or self.cond_context_frames >= self.context_frames,
            "articulation_classes must be 0 (no head) or >= 2": self.articulation_classes == 0
            or self.articulation_classes >= 2,
            "articulation_hidden must be positive": self.articulation_hidden > 0,
        }
        bad = [msg for msg, ok in checks.items() if not ok]
        if bad:
            raise ConfigError("invalid GeneratorConfig: " + "; ".join(bad))

    @property
    def condition_context(self) -> int:
        """Past condition frames the Dual Motion Encoder sees with each streamed block."""
        return self.context_frames if self.cond_context_frames is None else self.cond_context_frames

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        return strict_from_dict(cls, data, "generator config")

    def replace(self, **changes: Any) -> GeneratorConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown generator config key(s) {unknown}")
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SamplerConfig:
    """How a stream is sampled from a trained generator."""

    schedule: str = "realtime"  # "official" (2-s first window) or "realtime"
    nfe: int = 10  # as in the official release: linspace(1000, 0, nfe - 1) timesteps
    a_cfg_scale: float = 2.0  # avatar-audio guidance
    # Avatar-audio guidance on the speech channels (jaw, lips; the generator's `speech_channels`);
    # None = a_cfg_scale. Stronger audio guidance sharpens the lips, but on the whole face it
    # also damps the head and the expressions.
    a_cfg_speech: float | None = None
    u_cfg_scale: float = 1.0  # user (audio + motion) guidance
    # User guidance on the channels the avatar's own speech drives (jaw, lips; the generator's
    # `speech_channels`, set from the motion space); None = u_cfg_scale. A strong u_cfg answers
    # the user's smiles sooner, but on these channels it would move a silent avatar's lips.
    u_cfg_speech: float | None = None
    guidance: bool = True  # False: one branch with every condition, no CFG (3x cheaper)
    block_frames: int | None = None  # realtime block size; None = the model's block_frames
    # Past frames are seen at this noise level (0 = clean, as released). A small level (50-150)
    # makes long streams robust to the model's own errors: diffusion forcing trained the model
    # on noisy histories, so it leans less on exact past details (exposure bias, drift).
    context_timestep: float = 0.0
    # A stream's first block continues a short silent history at the avatar's rest pose with a
    # neutral mouth (models.stream.AvatarStream) instead of starting from nothing, where it draws
    # whatever a training window may open with (a smile that fades over the first seconds).
    start_at_rest: bool = False
    # Condition frames AFTER its own that a frame may cross-attend to (None: the model's
    # cond_window, as trained). Each frame's audio features already carry the front end's
    # look-ahead; 0 makes a frame read its own and earlier frames only, like a block's last
    # frame always does when streamed. No latency either way: a block's audio is all there.
    cond_lookahead: int | None = None
    # Share (0..1) of the speech channels (jaw, lips, tongue, cheek puff) that follows the
    # generator's articulation head, the mouth pose each frame's own audio calls for; the rest of
    # the face is the generator's alone. 0: the generator's mouth as sampled. Needs a model with
    # an articulation head (GeneratorConfig.articulation_classes) and named speech channels.
    articulation: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; valid: {list(SCHEDULES)}")
        if self.nfe < 3:
            raise ConfigError(f"nfe must be >= 3 (got {self.nfe})")
        if self.block_frames is not None and self.block_frames < 1:
            raise ConfigError(f"block_frames must be >= 1 (got {self.block_frames})")
        if self.cond_lookahead is not None and self.cond_lookahead < 0:
            raise ConfigError(f"cond_lookahead must be >= 0 or None (got {self.cond_lookahead})")
        if not 0.0 <= self.articulation <= 1.0:
            raise ConfigError(f"articulation must be in [0, 1] (got {self.articulation})")
        if not 0.0 <= self.context_timestep < 1000.0:
            raise ConfigError(f"context_timestep must be in [0, 1000) (got {self.context_timestep})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplerConfig:
        return strict_from_dict(cls, data, "sampler config")


@dataclass(frozen=True)
class Preset:
    generator: GeneratorConfig
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    description: str = ""


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        GeneratorConfig(),
        SamplerConfig(schedule="official"),
        "the paper's model: hidden 1024, depth 8, 8 heads, 512-d motion latent and audio",
    ),
    "small": Preset(
        GeneratorConfig(
            dim_motion=58,  # ARKit 52 blendshapes + head rotation (3) + head translation (3)
            dim_cond=128,
            hidden=256,
            depth=4,
            heads=4,
            cond_heads=4,
            block_frames=4,  # 160-ms blocks: low latency when streamed
        ),
        SamplerConfig(schedule="realtime"),
        "the CPU default: ARKit motion space, real time on two CPU cores",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {sorted(PRESETS)}") from None
