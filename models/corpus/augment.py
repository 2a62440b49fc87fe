"""Audio augmentations of utterances that keep the phone timings right.

Every augmentation is a pure function ``f(utt, rng, ...) -> Utterance``: it returns a new Utterance
(the input is not modified), draws whatever it needs at random from the explicit
``numpy.random.Generator`` (a parameter left as ``None`` is drawn from a documented range), and
appends ``(name, parameters)`` to ``meta["augment"]``. Timings:

* :func:`change_rate` time-stretches by WSOLA (waveform-similarity overlap-add: 30 ms Hann frames,
  50 % overlap, +/-10 ms search for the best-matching frame), which keeps pitch and formants; the
  time axis is scaled uniformly (local error within the 10 ms search tolerance), so every phone
  boundary is multiplied by ``len(out) / len(in)``.
* :func:`pitch_shift` resamples by the pitch factor (with soxr) and WSOLA-stretches back to the
  original length: duration and timings are unchanged; formants move with the pitch (a simple,
  robust choice for augmentation; no PSOLA or phase vocoder needed, no phasiness).
* :func:`formant_shift` moves the spectral envelope (the formants: the vocal tract's length) by a
  factor and keeps the pitch, the phase and the length: combined with :func:`pitch_shift`, the
  pitch and the vocal tract of a voice vary apart, as they do between people.
* gain, noise, reverb (direct path at zero delay) and the telephone channel keep the length and the
  timings.

:func:`resample_utterance` converts any source to a common rate (16 kHz for the models).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .phones import SILENCE, PhoneSegment
from .utterance import Utterance

__all__ = [
    "NOISE_KINDS",
    "add_noise",
    "add_reverb",
    "apply_gain",
    "change_rate",
    "fit_phones",
    "pitch_shift",
    "random_augment",
    "resample_utterance",
    "speech_power",
    "telephone",
    "wsola",
]

NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "babble")


# --- helpers ------------------------------------------------------------------------------------


def fit_phones(phones: Sequence[PhoneSegment], duration: float, scale: float = 1.0) -> list[PhoneSegment]:
    """Scale phone times by ``scale``, clip to ``duration`` and make the spans contiguous from 0 to
    ``duration`` exactly (empty spans dropped, a gap-filling SIL added if nothing reaches the end)."""
    out: list[list] = []
    cursor = 0.0
    for p in phones:
        end = min(max(p.end * scale, cursor), duration)
        if end > cursor:
            out.append([p.phone, cursor, end])
            cursor = end
    if not out:
        return [PhoneSegment(SILENCE, 0.0, duration)]
    if cursor < duration:
        if out[-1][0] == SILENCE or duration - cursor < 1e-3:
            out[-1][2] = duration
        else:
            out.append([SILENCE, cursor, duration])
    return [PhoneSegment(ph, a, b) for ph, a, b in out]


def _history(utt: Utterance) -> list:
    steps = utt.meta.get("augment", [])
    return list(steps) if isinstance(steps, list | tuple) else []


def _derive(
    utt: Utterance,
    audio: np.ndarray,
    name: str,
    params: dict[str, object],
    sample_rate: int | None = None,
    scale: float = 1.0,
) -> Utterance:
    """A new Utterance with ``audio`` (clipped to -1..1), timings scaled, the step logged in meta."""
    rate = utt.sample_rate if sample_rate is None else int(sample_rate)
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    meta = dict(utt.meta)
    meta["augment"] = [*_history(utt), (name, params)]
    return replace(
        utt,
        audio=np.ascontiguousarray(audio),
        sample_rate=rate,
        phones=fit_phones(utt.phones, len(audio) / float(rate), scale),
        meta=meta,
    )


def _fix_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def _resample(x: np.ndarray, in_rate: float, out_rate: float) -> np.ndarray:
    import soxr

    if in_rate == out_rate:
        return np.asarray(x, dtype=np.float32).copy()
    return np.asarray(soxr.resample(np.asarray(x, dtype=np.float32), in_rate, out_rate, quality="HQ"))


def speech_power(utt: Utterance) -> float:
    """Mean power of the audio inside non-SIL phones (the whole audio if there are none)."""
    x = utt.audio.astype(np.float64)
    sr = utt.sample_rate
    parts = [x[int(p.start * sr) : int(p.end * sr)] for p in utt.phones if p.phone != SILENCE]
    parts = [p for p in parts if len(p)]
    speech = np.concatenate(parts) if parts else x
    return float(np.mean(speech**2)) if len(speech) else 0.0


# --- resampling ---------------------------------------------------------------------------------


def resample_utterance(utt: Utterance, rate: int = 16000) -> Utterance:
    """The utterance at ``rate`` Hz (soxr, high quality); timings kept in seconds."""
    if rate == utt.sample_rate:
        return utt
    audio = _resample(utt.audio, utt.sample_rate, rate)
    return _derive(utt, audio, "resample", {"rate": int(rate)}, sample_rate=rate)


# --- time and pitch -----------------------------------------------------------------------------


def wsola(
    x: np.ndarray, rate: float, sample_rate: int, frame_s: float = 0.03, tol_s: float = 0.01
) -> np.ndarray:
    """Time-stretch ``x`` by ``rate`` (>1 faster, output length ``round(len(x) / rate)``) with WSOLA.

    Each 50 %-overlapping Hann frame of the output is copied from the input near its nominal
    position (``k * hop * rate``), shifted within +/-``tol_s`` to the offset that best continues the
    previously copied frame (maximum cross-correlation), then overlap-added and normalised by the
    window sum.
    """
    x = np.asarray(x, dtype=np.float32)
    rate = float(rate)
    n_out = round(len(x) / rate)
    if abs(rate - 1.0) < 1e-9 or len(x) == 0:
        return _fix_length(x.copy(), n_out)
    frame = max(16, int(frame_s * sample_rate) // 2 * 2)
    hop = frame // 2
    tol = max(1, int(tol_s * sample_rate))
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame) / frame)).astype(np.float32)
    n_frames = n_out // hop + 2
    tail = math.ceil(n_frames * hop * rate) + frame + 2 * tol + hop
    lead = tol + frame  # room before the start for the centre mapping and the search
    xp = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(max(0, tail - len(x)), np.float32)])
    y = np.zeros(n_frames * hop + frame, np.float64)
    wsum = np.zeros_like(y)
    prev = lead
    for k in range(n_frames):
        # frame centres map by t_in = t_out * rate (no constant lag between input and output)
        nominal = lead + round((k * hop + frame / 2) * rate - frame / 2)
        if k == 0:
            pos = nominal
        else:
            template = xp[prev + hop : prev + hop + frame]
            region = xp[nominal - tol : nominal + tol + frame]
            corr = np.correlate(region, template, mode="valid")
            pos = nominal - tol + int(np.argmax(corr)) if np.any(corr) else nominal
        y[k * hop : k * hop + frame] += xp[pos : pos + frame] * window
        wsum[k * hop : k * hop + frame] += window
        prev = pos
    y = y[:n_out] / np.maximum(wsum[:n_out], 1e-3)
    return y.astype(np.float32)


def change_rate(
    utt: Utterance,
    rng: np.random.Generator,
    rate: float | None = None,
    preserve_pitch: bool = True,
    rate_range: tuple[float, float] = (0.8, 1.25),
) -> Utterance:
    """Speak faster (``rate`` > 1) or slower; phone times scale by ``1/rate`` (exactly by the length ratio).

    ``preserve_pitch`` True uses WSOLA; False resamples (tape speed: pitch and formants move too).
    ``rate`` None draws log-uniformly from ``rate_range``.
    """
    if rate is None:
        rate = float(np.exp(rng.uniform(np.log(rate_range[0]), np.log(rate_range[1]))))
    rate = float(rate)
    if rate <= 0:
        raise ValueError(f"rate must be positive; got {rate}")
    n_in = len(utt.audio)
    if preserve_pitch:
        audio = wsola(utt.audio, rate, utt.sample_rate)
    else:
        audio = _fix_length(_resample(utt.audio, utt.sample_rate * rate, utt.sample_rate), round(n_in / rate))
    scale = len(audio) / float(n_in) if n_in else 1.0
    return _derive(utt, audio, "rate", {"rate": rate, "preserve_pitch": preserve_pitch}, scale=scale)


def pitch_shift(
    utt: Utterance,
    rng: np.random.Generator,
    semitones: float | None = None,
    max_semitones: float = 4.0,
) -> Utterance:
    """Shift the pitch by ``semitones`` (None: uniform in +/-``max_semitones``), same duration.

    Resample by the factor ``2**(semitones/12)`` (faster and higher), then WSOLA back to the original
    length; timings are unchanged.
    """
    if semitones is None:
        semitones = float(rng.uniform(-max_semitones, max_semitones))
    factor = 2.0 ** (semitones / 12.0)
    n = len(utt.audio)
    sped = _resample(utt.audio, utt.sample_rate, utt.sample_rate / factor)  # len n / factor
    audio = _fix_length(wsola(sped, len(sped) / float(n) if n else 1.0, utt.sample_rate), n)
    return _derive(utt, audio, "pitch", {"semitones": semitones})


def formant_factor(rng: np.random.Generator, max_change: float) -> float:
    """A formant factor log-uniform within 1 -/+ ``max_change`` (1 when ``max_change`` is 0)."""
    if max_change <= 0:
        return 1.0
    return float(np.exp(rng.uniform(np.log1p(-max_change), np.log1p(max_change))))


def formant_shift(
    utt: Utterance,
    rng: np.random.Generator,
    factor: float | None = None,
    max_change: float = 0.15,
    lpc_order: int | None = None,
) -> Utterance:
    """Scale the formant frequencies by ``factor`` (None: log-uniform within +/-``max_change``),
    keeping pitch, phase, length and timings (> 1: a shorter vocal tract, as from a man's voice to
    a woman's).

    Per STFT frame (32-ms Hann, 75 % overlap) the spectral envelope is the frame's linear-prediction
    fit (order ``lpc_order``, default 2 + sample rate / 1 kHz, from the autocorrelation of its power
    spectrum); each bin's magnitude is multiplied by envelope(f / factor) / envelope(f), so the
    harmonics (the pitch) stay where they were and only their amplitudes follow the moved formants.
    The phase is kept. The output has the input's mean power.
    """
    from scipy.linalg import solve_toeplitz
    from scipy.signal import istft, stft

    factor = formant_factor(rng, max_change) if factor is None else float(factor)
    if not factor > 0:
        raise ValueError(f"formant factor must be positive; got {factor}")
    x = utt.audio.astype(np.float64)
    sr = utt.sample_rate
    if abs(factor - 1.0) < 1e-9 or len(x) == 0:
        return _derive(utt, x, "formant", {"factor": factor})
    order = int(lpc_order or 2 + round(sr / 1000))
    n_fft = 1 << max(6, math.ceil(math.log2(0.032 * sr)))
    hop = n_fft // 4
    _, _, spec = stft(x, sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary="even")
    spec = spec.T  # (frames, bins)
    acf = np.fft.irfft(np.abs(spec) ** 2, n=n_fft, axis=1)[:, : order + 1]  # (frames, order + 1)
    acf *= np.exp(-0.5 * (2 * np.pi * 40.0 * np.arange(order + 1) / sr) ** 2)  # 40-Hz lag window
    bins = np.arange(spec.shape[1], dtype=np.float64)
    src = np.minimum(bins / factor, bins[-1])
    gain = np.ones(spec.shape)
    for i, r in enumerate(acf):
        if r[0] <= 1e-12:
            continue  # a silent frame: nothing to move
        r = r.copy()
        r[0] *= 1.0 + 1e-6  # white-noise correction: a well-conditioned system
        a = solve_toeplitz(r[:-1], r[1:])
        log_env = -2.0 * np.log(np.abs(np.fft.rfft(np.r_[1.0, -a], n=n_fft)) + 1e-12)  # (bins,)
        gain[i] = np.exp(0.5 * (np.interp(src, bins, log_env) - log_env))
    _, y = istft((spec * gain).T, sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
    y = _fix_length(np.asarray(y, dtype=np.float64), len(x))
    p_in, p_out = float(np.mean(x**2)), float(np.mean(y**2))
    if p_out > 0:
        y *= math.sqrt(p_in / p_out)
    return _derive(utt, y, "formant", {"factor": factor})


# --- level and noise ----------------------------------------------------------------------------


def apply_gain(
    utt: Utterance, rng: np.random.Generator, gain_db: float | None = None, max_db: float = 6.0
) -> Utterance:
    """Scale by ``gain_db`` (None: uniform in +/-``max_db``); the result is clipped to -1..1."""
    if gain_db is None:
        gain_db = float(rng.uniform(-max_db, max_db))
    audio = utt.audio.astype(np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    return _derive(utt, audio, "gain", {"gain_db": gain_db})


def _colored_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit variance."""
    white = rng.standard_normal(n)
    if exponent == 0.0 or n < 4:
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    spectrum *= freqs ** (-exponent / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + 1e-12)


def _babble(utt: Utterance, rng: np.random.Generator, voices: int = 6) -> np.ndarray:
    """Speech-like noise: several time-reversed, circularly shifted copies of the utterance itself."""
    x = utt.audio.astype(np.float64)
    if not np.any(x):
        return rng.standard_normal(len(x))
    out = np.zeros_like(x)
    for _ in range(voices):
        out += np.roll(x[::-1], int(rng.integers(len(x)))) * rng.uniform(0.5, 1.0)
    return out / (np.std(out) + 1e-12)


def add_noise(
    utt: Utterance,
    rng: np.random.Generator,
    snr_db: float | None = None,
    kind: str | None = None,
    snr_range: tuple[float, float] = (10.0, 40.0),
) -> Utterance:
    """Add ``kind`` noise (white/pink/brown/babble) at ``snr_db`` relative to the speech power.

    The SNR is the mean power inside the non-SIL phones over the mean power of the added noise
    (before the final clip to -1..1). None draws the SNR uniformly from ``snr_range`` and the kind
    uniformly from :data:`NOISE_KINDS`.
    """
    if snr_db is None:
        snr_db = float(rng.uniform(*snr_range))
    if kind is None:
        kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    n = len(utt.audio)
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        noise = _colored_noise(n, rng, 1.0)
    elif kind == "brown":
        noise = _colored_noise(n, rng, 2.0)
    elif kind == "babble":
        noise = _babble(utt, rng)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {list(NOISE_KINDS)}")
    power = speech_power(utt)
    noise_power = float(np.mean(noise**2)) if n else 0.0
    if power > 0 and noise_power > 0:
        noise = noise * math.sqrt(power / (noise_power * 10.0 ** (snr_db / 10.0)))
    else:
        noise = np.zeros(n)
    audio = utt.audio.astype(np.float64) + noise
    return _derive(utt, audio, "noise", {"snr_db": snr_db, "kind": kind})


# --- room and channel ---------------------------------------------------------------------------


def add_reverb(
    utt: Utterance,
    rng: np.random.Generator,
    rt60: float | None = None,
    drr_db: float | None = None,
    rt60_range: tuple[float, float] = (0.15, 0.8),
    drr_range: tuple[float, float] = (0.0, 12.0),
) -> Utterance:
    """Convolve with a synthetic room response: a direct impulse at t=0 plus an exponentially
    decaying noise tail (60 dB down after ``rt60`` s) that starts after 5 ms and whose energy is
    ``drr_db`` below the direct path. Output length, RMS and timings are those of the input.
    """
    if rt60 is None:
        rt60 = float(rng.uniform(*rt60_range))
    if drr_db is None:
        drr_db = float(rng.uniform(*drr_range))
    sr = utt.sample_rate
    length = max(2, int(1.2 * rt60 * sr))
    t = np.arange(length) / sr
    tail = rng.standard_normal(length) * np.exp(-3.0 * np.log(10.0) * t / rt60)
    tail[: int(0.005 * sr)] = 0.0
    # gentle high-frequency damping of the tail (a 3-tap binomial low-pass)
    tail = np.convolve(tail, [0.25, 0.5, 0.25], mode="same")
    tail_energy = float(np.sum(tail**2))
    if tail_energy > 0:
        tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / tail_energy)
    ir = tail
    ir[0] = 1.0
    x = utt.audio.astype(np.float64)
    n = len(x)
    size = 1 << int(np.ceil(np.log2(max(1, n + length - 1))))
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]
    rms_in, rms_out = np.sqrt(np.mean(x**2)) if n else 0.0, np.sqrt(np.mean(wet**2)) if n else 0.0
    if rms_out > 0:
        wet *= rms_in / rms_out
    return _derive(utt, wet, "reverb", {"rt60": rt60, "drr_db": drr_db})


