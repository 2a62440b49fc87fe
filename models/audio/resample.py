"""Any sample rate, mono or multi-channel, to 16 kHz mono float32, offline and streaming.

Resampling is done by libsoxr (the `soxr` package). The offline `to_16k` runs the very same
streaming resampler over the whole signal and flushes it, so a live stream cut into any chunk sizes
and a whole file give the same samples (libsoxr's streaming output is exactly its one-shot output).

Accepted input (`samples`):
- dtype `int16` (scaled by 1/32768), `float32` or `float64` (taken as is, nominal range [-1, 1]);
- shape `(N,)`: mono, or interleaved frames when `channels > 1` (`L R L R ...`);
- shape `(N, C)`: frames by channels, `C <= MAX_CHANNELS` (channel-first `(C, N)` is refused).
Channels are down-mixed to mono by averaging before resampling. NaN or infinite samples, a rate
that is not a finite positive number, and any other dtype or shape are `ValueError`s.

Latency: 16 kHz input passes through untouched. Otherwise libsoxr holds back output it cannot yet
finish; with the default "HQ" quality and 10-20 ms chunks that is about 21-23 ms on average
(at most ~40 ms) from 44.1/48 kHz, and about 64 ms on average (at most ~115 ms) from 8 kHz.
"LQ" halves it but rolls off above ~6 kHz, which the top mel bands would notice.
"""

from __future__ import annotations

import logging
import math
from numbers import Real

import numpy as np
import soxr

logger = logging.getLogger(__name__)

TARGET_RATE = 16000
MAX_CHANNELS = 8
QUALITIES: tuple[str, ...] = ("QQ", "LQ", "MQ", "HQ", "VHQ")
_ACCEPTED_DTYPES = (np.dtype(np.int16), np.dtype(np.float32), np.dtype(np.float64))


def check_rate(rate: float) -> float:
    """Return `rate` as a float, or raise `ValueError` if it is not a finite number > 0."""
    if isinstance(rate, bool) or not isinstance(rate, Real):
        raise ValueError(f"sample rate must be a number, got {type(rate).__name__} {rate!r}")
    value = float(rate)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"sample rate must be a finite number > 0, got {rate!r}")
    return value


def check_channels(channels: int | None) -> None:
    """Raise `ValueError` unless `channels` is None or an int in 1..MAX_CHANNELS."""
    if channels is not None and (
        isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS
    ):
        raise ValueError(f"channels must be an int in 1..{MAX_CHANNELS}, got {channels!r}")


def to_mono_float32(samples: np.ndarray, channels: int | None = None) -> np.ndarray:
    """Validate `samples` and down-mix them to mono float32 `(N,)` at the same rate.

    Args:
        samples: `(N,)` mono or interleaved, or `(N, C)`; int16, float32 or float64.
        channels: channel count of 1-D interleaved input; for 2-D input it must equal `C` if given.
    """
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples must be a numpy array, got {type(samples).__name__}")
    if samples.dtype not in _ACCEPTED_DTYPES:
        raise ValueError(f"samples dtype must be int16, float32 or float64, got {samples.dtype}")
    check_channels(channels)
    if samples.ndim == 1:
        n_ch = channels or 1
        if samples.shape[0] % n_ch:
            raise ValueError(
                f"interleaved samples: length {samples.shape[0]} is not a multiple of channels={n_ch}"
            )
        frames = samples.reshape(-1, n_ch)  # (N, C)
    elif samples.ndim == 2:
        n_ch = samples.shape[1]
        if not 1 <= n_ch <= MAX_CHANNELS:
            raise ValueError(
                f"samples of shape {samples.shape}: expected (N, C) with 1 <= C <= {MAX_CHANNELS} "
                "(channel-first audio must be transposed)"
            )
        if channels is not None and channels != n_ch:
            raise ValueError(f"channels={channels} but samples have shape {samples.shape} (N, C)")
        frames = samples
    else:
        raise ValueError(f"samples must have shape (N,) or (N, C), got {samples.shape}")

    if frames.dtype == np.int16:
        data = frames.astype(np.float32) * np.float32(1.0 / 32768.0)  # (N, C)
    else:
        if not np.isfinite(frames).all():
            raise ValueError("samples contain NaN or infinite values")
        data = frames.astype(np.float32, copy=False)  # (N, C)
    if data.shape[1] == 1:
        return np.ascontiguousarray(data[:, 0])  # (N,)
    return np.ascontiguousarray(data.mean(axis=1, dtype=np.float32))  # (N,)


