"""Procedural laughter audio, plus the small source-filter DSP kit it is built from.

A laugh bout is 3-8 "ha" bursts at about 4-6 per second. Each burst is an aspiration (HH:
turbulent noise shaped by the vowel's formants) followed by a voiced vowel (AA: a Rosenberg
glottal pulse train whose pitch falls within the burst and over the bout, mixed with breathy
noise, through a cascade of formant resonators). Laughter pitch sits well above the speaking
voice (1.2-1.8x), loudness peaks early and decays, and a bout sometimes ends with an audible
in-breath. Everything random comes from the `numpy.random.Generator` passed in.

The DSP helpers (`glottal_source`, `formant_filter`, `shaped_noise`) are shared with the
procedural test voice in `conversation.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from .phones import PhoneSegment
from .utterance import Utterance

log = logging.getLogger(__name__)

LAUGH_SOURCE = "procedural-laugh"


def glottal_source(
    f0: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    open_quotient: float = 0.6,
    jitter: float = 0.01,
    shimmer: float = 0.05,
) -> np.ndarray:
    """Differentiated Rosenberg glottal flow for a per-sample pitch track f0 (Hz; <= 0 = no pulses).

    Jitter and shimmer are slow random perturbations of pitch and amplitude (relative std).
    Returns (N,) float64 with roughly unit peak.
    """
    f0 = np.asarray(f0, np.float64)
    n = len(f0)
    if n == 0:
        return np.zeros(0)
    wobble = _smooth_noise(n, rng, sample_rate / 200.0)
    f = np.maximum(f0, 0.0) * (1.0 + jitter * wobble)
    phase = np.cumsum(f / sample_rate) % 1.0
    op = float(np.clip(open_quotient, 0.2, 0.9))
    rise = 0.65 * op
    fall = op - rise
    flow = np.where(
        phase < rise,
        0.5 * (1.0 - np.cos(np.pi * phase / rise)),
        np.where(phase < op, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    flow *= f0 > 0
    amp = 1.0 + shimmer * _smooth_noise(n, rng, sample_rate / 150.0)
    d = np.diff(flow * amp, prepend=0.0)
    peak = float(np.max(np.abs(d))) if n else 1.0
    return d / max(peak, 1e-9)


def _smooth_noise(n: int, rng: np.random.Generator, length: float) -> np.ndarray:
    """Unit-std low-pass noise with correlation length `length` samples."""
    a = float(np.exp(-1.0 / max(length, 1.0)))
    x = lfilter([1.0], [1.0, -a], rng.standard_normal(n))
    x = lfilter([1.0], [1.0, -a], x[::-1])[::-1]
    s = float(np.std(x))
    return x / s if s > 0 else x


def formant_filter(
    x: np.ndarray, formants: Sequence[float], bandwidths: Sequence[float], sample_rate: int
) -> np.ndarray:
    """Cascade of Klatt two-pole resonators (unity gain at 0 Hz); formants above Nyquist are skipped."""
    y = np.asarray(x, np.float64)
    for f, bw in zip(formants, bandwidths, strict=True):
        if f <= 0 or f >= 0.48 * sample_rate:
            continue
        r = np.exp(-np.pi * bw / sample_rate)
        b1 = 2.0 * r * np.cos(2.0 * np.pi * f / sample_rate)
        b2 = -r * r
        y = lfilter([1.0 - b1 - b2], [1.0, -b1, -b2], y)
    return y


def shaped_noise(
    n: int, rng: np.random.Generator, sample_rate: int, low_hz: float, high_hz: float
) -> np.ndarray:
    """White noise band-passed to [low_hz, high_hz] (clamped below Nyquist), unit std."""
    nyq = 0.5 * sample_rate
    lo = float(np.clip(low_hz, 20.0, nyq * 0.9))
    hi = float(np.clip(high_hz, lo * 1.2, nyq * 0.95))
    sos = butter(2, [lo / nyq, hi / nyq], btype="band", output="sos")
    y = sosfilt(sos, rng.standard_normal(n + 256))[256:]
    s = float(np.std(y))
    return y / s if s > 0 else y


def _envelope(n: int, sample_rate: int, attack_s: float, release_s: float) -> np.ndarray:
    """Raised-cosine attack, exponential-ish raised-cosine release."""
    env = np.ones(n)
    a = min(int(attack_s * sample_rate), n)
    r = min(int(release_s * sample_rate), n - a)
    if a > 0:
        env[:a] = 0.5 * (1.0 - np.cos(np.pi * np.arange(a) / a))
    if r > 0:
        env[n - r :] *= 0.5 * (1.0 + np.cos(np.pi * np.arange(r) / r)) ** 1.5
    return env


def synthesize_laugh(
    rng: np.random.Generator,
    pitch_hz: float = 180.0,
    sample_rate: int = 16000,
    n_bursts: int | None = None,
    intensity: float = 1.0,
    breathiness: float | None = None,
) -> Utterance:
    """A laugh bout as an Utterance(kind="laugh") with HH/AA phone spans per burst.

    pitch_hz: the person's speaking pitch (the laugh starts 1.2-1.8x higher and falls).
    n_bursts: 3-8 (drawn when None). intensity: 0.3-1.5, loudness and burst vigour.
    breathiness: 0..1 share of noise in the voiced part (drawn 0.15-0.55 when None).
    Meta: pitch_hz, n_bursts, bursts [(start, end) of each voiced part], inhale (bool).
    """
    n_b = int(n_bursts) if n_bursts is not None else int(rng.integers(3, 9))
    n_b = max(n_b, 1)
    breath = float(breathiness) if breathiness is not None else float(rng.uniform(0.15, 0.55))
    intensity = float(np.clip(intensity, 0.1, 2.0))
    sr = int(sample_rate)
    voice_scale = float(np.clip((pitch_hz / 120.0) ** 0.25, 0.95, 1.25))  # higher voice, higher formants
    f_start = pitch_hz * rng.uniform(1.2, 1.8)
    f_end = f_start * rng.uniform(0.7, 0.95)
    period = 1.0 / rng.uniform(4.0, 6.0)
    formants = (
        np.array([rng.uniform(680, 900), rng.uniform(1100, 1450), rng.uniform(2450, 2850), 3500.0])
        * voice_scale
    )
    bws = np.array([rng.uniform(80, 140), rng.uniform(90, 160), rng.uniform(120, 220), 250.0])

    t = float(rng.uniform(0.03, 0.08))
    pieces: list[tuple[int, np.ndarray]] = []
    phones: list[PhoneSegment] = []
    bursts: list[tuple[float, float]] = []
    peak_burst = int(rng.integers(0, min(2, n_b)))
    for k in range(n_b):
        frac = k / max(n_b - 1, 1)
        p = period * rng.uniform(0.85, 1.2)
        hh = float(rng.uniform(0.025, 0.06))
        aa = float(np.clip(p * rng.uniform(0.45, 0.7), 0.05, 0.14))
        gain = intensity * (0.88 ** abs(k - peak_burst)) * rng.uniform(0.8, 1.1)
        # aspiration
        n_h = max(int(hh * sr), 1)
        asp = formant_filter(shaped_noise(n_h, rng, sr, 400.0, 6000.0), formants[:3], bws[:3] * 1.5, sr)
        asp = asp / max(float(np.max(np.abs(asp))), 1e-9) * 0.25 * gain
        asp *= _envelope(n_h, sr, 0.3 * hh, 0.2 * hh)
        # voiced "a"
        n_v = max(int(aa * sr), 1)
        f_burst = f_start + (f_end - f_start) * frac
        f0 = f_burst * np.linspace(1.0, rng.uniform(0.75, 0.92), n_v)
        src = glottal_source(f0, sr, rng, open_quotient=rng.uniform(0.55, 0.75), jitter=0.02, shimmer=0.08)
        glot_phase = np.clip(src, 0.0, None)
        noise = shaped_noise(n_v, rng, sr, 300.0, 7000.0) * (0.3 + glot_phase)
        voiced = formant_filter((1.0 - breath) * src + breath * 0.5 * noise, formants, bws, sr)
        voiced = voiced / max(float(np.max(np.abs(voiced))), 1e-9) * gain
        voiced *= _envelope(n_v, sr, rng.uniform(0.008, 0.015), 0.5 * aa)
        s_h = t
        s_v = t + n_h / sr
        pieces.append((round(s_h * sr), asp))
        pieces.append((round(s_v * sr), voiced))
        phones.append(PhoneSegment("HH", s_h, s_v))
        phones.append(PhoneSegment("AA", s_v, s_v + n_v / sr))
        bursts.append((s_v, s_v + n_v / sr))
        t = max(s_v + n_v / sr + 0.005, s_h + p)
    inhale = bool(rng.random() < 0.35)
    if inhale:
        t += float(rng.uniform(0.08, 0.25))
        d = float(rng.uniform(0.25, 0.45))
        n_i = int(d * sr)
        breath_in = shaped_noise(n_i, rng, sr, 1200.0, 6500.0) * 0.05 * intensity
        breath_in *= _envelope(n_i, sr, 0.4 * d, 0.3 * d)
        pieces.append((round(t * sr), breath_in))
        phones.append(PhoneSegment("HH", t, t + n_i / sr))
        t += n_i / sr
    total = int(np.ceil((t + rng.uniform(0.03, 0.08)) * sr))
    audio = np.zeros(total, np.float64)
    for start, piece in pieces:
        end = min(start + len(piece), total)
        audio[start:end] += piece[: end - start]
    peak = float(np.max(np.abs(audio)))
    target = float(np.clip(0.45 * intensity, 0.05, 0.9))
    if peak > 0:
        audio *= target / peak
    log.debug("laugh: %d bursts, f0 %.0f->%.0f Hz, %.2f s", n_b, f_start, f_end, total / sr)
    return Utterance(
        audio=audio.astype(np.float32),
        sample_rate=sr,
        phones=phones,
        text="ha" * n_b,
        source=LAUGH_SOURCE,
        kind="laugh",
        meta={"pitch_hz": float(pitch_hz), "n_bursts": n_b, "bursts": bursts, "inhale": inhale},
    )
