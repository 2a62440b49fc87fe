"""Training data from a conversation corpus: front-end features, motion, random windows.

Every conversation gives two examples, one per direction (each person is once the avatar and once
the user). Audio features are computed with the same causal front end the live stream uses
(`models.audio.features.compute`), so training and serving see identical features.
"""

from __future__ import annotations

import io
import json
import logging
import lzma
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.audio.features import FrontEndConfig, compute
from models.corpus.conversation import Conversation
from models.corpus.phones import frame_visemes
from models.motion.stats import MotionStats

log = logging.getLogger(__name__)


@dataclass
class Example:
    """One direction of one conversation, all on the 25-fps clock."""

    name: str
    avatar_feats: np.ndarray  # (T, F)
    user_feats: np.ndarray  # (T, F)
    avatar_motion: np.ndarray  # (T, D) un-normalised
    user_motion: np.ndarray  # (T, D) un-normalised
    rest: np.ndarray  # (D,) the avatar's rest frame (median of its motion)
    # (T,) uint8 viseme index (models.corpus.phones.VISEMES) of each person's phone under each
    # frame; None for feature packs made before they carried phones (format /1)
    avatar_visemes: np.ndarray | None = None
    user_visemes: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return int(self.avatar_motion.shape[0])


@dataclass
class Batch:
    avatar_feats: torch.Tensor  # (B, burn_in + W, F)
    user_feats: torch.Tensor  # (B, burn_in + W, F)
    avatar_motion: torch.Tensor  # (B, W, D) normalised
    user_motion: torch.Tensor  # (B, W, D) normalised
    ref: torch.Tensor  # (B, D) normalised rest frame
    burn_in: int
    avatar_visemes: torch.Tensor | None = None  # (B, W) int64 viseme labels, None without phones
    user_visemes: torch.Tensor | None = None  # (B, W)

    def to(self, device: torch.device | str) -> Batch:
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.to(device)

        return Batch(
            self.avatar_feats.to(device),
            self.user_feats.to(device),
            self.avatar_motion.to(device),
            self.user_motion.to(device),
            self.ref.to(device),
            self.burn_in,
            move(self.avatar_visemes),
            move(self.user_visemes),
        )


