"""The folder of official weights behind `--preset paper --weights DIR`: layout, strict check, loading.

Expected layout (the names of the official Avatar Forcing release, plus a local copy of wav2vec2):

    DIR/flow_transformer.pth      the flow transformer: `flow_transformer.<name>` keys (a combined
                                  checkpoint, which may also hold `motion_autoencoder.*` and
                                  `audio_encoder.audio_projection.*`) or bare flow-transformer names
    DIR/motion_autoencoder.pth    the motion autoencoder (bare or `motion_autoencoder.` names); not
                                  needed when flow_transformer.pth holds `motion_autoencoder.*`
    DIR/audio_encoder.pth         only when flow_transformer.pth does not hold the audio projection
                                  `audio_encoder.audio_projection.{0,1}.*` (audio_projection.pth is
                                  also accepted)
    DIR/wav2vec2-base-960h/       a transformers checkpoint of facebook/wav2vec2-base-960h:
                                  config.json and model.safetensors (or pytorch_model.bin)

.pt and .ckpt are accepted in place of .pth. `check_weights_folder` raises ONE `PaperWeightsError`
that lists every missing file (with where to get it) and, for checkpoints that are present, every
missing, unexpected or mis-shaped tensor, using the strict checks of each part's own loader
(`models.generator.official`, `models.paper.weights`, `models.paper.audio`). The wav2vec2 folder is
checked for its files here; its tensors are checked when transformers loads it (strictly, see
`Wav2Vec2Features.from_pretrained`).

Checkpoints are read memory-mapped, so checking a 600 MB file costs little more than listing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.generator.config import GeneratorConfig, SamplerConfig, get_preset
from models.generator.masks import alignment_mask, block_causal_lookahead_mask
from models.generator.official import (
    OFFICIAL_PREFIX,
    CheckpointMismatchError,
    convert_official_state_dict,
    ours_to_official,
    split_official_components,
)
from models.generator.transformer import MotionGenerator

from .audio import (
    CONFIG_FILE,
    FEATURE_DIM,
    PROJECTION_PREFIX,
    WAV2VEC2_URL,
    WEIGHT_FILES,
    AudioProjection,
    AudioProjectionCheckpointError,
    check_audio_projection_state,
)
from .motion_autoencoder import PAPER_CONFIG, MotionAutoencoderConfig
from .weights import PREFIX as AUTOENCODER_PREFIX
from .weights import MotionAutoencoderCheckpointError, _torch_load, _unwrap, check_state_dict

log = logging.getLogger(__name__)

SUFFIXES = (".pth", ".pt", ".ckpt")
FLOW_STEM = "flow_transformer"
AUTOENCODER_STEM = "motion_autoencoder"
AUDIO_STEMS = ("audio_encoder", "audio_projection")
WAV2VEC2_DIR = "wav2vec2-base-960h"
RELEASE = "the official Avatar Forcing release (its README lists the download links)"


# --------------------------------------------------------------------------------------------------
# configuration of the whole paper path


@dataclass(frozen=True)
class PaperConfig:
    """Geometry of the paper path: generator, motion autoencoder, audio widths, default sampler.

    The default is the paper's (`get_preset("paper")`, 512x512 autoencoder, wav2vec2-base features
    of 12 x 768). `PaperConfig.tiny()` is a small stand-in for tests. The pipeline samples with the
    realtime schedule by default (10-frame blocks from the first frame on); `SamplerConfig(
    schedule="official")` reproduces the release's 2-s first call.
    """

    generator: GeneratorConfig = field(default_factory=lambda: get_preset("paper").generator)
    autoencoder: MotionAutoencoderConfig = PAPER_CONFIG
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(schedule="realtime"))
    audio_features: int = FEATURE_DIM  # wav2vec2 layers x hidden (12 x 768)
    # Wav2Vec2Config overrides of a RANDOM wav2vec2 (`PaperComponents.random`); a folder's
    # config.json decides for real weights.
    wav2vec2: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.generator.dim_motion != self.autoencoder.style_dim:
            raise ValueError(
                f"the generator's motion width ({self.generator.dim_motion}) must equal the motion "
                f"autoencoder's latent width ({self.autoencoder.style_dim})"
            )
        if self.generator.fps != 25:
            raise ValueError(f"the paper path runs at 25 fps (wav2vec2 frames); got {self.generator.fps}")

    @property
    def dim_cond(self) -> int:
        return self.generator.dim_cond

    @classmethod
    def tiny(cls) -> PaperConfig:
        """A small geometry with the paper's clock (25 fps, 50-frame window, 10-frame blocks):
        32x32 frames, 32-d motion latents, a 2-layer 32-wide wav2vec2, a 2-layer 64-wide generator."""
        return cls(
            generator=get_preset("paper").generator.replace(
                dim_motion=32, dim_cond=32, hidden=64, depth=2, heads=2, cond_heads=2
            ),
            autoencoder=MotionAutoencoderConfig(size=32, style_dim=32, motion_dim=4, max_channels=32),
            sampler=SamplerConfig(schedule="realtime", nfe=4),
            audio_features=2 * 32,
            wav2vec2={
                "num_hidden_layers": 2,
                "hidden_size": 32,
                "num_attention_heads": 2,
                "intermediate_size": 64,
                "conv_dim": (32,) * 7,
                "num_conv_pos_embeddings": 16,
                "num_conv_pos_embedding_groups": 2,
            },
        )


PAPER = PaperConfig()


# --------------------------------------------------------------------------------------------------
# the folder check


@dataclass(frozen=True)
class PaperWeights:
    """Where each part of a checked weights folder lives (a combined checkpoint may serve several)."""

    folder: Path
    flow_transformer: Path  # file with the flow transformer
    motion_autoencoder: Path  # motion_autoencoder.pth, or the combined flow_transformer.pth
    audio_projection: Path  # the file holding audio_encoder.audio_projection.*
    wav2vec2: Path  # folder of the transformers checkpoint


class PaperWeightsError(ValueError):
    """A weights folder is missing files or holds checkpoints that do not match the official layout.

    `missing_files` lists the absent files (relative to the folder) and `problems` the strict
    loaders' reports on the present checkpoints; the message holds both, with where to get the files.
    """

    def __init__(self, folder: Path, missing_files: list[tuple[str, str, str]], problems: list[str]) -> None:
        self.folder = folder
        self.missing_files = [name for name, _, _ in missing_files]
        self.problems = problems
        lines = [
            f"the Avatar Forcing weights folder {folder} "
            + ("does not exist" if not folder.is_dir() else "is incomplete")
            + f" ({len(missing_files)} missing file(s), {len(problems)} checkpoint problem(s))"
        ]
        if missing_files:
            lines.append("missing files:")
            lines += [f"  {name}  ({what}; from {where})" for name, what, where in missing_files]
        if problems:
            lines.append("checkpoints that do not match the official names and shapes:")
            lines += ["  " + p.replace("\n", "\n  ") for p in problems]
        lines.append(
            f"expected layout: {folder}/{FLOW_STEM}.pth, {folder}/{AUTOENCODER_STEM}.pth (unless "
            f"{FLOW_STEM}.pth holds '{AUTOENCODER_PREFIX}*'), the audio projection "
            f"'{PROJECTION_PREFIX}*' inside {FLOW_STEM}.pth or in {folder}/{AUDIO_STEMS[0]}.pth, and "
            f"{folder}/{WAV2VEC2_DIR}/ with {CONFIG_FILE} and {WEIGHT_FILES[0]} (or {WEIGHT_FILES[1]})"
        )
        super().__init__("\n".join(lines))


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in SUFFIXES:
        if (folder / (stem + suffix)).is_file():
            return folder / (stem + suffix)
    return None


def load_state(path: Path) -> Mapping[str, torch.Tensor]:
    """A checkpoint's state dict, memory-mapped when possible, unwrapped from state_dict/model/gen."""
    return _unwrap(_torch_load(path), str(path))


