"""The renderer interface, typed renderer configs and the renderer registry.

A *renderer* turns one ARKit motion frame (58 floats: 52 blendshapes in 0..1, then HeadYaw,
HeadPitch, HeadRoll in degrees and HeadX/Y/Z in centimetres; see :mod:`models.motion.arkit`)
into one image::

    frame (58,) float32  ──render──►  image (H, W, 4) uint8 RGBA, straight (not premultiplied) alpha

Renderers are pure functions of the frame (no hidden time state), so a frame renders the same
whatever came before; one instance is used by one thread at a time.

Renderers are created by name (CLI ``--renderer cartoon:width=256``, session config
``{"renderer": "portrait", "renderer_options": {...}}``) through :func:`create_renderer`; each has
a frozen config dataclass whose fields are its options. Unknown names and options are errors that
list the valid ones.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from models.motion.arkit import ARKIT_DIM
from models.options import convert_option, parse_named_spec

PIP_HINT = "pip install 'avatar-forcing[render]'"


class RendererError(ValueError):
    """Unknown renderer or option, a bad option value, or a renderer that cannot run here."""


class RendererUnavailableError(RendererError):
    """A renderer's package or asset is missing; the message says what to install."""


@dataclass(frozen=True)
class RenderConfig:
    """Options every renderer takes. Subclasses add their own fields (all with defaults)."""

    width: int = 512
    height: int = 512

    def __post_init__(self) -> None:
        for key in ("width", "height"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 4096:
                raise RendererError(f"{key} must be an integer in 16..4096, got {value!r}")


C = TypeVar("C", bound=RenderConfig)


class Renderer(abc.ABC):
    """Base class: subclasses set ``Config`` and implement :meth:`render`."""

    name: ClassVar[str] = "renderer"
    Config: ClassVar[type[RenderConfig]] = RenderConfig
    transparent: ClassVar[bool] = True  # whether the background is transparent (alpha 0)

    def __init__(self, config: RenderConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise RendererError(f"{self.name}: config must be a {self.Config.__name__}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.config.width, self.config.height

    @abc.abstractmethod
    def render(self, frame: np.ndarray) -> np.ndarray:
        """One ARKit frame (58,) -> (H, W, 4) uint8 RGBA image, straight alpha."""

    @abc.abstractmethod
    def regions(self) -> dict[str, tuple[int, int, int, int]]:
        """Pixel boxes (x0, y0, x1, y1), exclusive ends, of the rest pose's parts: at least "face"
        (the head outline's bounding box), "mouth", "left_eye" and "right_eye" (the avatar's own
        left, i.e. on the viewer's right). Tests and tools use them to look at the right pixels."""

    def render_many(self, frames: np.ndarray) -> list[np.ndarray]:
        """(n, 58) ARKit frames -> n images."""
        frames = check_frames(frames)
        return [self.render(f) for f in frames]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (none by default)."""


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate ARKit frames: (58,) or (n, 58), finite -> (n, 58) float32."""
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != ARKIT_DIM:
        raise RendererError(f"frames must have shape (n, {ARKIT_DIM}) or ({ARKIT_DIM},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise RendererError("frames contain NaN or infinite values")
    return arr


# --------------------------------------------------------------------------------------------- registry
RendererFactory = type[Renderer]

_REGISTRY: dict[str, RendererFactory] = {}
# Built-in renderers, imported on first use so that optional packages are only needed when selected.
_BUILTIN: dict[str, str] = {
    "cartoon": "models.render.cartoon",
    "portrait": "models.render.portrait",
}
_ALIASES: dict[str, str] = {
    "2d": "cartoon",
    "stylised": "cartoon",
    "stylized": "cartoon",
    "photo": "portrait",
}

R = TypeVar("R", bound=type[Renderer])


def _normalise(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    return _ALIASES.get(key, key)


def register_renderer(name: str, *, replace: bool = False) -> Callable[[R], R]:
    """Class decorator registering a :class:`Renderer` subclass under ``name``."""
    key = _normalise(name)

    def decorator(cls: R) -> R:
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not cls and not replace:
            raise RendererError(f"a renderer named {key!r} is already registered ({existing!r})")
        _REGISTRY[key] = cls
        cls.name = key
        return cls

    return decorator


def renderer_names() -> list[str]:
    """Names accepted by :func:`create_renderer`, sorted."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_renderer_class(name: str) -> RendererFactory:
    """The class registered under ``name`` (built-ins are imported on first use)."""
    key = _normalise(name)
    if key not in _REGISTRY and key in _BUILTIN:
        try:
            importlib.import_module(_BUILTIN[key])
        except ImportError as exc:
            raise RendererUnavailableError(
                f"renderer {key!r} needs a missing package: {PIP_HINT} ({exc})"
            ) from exc
    try:
        return _REGISTRY[key]
    except KeyError:
        raise RendererError(
            f"unknown renderer {name!r}; valid renderers: {', '.join(renderer_names())}"
        ) from None


def renderer_options(name: str) -> dict[str, dataclasses.Field[Any]]:
    """The options (config fields) a renderer accepts."""
    return {f.name: f for f in dataclasses.fields(get_renderer_class(name).Config)}


def make_config(name: str, options: Mapping[str, Any] | None = None) -> RenderConfig:
    """Build the renderer's typed config from ``options``; strings (CLI) are converted by type."""
    cls = get_renderer_class(name)
    fields = renderer_options(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise RendererError(
            f"renderer {cls.name!r}: unknown option(s) {unknown}; valid options: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls.Config)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        try:
            kwargs[key] = convert_option(value, hints[key]) if isinstance(value, str) else value
        except (TypeError, ValueError) as exc:
            raise RendererError(f"renderer {cls.name!r}: option {key}={value!r} is invalid: {exc}") from None
    try:
        return cls.Config(**kwargs)
    except RendererError as exc:
        raise RendererError(f"renderer {cls.name!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise RendererError(f"renderer {cls.name!r}: {exc}") from None


def create_renderer(name: str, **options: Any) -> Renderer:
    """Create the renderer ``name`` with keyword ``options`` (its config's fields)."""
    cls = get_renderer_class(name)
    return cls(make_config(name, options))


def parse_renderer_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"portrait:image=me.jpg,width=384"`` -> ``("portrait", {"image": "me.jpg", "width": "384"})``."""
    try:
        return parse_named_spec(spec, "renderer")
    except ValueError as e:
        raise RendererError(f"{e}; valid renderers: {', '.join(renderer_names())}") from None
