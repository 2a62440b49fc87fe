"""A complete, self-describing model: audio encoder + motion generator + motion space.

A checkpoint file (torch.save of a plain dict, loadable with weights_only=True) holds:
  format            "avatar-forcing/1"
  card              ModelCard.to_dict(): motion space, fps, generator / sampler / front-end /
                    encoder configs, normalisation statistics, rest pose, training provenance
  state_dict        the AvatarForcingModel weights
Anything that reads a checkpoint learns from it how to feed and decode the model.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.audio.encoder import AudioEncoder, AudioEncoderConfig
from models.audio.features import FrontEndConfig
from models.generator.conditions import Conditions
from models.generator.config import ConfigError, GeneratorConfig, SamplerConfig, strict_from_dict
from models.generator.transformer import MotionGenerator
from models.motion.arkit import speech_channel_indices
from models.motion.stats import MotionStats

log = logging.getLogger(__name__)

FORMAT = "avatar-forcing/1"
MOTION_SPACES: tuple[str, ...] = ("arkit",)
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.pt"


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint says about itself."""

    motion_space: str
    generator: GeneratorConfig
    sampler: SamplerConfig
    front_end: FrontEndConfig
    encoder: AudioEncoderConfig
    stats: MotionStats
    rest_pose: tuple[float, ...] | None = None  # un-normalised frame; None = the stats' mean
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.motion_space not in MOTION_SPACES:
            raise ConfigError(f"unknown motion space {self.motion_space!r}; valid: {list(MOTION_SPACES)}")
        if self.stats.dim != self.generator.dim_motion:
            raise ConfigError(
                f"stats have {self.stats.dim} channels, generator.dim_motion is {self.generator.dim_motion}"
            )
        if self.encoder.dim_cond != self.generator.dim_cond:
            raise ConfigError("encoder.dim_cond must equal generator.dim_cond")
        if self.encoder.dim_in != self.front_end.feature_dim:
            raise ConfigError("encoder.dim_in must equal the front end's feature_dim")
        if self.front_end.fps != self.generator.fps:
            raise ConfigError("front end and generator disagree on fps")

    @property
    def fps(self) -> int:
        return self.generator.fps

    def to_dict(self) -> dict[str, Any]:
        return {
            "motion_space": self.motion_space,
            "fps": self.fps,
            "block_frames": self.sampler.block_frames or self.generator.block_frames,
            "generator": self.generator.to_dict(),
            "sampler": self.sampler.to_dict(),
            "front_end": self.front_end.to_dict(),
            "encoder": self.encoder.to_dict(),
            "stats": self.stats.to_dict(),
            "rest_pose": None if self.rest_pose is None else list(self.rest_pose),
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        d = dict(d)
        d.pop("fps", None)  # derived, written for readers
        d.pop("block_frames", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model card key(s) {unknown}; valid: {sorted(known)}")
        rest = d.get("rest_pose")
        return strict_from_dict(
            cls,
            {
                **d,
                "generator": GeneratorConfig.from_dict(d["generator"]),
                "sampler": SamplerConfig.from_dict(d["sampler"]),
                "front_end": FrontEndConfig.from_dict(d["front_end"]),
                "encoder": AudioEncoderConfig.from_dict(d["encoder"]),
                "stats": MotionStats.from_dict(d["stats"]),
                "rest_pose": None if rest is None else tuple(float(x) for x in rest),
            },
            "model card",
        )

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


class AvatarForcingModel(nn.Module):
    """Audio encoder (shared by avatar and user audio) + motion generator, in normalised space."""

    def __init__(self, card: ModelCard) -> None:
        super().__init__()
        self.card = card
        self.audio_encoder = AudioEncoder(card.encoder)
        self.generator = MotionGenerator(card.generator)
        if card.motion_space == "arkit":
            self.generator.speech_channels = tuple(speech_channel_indices())

    def rest_reference(self, batch: int = 1) -> torch.Tensor:
        """The normalised reference motion (B, D) of the default avatar."""
        p = next(self.parameters())
        if self.card.rest_pose is None:
            return torch.zeros(batch, self.card.generator.dim_motion, device=p.device, dtype=p.dtype)
        rest = torch.tensor(self.card.rest_pose, device=p.device, dtype=p.dtype)
        return self.card.stats.normalize(rest).expand(batch, -1).clone()

    def conditions(
        self,
        avatar_feats: torch.Tensor,  # (B, T, F) front-end features of the avatar's audio
        user_feats: torch.Tensor,  # (B, T, F) of the user's audio
        user_motion: torch.Tensor,  # (B, T - burn_in, D) normalised user motion
        burn_in: int = 0,
    ) -> Conditions:
        """Encode both audio streams with the shared encoder (fresh state) into Conditions; the
        first `burn_in` audio frames only warm the encoder up and are dropped."""
        b = avatar_feats.shape[0]
        both, _ = self.audio_encoder(torch.cat([avatar_feats, user_feats], dim=0))
        both = both[:, burn_in:]
        return Conditions(both[:b], both[b:], user_motion)

    # --- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path, half: bool = False, **training: Any) -> None:
        """Write a self-describing checkpoint; `half` stores weights as float16 (half the size;
        they load back into float32)."""
        card = self.card.replace(training={**self.card.training, **training}) if training else self.card
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        torch.save({"format": FORMAT, "card": card.to_dict(), "state_dict": state}, tmp)
        tmp.replace(path)

    @classmethod
    def load(
        cls, path: str | Path | None = None, map_location: str | torch.device = "cpu"
    ) -> AvatarForcingModel:
        """Load a checkpoint (the bundled default model when path is None)."""
        path = Path(path) if path is not None else DEFAULT_MODEL_PATH
        if not path.exists():
            raise FileNotFoundError(f"model checkpoint not found: {path}")
        data = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not an avatar-forcing checkpoint (format {FORMAT!r})")
        model = cls(ModelCard.from_dict(data["card"]))
        model.load_state_dict(data["state_dict"])
        return model.eval()


def default_card(stats: MotionStats | None = None, **generator_changes: Any) -> ModelCard:
    """The card of the bundled default (small preset, ARKit space, realtime schedule)."""
    from models.generator.config import get_preset
    from models.motion.arkit import ARKIT_DIM

    preset = get_preset("small")
    gen = preset.generator.replace(**generator_changes) if generator_changes else preset.generator
    front = FrontEndConfig()
    return ModelCard(
        motion_space="arkit",
        generator=gen,
        sampler=preset.sampler,
        front_end=front,
        encoder=AudioEncoderConfig(dim_in=front.feature_dim, dim_cond=gen.dim_cond),
        stats=stats or MotionStats.identity(ARKIT_DIM),
    )


def as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().float().numpy()
