"""The paper's audio path: wav2vec2-base-960h -> 12 x 768 hidden states at 25 fps -> 512, offline and live.

    16 kHz mono (B, N) --normalise--> --replicate-pad to T * 640--> wav2vec2 conv feature encoder
      (B, 512, 2T - 1) at 50 fps --linear interpolation (align_corners)--> (B, 512, T) at 25 fps
      --feature projection + transformer--> 12 hidden states (B, T, 768) --concat--> (B, T, 9216)
      --AudioProjection: Linear(9216 -> 512), LayerNorm, SiLU--> (B, T, 512)

with T = ceil(N / 640) (640 = 16000 / 25 samples per frame). The conv features are interpolated to
the motion frame rate BEFORE the transformer, and all 12 transformer outputs are kept (the embedding
output, `hidden_states[0]`, is not). The same encoder serves the avatar's and the user's audio.

Conventions not stated by the paper, taken from FLOAT (the authors' earlier model, whose released
`AudioEncoder` has the very parameter names of the official checkpoint,
`audio_encoder.audio_projection.{0,1}`):
- the waveform is normalised to zero mean and unit variance over the whole clip, as
  `Wav2Vec2FeatureExtractor` does for wav2vec2-base-960h (`do_normalize` in its
  preprocessor_config.json), then replicate-padded to T * 640 samples;
- the interpolation is `F.interpolate(mode="linear", align_corners=True)` from the conv frames to T.
  With exactly T * 640 input samples the conv encoder yields 2T - 1 frames, so this is exactly
  "take every other 50-fps frame": frame t is conv frame 2t (receptive field samples
  [640 t, 640 t + 400)). That makes the 25-fps grid independent of where a window starts, as long as
  it starts on a frame boundary, which the causal stream relies on.

Offline vs live. The official release computed these features on the whole file. Three parts of the
computation see the whole clip: the input normalisation, the first conv layer's GroupNorm (one group
per channel, statistics over time) and the transformer (bidirectional self-attention plus a 128-tap
positional convolution, which at 25 fps spans +-2.56 s). A live system cannot wait for the end of the
file, so `CausalWav2Vec2Stream` recomputes the whole path over a sliding window: `context_s` seconds
of past audio + the new frames + `lookahead_s` of future audio, and keeps only the new frames.

transformers is optional (the `paper` extra); it is imported only when a model is built, and only
ever loads from a local folder (`local_files_only=True`): nothing is downloaded.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .weights import (
    CheckpointLayoutError,
    _listing,
    _torch_load,
    _unwrap,
    checkpoints_with_prefix,
    compare_layout,
)

if TYPE_CHECKING:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
NUM_LAYERS = 12
HIDDEN_SIZE = 768
FEATURE_DIM = NUM_LAYERS * HIDDEN_SIZE  # 9216
PROJECTED_DIM = 512
NORMALIZE_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm

WAV2VEC2_URL = "https://huggingface.co/facebook/wav2vec2-base-960h"
CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TRANSFORMERS_HINT = "pip install 'avatar-forcing[paper]'  (or: pip install 'transformers>=4.40')"

PREFIX = "audio_encoder."
PROJECTION_PREFIX = PREFIX + "audio_projection."
# the official AudioEncoder also registers wav2vec2 itself; a combined checkpoint may carry a copy,
# which is ignored here (wav2vec2 comes from its own folder)
WAV2VEC2_PREFIX = PREFIX + "wav2vec2."
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")


def num_frames(samples: int) -> int:
    """25-fps frames covering `samples` 16 kHz samples: ceil(samples / 640)."""
    return -(-int(samples) // SAMPLES_PER_FRAME)


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the paper's wav2vec2 audio path needs transformers: {TRANSFORMERS_HINT}") from exc
    return transformers


# --------------------------------------------------------------------------------------------------
# wav2vec2 -> (B, T, 9216)


class Wav2Vec2FolderError(FileNotFoundError):
    """A local wav2vec2 folder is absent or incomplete; `missing` lists what it lacks."""

    def __init__(self, folder: Path, missing: list[str]) -> None:
        self.folder = folder
        self.missing = missing
        super().__init__(
            f"wav2vec2 folder {folder} is {'missing' if not folder.is_dir() else 'incomplete'}: "
            f"it lacks {', '.join(missing)}. It must hold a transformers checkpoint of "
            f"facebook/wav2vec2-base-960h: {CONFIG_FILE} and the weights ({' or '.join(WEIGHT_FILES[:2])}; "
            f"{PREPROCESSOR_FILE} is optional). Download it from {WAV2VEC2_URL} on a machine with "
            f"network access, e.g. `huggingface-cli download facebook/wav2vec2-base-960h config.json "
            f"model.safetensors preprocessor_config.json --local-dir {folder}`, and copy the folder here."
        )


def check_wav2vec2_folder(folder: str | Path) -> Path:
    """Return `folder` as a Path, or raise Wav2Vec2FolderError naming what it lacks."""
    folder = Path(folder).expanduser()
    missing: list[str] = []
    if not folder.is_dir():
        missing.append("the folder itself")
    if not (folder / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(f"the weights ({' or '.join(WEIGHT_FILES[:2])})")
    if missing:
        raise Wav2Vec2FolderError(folder, missing)
    return folder


def normalize_waveform(waveform: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per row, as Wav2Vec2FeatureExtractor(do_normalize=True). (B, N) -> (B, N)"""
    mean = waveform.mean(dim=-1, keepdim=True)
    var = waveform.var(dim=-1, unbiased=False, keepdim=True)
    return (waveform - mean) / torch.sqrt(var + NORMALIZE_EPS)