def _has_prefix(state: Mapping[str, Any], prefix: str) -> bool:
    return any(isinstance(k, str) and k.startswith(prefix) for k in state)


def _meta_generator_state(config: GeneratorConfig) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return MotionGenerator(config).state_dict()


def check_weights_folder(
    folder: str | Path, config: PaperConfig = PAPER, check_names: bool = True
) -> PaperWeights:
    """Check a weights folder; return where each part is, or raise PaperWeightsError listing
    EVERYTHING that is wrong (missing files with where to get them; with `check_names`, the
    missing / unexpected / mis-shaped tensors of each checkpoint that is present)."""
    folder = Path(folder).expanduser()
    missing: list[tuple[str, str, str]] = []
    problems: list[str] = []
    present = folder.is_dir()

    flow = _find(folder, FLOW_STEM) if present else None
    autoencoder = _find(folder, AUTOENCODER_STEM) if present else None
    audio_file = next((f for s in AUDIO_STEMS if (f := _find(folder, s))), None) if present else None
    flow_state: Mapping[str, torch.Tensor] = {}
    flow_read = False
    if flow is not None:
        try:
            flow_state, flow_read = load_state(flow), True
        except (ValueError, RuntimeError, OSError) as e:
            problems.append(f"{flow.name}: cannot be read as a state dict ({e})")

    # the flow transformer
    if flow is None:
        missing.append(
            (
                f"{FLOW_STEM}.pth",
                f"the flow transformer '{OFFICIAL_PREFIX}*' (and the audio projection)",
                RELEASE,
            )
        )
    elif flow_read and check_names:
        part = split_official_components(flow_state).get("flow_transformer", {})
        try:
            convert_official_state_dict(part, _meta_generator_state(config.generator), config.generator)
        except CheckpointMismatchError as e:
            problems.append(f"{flow.name}: {e}")

    # the motion autoencoder: its own file first, else the combined checkpoint
    ae_path = autoencoder or (flow if _has_prefix(flow_state, AUTOENCODER_PREFIX) else None)
    if ae_path is None:
        missing.append(
            (f"{AUTOENCODER_STEM}.pth", f"the motion autoencoder '{AUTOENCODER_PREFIX}*'", RELEASE)
        )
    elif check_names:
        try:
            state = flow_state if ae_path == flow else load_state(ae_path)
            check_state_dict(state, config.autoencoder, ae_path.name)
        except MotionAutoencoderCheckpointError as e:
            problems.append(str(e))
        except (ValueError, RuntimeError, OSError) as e:
            problems.append(f"{ae_path.name}: cannot be read as a state dict ({e})")

    # the audio projection: inside the flow checkpoint, else audio_encoder.pth
    projection_path = flow if _has_prefix(flow_state, PROJECTION_PREFIX) else audio_file
    if projection_path is None:
        missing.append(
            (
                f"{AUDIO_STEMS[0]}.pth",
                f"the audio projection '{PROJECTION_PREFIX}*', "
                + (
                    f"which {FLOW_STEM}.pth does not hold"
                    if flow is not None
                    else f"not needed if the {FLOW_STEM}.pth you get holds it"
                ),
                RELEASE,
            )
        )
    elif check_names:
        try:
            state = flow_state if projection_path == flow else load_state(projection_path)
            check_audio_projection_state(state, projection_path.name, config.audio_features, config.dim_cond)
        except AudioProjectionCheckpointError as e:
            problems.append(str(e))
        except (ValueError, RuntimeError, OSError) as e:
            problems.append(f"{projection_path.name}: cannot be read as a state dict ({e})")

    # wav2vec2 (files only; transformers checks its tensors when loading)
    w2v = folder / WAV2VEC2_DIR
    w2v_where = f"{WAV2VEC2_URL} (a local copy: config.json and the weights)"
    if not (w2v / CONFIG_FILE).is_file():
        missing.append((f"{WAV2VEC2_DIR}/{CONFIG_FILE}", "wav2vec2-base-960h's configuration", w2v_where))
    if not any((w2v / name).is_file() for name in WEIGHT_FILES):
        missing.append(
            (
                f"{WAV2VEC2_DIR}/{WEIGHT_FILES[0]} (or {WEIGHT_FILES[1]})",
                "wav2vec2-base-960h's weights",
                w2v_where,
            )
        )

    if missing or problems:
        raise PaperWeightsError(folder, missing, problems)
    assert flow is not None and ae_path is not None and projection_path is not None
    return PaperWeights(folder, flow, ae_path, projection_path, w2v)