def _mu_law(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711-style 8-bit mu-law round trip of a -1..1 signal."""
    encoded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantized = np.round((encoded + 1.0) * 127.5) / 127.5 - 1.0
    return np.sign(quantized) * np.expm1(np.abs(quantized) * np.log1p(mu)) / mu


def telephone(
    utt: Utterance,
    rng: np.random.Generator,
    drive: float | None = None,
    low_hz: float = 300.0,
    high_hz: float = 3400.0,
    drive_range: tuple[float, float] = (1.0, 3.0),
) -> Utterance:
    """A narrow-band phone channel: 8 kHz round trip, soft clipping (``tanh`` with ``drive``, None:
    uniform in ``drive_range``), 8-bit mu-law, then a zero-phase 300-3400 Hz band-pass (FFT mask with
    raised-cosine edges 200-300 Hz and 3200-3400 Hz: nothing is left above ``high_hz``).
    """
    if drive is None:
        drive = float(rng.uniform(*drive_range))
    sr = utt.sample_rate
    n = len(utt.audio)
    narrow_rate = min(8000, sr)
    x = _resample(utt.audio, sr, narrow_rate).astype(np.float64)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0:
        x = np.tanh(drive * x / peak) / np.tanh(drive) * peak
    x = _mu_law(np.clip(x, -1.0, 1.0))
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / narrow_rate)
    mask = np.ones_like(freqs)
    lo_edge, hi_edge = low_hz - 100.0, high_hz - 200.0
    mask[freqs <= lo_edge] = 0.0
    rising = (freqs > lo_edge) & (freqs < low_hz)
    mask[rising] = 0.5 - 0.5 * np.cos(np.pi * (freqs[rising] - lo_edge) / (low_hz - lo_edge))
    falling = (freqs > hi_edge) & (freqs < high_hz)
    mask[falling] = 0.5 + 0.5 * np.cos(np.pi * (freqs[falling] - hi_edge) / (high_hz - hi_edge))
    mask[freqs >= high_hz] = 0.0
    x = np.fft.irfft(spectrum * mask, len(x))
    audio = _fix_length(_resample(x.astype(np.float32), narrow_rate, sr), n)
    return _derive(utt, audio, "telephone", {"drive": drive, "band_hz": [low_hz, high_hz]})


# --- random chains ------------------------------------------------------------------------------


def random_augment(utt: Utterance, rng: np.random.Generator, strength: float = 0.5) -> Utterance:
    """A random subset of the augmentations, with ranges growing with ``strength`` (0..1).

    Order: rate, pitch, reverb, telephone, noise, gain. Each of rate, pitch, reverb, noise and gain
    is applied with probability ``0.2 + 0.5 * strength``, the telephone channel with
    ``0.3 * strength``. At strength 1: rate 0.78..1.28, pitch +/-4 semitones, RT60 up to 0.85 s, SNR
    down to 10 dB, gain +/-6 dB. ``strength`` 0 returns an unchanged copy.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in 0..1; got {strength}")
    out = replace(utt, meta={**utt.meta, "augment": _history(utt)})
    if strength == 0.0:
        return out
    p = 0.2 + 0.5 * strength
    if rng.random() < p:
        span = 0.25 * strength
        out = change_rate(out, rng, rate_range=(1.0 / (1.0 + span), 1.0 + span))
    if rng.random() < p:
        out = pitch_shift(out, rng, max_semitones=4.0 * strength)
    if rng.random() < p:
        out = add_reverb(out, rng, rt60_range=(0.15, 0.15 + 0.7 * strength))
    if rng.random() < 0.3 * strength:
        out = telephone(out, rng)
    if rng.random() < p:
        out = add_noise(out, rng, snr_range=(40.0 - 30.0 * strength, 40.0))
    if rng.random() < p:
        out = apply_gain(out, rng, max_db=6.0 * strength)
    return out