class Wav2Vec2Features(nn.Module):
    """wav2vec2 run as in the paper: (B, N) 16 kHz -> (B, ceil(N / 640), layers x hidden) = (B, T, 9216).

    Wraps a transformers `Wav2Vec2Model` (kept as `self.model`, in eval mode, gradients off). The
    conv features are interpolated to 25 fps by a forward hook on `model.feature_extractor`, so the
    rest is transformers' own `Wav2Vec2Model.forward` (feature projection, positional conv, encoder
    layers; no attention mask, no SpecAugment in eval) with `output_hidden_states=True`, whichever
    transformers version runs it.

    Args:
        model: a Wav2Vec2Model (base: 12 layers of 768).
        normalize: zero-mean unit-variance normalise each input clip first (wav2vec2-base-960h's
            preprocessor does; `from_pretrained` reads it from preprocessor_config.json).
    """

    def __init__(self, model: Wav2Vec2Model, normalize: bool = True) -> None:
        super().__init__()
        if getattr(model.config, "add_adapter", False):
            raise ValueError(
                "wav2vec2 models with an adapter are not supported (hidden states would be resampled)"
            )
        self.model = model.eval().requires_grad_(False)
        self.normalize = normalize
        # target frame count of the call running in each thread, read by the hook
        self._frames: dict[int, int] = {}
        self._hook = model.feature_extractor.register_forward_hook(self._interpolate_hook)

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        normalize: bool | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Wav2Vec2Features:
        """Load wav2vec2 from a local transformers folder (never from the hub).

        `normalize=None` takes `do_normalize` from the folder's preprocessor_config.json (True when
        the file is absent, as for wav2vec2-base-960h). Raises Wav2Vec2FolderError if the folder
        lacks config.json or the weights, and ValueError if the weights do not cover the model."""
        folder = check_wav2vec2_folder(folder)
        transformers = _transformers()
        model, info = transformers.Wav2Vec2Model.from_pretrained(
            str(folder), local_files_only=True, output_loading_info=True
        )
        missing = sorted(info.get("missing_keys", []))
        mismatched = sorted(str(k) for k in info.get("mismatched_keys", []))
        if missing or mismatched:
            lines = _listing("missing", missing) + _listing("mis-shaped", mismatched)
            raise ValueError(
                f"the wav2vec2 weights in {folder} do not cover Wav2Vec2Model (these would stay random):\n  "
                + "\n  ".join(lines)
            )
        unexpected = sorted(info.get("unexpected_keys", []))
        if unexpected:  # the CTC head of wav2vec2-base-960h (lm_head.*) is expected here
            log.debug(
                "ignored %d tensors of %s not used by Wav2Vec2Model: %s", len(unexpected), folder, unexpected
            )
        if normalize is None:
            normalize = _read_do_normalize(folder)
        cfg = model.config
        log.info(
            "loaded wav2vec2 from %s (%d layers x %d, normalize=%s)",
            folder,
            cfg.num_hidden_layers,
            cfg.hidden_size,
            normalize,
        )
        if (cfg.num_hidden_layers, cfg.hidden_size) != (NUM_LAYERS, HIDDEN_SIZE):
            log.warning(
                "wav2vec2 in %s has %d layers x %d hidden: its features are %d wide, the paper's "
                "projection expects %d",
                folder,
                cfg.num_hidden_layers,
                cfg.hidden_size,
                cfg.num_hidden_layers * cfg.hidden_size,
                FEATURE_DIM,
            )
        return cls(model.to(device=device, dtype=dtype), normalize=normalize)

    @classmethod
    def from_config(
        cls,
        random: bool = True,
        seed: int = 0,
        normalize: bool = True,
        config: Wav2Vec2Config | None = None,
        **overrides: Any,
    ) -> Wav2Vec2Features:
        """wav2vec2 with RANDOM weights, for tests and timing: the base architecture (12 layers of 768,
        group-norm conv encoder, ~94 M parameters) unless `config` / `overrides` say otherwise
        (e.g. `num_hidden_layers=2` for fast tests). Nothing is read or downloaded.

        `random` must be True: it states that these are stand-in weights, never the paper's."""
        if not random:
            raise ValueError(
                "from_config only builds random weights; load real ones with from_pretrained(folder)"
            )
        transformers = _transformers()
        if config is None:
            config = transformers.Wav2Vec2Config()  # its defaults are wav2vec2-base's architecture
        for key, value in overrides.items():
            if not hasattr(config, key):
                raise ValueError(f"Wav2Vec2Config has no field {key!r}")
            setattr(config, key, value)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = transformers.Wav2Vec2Model(config)
        return cls(model, normalize=normalize)

    # -- properties ---------------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def feature_dim(self) -> int:
        """Width of the output: hidden layers x hidden size (9216 for the base model)."""
        return self.num_layers * int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # -- forward ------------------------------------------------------------------------------------

    def _interpolate_hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        frames = self._frames.get(threading.get_ident())
        if frames is None:  # the model called directly, not through forward(): leave it alone
            return None
        # (B, 512, L) at 50 fps -> (B, 512, T) at 25 fps
        return F.interpolate(output, size=frames, mode="linear", align_corners=True)

    def prepare(self, waveform: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Normalise (if enabled) and replicate-pad `waveform` (B, N) to (B, T * 640); returns it and T."""
        frames = num_frames(waveform.shape[-1])
        if self.normalize:
            waveform = normalize_waveform(waveform)
        pad = frames * SAMPLES_PER_FRAME - waveform.shape[-1]
        if pad:
            waveform = torch.cat([waveform, waveform[:, -1:].expand(-1, pad)], dim=-1)
        return waveform, frames

    @torch.inference_mode()
    def forward(self, waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, N) or (N,) 16 kHz float audio -> (B, T, layers x hidden), T = ceil(N / 640).

        The rows of a batch must be the same length (there is no padding mask: the base model's
        group-norm conv encoder must not be given one)."""
        x = torch.as_tensor(waveform)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"expected (B, N) or (N,) audio, got shape {tuple(x.shape)}")
        if x.shape[-1] == 0:
            return torch.zeros(x.shape[0], 0, self.feature_dim, device=self.device, dtype=self.dtype)
        # normalise in float32 (or float64) whatever the model's dtype
        x, frames = self.prepare(x.to(device=self.device, dtype=torch.promote_types(x.dtype, torch.float32)))
        x = x.to(self.dtype)  # (B, T * 640)
        key = threading.get_ident()
        self._frames[key] = frames
        try:
            out = self.model(x, output_hidden_states=True, return_dict=True)
        finally:
            del self._frames[key]
        hidden = out.hidden_states[1:]  # 12 x (B, T, 768): the transformer layers' outputs
        if len(hidden) != self.num_layers:
            raise RuntimeError(f"expected {self.num_layers} transformer hidden states, got {len(hidden)}")
        return torch.cat(hidden, dim=-1)  # (B, T, 12 * 768), layer-major like FLOAT's stack+reshape


