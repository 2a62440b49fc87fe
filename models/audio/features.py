"""Causal log-mel front end: 16 kHz mono audio -> one normalised feature vector per 40-ms frame.

Layout (defaults of `FrontEndConfig`)
-------------------------------------
- STFT sub-frames: 25-ms periodic Hann window (400 samples, per-window DC removed, zero-padded to
  512), hop 10 ms (160 samples); sub-frame `j` covers samples `[(j+1)*160 - 400, (j+1)*160)` (the
  stream starts with 240 zeros of history).
- 40 triangular mel bands (HTK mel scale, 60-7600 Hz) in dB of power relative to full scale
  (a full-scale sine reads -3 dB), plus one band-limited energy value: 41 values per sub-frame.
- Frame `t` (video time `[40t, 40t+40)` ms) stacks the 4 sub-frames whose windows END at
  `40(t+1) + lookahead - 30, ..., 40(t+1) + lookahead` ms, sub-frame-major: `F = 4 * 41 = 164`.
  Audio before that (the frame itself, with the default 40-ms look-ahead) reaches frame `t` through
  the encoder's causal convolutions and GRU.

Latency: frame `t` needs audio up to `(t+1) * 40 ms + lookahead_ms`; with the default 40 ms it is
emitted 40 ms after its own end (plus the resampler's delay for non-16 kHz input). `lookahead_ms`
must be a multiple of the 10-ms hop; 0 makes the front end strictly causal.

Normalisation (all causal, all in dB, robust to level, microphone and voice)
---------------------------------------------------------------------------
Per sub-frame with log-mel `m` (M,) and energy `e`:
1. noise floor `N` = minimum of `e` over the last `noise_window_s` (minimum statistics; the first
   two sub-frames, whose windows reach into the zeros before the stream, are left out);
2. the sub-frame is speech-like ("active") if `e >= N + gate_db` and `e >= abs_gate_db`: stationary
   noise and long silences never pass the gate, so they cannot drift the statistics;
3. on active sub-frames only, a running per-band mean `mu` and speech level `S` are updated with
   rate `max(1/k, hop / norm_time_s)` (`k` = active sub-frames so far): an exact cumulative mean at
   first (the first active sub-frame sets them), then an exponential mean over ~`norm_time_s`;
4. spectral part = `clip(m - mu, -spec_floor_db, spec_ceil_db) / db_per_unit`: subtracting a
   per-band mean in the log domain removes level (gain), a stationary microphone/channel response and
   the speaker's long-term spectral colour;
5. energy channel = `clip(e - max(S, N + gate_db), -energy_floor_db, energy_ceil_db) / db_per_unit`:
   speech sits near 0; silence and stationary noise about `gate_db` or more below it (less their
   fluctuation above the floor `N`); digital silence at the floor. So silence stays detectable after
   normalisation, and `max(S, N + gate_db)` keeps a noise-only stream (no speech seen yet) from
   reading as speech level.
Before the first active sub-frame, `mu` and `S` hold a flat-spectrum prior at `prior_speech_db`.
All values lie in `config.feature_bounds` (defaults [-2.5, 1.0]) and are finite for any finite input.

Offline `compute` is literally the streaming front end fed with the whole signal and finished, so a
stream cut into any chunk sizes gives the same features as a file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.generator.config import ConfigError, strict_from_dict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontEndConfig:
    """Settings of the causal log-mel front end (travels in checkpoints: `to_dict` / `from_dict`)."""

    sample_rate: int = 16000
    fps: int = 25  # video frames per second: 640 samples per frame
    n_mels: int = 40
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms: 4 sub-frames per 40-ms video frame
    f_min: float = 60.0
    f_max: float = 7600.0
    lookahead_ms: int = 40  # frame t sees audio up to (t+1)/fps + lookahead: this is added latency
    # normalisation (dB)
    gate_db: float = 10.0  # speech-like if this far above the noise floor ...
    abs_gate_db: float = -80.0  # ... and above this absolute level (dBFS)
    noise_window_s: float = 1.0  # noise floor = minimum energy over this window
    norm_time_s: float = 3.0  # time constant of the running means, in seconds of speech
    prior_speech_db: float = -26.0  # speech level assumed before any speech is seen
    spec_floor_db: float = 40.0  # spectral part clipped to [-floor, +ceil] dB around the band mean
    spec_ceil_db: float = 20.0
    energy_floor_db: float = 50.0  # energy channel clipped to [-floor, +ceil] dB around speech level
    energy_ceil_db: float = 20.0
    db_per_unit: float = 20.0  # features are dB / db_per_unit
    power_floor_db: float = -130.0  # added to every power before the log (digital silence)

    def __post_init__(self) -> None:
        spf = self.sample_rate // self.fps if self.fps > 0 else 0  # samples per video frame
        lookahead = self.lookahead_ms * self.sample_rate  # in samples * 1000
        nyquist = self.sample_rate / 2
        hop, win = self.hop_length, self.win_length
        checks = {
            "sample_rate and fps must be > 0": self.sample_rate > 0 and self.fps > 0,
            "sample_rate must be a multiple of fps": spf * self.fps == self.sample_rate,
            "need 0 < hop_length <= win_length <= n_fft": 0 < hop <= win <= self.n_fft,
            "hop_length must divide the samples per frame": hop > 0 and spf % hop == 0,
            "lookahead_ms must be >= 0 and a whole number of hops": lookahead >= 0
            and lookahead % 1000 == 0
            and hop > 0
            and (lookahead // 1000) % hop == 0,
            "need 0 <= f_min < f_max <= sample_rate / 2": 0 <= self.f_min < self.f_max <= nyquist,
            "n_mels must be >= 1": self.n_mels >= 1,
            "gate_db must be >= 0": self.gate_db >= 0,
            "noise_window_s, norm_time_s and db_per_unit must be > 0": min(
                self.noise_window_s, self.norm_time_s, self.db_per_unit
            )
            > 0,
            "clip ranges (spec/energy floor/ceil) must be > 0": min(
                self.spec_floor_db, self.spec_ceil_db, self.energy_floor_db, self.energy_ceil_db
            )
            > 0,
        }
        bad = [msg for msg, ok in checks.items() if not ok]
        if bad:
            raise ConfigError("invalid FrontEndConfig: " + "; ".join(bad))

    # -- derived geometry ------------------------------------------------------------------
    @property
    def samples_per_frame(self) -> int:
        """Audio samples per video frame (640)."""
        return self.sample_rate // self.fps

    @property
    def subframes_per_frame(self) -> int:
        """STFT hops per video frame (4)."""
        return self.samples_per_frame // self.hop_length

    @property
    def lookahead_samples(self) -> int:
        return self.lookahead_ms * self.sample_rate // 1000

    @property
    def lookahead_subframes(self) -> int:
        return self.lookahead_samples // self.hop_length

    @property
    def values_per_subframe(self) -> int:
        """`n_mels` spectral values and one energy value (41)."""
        return self.n_mels + 1

    @property
    def feature_dim(self) -> int:
        """Width F of one frame's feature vector (164)."""
        return self.subframes_per_frame * self.values_per_subframe

    @property
    def feature_bounds(self) -> tuple[float, float]:
        """Every feature lies in [lo, hi]."""
        lo = -max(self.spec_floor_db, self.energy_floor_db) / self.db_per_unit
        hi = max(self.spec_ceil_db, self.energy_ceil_db) / self.db_per_unit
        return lo, hi

    @property
    def latency_ms(self) -> float:
        """Delay between the end of a frame's audio and the moment its features can be computed."""
        return float(self.lookahead_ms)

    def num_frames(self, num_samples: int) -> int:
        """Frames of a file of `num_samples` samples: ceil(num_samples / samples_per_frame)."""
        return -(-num_samples // self.samples_per_frame)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontEndConfig:
        """Inverse of `to_dict`; unknown keys are a `ConfigError` listing the valid ones."""
        return strict_from_dict(cls, data, "front-end config")

    def replace(self, **changes: Any) -> FrontEndConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(
                f"unknown front-end config key(s) {unknown}; valid keys: "
                f"{[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **changes)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float) -> np.ndarray:
    """Triangular mel filters with peak 1, `(n_mels, n_fft // 2 + 1)` float64.

    Neighbouring triangles sum to 1 between the first and last centre, so the sum of the band powers
    is the power between roughly `f_min` and `f_max`.
    """
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # (K,)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))  # (M + 2,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (freqs[None, :] - lower) / (centre - lower)  # (M, K)
    falling = (upper - freqs[None, :]) / (upper - centre)  # (M, K)
    fb = np.clip(np.minimum(rising, falling), 0.0, None)  # (M, K)
    empty = np.flatnonzero(fb.sum(axis=1) <= 0)
    if empty.size:
        raise ConfigError(
            f"mel bands {empty.tolist()} cover no FFT bin: lower n_mels, raise n_fft or widen f_min..f_max"
        )
    return fb


def check_samples_16k(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Validate front-end input: `(N,)` float32/float64 finite mono samples; returns float64."""
    hint = f"(resample with models.audio.resample.to_16k to {sample_rate} Hz mono float32 first)"
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples must be a numpy array, got {type(samples).__name__} {hint}")
    if samples.ndim != 1:
        raise ValueError(f"samples must be mono (N,), got shape {samples.shape} {hint}")
    if samples.dtype not in (np.float32, np.float64):
        raise ValueError(f"samples must be float32 or float64, got {samples.dtype} {hint}")
    if not np.isfinite(samples).all():
        raise ValueError("samples contain NaN or infinite values")
    return samples.astype(np.float64, copy=False)


class CausalNormalizer:
    """Gated running normalisation of log-mel sub-frames (see the module docstring, steps 1-5)."""

    def __init__(self, config: FrontEndConfig, prior_band_db: np.ndarray) -> None:
        self.config = config
        self._prior_band_db = prior_band_db.astype(np.float64)  # (M,)
        sub_per_s = config.sample_rate / config.hop_length
        self._window = max(1, round(config.noise_window_s * sub_per_s))
        self._min_rate = 1.0 / (config.norm_time_s * sub_per_s)
        # the first sub-frames' windows reach into the zero history before the stream: they would
        # read as quiet and pull the noise floor down, so they stay out of the floor's history
        self._partial = -(-(config.win_length - config.hop_length) // config.hop_length)
        self.reset()

    def reset(self) -> None:
        self._energies: deque[float] = deque(maxlen=self._window)
        self.band_mean = self._prior_band_db.copy()  # (M,) dB
        self.speech_level = float(self.config.prior_speech_db)  # dB
        self.active_count = 0
        self.seen = 0  # sub-frames processed

    def process(self, log_mel: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Normalise `(n, M)` log-mel dB and `(n,)` energy dB sub-frames -> `(n, M + 1)` features."""
        c = self.config
        n, m = log_mel.shape
        means = np.empty((n, m))  # (n, M) band mean after each sub-frame's update
        refs = np.empty(n)  # (n,) energy reference
        hist = self._energies
        for i in range(n):
            e = float(energy[i])
            if self.seen >= self._partial:
                hist.append(e)
            self.seen += 1
            floor = min(hist) if hist else e
            if e >= floor + c.gate_db and e >= c.abs_gate_db:
                self.active_count += 1
                rate = max(1.0 / self.active_count, self._min_rate)
                self.band_mean = self.band_mean + rate * (log_mel[i] - self.band_mean)
                self.speech_level += rate * (e - self.speech_level)
            means[i] = self.band_mean
            refs[i] = max(self.speech_level, floor + c.gate_db)
        out = np.empty((n, m + 1))  # (n, M + 1)
        out[:, :m] = np.clip(log_mel - means, -c.spec_floor_db, c.spec_ceil_db)
        out[:, m] = np.clip(energy - refs, -c.energy_floor_db, c.energy_ceil_db)
        return out / c.db_per_unit


class StreamingFrontEnd:
    """The causal front end for one stream: `push` 16 kHz samples, get finished frames `(n, F)`.

    State: the last `win_length - hop_length` samples (window overlap) plus any incomplete hop,
    normalised sub-frames of the frame being assembled, and the normaliser's running statistics.
    `finish()` pads the end with zeros so a stream of N samples yields ceil(N / 640) frames.
    """

    def __init__(self, config: FrontEndConfig | None = None) -> None:
        self.config = c = config or FrontEndConfig()
        n = np.arange(c.win_length)
        self._window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / c.win_length)  # (win,) periodic Hann
        self._filters_t = np.ascontiguousarray(
            mel_filterbank(c.n_mels, c.n_fft, c.sample_rate, c.f_min, c.f_max).T
        )  # (K, M)
        # one-sided |X|^2 -> mean square of the windowed signal (Parseval), so 0 dB = full scale
        self._power_scale = 2.0 / (c.n_fft * float(np.sum(self._window**2)))
        self._power_floor = 10.0 ** (c.power_floor_db / 10.0)
        band_share = self._filters_t.sum(axis=0) / self._filters_t.sum()  # (M,)
        self.normalizer = CausalNormalizer(c, c.prior_speech_db + 10.0 * np.log10(band_share))
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        c = self.config
        self._buf = np.zeros(c.win_length - c.hop_length)  # samples from (next_sub + 1) * hop - win
        self._next_sub = 0  # index of the next sub-frame to analyse
        self._pending = np.zeros((0, c.values_per_subframe))  # (n, M + 1) sub-frames of frame to come
        self.num_samples = 0  # samples pushed so far
        self.frames_emitted = 0
        self._finished = False
        self.normalizer.reset()

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append 16 kHz mono samples `(N,)`; returns the frames completed by them, `(n, F)` float32."""
        if self._finished:
            raise RuntimeError("push() after finish(): call reset() to start a new stream")
        x = check_samples_16k(samples, self.config.sample_rate)  # (N,)
        self.num_samples += x.shape[0]
        return self._consume(x)

    def finish(self) -> np.ndarray:
        """End the stream: zero-pad and return the remaining frames, `(n, F)` float32."""
        if self._finished:
            raise RuntimeError("finish() called twice: call reset() to start a new stream")
        c = self.config
        total = c.num_frames(self.num_samples)
        needed = total * c.samples_per_frame + c.lookahead_samples  # audio that frame total-1 sees
        out = self._consume(np.zeros(needed - self.num_samples))
        self._finished = True
        assert self.frames_emitted == total, (self.frames_emitted, total)
        return out

    def _consume(self, x: np.ndarray) -> np.ndarray:
        c = self.config
        buf = np.concatenate([self._buf, x])  # (L,)
        n_sub = (buf.shape[0] - c.win_length) // c.hop_length + 1 if buf.shape[0] >= c.win_length else 0
        if n_sub == 0:
            self._buf = buf
            return np.zeros((0, c.feature_dim), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(buf, c.win_length)[:: c.hop_length][:n_sub]
        sub = self._analyse(frames)  # (n_sub, M + 1)
        skip = max(0, c.lookahead_subframes - self._next_sub)  # sub-frames before frame 0's stack
        self._buf = buf[n_sub * c.hop_length :]
        self._next_sub += n_sub
        pending = np.concatenate([self._pending, sub[skip:]])  # (n, M + 1)
        n_frames = pending.shape[0] // c.subframes_per_frame
        used = n_frames * c.subframes_per_frame
        self._pending = pending[used:]
        self.frames_emitted += n_frames
        return pending[:used].reshape(n_frames, c.feature_dim).astype(np.float32)  # (n_frames, F)

    def _analyse(self, frames: np.ndarray) -> np.ndarray:
        """`(n, win)` windows of samples -> `(n, M + 1)` normalised sub-frame features."""
        c = self.config
        x = (frames - frames.mean(axis=1, keepdims=True)) * self._window  # (n, win) DC removed
        spec = np.fft.rfft(x, n=c.n_fft, axis=1)  # (n, K)
        power = (spec.real**2 + spec.imag**2) * self._power_scale  # (n, K)
        mel = power @ self._filters_t  # (n, M)
        log_mel = 10.0 * np.log10(mel + self._power_floor)  # (n, M) dB
        energy = 10.0 * np.log10(mel.sum(axis=1) + self._power_floor)  # (n,) dB
        return self.normalizer.process(log_mel, energy)


def compute(samples: np.ndarray, config: FrontEndConfig | None = None) -> np.ndarray:
    """Features of a whole 16 kHz mono file, `(T, F)` float32 with T = ceil(N / samples_per_frame).

    Runs `StreamingFrontEnd` on the whole signal, so it equals any chunked stream of it.
    """
    front = StreamingFrontEnd(config)
    head = front.push(samples)  # (n, F)
    tail = front.finish()  # (T - n, F)
    logger.debug("front end: %d samples -> %d frames", front.num_samples, front.frames_emitted)
    return np.concatenate([head, tail])  # (T, F)


__all__ = [
    "CausalNormalizer",
    "FrontEndConfig",
    "StreamingFrontEnd",
    "check_samples_16k",
    "compute",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
]
