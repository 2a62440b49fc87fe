"""`AudioConditioner`: one live audio stream -> per-frame condition features for the generator.

    samples (any rate, mono/stereo, int16/float) --StreamingResampler--> 16 kHz mono (N,)
      --StreamingFrontEnd--> (n, F) normalised log-mel --AudioEncoder--> (n, dim_cond)

The same class serves the avatar's audio and the user's audio (one instance per stream). It keeps
every piece of state (resampler, sample/feature buffers and normaliser, encoder state), so `push`
may be called with chunks of any size; `finish` ends a stream (zero padding to ceil(N / 640)
frames) and `reset` starts a new one. `encode_file` runs an independent copy of the same chain on a
whole signal and returns the same features as pushing it in chunks (to float rounding of the GRU).

Latency of a frame after its own end: `FrontEndConfig.lookahead_ms` (40 ms by default) plus the
resampler's buffering for non-16 kHz input (none at 16 kHz; see `models.audio.resample`).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .encoder import AudioEncoder, EncoderState
from .features import FrontEndConfig, StreamingFrontEnd
from .resample import StreamingResampler, check_rate

logger = logging.getLogger(__name__)


class AudioConditioner:
    """Resample -> causal features -> causal encoder for ONE live stream, with all its state.

    Args:
        encoder: the learned encoder; its `config.dim_in` must equal `front_end.feature_dim`.
        front_end: front-end settings (default `FrontEndConfig()`).
        resample_quality: libsoxr quality ("HQ" default; "LQ" halves the resampler delay).
    """

    def __init__(
        self,
        encoder: AudioEncoder,
        front_end: FrontEndConfig | None = None,
        resample_quality: str = "HQ",
    ) -> None:
        self.front_end_config = front_end or FrontEndConfig()
        if encoder.config.dim_in != self.front_end_config.feature_dim:
            raise ValueError(
                f"encoder expects {encoder.config.dim_in} input features but the front end makes "
                f"{self.front_end_config.feature_dim}"
            )
        self.encoder = encoder
        self.resample_quality = resample_quality
        self._front = StreamingFrontEnd(self.front_end_config)
        self._resampler: StreamingResampler | None = None
        self._state: EncoderState | None = None
        self.reset()

    @property
    def dim_cond(self) -> int:
        return self.encoder.config.dim_cond

    @property
    def frames_emitted(self) -> int:
        return self._front.frames_emitted

    def reset(self) -> None:
        """Forget the stream (resampler, buffers, normaliser statistics, encoder state)."""
        self._resampler = None
        self._rate: float | None = None
        self._channels: int | None = None
        self._front.reset()
        self._state = None
        logger.debug("audio conditioner reset")

    def push(self, samples: np.ndarray, rate: float, channels: int | None = None) -> torch.Tensor:
        """Feed one chunk; returns the condition features of the frames it completed, `(n, dim_cond)`.

        `samples`: `(N,)` mono or interleaved (`channels > 1`), or `(N, C)`; int16/float32/float64.
        The rate and channel layout are fixed by the first chunk until `reset()`.
        """
        rate = check_rate(rate)
        if self._resampler is None:
            self._resampler = StreamingResampler(rate, channels, self.resample_quality)
            self._rate, self._channels = rate, channels
            logger.debug("audio conditioner: new stream at %g Hz", rate)
        elif rate != self._rate:
            raise ValueError(f"sample rate changed from {self._rate:g} to {rate:g} Hz; call reset() first")
        elif channels is not None and self._channels is not None and channels != self._channels:
            raise ValueError(f"channels changed from {self._channels} to {channels}; call reset() first")
        audio = self._resampler.push(samples)  # (n16,) 16 kHz mono
        return self._encode(self._front.push(audio))

    def push_silence(self, frames: int) -> torch.Tensor:
        """Feed digital silence until at least `frames` frames have been emitted in all; returns the
        new frames `(n, dim_cond)`. Used when a live input falls behind the stream's clock."""
        rate = self._rate or 16000.0
        per_frame = int(np.ceil(self._front.config.samples_per_frame * rate / 16000.0))
        chunks = []
        while self.frames_emitted < frames:
            zeros = np.zeros(per_frame * max(1, self._channels or 1), np.float32)
            chunks.append(self.push(zeros, rate, self._channels))
        return torch.cat(chunks) if chunks else torch.zeros(0, self.dim_cond)

    def finish(self) -> torch.Tensor:
        """End the stream: flush the resampler, zero-pad, return the last frames `(n, dim_cond)`.

        Afterwards the stream has ceil(N16 / 640) frames in all (N16: samples at 16 kHz).
        Call `reset()` before pushing a new stream.
        """
        feats = [] if self._resampler is None else [self._front.push(self._resampler.flush())]
        feats.append(self._front.finish())
        return self._encode(np.concatenate(feats))

    def encode_file(self, samples: np.ndarray, rate: float, channels: int | None = None) -> torch.Tensor:
        """Condition features of a whole signal, `(T, dim_cond)`; leaves this stream untouched."""
        offline = AudioConditioner(self.encoder, self.front_end_config, self.resample_quality)
        head = offline.push(samples, rate, channels)  # (n, dim_cond)
        tail = offline.finish()  # (T - n, dim_cond)
        return torch.cat([head, tail])  # (T, dim_cond)

    def _encode(self, feats: np.ndarray) -> torch.Tensor:
        """`(n, F)` features -> `(n, dim_cond)` with the carried encoder state."""
        param = next(self.encoder.parameters())
        x = torch.from_numpy(feats).to(device=param.device, dtype=param.dtype)[None]  # (1, n, F)
        if x.shape[1] == 0:
            return x.new_zeros(0, self.dim_cond)
        with torch.no_grad():
            out, self._state = self.encoder(x, self._state)  # (1, n, dim_cond)
        return out[0]  # (n, dim_cond)