def _read_do_normalize(folder: Path) -> bool:
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        log.info(
            "no %s in %s: normalising the waveform as wav2vec2-base-960h does", PREPROCESSOR_FILE, folder
        )
        return True

    return bool(json.loads(path.read_text()).get("do_normalize", True))


# --------------------------------------------------------------------------------------------------
# Linear(9216 -> 512) + LayerNorm + SiLU in the official names


class AudioProjectionCheckpointError(CheckpointLayoutError):
    """A checkpoint does not match `audio_encoder.audio_projection.*`."""

    PART = "audio-projection"


class AudioProjection(nn.Module):
    """(B, T, 9216) -> (B, T, 512): Linear, LayerNorm (eps 1e-5), SiLU, named as the official
    `audio_encoder.audio_projection.{0,1}` (state_dict keys without the `audio_encoder.` prefix)."""

    def __init__(self, dim_in: int = FEATURE_DIM, dim_out: int = PROJECTED_DIM) -> None:
        super().__init__()
        self.audio_projection = nn.Sequential(nn.Linear(dim_in, dim_out), nn.LayerNorm(dim_out), nn.SiLU())

    @property
    def dim_in(self) -> int:
        return self.audio_projection[0].in_features

    @property
    def dim_out(self) -> int:
        return self.audio_projection[0].out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.audio_projection(features)  # (B, T, 9216) -> (B, T, 512)