def load_projection(
    state: Mapping[str, torch.Tensor], source: str, dim_in: int, dim_out: int
) -> AudioProjection:
    """An AudioProjection of any widths from official names, strictly (the audio module's check)."""
    weights = check_audio_projection_state(state, source, dim_in, dim_out)
    model = AudioProjection(dim_in, dim_out)
    model.load_state_dict(weights, strict=True)
    return model.eval().requires_grad_(False)


# --------------------------------------------------------------------------------------------------
# random stand-ins in the official names (the release cannot be downloaded here)


def random_generator_state_dict(
    config: GeneratorConfig, seed: int = 0, std: float = 0.05
) -> dict[str, torch.Tensor]:
    """Random flow-transformer weights keyed `flow_transformer.<official name>` (with the two mask
    buffers of the release): the model's own initialisation plus N(0, std^2) on every parameter, so
    that the velocity is not the adaLN-Zero zero."""
    from models.generator.benchmark import randomize_weights

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = randomize_weights(MotionGenerator(config), g, std)
    state = {OFFICIAL_PREFIX + ours_to_official(k): v for k, v in model.state_dict().items()}
    w = config.window_frames
    state[OFFICIAL_PREFIX + "alignment_mask"] = alignment_mask(w, w, config.cond_window)
    state[OFFICIAL_PREFIX + "block_bidir_causal_lookahead_mask"] = block_causal_lookahead_mask(
        w, config.block_frames, config.lookahead_frames
    )
    return state