def corpus_files(corpus: str | Path) -> list[Path]:
    """The conversation files of a corpus folder (sorted), or the one file given."""
    path = Path(corpus)
    if path.is_file():
        return [path]  # one conversation, or a feature pack
    files = sorted(path.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no conversations (*.npz) in {path}")
    return files


def _fit_frames(x: np.ndarray, frames: int) -> np.ndarray:
    """Cut or edge-pad (T', C) to exactly `frames` rows."""
    if len(x) >= frames:
        return x[:frames]
    return np.concatenate([x, np.repeat(x[-1:], frames - len(x), axis=0)])


def _both_directions(
    name: str,
    feats: dict[str, np.ndarray],
    motion: dict[str, np.ndarray],
    visemes: dict[str, np.ndarray] | None = None,
) -> list[Example]:
    """The two examples of one conversation: each person once the avatar, once the user."""
    out = []
    for avatar, user in (("avatar", "user"), ("user", "avatar")):
        out.append(
            Example(
                name=f"{name}:{avatar}",
                avatar_feats=feats[avatar],
                user_feats=feats[user],
                avatar_motion=motion[avatar].astype(np.float32),
                user_motion=motion[user].astype(np.float32),
                rest=np.median(motion[avatar], axis=0).astype(np.float32),
                avatar_visemes=None if visemes is None else visemes[avatar],
                user_visemes=None if visemes is None else visemes[user],
            )
        )
    return out


def _conversation_features(f: Path, front_end: FrontEndConfig) -> tuple[dict, dict, dict]:
    """Per person ("avatar", "user"): features (T, F), motion (T, D) and viseme labels (T,)."""
    conv = Conversation.load(f)
    feats, motion, visemes = {}, {}, {}
    for who, track in conv.tracks.items():
        t = track.motion.shape[0]
        feats[who] = _fit_frames(compute(track.audio, front_end), t)  # (T, F)
        motion[who] = track.motion
        visemes[who] = frame_visemes(track.phones, t, conv.fps)  # (T,)
    return feats, motion, visemes


def corpora_files(corpora: Sequence[str | Path]) -> list[Path]:
    """The files of several corpora (folders, packs or single conversations), in the given order;
    a file named twice (the same corpus given twice) is an error, not double weight."""
    files = [f for c in corpora for f in corpus_files(c)]
    seen: set[Path] = set()
    for f in files:
        key = f.resolve()
        if key in seen:
            raise ValueError(f"{f} is in more than one of the corpora given ({', '.join(map(str, corpora))})")
        seen.add(key)
    return files


def load_examples(files: Sequence[Path], front_end: FrontEndConfig, progress: bool = False) -> list[Example]:
    """Examples of conversation files (.npz) and feature packs (PACK_SUFFIX, made by `save_pack`
    with the same front end), in any mix."""
    examples: list[Example] = []
    for f in tqdm(files, desc="features", unit="conv", disable=not progress or len(files) == 1):
        if str(f).endswith(PACK_SUFFIX):
            examples.extend(load_pack(f, front_end))
            continue
        feats, motion, visemes = _conversation_features(Path(f), front_end)
        examples.extend(_both_directions(Path(f).stem, feats, motion, visemes))
    return examples


# --- feature packs: a corpus's training inputs in one small file ------------------------------
# Front-end features quantised to int8 (step 1/FEATURE_SCALE, far below their spread of about 1),
# motion as float16, the whole xz-compressed: about 0.37 MB per minute of conversation against
# 7.7 MB of audio. Training reads a pack exactly like the corpus it was made from. Format /2 adds
# each person's viseme labels (uint8 per frame); /1 packs still load, without them.
PACK_SUFFIX = ".pack.xz"
PACK_FORMAT = "avatar-forcing-pack/2"
PACK_FORMATS = ("avatar-forcing-pack/1", PACK_FORMAT)
FEATURE_SCALE = 32.0


def save_pack(
    files: Sequence[Path], front_end: FrontEndConfig, path: str | Path, progress: bool = False
) -> Path:
    path = Path(path)
    if not str(path).endswith(PACK_SUFFIX):
        raise ValueError(f"a feature pack's name must end with {PACK_SUFFIX!r}; got {path.name!r}")
    arrays: dict[str, np.ndarray] = {}
    names = []
    for i, f in enumerate(tqdm(files, desc="pack", unit="conv", disable=not progress)):
        feats, motion, visemes = _conversation_features(f, front_end)
        names.append(f.stem)
        for who in ("avatar", "user"):
            q = np.clip(np.round(feats[who] * FEATURE_SCALE), -127, 127).astype(np.int8)
            arrays[f"{i}/{who}/feats"] = q  # (T, F)
            arrays[f"{i}/{who}/motion"] = motion[who].astype(np.float16)  # (T, D)
            arrays[f"{i}/{who}/visemes"] = visemes[who]  # (T,) uint8
    meta = {"format": PACK_FORMAT, "front_end": front_end.to_dict(), "names": names}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with lzma.open(tmp, "wb", preset=6) as out:
        out.write(buf.getvalue())
    tmp.replace(path)
    return path


def load_pack(path: str | Path, front_end: FrontEndConfig) -> list[Example]:
    with lzma.open(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()))
    meta = json.loads(bytes(data["meta"]).decode())
    if meta.get("format") not in PACK_FORMATS:
        raise ValueError(f"{path} is not a feature pack (formats {list(PACK_FORMATS)})")
    if meta["front_end"] != front_end.to_dict():
        raise ValueError(
            f"{path} was made with another audio front end ({meta['front_end']}); "
            f"the model wants {front_end.to_dict()}: pack the corpus again"
        )
    examples: list[Example] = []
    for i, name in enumerate(meta["names"]):
        feats = {w: data[f"{i}/{w}/feats"].astype(np.float32) / FEATURE_SCALE for w in ("avatar", "user")}
        motion = {w: data[f"{i}/{w}/motion"].astype(np.float32) for w in ("avatar", "user")}
        labelled = f"{i}/avatar/visemes" in data  # format /2
        visemes = {w: data[f"{i}/{w}/visemes"] for w in ("avatar", "user")} if labelled else None
        examples.extend(_both_directions(name, feats, motion, visemes))
    return examples


def fit_stats(examples: Sequence[Example]) -> MotionStats:
    return MotionStats.fit(np.concatenate([e.avatar_motion for e in examples]))


def rise_frames(signal: np.ndarray, threshold: float) -> np.ndarray:
    """Frames k where `signal` (T,) rises through `threshold` (signal[k-1] < t <= signal[k])."""
    x = np.asarray(signal)
    return np.nonzero((x[1:] >= threshold) & (x[:-1] < threshold))[0] + 1


@dataclass(frozen=True)
class Focus:
    """Where some windows are placed on purpose: `frames[i]` are frames of interest of example i
    (e.g. onsets of the user's smile); a window that takes one starts `lead` = (lo, hi) frames
    before it (drawn uniformly, hi exclusive), so what follows the event falls inside."""

    frames: list[np.ndarray]
    share: float  # fraction of the windows placed on a focus frame
    lead: tuple[int, int] = (4, 20)