def expected_projection_shapes(dim_in: int = FEATURE_DIM, dim_out: int = PROJECTED_DIM) -> dict[str, tuple]:
    """The official names (with the `audio_encoder.` prefix) and shapes, in state_dict order."""
    with torch.device("meta"):
        model = AudioProjection(dim_in, dim_out)
    return {PREFIX + k: tuple(v.shape) for k, v in model.state_dict().items()}


def extract_audio_projection_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The projection's entries of a combined or separate state dict, keyed WITH `audio_encoder.`.

    Combined (some key starts with `audio_encoder.`): keys of other components and the wav2vec2 copy
    (`audio_encoder.wav2vec2.*`) are dropped; any other `audio_encoder.*` key is kept (and will be
    reported as unexpected). Separate: every key is taken as a bare audio-encoder name
    (`audio_projection.0.weight`), except a bare `wav2vec2.*` copy, which is dropped."""
    if any(k.startswith(PREFIX) for k in state):
        return {k: v for k, v in state.items() if k.startswith(PREFIX) and not k.startswith(WAV2VEC2_PREFIX)}
    return {PREFIX + k: v for k, v in state.items() if not k.startswith("wav2vec2.")}


def check_audio_projection_state(
    state: Mapping[str, torch.Tensor],
    source: str = "the state dict",
    dim_in: int = FEATURE_DIM,
    dim_out: int = PROJECTED_DIM,
) -> dict[str, torch.Tensor]:
    """Validate strictly; return the tensors keyed for `AudioProjection.load_state_dict`.

    Raises AudioProjectionCheckpointError naming every missing, unexpected and mis-shaped tensor."""
    given = extract_audio_projection_state(state)
    missing, unexpected, mismatched = compare_layout(given, expected_projection_shapes(dim_in, dim_out))
    if missing or unexpected or mismatched:
        raise AudioProjectionCheckpointError(source, missing, unexpected, mismatched)
    return {k[len(PREFIX) :]: v for k, v in given.items()}


def _resolve_projection_checkpoint(folder: Path) -> Path:
    candidates = checkpoints_with_prefix(folder, PROJECTION_PREFIX, CHECKPOINT_SUFFIXES)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint in {folder} holds '{PROJECTION_PREFIX}*' keys")
    raise FileNotFoundError(
        f"several checkpoints in {folder} hold '{PROJECTION_PREFIX}*' keys "
        f"({', '.join(c.name for c in candidates)}); pass the file"
    )


def load_audio_projection(
    source: str | Path | Mapping[str, torch.Tensor],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> AudioProjection:
    """The audio projection from official weights, strictly: a checkpoint file, a folder holding
    exactly one checkpoint with `audio_encoder.audio_projection.*` keys, or a state dict (combined
    `audio_encoder.audio_projection.*` or bare `audio_projection.*`; optionally wrapped under
    "state_dict", "model" or "gen"). Returned in eval mode with gradients off."""
    if isinstance(source, Mapping):
        name, state = "the state dict", _unwrap(source)
    else:
        path = Path(source)
        if path.is_dir():
            path = _resolve_projection_checkpoint(path)
        elif not path.is_file():
            raise FileNotFoundError(f"no audio-projection checkpoint at {path}")
        name = str(path)
        state = _unwrap(_torch_load(path), name)
    weights = check_audio_projection_state(state, name)
    model = AudioProjection()
    model.load_state_dict(weights, strict=True)
    log.info("loaded the audio projection from %s", name)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def random_audio_projection(seed: int = 0) -> AudioProjection:
    """An AudioProjection with PyTorch's default (random) initialisation, for tests."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AudioProjection().eval().requires_grad_(False)


