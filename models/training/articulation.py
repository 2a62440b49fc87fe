"""Train a model's articulation head (models/generator/articulation.py) on a corpus.

The head reads the avatar-audio condition tokens of the model's own (frozen) audio encoder and
learns the articulation class of each frame from the corpus's phone timings; each class's pose
is the mean of the corpus's normalised motion on that class's frames. Generator and encoder are
left as they are: a model gains (or replaces) its head in minutes on a CPU. Both sides of every
conversation are used (the head learns speakers, not roles).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from models.audio.features import compute
from models.bundle import AvatarForcingModel
from models.corpus.conversation import Conversation, Track
from models.corpus.phones import VISEMES, PhoneSegment, frame_visemes
from models.corpus.utterance import UTTERANCE_KINDS
from models.generator.articulation import ArticulationHead, fit_class_poses, variance_matched_poses

from .data import _fit_frames

log = logging.getLogger(__name__)

# The 15 visemes, then frames of the speaker's vocal events that no phone covers (laughter,
# breaths, a hum): "sil" is silence proper.
ARTICULATION_CLASSES: tuple[str, ...] = (*VISEMES, "nonverbal")


def articulation_labels(
    phones: Sequence[PhoneSegment],
    vocal_spans: Sequence[tuple[float, float]],  # (start, end) s of the speaker's vocal events
    frames: int,
    fps: float,
) -> np.ndarray:  # (T,) int64 index into ARTICULATION_CLASSES
    """Each frame's articulation class: the viseme of the phone under its centre; "nonverbal"
    where no phone is but a vocal event is; "sil" elsewhere."""
    labels = frame_visemes(phones, frames, fps).astype(np.int64)
    centres = (np.arange(frames) + 0.5) / fps
    vocal = np.zeros(frames, bool)
    for s, e in vocal_spans:
        vocal |= (centres >= s) & (centres < e)
    labels[(labels == VISEMES.index("sil")) & vocal] = ARTICULATION_CLASSES.index("nonverbal")
    return labels


@dataclass(frozen=True)
class ArticulationConfig:
    """How the head is trained (recorded in the checkpoint's card)."""

    steps: int = 4000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    hidden: int = 256
    weight: float = 0.75  # the card's SamplerConfig.articulation
    validation: float = 0.1  # share of the conversations held out to report accuracy
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.hidden < 1:
            raise ValueError("steps, batch_size and hidden must be positive")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1] (got {self.weight})")
        if not 0.0 <= self.validation < 1.0:
            raise ValueError(f"validation must be in [0, 1) (got {self.validation})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Frames:
    """Frames of many tracks: condition tokens, articulation labels and normalised motion."""

    tokens: torch.Tensor  # (N, dim_cond)
    labels: torch.Tensor  # (N,) int64
    motion: torch.Tensor  # (N, D) normalised

    @classmethod
    def cat(cls, parts: Sequence[Frames]) -> Frames:
        return cls(*(torch.cat([getattr(p, f) for p in parts]) for f in ("tokens", "labels", "motion")))


@torch.no_grad()
def side_frames(model: AvatarForcingModel, side: Track, fps: float) -> Frames:
    """One speaker's track: its audio through the model's front end and encoder (as a stream
    would see it), its phone labels and its normalised motion."""
    frames = side.motion.shape[0]
    feats = _fit_frames(compute(side.audio, model.card.front_end), frames)  # (T, F)
    p = next(model.parameters())
    tokens, _ = model.audio_encoder(torch.tensor(feats, device=p.device, dtype=p.dtype)[None])  # (1, T, C)
    spans = [(e.start, e.end) for e in side.events if e.kind in UTTERANCE_KINDS]
    labels = articulation_labels(side.phones, spans, frames, fps)
    motion = model.card.stats.normalize(torch.tensor(side.motion, dtype=torch.float32))  # (T, D)
    return Frames(tokens[0].float().cpu(), torch.from_numpy(labels), motion)


def collect(model: AvatarForcingModel, files: Sequence[Path], progress: bool = False) -> Frames:
    """Both sides of every conversation file, concatenated."""
    parts = []
    for f in tqdm(files, desc="tokens", unit="conv", disable=not progress):
        conv = Conversation.load(f)
        if not conv.avatar.phones and not conv.user.phones:
            raise ValueError(f"{f}: the conversation has no phone timings to learn articulation from")
        parts += [side_frames(model, conv.avatar, conv.fps), side_frames(model, conv.user, conv.fps)]
    return Frames.cat(parts)


def accuracy(head: ArticulationHead, data: Frames) -> float:
    with torch.no_grad():
        return float((head(data.tokens).argmax(-1) == data.labels).float().mean())


HEAD_PREFIX = "generator.articulation."


def _with_card(model: AvatarForcingModel, card: Any) -> AvatarForcingModel:
    """A new model of `card` holding every weight of `model` but its articulation head's (a head
    the card asks for starts untrained)."""
    out = AvatarForcingModel(card)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(HEAD_PREFIX)}
    missing, unexpected = out.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(HEAD_PREFIX) for k in missing):
        raise RuntimeError(f"weights do not carry over: missing {missing}, unexpected {unexpected}")
    return out