def smile_onset_focus(examples: Sequence[Example], share: float, threshold: float = 0.15) -> Focus:
    """A `Focus` on the onsets of the user's smile (ARKit motion: the mean of the two smile
    shapes rising through `threshold`), so that a `share` of the windows holds the 0.2-0.8 s in
    which the avatar may answer it. Such answers are a few frames in a few uniform windows."""
    from models.motion.arkit import ARKIT_DIM, INDEX

    idx = [INDEX["MouthSmileLeft"], INDEX["MouthSmileRight"]]
    frames = []
    for e in examples:
        if e.user_motion.shape[1] != ARKIT_DIM:
            raise ValueError("a focus on the user's smile needs the arkit motion space")
        frames.append(rise_frames(e.user_motion[:, idx].mean(axis=1), threshold))
    return Focus(frames, share)


class WindowSampler:
    """Random training windows (with encoder burn-in audio before each) from a list of examples.

    With a `Focus`, a share of the windows is placed around chosen frames (rare events that a
    uniformly drawn window seldom holds); the rest are drawn uniformly."""

    def __init__(
        self,
        examples: Sequence[Example],
        stats: MotionStats,
        window: int,
        burn_in: int,
        focus: Focus | None = None,
    ) -> None:
        keep = [i for i, e in enumerate(examples) if e.frames >= window]
        if not keep:
            raise ValueError(f"no example has the {window} frames a training window needs")
        self.examples = [examples[i] for i in keep]
        self.stats = stats
        self.window = window
        self.burn_in = burn_in
        weights = np.array([e.frames - window + 1 for e in self.examples], np.float64)
        self.weights = weights / weights.sum()
        self.focus_frames: list[np.ndarray] = []
        self.focus_share = 0.0
        self.focus_lead = (0, 1)
        if focus is not None and focus.share > 0:
            if len(focus.frames) != len(examples):
                raise ValueError(
                    f"focus has frames for {len(focus.frames)} examples; there are {len(examples)}"
                )
            if not 0.0 <= focus.share <= 1.0 or not 0 <= focus.lead[0] < focus.lead[1] <= window:
                raise ValueError(f"focus share must be in [0, 1] and 0 <= lead < window; got {focus}")
            self.focus_frames = [np.asarray(focus.frames[i], np.int64) for i in keep]
            counts = np.array([len(f) for f in self.focus_frames], np.float64)
            if counts.sum() == 0:
                raise ValueError("focus: no example has a frame of interest")
            self.focus_weights = counts / counts.sum()
            self.focus_share = focus.share
            self.focus_lead = focus.lead

    def _starts(self, batch_size: int, rng: np.random.Generator) -> list[tuple[Example, int]]:
        """Each window's example and first frame. Without a focus the draws are those of the
        earlier releases (one choice of examples, then a start per window): same seed, same run."""
        w = self.window
        if self.focus_share <= 0:
            out = []
            for i in rng.choice(len(self.examples), size=batch_size, p=self.weights):
                e = self.examples[int(i)]
                out.append((e, int(rng.integers(0, e.frames - w + 1))))
            return out
        out = []
        for _ in range(batch_size):
            if rng.random() < self.focus_share:
                i = int(rng.choice(len(self.examples), p=self.focus_weights))
                e = self.examples[i]
                frame = int(rng.choice(self.focus_frames[i]))
                start = frame - int(rng.integers(*self.focus_lead))
                out.append((e, int(np.clip(start, 0, e.frames - w))))
            else:
                e = self.examples[int(rng.choice(len(self.examples), p=self.weights))]
                out.append((e, int(rng.integers(0, e.frames - w + 1))))
        return out

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        w, burn = self.window, self.burn_in
        af, uf, am, um, ref = [], [], [], [], []
        av: list[np.ndarray] = []
        uv: list[np.ndarray] = []
        for e, start in self._starts(batch_size, rng):
            lo = max(0, start - burn)
            pad = burn - (start - lo)  # not enough history: pad the burn-in with the first frame

            def feats(x: np.ndarray, lo: int = lo, pad: int = pad, start: int = start) -> np.ndarray:
                seg = x[lo : start + w]
                return np.concatenate([np.repeat(seg[:1], pad, axis=0), seg]) if pad else seg

            af.append(feats(e.avatar_feats))
            uf.append(feats(e.user_feats))
            am.append(e.avatar_motion[start : start + w])
            um.append(e.user_motion[start : start + w])
            ref.append(e.rest)
            if e.avatar_visemes is not None and e.user_visemes is not None:
                av.append(e.avatar_visemes[start : start + w])
                uv.append(e.user_visemes[start : start + w])
        norm = self.stats.normalize
        labelled = len(av) == batch_size  # every window has phone labels

        def labels(x: list[np.ndarray]) -> torch.Tensor | None:  # (B, W) int64
            return torch.from_numpy(np.stack(x).astype(np.int64)) if labelled else None

        return Batch(
            torch.from_numpy(np.stack(af)),
            torch.from_numpy(np.stack(uf)),
            norm(torch.from_numpy(np.stack(am))),
            norm(torch.from_numpy(np.stack(um))),
            norm(torch.from_numpy(np.stack(ref))),
            burn,
            labels(av),
            labels(uv),
        )