class StreamingResampler:
    """One live stream at `rate` Hz -> 16 kHz mono float32, chunk by chunk.

    `push(chunk)` returns whatever 16 kHz samples are ready (possibly none); `flush()` returns the
    rest at the end of the stream. Concatenated, the outputs equal `to_16k` of the whole signal.
    The channel layout is fixed by `channels` (1-D chunks are then interleaved) or else by the
    first non-empty chunk; a chunk with another layout is a `ValueError`.
    """

    def __init__(self, rate: float, channels: int | None = None, quality: str = "HQ") -> None:
        self.rate = check_rate(rate)
        check_channels(channels)
        if quality not in QUALITIES:
            raise ValueError(f"unknown soxr quality {quality!r}; valid: {list(QUALITIES)}")
        self.quality = quality
        self._channels_arg = channels
        self._channels = channels
        self._passthrough = self.rate == TARGET_RATE
        self._stream: soxr.ResampleStream | None = None
        self._finished = False
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next chunk starts a new signal."""
        self._channels = self._channels_arg
        self._finished = False
        if self._passthrough:
            self._stream = None
        elif self._stream is None:
            self._stream = soxr.ResampleStream(
                self.rate, TARGET_RATE, 1, dtype="float32", quality=self.quality
            )
        else:
            self._stream.clear()

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Resample one chunk; returns `(n,)` float32 at 16 kHz (n may be 0)."""
        if self._finished:
            raise RuntimeError("push() after flush(): call reset() to start a new stream")
        if isinstance(chunk, np.ndarray) and chunk.ndim == 2:  # (N, C): the layout is in the shape
            if self._channels is not None and chunk.shape[1] != self._channels:
                raise ValueError(
                    f"chunk has {chunk.shape[1]} channels but this stream has {self._channels}; "
                    "call reset() first"
                )
            mono = to_mono_float32(chunk)  # (N,)
            layout = chunk.shape[1]
        else:  # (N,): mono, or interleaved when the stream was given `channels`
            if self._channels_arg is None and (self._channels or 1) > 1:
                raise ValueError(
                    f"1-D chunk on a stream of (N, {self._channels}) chunks: pass (N, C) chunks, or create "
                    "the stream with channels=C for interleaved 1-D chunks"
                )
            mono = to_mono_float32(chunk, self._channels)  # (N,)
            layout = self._channels or 1
        if self._channels is None and mono.size:
            self._channels = layout
        if self._passthrough:
            return mono.copy()
        assert self._stream is not None
        if mono.size == 0:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(mono)  # (n,)

    def flush(self) -> np.ndarray:
        """End the stream: return the samples libsoxr still holds, `(n,)` float32."""
        if self._finished:
            raise RuntimeError("flush() called twice: call reset() to start a new stream")
        self._finished = True
        if self._passthrough:
            return np.zeros(0, dtype=np.float32)
        assert self._stream is not None
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)  # (n,)


def to_16k(samples: np.ndarray, rate: float, channels: int | None = None, quality: str = "HQ") -> np.ndarray:
    """Resample a whole signal to 16 kHz mono float32 `(M,)`, M ~= round(N * 16000 / rate).

    Runs `StreamingResampler` over the whole signal, so it matches any chunked stream exactly.
    """
    resampler = StreamingResampler(rate, channels, quality)
    head = resampler.push(samples)
    tail = resampler.flush()
    return np.concatenate([head, tail])  # (M,)