def random_projection_state_dict(dim_in: int, dim_out: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random audio-projection weights keyed `audio_encoder.audio_projection.*` (PyTorch's init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AudioProjection(dim_in, dim_out)
    return {"audio_encoder." + k: v.detach() for k, v in model.state_dict().items()}


def placeholder_state_dict(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Zeros of the given shapes sharing ONE element of storage (stride 0): a checkpoint of the
    paper's names and shapes that saves in kilobytes, for checks of names and shapes only."""
    one = torch.zeros(1)
    return {k: one.expand(*shape) if shape else one[0] for k, shape in shapes.items()}


def write_random_weights_folder(
    folder: str | Path, config: PaperConfig = PAPER, seed: int = 0, combined: bool = True
) -> Path:
    """Write random weights in the official names and shapes into `folder` (for tests and dry runs):
    flow_transformer.pth (with the audio projection when `combined`, else audio_encoder.pth),
    motion_autoencoder.pth (bare names) and wav2vec2-base-960h/ (transformers save_pretrained of a
    random Wav2Vec2Model of `config.wav2vec2`). Paper-size: about 1 GB; use PaperConfig.tiny()."""
    from .audio import Wav2Vec2Features
    from .weights import random_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flow = random_generator_state_dict(config.generator, seed)
    projection = random_projection_state_dict(config.audio_features, config.dim_cond, seed + 1)
    if combined:
        torch.save({**flow, **projection}, folder / f"{FLOW_STEM}.pth")
    else:
        torch.save(flow, folder / f"{FLOW_STEM}.pth")
        torch.save(projection, folder / f"{AUDIO_STEMS[0]}.pth")
    torch.save(random_state_dict(seed + 2, config.autoencoder, ""), folder / f"{AUTOENCODER_STEM}.pth")
    features = Wav2Vec2Features.from_config(seed=seed + 3, **config.wav2vec2)
    features.model.save_pretrained(str(folder / WAV2VEC2_DIR))
    cfg = json.loads((folder / WAV2VEC2_DIR / CONFIG_FILE).read_text())
    if cfg.get("num_hidden_layers", 12) * cfg.get("hidden_size", 768) != config.audio_features:
        raise ValueError(
            f"config.wav2vec2 gives {cfg.get('num_hidden_layers')} x {cfg.get('hidden_size')} features, "
            f"config.audio_features is {config.audio_features}"
        )
    log.info("wrote random paper weights to %s", folder)
    return folder
