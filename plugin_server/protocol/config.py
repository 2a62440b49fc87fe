"""The session config a client sends in `config` messages: typed, with defaults, strict.

`SessionConfig.from_dict` refuses unknown keys (listing the valid ones), wrong types and values
out of range, always as `ProtocolError(bad_config)`. A `config` message carries a partial map that
`merged` folds into the current config (the nested `blink` map merges key by key).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ErrorCode, ProtocolError
from .limits import DEFAULT_LIMITS
from .schema import build

OUTPUTS: tuple[str, ...] = ("motion", "frames", "audio", "events", "stats")
NAMINGS: tuple[str, ...] = ("arkit", "vrm", "vrm1", "vts")
Naming = Literal["arkit", "vrm", "vrm1", "vts"]
ArkitSpelling = Literal["pascal", "camel", "lr"]
VADS: tuple[str, ...] = ("silero", "energy")
FRAME_FORMATS: tuple[str, ...] = ("png", "webp", "jpeg", "rgba")  # = models.render.IMAGE_FORMATS
FrameFormat = Literal["png", "webp", "jpeg", "rgba"]
VadKind = Literal["silero", "energy"]

logger = logging.getLogger(__name__)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_CONFIG, message)


def onnxruntime_installed() -> bool:
    """Whether onnxruntime (the `vad` extra) can be imported; looked up without importing it."""
    return importlib.util.find_spec("onnxruntime") is not None


@functools.cache
def default_vad() -> VadKind:
    """The `vad` a config gets when it names none: "silero" when onnxruntime is installed, else
    "energy" (with one warning per process)."""
    if onnxruntime_installed():
        return "silero"
    logger.warning(
        "onnxruntime is not installed: sessions default to the energy speech detector "
        "(pip install 'avatar-forcing[vad]' for silero-vad)"
    )
    return "energy"


@dataclass(frozen=True)
class BlinkConfig:
    """Blinks: `enabled` False keeps the eyelids at the rest pose; `rate` multiplies how often the
    avatar blinks (1 = the model's own blinks; > 1 adds blinks; < 1 suppresses some)."""

    enabled: bool = True
    rate: float = 1.0  # 0..4

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 4.0:
            raise _bad(f"blink.rate must be in 0..4, got {self.rate}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlinkConfig:
        return _strict(cls, d, "blink")


@dataclass(frozen=True)
class SessionConfig:
    """Per-session settings. `None` for a sampler setting means the model card's value."""

    avatar: str = "default"  # avatar name (renderer and rest pose; only the name for now)
    model: str | None = None  # model name for the server's model factory; None = the default
    outputs: tuple[str, ...] = ("motion", "audio", "events", "stats")  # subset of OUTPUTS
    naming: Naming = "arkit"  # parameter names of motion output: arkit | vrm (0.x) | vrm1 | vts
    arkit_spelling: ArkitSpelling = "pascal"  # EyeBlinkLeft | eyeBlinkLeft | eyeBlink_L
    fps: int = 25  # must equal the model's fps
    block_frames: int | None = None  # frames per generated block (latency vs. cost)
    nfe: int | None = None  # denoising steps per block (>= 3)
    a_cfg: float | None = None  # avatar-audio guidance scale
    a_cfg_speech: float | None = None  # avatar-audio guidance on the jaw and lips (arkit); None = the model's
    u_cfg: float | None = None  # user guidance scale
    u_cfg_speech: float | None = None  # user guidance on the jaw and lips (arkit); None = the model's
    guidance: bool | None = None  # False: one branch, no CFG (3x cheaper)
    # share of the jaw and lips that follows the model's articulation head (0..1); None = the model's
    articulation: float | None = None
    seed: int | None = None  # None: a random seed per stream
    motion_intensity: float = 1.0  # 0..2, scales motion around the rest pose
    blink: BlinkConfig = field(default_factory=BlinkConfig)
    server_vad: bool = True  # detect speech in both audio streams and emit turn events
    vad: VadKind = field(default_factory=default_vad)  # speech detector of server_vad: silero | energy
    stats_interval_s: float = 1.0  # how often `stats` is sent (when in outputs)
    renderer: str = "cartoon"  # renderer of the `frames` output (models.render registry)
    renderer_options: dict[str, Any] = field(default_factory=dict)  # its options (e.g. width, height)
    frame_format: FrameFormat = "png"  # encoding of `rendered_frame` images
    sinks: list[dict[str, Any]] = field(default_factory=list)  # this session's own sinks: {"name", options}

    def __post_init__(self) -> None:
        if self.frame_format not in FRAME_FORMATS:
            raise _bad(f"frame_format {self.frame_format!r} is not one of {list(FRAME_FORMATS)}")
        bad_outputs = [o for o in self.outputs if o not in OUTPUTS]
        if bad_outputs:
            raise _bad(f"unknown output(s) {bad_outputs}; valid: {list(OUTPUTS)}")
        if len(set(self.outputs)) != len(self.outputs):
            raise _bad(f"outputs lists an entry twice: {list(self.outputs)}")
        if self.naming not in NAMINGS:
            raise _bad(f"naming {self.naming!r} is not one of {list(NAMINGS)}")
        if self.vad not in VADS:
            raise _bad(f"vad {self.vad!r} is not one of {list(VADS)}")
        checks = {
            "avatar must be 1..128 characters": 1 <= len(self.avatar) <= 128,
            "fps must be 1..120": 1 <= self.fps <= 120,
            "block_frames must be 1..100": self.block_frames is None or 1 <= self.block_frames <= 100,
            "nfe must be 3..100": self.nfe is None or 3 <= self.nfe <= 100,
            "a_cfg must be in -10..20": self.a_cfg is None or -10.0 <= self.a_cfg <= 20.0,
            "u_cfg must be in -10..20": self.u_cfg is None or -10.0 <= self.u_cfg <= 20.0,
            "u_cfg_speech must be in -10..20": self.u_cfg_speech is None
            or -10.0 <= self.u_cfg_speech <= 20.0,
            "a_cfg_speech must be in -10..20": self.a_cfg_speech is None
            or -10.0 <= self.a_cfg_speech <= 20.0,
            "articulation must be in 0..1": self.articulation is None or 0.0 <= self.articulation <= 1.0,
            "seed must be 0..2**53": self.seed is None or 0 <= self.seed <= 2**53,
            "motion_intensity must be in 0..2": 0.0 <= self.motion_intensity <= 2.0,
            "stats_interval_s must be in 0.1..60": 0.1 <= self.stats_interval_s <= 60.0,
            "renderer must be 1..64 characters": 1 <= len(self.renderer) <= 64,
            "renderer_options takes at most 32 keys": len(self.renderer_options) <= 32,
            "sinks takes at most 8 entries": len(self.sinks) <= 8,
        }
        bad = [m for m, ok in checks.items() if not ok]
        if bad:
            raise _bad("; ".join(bad))

    def wants(self, output: str) -> bool:
        return output in self.outputs

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SessionConfig:
        if not isinstance(d, dict):
            raise _bad("config must be a map")
        d = dict(d)
        blink = d.pop("blink", None)
        cfg = _strict(cls, d, "config")
        if blink is not None:
            if not isinstance(blink, (dict, BlinkConfig)):
                raise _bad("config.blink must be a map")
            blink_cfg = blink if isinstance(blink, BlinkConfig) else BlinkConfig.from_dict(blink)
            cfg = dataclasses.replace(cfg, blink=blink_cfg)
        return cfg

    def merged(self, changes: dict[str, Any]) -> SessionConfig:
        """This config with `changes` applied (a partial map; `blink` merges key by key)."""
        if not isinstance(changes, dict):
            raise _bad("config must be a map")
        d = self.to_dict()
        for k, v in changes.items():
            if k == "blink" and isinstance(v, dict):
                d["blink"] = {**d["blink"], **v}
            else:
                d[k] = v
        return SessionConfig.from_dict(d)

    def changed_keys(self, other: SessionConfig) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def _strict(cls: type, d: dict[str, Any], what: str) -> Any:
    try:
        return build(cls, d, what, DEFAULT_LIMITS, text=False)
    except ProtocolError as e:
        if e.code == ErrorCode.BAD_CONFIG:
            raise
        raise _bad(e.message) from None
