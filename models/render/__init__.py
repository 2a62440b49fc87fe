"""Renderers: ARKit motion frames -> RGBA images (a stylised 2D avatar, an animated portrait).

See :mod:`models.render.base` for the interface and the registry.
"""

from models.render.base import (
    RenderConfig,
    Renderer,
    RendererError,
    RendererUnavailableError,
    check_frames,
    create_renderer,
    get_renderer_class,
    make_config,
    parse_renderer_spec,
    register_renderer,
    renderer_names,
    renderer_options,
)
from models.render.encode import IMAGE_FORMATS, encode_image

__all__ = [
    "IMAGE_FORMATS",
    "RenderConfig",
    "Renderer",
    "RendererError",
    "RendererUnavailableError",
    "check_frames",
    "create_renderer",
    "encode_image",
    "get_renderer_class",
    "make_config",
    "parse_renderer_spec",
    "register_renderer",
    "renderer_names",
    "renderer_options",
]