def encode_offline(
    features: Wav2Vec2Features, projection: AudioProjection | None, samples: np.ndarray | torch.Tensor
) -> np.ndarray:
    """Whole-file features as the official release computed them: (N,) 16 kHz -> (T, 512)
    (or (T, 9216) without a projection)."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32) if isinstance(samples, np.ndarray) else samples)
    with torch.inference_mode():
        out = features(x)  # (1, T, 9216)
        if projection is not None:
            out = projection(out.to(projection.audio_projection[0].weight.dtype))  # (1, T, 512)
    return out[0].float().cpu().numpy()


# --------------------------------------------------------------------------------------------------
# live: sliding-window recomputation


class CausalWav2Vec2Stream:
    """Live 16 kHz audio in chunks of any size -> features of the newly completed 25-fps frames.

    Frames are produced in groups of `hop_frames` (a fixed grid, 160 ms by default). Group g (frames
    [g h, g h + h)) is computed once `lookahead` frames of audio past its end have arrived, by running
    the whole paper path (normalisation, wav2vec2, interpolation, 12 hidden states, projection) over
    the window of frames [g h - context, g h + h + lookahead) (clipped at the stream's start) and
    keeping the group's h frames. Windows start and end on frame boundaries, so a frame's 25-fps
    position is the same in every window (see the module docstring), and the output depends only on
    the audio, not on how it was chunked: pushing 10-ms or 1-s chunks gives the same features.

    `flush()` ends the stream: the remaining frames (up to ceil(N / 640), the last one replicate-
    padded) are computed with whatever look-ahead exists, and the stream is reset for reuse.

    Latency and compute (h = hop_frames, L = lookahead frames, C = context frames, 40 ms each):
    - a frame is available (L + (h - 1)) x 40 ms after its own end in the worst case (first frame of a
      group) and L x 40 ms at best, plus the compute time of one window; defaults (h 4, L 1): 40-160 ms;
    - each group runs wav2vec2 over C + h + L frames, i.e. (C + h + L) / h times the cost of encoding
      the audio once (3 s context: 80 / 4 = 20 x). Lowering `hop_frames` lowers latency and raises
      compute in proportion; the context buys agreement with whole-file features (the transformer
      attends over the whole window, and the normalisation and the conv GroupNorm use its
      statistics); the look-ahead gives the last frames of each group some future audio, which the
      whole-file features of every frame have.

    Agreement with the whole-file features (random wav2vec2 weights, 6 s of the speech in
    models/samples/avatar.flac, hop 4, look-ahead 40 ms; mean per-frame cosine of the 9216-d features,
    after the first `context_s`): 0.94 (0.5 s context), 0.95 (1 s), 0.975 (2 s), 0.985 (3 s), 0.989
    (4 s). A window holding only digital silence gives the features of silence, whatever the
    whole file would have lent it (cosine ~0.4 there). CPU cost per 160-ms group, 2 threads of a busy
    2-core machine: ~210 ms (2 s context), ~265 ms (3 s): not real time there; a GPU or a larger hop
    (400 ms: ~240 ms per group) is.

    Args:
        features: the wav2vec2 front (from_pretrained, or from_config for tests).
        projection: the 9216 -> 512 projection; None outputs the raw (n, 9216) features.
        context_s: past audio kept before each group (rounded up to whole 40-ms frames).
        lookahead_s: future audio waited for after each group (rounded up to whole frames).
        hop_frames: frames per group (one wav2vec2 run each).
    """

    def __init__(
        self,
        features: Wav2Vec2Features,
        projection: AudioProjection | None = None,
        context_s: float = 3.0,
        lookahead_s: float = 0.04,
        hop_frames: int = 4,
    ) -> None:
        if not (math.isfinite(context_s) and context_s >= 0):
            raise ValueError(f"context_s must be a finite number >= 0, got {context_s!r}")
        if not (math.isfinite(lookahead_s) and lookahead_s >= 0):
            raise ValueError(f"lookahead_s must be a finite number >= 0, got {lookahead_s!r}")
        if isinstance(hop_frames, bool) or not isinstance(hop_frames, int) or hop_frames < 1:
            raise ValueError(f"hop_frames must be an int >= 1, got {hop_frames!r}")
        if projection is not None and projection.dim_in != features.feature_dim:
            raise ValueError(
                f"the projection expects {projection.dim_in} features, wav2vec2 gives {features.feature_dim}"
            )
        self.features = features
        self.projection = projection
        self.hop_frames = hop_frames
        self.context_frames = _to_frames(context_s)
        self.lookahead_frames = _to_frames(lookahead_s)
        self.reset()

    @property
    def dim(self) -> int:
        return self.projection.dim_out if self.projection is not None else self.features.feature_dim

    @property
    def frames_emitted(self) -> int:
        """Frames returned by push since the stream started (flush resets it to 0)."""
        return self._next_group * self.hop_frames

    @property
    def samples_received(self) -> int:
        return self._total

    @property
    def latency_s(self) -> tuple[float, float]:
        """(best, worst) delay of a frame after its own end, without compute time."""
        frame = 1 / FPS
        return self.lookahead_frames * frame, (self.lookahead_frames + self.hop_frames - 1) * frame

    @property
    def window_frames(self) -> int:
        """Frames in a full window (one wav2vec2 run per group)."""
        return self.context_frames + self.hop_frames + self.lookahead_frames

    def reset(self) -> None:
        """Forget all audio: the next push starts a new stream at frame 0."""
        self._audio = np.zeros(0, dtype=np.float32)  # retained samples, from absolute sample _origin
        self._origin = 0  # always a multiple of 640
        self._total = 0
        self._next_group = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append 16 kHz mono samples ((n,) float or int16); return the new frames' features (k, D)."""
        x = _as_mono_float32(samples)
        if x.size:
            self._audio = np.concatenate([self._audio, x])
            self._total += x.size
        h, per = self.hop_frames, SAMPLES_PER_FRAME
        outs: list[np.ndarray] = []
        while ((self._next_group + 1) * h + self.lookahead_frames) * per <= self._total:
            first = self._next_group * h
            start = max(0, first - self.context_frames)
            end = first + h + self.lookahead_frames
            outs.append(self._run(start, end)[first - start : first - start + h])
            self._next_group += 1
        self._trim()
        return self._stack(outs)

    def flush(self) -> np.ndarray:
        """End the stream: the features of every frame not yet returned, up to ceil(N / 640); then reset."""
        h = self.hop_frames
        total_frames = num_frames(self._total)
        outs: list[np.ndarray] = []
        cache: dict[tuple[int, int], np.ndarray] = {}
        g = self._next_group
        while g * h < total_frames:
            first = g * h
            start = max(0, first - self.context_frames)
            end = min(first + h + self.lookahead_frames, total_frames)
            if (start, end) not in cache:
                cache[(start, end)] = self._run(start, end)
            outs.append(cache[(start, end)][first - start : min(first + h, total_frames) - start])
            g += 1
        out = self._stack(outs)
        self.reset()
        return out

    # -- internals ----------------------------------------------------------------------------------

    def _run(self, start: int, end: int) -> np.ndarray:
        """Features of frames [start, end) from the audio of exactly those frames. (end - start, D)"""
        a = start * SAMPLES_PER_FRAME - self._origin
        b = min(end * SAMPLES_PER_FRAME, self._total) - self._origin
        assert a >= 0, "window starts before the retained audio"
        window = torch.from_numpy(self._audio[a:b])  # (n,)
        with torch.inference_mode():
            feats = self.features(window)  # (1, end - start, 9216)
            if self.projection is not None:
                feats = self.projection(feats.to(self.projection.audio_projection[0].weight.dtype))
        return feats[0].float().cpu().numpy()

    def _trim(self) -> None:
        keep_from = max(0, self._next_group * self.hop_frames - self.context_frames) * SAMPLES_PER_FRAME
        if keep_from > self._origin:
            self._audio = self._audio[keep_from - self._origin :].copy()
            self._origin = keep_from

    def _stack(self, outs: list[np.ndarray]) -> np.ndarray:
        if not outs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


def _to_frames(seconds: float) -> int:
    return max(0, math.ceil(seconds * FPS - 1e-9))


def _as_mono_float32(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"expected 1-D mono 16 kHz samples (resample first), got shape {x.shape}")
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"expected float32, float64 or int16 samples, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinite values")
    return x
