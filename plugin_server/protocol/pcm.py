"""PCM audio on the wire: little-endian int16 (`s16le`) or float32 (`f32le`), mono or interleaved.

A chunk's `data` is `frames * channels` samples, frame-major (`L R L R ...` for stereo), at any
integer rate from `MIN_RATE` to `MAX_RATE` Hz. int16 maps to float as `x / 32768`; float32 is taken
as is (nominal range [-1, 1]) and must be finite. Encoding float to int16 clips to [-1, 1) and
rounds to the nearest step.
"""

from __future__ import annotations

import numpy as np

from .errors import ErrorCode, ProtocolError

SAMPLE_FORMATS: dict[str, np.dtype] = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
MIN_RATE = 8000
MAX_RATE = 96000
MAX_CHANNELS = 8


def bytes_per_frame(sample_format: str, channels: int) -> int:
    """Bytes of one frame (one sample per channel)."""
    return SAMPLE_FORMATS[sample_format].itemsize * channels


def check_format(sample_format: str, rate: int, channels: int, msg_id: int | None = None) -> None:
    """Raise `ProtocolError` unless (format, rate, channels) is something the server accepts."""
    if sample_format not in SAMPLE_FORMATS:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"sample format {sample_format!r} is not supported; valid: {sorted(SAMPLE_FORMATS)}",
            msg_id,
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_RATE, f"sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE}", msg_id
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_FORMAT, f"channels must be 1..{MAX_CHANNELS}, got {channels}", msg_id
        )


def pcm_frames(nbytes: int, sample_format: str, channels: int, msg_id: int | None = None) -> int:
    """Frames in `nbytes` of PCM; a byte count that is not a whole number of frames is refused."""
    size = bytes_per_frame(sample_format, channels)
    if nbytes % size:
        raise ProtocolError(
            ErrorCode.BAD_VALUE,
            f"{nbytes} bytes is not a whole number of {sample_format} frames of {channels} channel(s) "
            f"({size} bytes each)",
            msg_id,
        )
    return nbytes // size


def decode_pcm(data: bytes, sample_format: str, channels: int, msg_id: int | None = None) -> np.ndarray:
    """Wire bytes -> float32 `(frames, channels)`; non-finite float32 samples are refused."""
    n = pcm_frames(len(data), sample_format, channels, msg_id)
    raw = np.frombuffer(data, SAMPLE_FORMATS[sample_format], count=n * channels)
    if sample_format == "s16le":
        out = raw.astype(np.float32) * np.float32(1.0 / 32768.0)
    else:
        out = raw.astype(np.float32)
        if not np.isfinite(out).all():
            raise ProtocolError(ErrorCode.BAD_VALUE, "float32 audio contains NaN or infinite samples", msg_id)
    return out.reshape(n, channels)


def encode_pcm(samples: np.ndarray, sample_format: str) -> bytes:
    """float `(frames, channels)` or `(frames,)` -> wire bytes (interleaved, little-endian)."""
    x = np.asarray(samples, np.float32)
    if sample_format == "s16le":
        q = np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2")
        return q.tobytes()
    if sample_format == "f32le":
        return x.astype("<f4").tobytes()
    raise ProtocolError(ErrorCode.UNSUPPORTED_FORMAT, f"sample format {sample_format!r} is not supported")


def duration_s(nbytes: int, sample_format: str, rate: int, channels: int) -> float:
    """Seconds of audio in `nbytes` (whole frames only)."""
    return (nbytes // bytes_per_frame(sample_format, channels)) / rate
