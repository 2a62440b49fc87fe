"""The common phone set (ARPAbet, no stress marks) and its visemes.

Every speech source (espeak-ng, flite, aligned human speech) converts its own phone symbols to
this set, so the motion model needs one table only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# 39 ARPAbet phones + silence.
VOWELS: frozenset[str] = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
CONSONANTS: frozenset[str] = frozenset("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split())
SILENCE = "SIL"
PHONES: frozenset[str] = VOWELS | CONSONANTS | {SILENCE}

# Oculus/Meta 15 visemes: sil PP FF TH DD kk CH SS nn RR aa E ih oh ou
VISEMES: tuple[str, ...] = (
    "sil",
    "PP",
    "FF",
    "TH",
    "DD",
    "kk",
    "CH",
    "SS",
    "nn",
    "RR",
    "aa",
    "E",
    "ih",
    "oh",
    "ou",
)
PHONE_TO_VISEME: dict[str, str] = {
    "SIL": "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD",
    "K": "kk", "G": "kk", "NG": "kk", "HH": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "EH": "E", "EY": "E",
    "IH": "ih", "IY": "ih", "Y": "ih",
    "AO": "oh", "OW": "oh", "OY": "oh",
    "UH": "ou", "UW": "ou", "W": "ou",
}  # fmt: skip
BILABIALS: frozenset[str] = frozenset({"P", "B", "M"})
OPEN_VOWELS: frozenset[str] = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})


@dataclass(frozen=True)
class PhoneSegment:
    """One phone with its time span in seconds from the start of its utterance."""

    phone: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.phone not in PHONES:
            raise ValueError(f"unknown phone {self.phone!r}; the common set is ARPAbet + SIL")
        if not self.end >= self.start >= 0.0:
            raise ValueError(f"bad span for {self.phone}: {self.start}..{self.end}")


def normalize_arpabet(symbol: str) -> str:
    """'AH0' / 'ah1' / 'sil' / 'pau' / 'h#' -> 'AH' / 'SIL'; unknown symbols raise ValueError."""
    s = symbol.strip().upper().rstrip("012")
    if s in ("SIL", "PAU", "H#", "SP", "", "<SIL>", "+NSN+", "+SPN+", "+BREATH+", "+NOISE+"):
        return SILENCE
    if s == "AX":
        return "AH"
    if s == "AXR":
        return "ER"
    if s == "IX":
        return "IH"
    if s == "DX":
        return "D"
    if s in ("NX", "EN"):
        return "N"
    if s == "EL":
        return "L"
    if s == "EM":
        return "M"
    if s not in PHONES:
        raise ValueError(f"not an ARPAbet phone: {symbol!r}")
    return s


def frame_visemes(phones: Sequence[PhoneSegment], frames: int, fps: float) -> np.ndarray:
    """(T,) uint8 index into `VISEMES` of the phone under each frame's centre; 0 ("sil") where
    no phone is (silence, laughter, breaths). Later phones win where spans overlap."""
    out = np.zeros(frames, np.uint8)
    centres = (np.arange(frames) + 0.5) / fps  # (T,) seconds
    for p in phones:
        lo, hi = np.searchsorted(centres, [p.start, p.end], side="left")
        out[lo:hi] = VISEMES.index(PHONE_TO_VISEME[p.phone])
    return out
