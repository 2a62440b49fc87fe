"""Speech from the Debian ``flite`` binary, with phone timings from ``flite -psdur``.

``flite -voice NAME -psdur -t TEXT -o out.wav`` writes the waveform and prints one ``phone:end``
token per segment (end times in seconds, phones in flite's lower-case ARPAbet, ``pau`` for silence).
Segments are contiguous from 0, so the ends give the spans. The diphone voices (kal, kal16) print a
final pause longer than the audio they write; spans are clipped to the audio and the last span is
stretched or cut to end exactly with it. slt's audio lags its labels by about 10 ms; its boundaries
are moved by :data:`LABEL_DELAY_S`.

Voices of the Debian package (``flite -lv``): kal (8 kHz diphone), kal16 (16 kHz diphone), awb, rms
and slt (16 kHz clustergen); awb_time is a limited-domain voice that speaks clock times only: any
other text comes out as a short burst of wrong units (a 2.7-s sentence as 0.4 s of noise) whose
printed phones no longer match the sound, so :func:`text_voices` leaves it out and
:class:`FliteVoice` refuses it. Install with ``apt-get install flite``
(``scripts/install-system-deps.sh``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .phones import SILENCE, PhoneSegment, normalize_arpabet
from .utterance import Utterance

logger = logging.getLogger(__name__)

__all__ = [
    "FLITE_VOICES",
    "LABEL_DELAY_S",
    "LIMITED_DOMAIN_VOICES",
    "FliteVoice",
    "flite_binary",
    "list_voices",
    "parse_psdur",
    "text_voices",
]

FLITE_VOICES: tuple[str, ...] = ("kal", "kal16", "awb", "rms", "slt")
# Voices built for one domain (clock times): they cannot read arbitrary text.
LIMITED_DOMAIN_VOICES: frozenset[str] = frozenset({"awb_time"})
# How much later the sound comes than flite's printed boundaries (measured: boundary shift that
# maximises the vowel/stop energy contrast over ten sentences; slt +10..15 ms, others 0..5 ms).
LABEL_DELAY_S: dict[str, float] = {"slt": 0.010}


def flite_binary() -> str:
    """Path of the ``flite`` executable; RuntimeError naming the package when it is missing."""
    path = shutil.which("flite")
    if path is None:
        raise RuntimeError(
            "the 'flite' binary is not on PATH; install the Debian package 'flite' "
            "(sudo apt-get install flite, or scripts/install-system-deps.sh)"
        )
    return path


@lru_cache(maxsize=1)
def list_voices() -> tuple[str, ...]:
    """Voices the installed flite offers (``flite -lv``)."""
    out = subprocess.run([flite_binary(), "-lv"], capture_output=True, text=True, check=True).stdout
    _, _, names = out.partition(":")
    return tuple(names.split())


def text_voices() -> tuple[str, ...]:
    """The installed voices that read any text: `list_voices` without `LIMITED_DOMAIN_VOICES`."""
    return tuple(v for v in list_voices() if v not in LIMITED_DOMAIN_VOICES)


def parse_psdur(output: str) -> list[tuple[str, float]]:
    """``"pau:0.193 p:0.271 ..."`` -> ``[("SIL", 0.193), ("P", 0.271), ...]`` (phone, end time)."""
    segments = []
    for token in output.split():
        phone, sep, end = token.rpartition(":")
        if not sep:
            continue
        try:
            end_s = float(end)
        except ValueError:
            continue
        try:
            segments.append((normalize_arpabet(phone), end_s))
        except ValueError:
            logger.debug("flite phone %r is not ARPAbet; kept as silence", phone)
            segments.append((SILENCE, end_s))
    return segments


def segments_to_phones(
    segments: list[tuple[str, float]], duration: float, delay: float = 0.0
) -> list[PhoneSegment]:
    """Contiguous spans from (phone, end) pairs, clipped to ``duration``, SIL runs merged.

    ``delay`` (s) moves every boundary later, for voices whose audio lags their labels.
    """
    spans: list[list] = []
    start = 0.0
    for phone, end in segments:
        end += delay
        end = min(max(end, start), duration)
        if end > start:
            if spans and spans[-1][0] == phone == SILENCE:
                spans[-1][2] = end
            else:
                spans.append([phone, start, end])
            start = end
    if not spans:
        return [PhoneSegment(SILENCE, 0.0, duration)]
    if spans[-1][2] < duration:  # audio runs past the last printed end
        if spans[-1][0] == SILENCE:
            spans[-1][2] = duration
        else:
            spans.append([SILENCE, spans[-1][2], duration])
    return [PhoneSegment(p, a, b) for p, a, b in spans]


@dataclass(frozen=True)
class FliteVoice:
    """One flite voice with optional speed and pitch settings.

    ``duration_stretch`` > 1 speaks slower (flite's ``duration_stretch`` feature). ``f0_mean`` (Hz)
    sets ``int_f0_target_mean``, which only the diphone voices (kal, kal16) honour.
    """

    name: str = "slt"
    duration_stretch: float = 1.0
    f0_mean: float | None = None

    def __post_init__(self) -> None:
        if not 0.3 <= self.duration_stretch <= 3.0:
            raise ValueError(f"duration_stretch must be 0.3..3; got {self.duration_stretch}")

    def _command(self, text: str, wav_path: Path) -> list[str]:
        cmd = [flite_binary(), "-voice", self.name, "-psdur"]
        if self.duration_stretch != 1.0:
            cmd += ["--setf", f"duration_stretch={self.duration_stretch:g}"]
        if self.f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={self.f0_mean:g}"]
        return [*cmd, "-t", text, "-o", str(wav_path)]

    def synthesize(self, text: str, kind: str = "speech") -> Utterance:
        """Speak ``text``; audio at the voice's own rate (8 kHz for kal, else 16 kHz)."""
        import soundfile as sf

        if not text.strip():
            raise ValueError("nothing to synthesize: empty text")
        if self.name not in text_voices():
            limited = self.name in LIMITED_DOMAIN_VOICES
            what = "is a limited-domain voice (clock times only)" if limited else "is not installed"
            raise ValueError(
                f"flite voice {self.name!r} {what}; voices that read text: {list(text_voices())}"
            )
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            wav_path = Path(tmp) / "out.wav"
            proc = subprocess.run(
                self._command(" ".join(text.split()), wav_path), capture_output=True, text=True
            )
            if proc.returncode != 0 or not wav_path.exists():
                raise RuntimeError(f"flite failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
            audio, sample_rate = sf.read(wav_path, dtype="float32", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1).astype(np.float32)
        duration = len(audio) / float(sample_rate)
        delay = LABEL_DELAY_S.get(self.name, 0.0)
        phones = segments_to_phones(parse_psdur(proc.stdout), duration, delay)
        return Utterance(
            audio=np.ascontiguousarray(audio, dtype=np.float32),
            sample_rate=int(sample_rate),
            phones=phones,
            text=text,
            source=f"flite:{self.name}",
            kind=kind,
            meta={
                "engine": "flite",
                "voice": self.name,
                "duration_stretch": self.duration_stretch,
                "f0_mean": self.f0_mean,
            },
        )
