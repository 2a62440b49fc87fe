"""Image encoding for rendered frames: PNG and WebP keep the alpha channel, JPEG drops it
(composited over a background colour), ``rgba`` is the raw pixels (width * height * 4 bytes).

Encoding uses skia (the renderers' drawing library, ``pip install 'avatar-forcing[render]'``).
"""

from __future__ import annotations

import numpy as np

from models.render.base import PIP_HINT, RendererError, RendererUnavailableError

IMAGE_FORMATS: tuple[str, ...] = ("png", "webp", "jpeg", "rgba")


def composite(image: np.ndarray, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """(H, W, 4) straight-alpha RGBA over an opaque colour -> (H, W, 3) uint8 RGB."""
    alpha = image[..., 3:4].astype(np.uint16)
    if int(alpha.min()) == 255:  # opaque already (the portrait): no blending
        return np.ascontiguousarray(image[..., :3])
    rgb = image[..., :3].astype(np.uint16)
    bg = np.asarray(background, np.uint16)
    mixed = rgb * alpha + bg * (255 - alpha) + 127  # integer blend, rounded
    return (mixed // 255).astype(np.uint8)


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
    """(H, W, 4) uint8 RGBA (straight alpha) -> encoded bytes in ``fmt`` (one of IMAGE_FORMATS)."""
    if fmt not in IMAGE_FORMATS:
        raise RendererError(f"unknown image format {fmt!r}; valid: {list(IMAGE_FORMATS)}")
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 4:
        raise RendererError(f"image must be (H, W, 4) uint8 RGBA, got {arr.dtype} {arr.shape}")
    if fmt == "rgba":
        return np.ascontiguousarray(arr).tobytes()
    try:
        import skia
    except ImportError as exc:
        raise RendererUnavailableError(f"encoding {fmt} needs skia-python: {PIP_HINT} ({exc})") from exc
    if fmt == "jpeg":
        rgb = composite(arr)
        arr = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    img = skia.Image.fromarray(
        np.ascontiguousarray(arr), colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kUnpremul_AlphaType
    )
    kind = {"png": skia.kPNG, "webp": skia.kWEBP, "jpeg": skia.kJPEG}[fmt]
    data = img.encodeToData(kind, int(quality))
    if data is None:
        raise RendererError(f"skia could not encode a {arr.shape[1]}x{arr.shape[0]} image as {fmt}")
    return bytes(data)


def decode_image(data: bytes) -> np.ndarray:
    """Encoded PNG/WebP/JPEG bytes -> (H, W, 4) uint8 RGBA (straight alpha); for tests and tools."""
    try:
        import skia
    except ImportError as exc:
        raise RendererUnavailableError(f"decoding images needs skia-python: {PIP_HINT} ({exc})") from exc
    img = skia.Image.MakeFromEncoded(skia.Data.MakeWithCopy(data))
    if img is None:
        raise RendererError("not a PNG, WebP or JPEG image")
    return np.asarray(img.toarray(colorType=skia.kRGBA_8888_ColorType, alphaType=skia.kUnpremul_AlphaType))