def train_head(
    model: AvatarForcingModel, files: Sequence[Path], config: ArticulationConfig, progress: bool = False
) -> tuple[AvatarForcingModel, dict[str, Any]]:
    """A copy of `model` with a newly trained articulation head, and what the training measured.

    The card gains the head (`articulation_classes`, `articulation_hidden`), the sampler's
    `articulation` weight and a training record; every other weight is `model`'s."""
    if model.card.motion_space != "arkit":
        raise ValueError(
            f"articulation heads are for the arkit motion space (got {model.card.motion_space!r})"
        )
    files = list(files)
    n_val = round(len(files) * config.validation) if len(files) > 1 else 0
    train_files, val_files = files[: len(files) - n_val], files[len(files) - n_val :]
    torch.manual_seed(config.seed)
    data = collect(model, train_files, progress)
    val = collect(model, val_files) if val_files else None
    classes = len(ARTICULATION_CLASSES)
    card = model.card.replace(
        generator=model.card.generator.replace(
            articulation_classes=classes, articulation_hidden=config.hidden
        ),
        sampler=dataclasses.replace(model.card.sampler, articulation=config.weight),
    )
    out = _with_card(model, card)
    head = out.generator.articulation
    assert head is not None
    head.poses.copy_(fit_class_poses(data.motion, data.labels, classes))

    # Plain cross-entropy over all frames: each class weighs by its share of them.
    opt = torch.optim.AdamW(head.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    head.train()
    losses = []
    bar = tqdm(range(config.steps), desc="articulation", unit="step", disable=not progress)
    for _ in bar:
        idx = torch.randint(len(data.labels), (config.batch_size,), generator=gen)
        loss = torch.nn.functional.cross_entropy(head(data.tokens[idx]), data.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if len(losses) % 200 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-200:]):.3f}")
    head.eval()
    out.eval()
    # The targets' spread matched to the mouths' on the frames with sound (silence is closed
    # either way), within the range each channel takes in the corpus.
    voiced = data.labels != ARTICULATION_CLASSES.index("sil")
    with torch.no_grad():
        targets = head.target(data.tokens[voiced])  # (N, D)
    stats = model.card.stats
    raw = stats.denormalize(data.motion)
    low, high = stats.normalize(raw.min(0).values), stats.normalize(raw.max(0).values)
    head.poses.copy_(variance_matched_poses(head.poses, targets, data.motion[voiced], low, high))
    record = {
        "config": config.to_dict(),
        "classes": list(ARTICULATION_CLASSES),
        "conversations": len(train_files),
        "validation_conversations": len(val_files),
        "frames": len(data.labels),
        "final_loss": float(np.mean(losses[-200:])),
        "train_accuracy": accuracy(head, data),
        "validation_accuracy": accuracy(head, val) if val is not None else None,
    }
    log.info("articulation head: %s", record)
    return out, record


def without_head(model: AvatarForcingModel) -> AvatarForcingModel:
    """`model` without its articulation head (and the sampler's `articulation` at 0); `model`
    itself when it has none. Training the audio encoder makes a head stale: it read the old
    encoder's tokens."""
    if model.generator.articulation is None:
        return model
    card = model.card.replace(
        generator=model.card.generator.replace(articulation_classes=0),
        sampler=dataclasses.replace(model.card.sampler, articulation=0.0),
    )
    return _with_card(model, card).train(model.training)


__all__ = [
    "ARTICULATION_CLASSES",
    "ArticulationConfig",
    "Frames",
    "articulation_labels",
    "collect",
    "side_frames",
    "train_head",
    "without_head",
]
