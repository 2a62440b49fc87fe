"""Deterministic test audio: vowel-like harmonic tones with formants, fricative noise, silence,
and real synthetic speech from Debian's `espeak-ng` CLI when it is installed."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

SR = 16000

# (F1, F2, F3) Hz of a few vowels (Peterson & Barney, adult male)
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "i": (270.0, 2290.0, 3010.0),
    "u": (300.0, 870.0, 2240.0),
    "e": (530.0, 1840.0, 2480.0),
    "o": (570.0, 840.0, 2410.0),
}


def _envelope(n: int, sr: int, ramp_s: float = 0.02) -> np.ndarray:
    """Raised-cosine attack and release, `(n,)`."""
    env = np.ones(n)
    r = min(int(ramp_s * sr), n // 2)
    if r:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
        env[:r] = ramp
        env[n - r :] = ramp[::-1]
    return env


def vowel(
    duration_s: float, f0: float, formants: tuple[float, ...], sr: int = SR, seed: int = 0
) -> np.ndarray:
    """Harmonic tone with vibrato, shaped by resonance peaks at `formants`; peak 1, `(n,)` float64."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    f0_track = f0 * (1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t + rng.uniform(0, 6.28)))  # (n,)
    phase = 2 * np.pi * np.cumsum(f0_track) / sr  # (n,)
    x = np.zeros(n)
    for h in range(1, int((sr / 2 - 300) / f0)):
        fh = h * f0
        gain = sum(1.0 / (1.0 + ((fh - fk) / (60.0 + 0.05 * fk)) ** 2) for fk in formants) / h**0.5
        x += gain * np.sin(h * phase + rng.uniform(0, 6.28))
    x *= _envelope(n, sr)
    return x / np.abs(x).max()


def fricative(duration_s: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """High-passed noise burst (an "s"), peak 1, `(n,)` float64."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    w = rng.standard_normal(n + 2)
    x = np.diff(w, n=2) * _envelope(n, sr, 0.01)
    return x / np.abs(x).max()


def speech_like(duration_s: float, sr: int = SR, seed: int = 0, f0: float = 120.0) -> np.ndarray:
    """Syllables (optional fricative + vowel with varying level and pitch) without long pauses."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    names = list(VOWELS)
    while total < duration_s * sr:
        if rng.random() < 0.3:
            parts.append(0.15 * fricative(rng.uniform(0.05, 0.1), sr, int(rng.integers(1 << 30))))
        v = names[int(rng.integers(len(names)))]
        level = rng.uniform(0.4, 1.0)
        pitch = f0 * rng.uniform(0.85, 1.2)
        parts.append(level * vowel(rng.uniform(0.12, 0.25), pitch, VOWELS[v], sr, int(rng.integers(1 << 30))))
        parts.append(np.zeros(int(rng.uniform(0.02, 0.06) * sr)))  # closure between syllables
        total = sum(p.shape[0] for p in parts)
    return np.concatenate(parts)[: int(duration_s * sr)]


def with_pauses(
    segments: list[tuple[str, float]], sr: int = SR, seed: int = 0, noise_db: float = -70.0, peak: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ("speech" | "silence", seconds) segments over a faint noise floor.

    Returns `(x (n,) float32, is_speech (n,) bool)` with speech peaking at `peak`.
    """
    rng = np.random.default_rng(seed)
    pieces, labels = [], []
    for i, (kind, dur) in enumerate(segments):
        n = int(dur * sr)
        if kind == "speech":
            pieces.append(peak * speech_like(dur, sr, seed + i))
        else:
            pieces.append(np.zeros(n))
        labels.append(np.full(n, kind == "speech"))
    x = np.concatenate(pieces)
    x = x + 10 ** (noise_db / 20) * rng.standard_normal(x.shape[0])
    return x.astype(np.float32), np.concatenate(labels)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak `text` with the espeak-ng CLI: `(int16 samples (n,), rate)` (22050 Hz)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    with wave.open(io.BytesIO(wav)) as f:
        rate = f.getframerate()
        assert f.getsampwidth() == 2 and f.getnchannels() == 1
        data = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).copy()
    return data, rate


def frame_rms(x: np.ndarray, samples_per_frame: int, lookahead: int, win_back: int) -> np.ndarray:
    """RMS of the audio each front-end frame stacks: `[(t+1)*spf + lookahead - win_back, ... + lookahead)`."""
    n_frames = -(-x.shape[0] // samples_per_frame)
    padded = np.concatenate([x.astype(np.float64), np.zeros(samples_per_frame + lookahead)])
    out = np.empty(n_frames)
    for t in range(n_frames):
        end = (t + 1) * samples_per_frame + lookahead
        seg = padded[max(0, end - win_back) : end]
        out[t] = np.sqrt(np.mean(seg**2))
    return out
