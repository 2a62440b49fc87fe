"""Visemes as ARKit blendshape targets, and coarticulated mouth motion from timed phones.

`articulate` turns a list of timed phones into a (T, 52) blendshape track at `fps`:

1. Every phone becomes one articulatory *gesture* (diphthongs become two: AY = aa -> ih, ...),
   with a target vector over the 52 blendshapes (`PHONE_TARGETS`) scaled by the speaker's
   `ArticulationStyle`, the phone's loudness and a little per-phone randomness.
2. Coarticulation follows Cohen & Massaro (1993): each gesture has a dominance per articulator
   group (jaw, lip aperture, lip closure, rounding, spreading, tongue),
   ``D(t) = alpha * exp(-(tau / s) ** 1.5)``, where ``tau`` is the distance from the gesture's
   central plateau and ``s`` is a time constant that is wider before the gesture (anticipation)
   than after it (carry-over). The track is the dominance-weighted mean of the targets, so a
   weakly specified phone (HH, K) takes its shape from its neighbours and lip rounding spreads
   ahead over consonants ("s" in "soon" is rounded), while bilabial closure is sharp and strong.
3. Articulators lead the sound: every gesture is centred `style.lead_s / 2` before its acoustic
   centre and its anticipatory spread starts the movement earlier still, so the jaw starts
   opening for a vowel about `style.lead_s` (40-80 ms) before the vowel is heard. Lip closures
   of P/B/M start up to lead/2 early and release with the burst (the end of the phone).
4. Hard constraints, applied per frame: lips sealed during P/B/M (jaw nearly closed,
   MouthClose = JawOpen, MouthPress and a little MouthRoll up) on at least one frame per
   bilabial, and a fully closed, still mouth inside every silence longer than
   `MIN_CLOSED_SILENCE_S` (the mouth opens again only for the anticipation of the next phone).

ARKit conventions used here: JawOpen lowers the jaw; MouthClose closes the lips *against* an
open jaw, so sealed lips have MouthClose ~= JawOpen and a relaxed closed mouth has both ~= 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.signal import lfilter

from models.motion.arkit import ARKIT_BLENDSHAPES, NUM_BLENDSHAPES

from .phones import BILABIALS, PHONE_TO_VISEME, SILENCE, VOWELS, PhoneSegment

log = logging.getLogger(__name__)

BS: dict[str, int] = {n: i for i, n in enumerate(ARKIT_BLENDSHAPES)}
MIN_CLOSED_SILENCE_S = 0.15
SUBSTEPS = 4  # internal samples per output frame

# Articulator groups: a gesture has one dominance per group.
GROUPS: tuple[str, ...] = ("jaw", "aperture", "closure", "round", "spread", "tongue")
_GROUP_CHANNELS: dict[str, tuple[str, ...]] = {
    "jaw": ("JawOpen", "JawForward", "JawLeft", "JawRight"),
    "aperture": (
        "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight",
        "MouthShrugLower", "MouthShrugUpper", "MouthLeft", "MouthRight",
    ),
    "closure": (
        "MouthClose", "MouthPressLeft", "MouthPressRight", "MouthRollLower", "MouthRollUpper",
        "CheekPuff",
    ),
    "round": ("MouthFunnel", "MouthPucker"),
    "spread": (
        "MouthStretchLeft", "MouthStretchRight", "MouthSmileLeft", "MouthSmileRight",
        "MouthDimpleLeft", "MouthDimpleRight", "MouthFrownLeft", "MouthFrownRight",
    ),
    "tongue": ("TongueOut",),
}  # fmt: skip

#: The blendshapes articulation writes to; everything else (eyes, brows, cheeks, nose) is 0.
MOUTH_CHANNELS: tuple[str, ...] = tuple(c for g in GROUPS for c in _GROUP_CHANNELS[g])
#: Channels that move with speech only (smiles and dimples excluded: they also carry emotion).
ARTICULATION_CHANNELS: tuple[str, ...] = (
    "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "TongueOut",
)  # fmt: skip
_CH_GROUP = np.full(NUM_BLENDSHAPES, -1, np.int64)
for _g, _names in enumerate(_GROUP_CHANNELS.values()):
    for _n in _names:
        _CH_GROUP[BS[_n]] = _g
_MOUTH_MASK = _CH_GROUP >= 0
_CH_GROUP_SAFE = np.where(_MOUTH_MASK, _CH_GROUP, 0)


def _sym(**kw: float) -> dict[str, float]:
    """Expand `Name_` keys (trailing underscore) to NameLeft and NameRight."""
    out: dict[str, float] = {}
    for k, v in kw.items():
        if k.endswith("_"):
            out[k[:-1] + "Left"] = v
            out[k[:-1] + "Right"] = v
        else:
            out[k] = v
    return out


#: Oculus/Meta viseme -> ARKit blendshape targets (an average adult at conversational loudness).
VISEME_TARGETS: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": _sym(JawOpen=0.05, MouthClose=0.05, MouthPress_=0.35, MouthRollLower=0.15, MouthRollUpper=0.08),
    "FF": _sym(JawOpen=0.09, MouthRollLower=0.45, MouthUpperUp_=0.14, MouthClose=0.02, MouthShrugUpper=0.08),
    "TH": _sym(JawOpen=0.14, TongueOut=0.12, MouthLowerDown_=0.08, MouthUpperUp_=0.04),
    "DD": _sym(JawOpen=0.15, MouthStretch_=0.08, MouthLowerDown_=0.08, MouthUpperUp_=0.05),
    "kk": _sym(JawOpen=0.2, MouthStretch_=0.05, MouthLowerDown_=0.06),
    "CH": _sym(
        JawOpen=0.12, MouthFunnel=0.35, MouthPucker=0.25, MouthUpperUp_=0.16, MouthLowerDown_=0.12,
        MouthShrugUpper=0.1,
    ),
    "SS": _sym(JawOpen=0.07, MouthStretch_=0.2, MouthSmile_=0.07, MouthLowerDown_=0.1, MouthUpperUp_=0.1),
    "nn": _sym(JawOpen=0.13, MouthLowerDown_=0.05, MouthStretch_=0.04),
    "RR": _sym(JawOpen=0.13, MouthPucker=0.25, MouthFunnel=0.2, MouthUpperUp_=0.05),
    "aa": _sym(JawOpen=0.5, MouthLowerDown_=0.3, MouthUpperUp_=0.1, MouthStretch_=0.1),
    "E": _sym(JawOpen=0.32, MouthStretch_=0.25, MouthSmile_=0.12, MouthLowerDown_=0.25, MouthUpperUp_=0.1),
    "ih": _sym(JawOpen=0.18, MouthStretch_=0.3, MouthSmile_=0.18, MouthLowerDown_=0.15, MouthUpperUp_=0.12),
    "oh": _sym(JawOpen=0.38, MouthFunnel=0.45, MouthPucker=0.2, MouthLowerDown_=0.15),
    "ou": _sym(JawOpen=0.14, MouthPucker=0.6, MouthFunnel=0.3),
}  # fmt: skip

# Per-phone refinements of the viseme targets (jaw height differs within a viseme class).
_JAW: dict[str, float] = {
    "AA": 0.52, "AE": 0.45, "AH": 0.38, "AO": 0.45, "EH": 0.32, "ER": 0.18, "IH": 0.2, "IY": 0.13,
    "UH": 0.2, "UW": 0.12, "W": 0.09, "Y": 0.1, "HH": 0.25, "L": 0.16, "S": 0.06, "Z": 0.06,
    "M": 0.03, "B": 0.05, "P": 0.05, "NG": 0.16,
}  # fmt: skip
# Diphthongs: two gestures, the first over `_DIPH_SPLIT` of the segment.
_DIPHTHONGS: dict[str, tuple[str, str]] = {
    "AY": ("AA", "IY"), "AW": ("AA", "UH"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY"),
}  # fmt: skip
_DIPH_SPLIT = 0.55


def _vec(targets: dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_BLENDSHAPES, np.float64)
    for k, x in targets.items():
        v[BS[k]] = x
    return v


def _phone_target(phone: str) -> np.ndarray:
    v = _vec(VISEME_TARGETS[PHONE_TO_VISEME[phone]])
    if phone in _JAW:
        ratio = _JAW[phone] / max(v[BS["JawOpen"]], 1e-6)
        v[BS["JawOpen"]] = _JAW[phone]
        for n in ("MouthLowerDownLeft", "MouthLowerDownRight"):
            v[BS[n]] *= float(np.clip(ratio, 0.5, 1.5))
    if phone in BILABIALS:
        v[BS["MouthClose"]] = v[BS["JawOpen"]]
        if phone == "M":  # nasal: softer press, no pressure build-up
            for n in ("MouthPressLeft", "MouthPressRight"):
                v[BS[n]] *= 0.6
    if phone == "AO":  # less rounded than OW
        v[BS["MouthFunnel"]] *= 0.6
    if phone == "HH":  # takes its shape from the next vowel: the target is a neutral half-open mouth
        v[BS["MouthLowerDownLeft"]] = v[BS["MouthLowerDownRight"]] = 0.08
    if phone == "ER":
        v[BS["MouthFunnel"]] = 0.15
    return v


#: Every phone of the common set (SIL included) -> (52,) target vector.
PHONE_TARGETS: dict[str, np.ndarray] = {p: _phone_target(p) for p in PHONE_TO_VISEME}

_ROUNDED = frozenset({"UW", "UH", "OW", "AO", "OY", "W", "R", "ER", "SH", "ZH", "CH", "JH"})
# Dominance magnitudes per articulator group, in GROUPS order.
_ALPHA: dict[str, tuple[float, ...]] = {
    "bilabial": (5.0, 5.0, 8.0, 0.6, 0.6, 1.0),
    "labiodental": (2.0, 4.0, 7.0, 0.6, 0.6, 1.0),
    "dental": (1.5, 1.5, 1.0, 0.5, 0.5, 6.0),
    "sibilant": (2.5, 1.5, 1.0, 0.4, 1.2, 1.0),
    "alveolar": (1.5, 1.0, 1.0, 0.3, 0.6, 1.0),
    "postalveolar": (1.5, 2.0, 1.0, 3.0, 0.5, 1.0),
    "velar": (1.0, 0.5, 0.5, 0.2, 0.2, 1.0),
    "glottal": (0.15, 0.15, 0.15, 0.15, 0.15, 0.15),
    "approx_round": (1.0, 1.0, 1.0, 4.0, 0.5, 1.0),
    "approx": (1.2, 1.0, 1.0, 0.5, 1.5, 1.0),
    "vowel": (3.0, 3.0, 3.0, 1.2, 2.5, 1.0),
    "vowel_round": (3.0, 3.0, 3.0, 4.0, 2.5, 1.0),
    "silence": (1.2, 1.2, 1.2, 1.0, 1.2, 1.0),
}
# Dominance time constants (anticipatory, carry-over) in seconds per group, before style scaling.
_SPREAD_ANT = np.array([0.075, 0.07, 0.035, 0.11, 0.075, 0.05])
_SPREAD_CAR = np.array([0.055, 0.05, 0.025, 0.07, 0.055, 0.04])
_SPREAD_SIL = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
# Smoothing time constants (s) of the articulators per group (zero-phase), before style.speed.
_SMOOTH = np.array([0.024, 0.018, 0.01, 0.02, 0.018, 0.015])


def _phone_class(phone: str) -> str:
    if phone == SILENCE:
        return "silence"
    if phone in VOWELS:
        return "vowel_round" if phone in _ROUNDED else "vowel"
    return {
        "P": "bilabial", "B": "bilabial", "M": "bilabial", "F": "labiodental", "V": "labiodental",
        "TH": "dental", "DH": "dental", "S": "sibilant", "Z": "sibilant", "T": "alveolar",
        "D": "alveolar", "N": "alveolar", "L": "alveolar", "SH": "postalveolar", "ZH": "postalveolar",
        "CH": "postalveolar", "JH": "postalveolar", "K": "velar", "G": "velar", "NG": "velar",
        "HH": "glottal", "W": "approx_round", "R": "approx_round", "Y": "approx",
    }[phone]  # fmt: skip


@dataclass
class ArticulationStyle:
    """How one person articulates. Defaults are an average speaker; `sample` draws a varied one.

    jaw: jaw-opening gain (0.65-1.35). rounding: lip rounding/protrusion gain (0.6-1.4).
    spread: lip spreading gain (0.6-1.4). closure: lip press/roll gain on P/B/M and F/V
    (0.7-1.3). asymmetry: left/right imbalance, + = stronger on the left (-0.15..0.15).
    mouth_shift: sideways mouth offset while speaking, + = MouthLeft (-0.05..0.05).
    speed: articulator agility; low = smoother, more undershoot (0.75-1.3).
    lead_s: how far movements lead the sound (0.04-0.08 s; gestures are centred lead_s/2 early).
    coarticulation: width of the dominance functions (0.75-1.3). variability: per-phone random
    gain, log-std (0.04-0.14).
    tongue: TongueOut gain on TH/DH (0-1.5).
    """

    jaw: float = 1.0
    rounding: float = 1.0
    spread: float = 1.0
    closure: float = 1.0
    asymmetry: float = 0.0
    mouth_shift: float = 0.0
    speed: float = 1.0
    lead_s: float = 0.06
    coarticulation: float = 1.0
    variability: float = 0.08
    tongue: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> ArticulationStyle:
        """A random speaker's style (ranges in the class docstring)."""
        return cls(
            jaw=float(np.clip(rng.lognormal(0.0, 0.16), 0.65, 1.35)),
            rounding=float(rng.uniform(0.6, 1.4)),
            spread=float(rng.uniform(0.6, 1.4)),
            closure=float(rng.uniform(0.7, 1.3)),
            asymmetry=float(np.clip(rng.normal(0.0, 0.06), -0.15, 0.15)),
            mouth_shift=float(np.clip(rng.normal(0.0, 0.02), -0.05, 0.05)),
            speed=float(rng.uniform(0.75, 1.3)),
            lead_s=float(rng.uniform(0.04, 0.08)),
            coarticulation=float(rng.uniform(0.75, 1.3)),
            variability=float(rng.uniform(0.04, 0.14)),
            tongue=float(rng.uniform(0.0, 1.5)),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> ArticulationStyle:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown articulation style key(s) {unknown}")
        return cls(**{k: float(v) for k, v in d.items()})


def _style_gain(style: ArticulationStyle) -> np.ndarray:
    g = np.ones(NUM_BLENDSHAPES)
    for n in _GROUP_CHANNELS["jaw"] + _GROUP_CHANNELS["aperture"]:
        g[BS[n]] = style.jaw
    for n in _GROUP_CHANNELS["round"]:
        g[BS[n]] = style.rounding
    for n in _GROUP_CHANNELS["spread"]:
        g[BS[n]] = style.spread
    for n in ("MouthPressLeft", "MouthPressRight", "MouthRollLower", "MouthRollUpper"):
        g[BS[n]] = style.closure
    g[BS["MouthClose"]] = style.jaw  # sealed lips follow the jaw
    g[BS["TongueOut"]] = style.tongue
    return g


@dataclass
class _Gesture:
    phone: str
    start: float  # acoustic span of the gesture
    end: float
    target: np.ndarray  # (52,)
    alpha: np.ndarray  # (6,)
    s_ant: np.ndarray  # (6,)
    s_car: np.ndarray  # (6,)


def _with_silences(phones: Sequence[PhoneSegment], total: float) -> list[PhoneSegment]:
    """Sorted phones with every gap (and the time before the first / after the last) as SIL."""
    out: list[PhoneSegment] = []
    t = 0.0
    for p in sorted(phones, key=lambda p: (p.start, p.end)):
        if p.end <= p.start:
            continue
        if p.start > t + 1e-4:
            out.append(PhoneSegment(SILENCE, t, p.start))
        start = max(p.start, t)
        if p.end > start:
            out.append(PhoneSegment(p.phone, start, p.end))
            t = p.end
    if total > t + 1e-4:
        out.append(PhoneSegment(SILENCE, t, total))
    # merge adjacent silences
    merged: list[PhoneSegment] = []
    for p in out:
        if merged and p.phone == SILENCE and merged[-1].phone == SILENCE:
            merged[-1] = PhoneSegment(SILENCE, merged[-1].start, p.end)
        else:
            merged.append(p)
    return merged


def _phone_loudness(segs: Sequence[PhoneSegment], loudness: np.ndarray, fps: float) -> np.ndarray:
    """Per-segment gain from a per-frame RMS track: (rms / median voiced rms) ** 0.35, clipped."""
    vals = np.ones(len(segs))
    t_frames = (np.arange(len(loudness)) + 0.5) / fps
    raw = np.full(len(segs), np.nan)
    for i, p in enumerate(segs):
        if p.phone == SILENCE:
            continue
        m = (t_frames >= p.start - 0.5 / fps) & (t_frames <= p.end + 0.5 / fps)
        if m.any():
            raw[i] = float(loudness[m].mean())
    ref_pool = [raw[i] for i, p in enumerate(segs) if p.phone in VOWELS and np.isfinite(raw[i])]
    if not ref_pool or np.median(ref_pool) <= 0:
        return vals
    ref = float(np.median(ref_pool))
    ok = np.isfinite(raw)
    vals[ok] = np.clip((np.maximum(raw[ok], 1e-9) / ref) ** 0.35, 0.6, 1.35)
    return vals


def _gestures(
    segs: Sequence[PhoneSegment],
    style: ArticulationStyle,
    gains: np.ndarray,
    rng: np.random.Generator | None,
) -> list[_Gesture]:
    style_gain = _style_gain(style)
    jaw_like = np.zeros(NUM_BLENDSHAPES, bool)
    for n in _GROUP_CHANNELS["jaw"] + _GROUP_CHANNELS["aperture"] + ("MouthClose",):
        jaw_like[BS[n]] = True
    out: list[_Gesture] = []
    for p, gain in zip(segs, gains, strict=True):
        parts: list[tuple[str, float, float]]
        if p.phone in _DIPHTHONGS:
            a, b = _DIPHTHONGS[p.phone]
            mid = p.start + _DIPH_SPLIT * (p.end - p.start)
            parts = [(a, p.start, mid), (b, mid, p.end)]
        else:
            parts = [(p.phone, p.start, p.end)]
        for ph, s, e in parts:
            target = PHONE_TARGETS[ph] * style_gain
            if ph != SILENCE:
                g = np.where(jaw_like, gain, 1.0)
                if rng is not None and style.variability > 0:
                    jit = np.exp(rng.normal(0.0, style.variability, len(GROUPS)))
                    jit[GROUPS.index("closure")] = 1.0  # closures stay closures
                    g = g * jit[_CH_GROUP_SAFE]
                target = target * g
                if ph in BILABIALS:  # lips sealed against whatever jaw height
                    target[BS["MouthClose"]] = target[BS["JawOpen"]]
            cls = _phone_class(ph)
            alpha = np.array(_ALPHA[cls])
            if cls == "silence":
                s_ant = s_car = _SPREAD_SIL.copy()
            else:
                s_ant = _SPREAD_ANT * style.coarticulation
                s_car = _SPREAD_CAR * style.coarticulation
            out.append(_Gesture(ph, s, e, target, alpha, s_ant, s_car))
    return out


def _smooth_zero_phase(x: np.ndarray, tau_s: np.ndarray, rate: float) -> np.ndarray:
    """Forward-backward one-pole low-pass per column with time constants tau_s (per column)."""
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        a = float(np.exp(-1.0 / (rate * max(tau_s[j], 1e-4))))
        col = x[:, j]
        if not col.any():
            out[:, j] = 0.0
            continue
        y = lfilter([1.0 - a], [1.0, -a], col, zi=[a * col[0]])[0]
        y = lfilter([1.0 - a], [1.0, -a], y[::-1], zi=[a * y[-1]])[0][::-1]
        out[:, j] = y
    return out


def _overlap_weights(start: float, end: float, frames: int, fps: float) -> tuple[int, np.ndarray]:
    """(first frame, overlap fraction of each frame from it) of the interval [start, end)."""
    if end <= start:
        return 0, np.zeros(0)
    f0 = max(int(np.floor(start * fps)), 0)
    f1 = min(int(np.ceil(end * fps)), frames)
    if f1 <= f0:
        return f0, np.zeros(0)
    idx = np.arange(f0, f1)
    lo = np.maximum(idx / fps, start)
    hi = np.minimum((idx + 1) / fps, end)
    return f0, np.clip((hi - lo) * fps, 0.0, 1.0)


def articulate(
    phones: Sequence[PhoneSegment],
    frames: int,
    fps: float = 25.0,
    rng: np.random.Generator | None = None,
    style: ArticulationStyle | None = None,
    loudness: np.ndarray | None = None,
) -> np.ndarray:
    """Coarticulated mouth motion for timed phones: (frames, 52) ARKit blendshapes in 0..1.

    phones: PhoneSegments in seconds on the same clock as the frames (frame i covers
    [i / fps, (i + 1) / fps)); gaps between phones are silence. rng: per-phone randomness
    (None = none, fully deterministic). style: the speaker (default: average). loudness:
    optional per-frame RMS of the speaker's audio (frames,), which scales each phone's jaw and
    lip opening (louder = more open). Only mouth/jaw/tongue channels (`MOUTH_CHANNELS`) are
    written; all others are 0.
    """
    style = style or ArticulationStyle()
    out = np.zeros((frames, NUM_BLENDSHAPES), np.float32)
    if frames <= 0:
        return out
    total = frames / fps
    segs = [p for p in _with_silences(phones, total) if p.start < total]
    if not any(p.phone != SILENCE for p in segs):
        return out
    if loudness is not None:
        loud = np.asarray(loudness, np.float64).reshape(-1)
        if len(loud) < frames:
            loud = np.pad(loud, (0, frames - len(loud)))
        gains = _phone_loudness(segs, loud[:frames], fps)
    elif rng is not None:
        gains = np.clip(rng.lognormal(0.0, 0.1, len(segs)), 0.75, 1.3)
    else:
        gains = np.ones(len(segs))
    gest = _gestures(segs, style, gains, rng)

    rate = fps * SUBSTEPS
    m = frames * SUBSTEPS
    tt = (np.arange(m) + 0.5) / rate
    num = np.zeros((m, NUM_BLENDSHAPES))
    den = np.full((m, NUM_BLENDSHAPES), 1e-6)
    lead = style.lead_s
    for g in gest:
        dur = g.end - g.start
        c = 0.5 * (g.start + g.end) - 0.5 * lead
        h = 0.3 * dur
        lo = c - h - 5.0 * float(g.s_ant.max())
        hi = c + h + 5.0 * float(g.s_car.max())
        i0 = max(int(np.floor(lo * rate)), 0)
        i1 = min(int(np.ceil(hi * rate)) + 1, m)
        if i1 <= i0:
            continue
        d = tt[i0:i1] - c  # (n,)
        before = d < 0
        tau = np.maximum(np.abs(d) - h, 0.0)[:, None]  # (n, 1)
        s = np.where(before[:, None], g.s_ant[None, :], g.s_car[None, :])  # (n, 6)
        dom = g.alpha[None, :] * np.exp(-((tau / s) ** 1.5))  # (n, 6)
        dom_ch = dom[:, _CH_GROUP_SAFE]  # (n, 52)
        num[i0:i1] += dom_ch * g.target[None, :]
        den[i0:i1] += dom_ch
    track = num / den
    track[:, ~_MOUTH_MASK] = 0.0
    tau = (_SMOOTH / max(style.speed, 0.2))[_CH_GROUP_SAFE]
    track = _smooth_zero_phase(track, tau, rate)
    y = track.reshape(frames, SUBSTEPS, NUM_BLENDSHAPES).mean(1)

    jaw, close = BS["JawOpen"], BS["MouthClose"]
    # Lips approaching a closure seal against the jaw in proportion to the press.
    q = np.clip(y[:, BS["MouthPressLeft"]] / (0.3 * max(style.closure, 0.1)), 0.0, 1.0) ** 2
    y[:, close] = np.clip(np.maximum(y[:, close], q * y[:, jaw]), 0.0, y[:, jaw])
    # Hard constraint 1: sealed lips on P/B/M (at least the best-overlapping frame fully).
    seal = np.zeros(frames)
    press = np.zeros(frames)
    for g in gest:
        if g.phone not in BILABIALS:
            continue
        f0, w = _overlap_weights(g.start - 0.5 * lead, g.end - 0.005, frames, fps)
        if w.size == 0:
            continue
        w = np.clip(w / max(float(w.max()), 1e-9), 0.0, 1.0)
        sl = slice(f0, f0 + w.size)
        seal[sl] = np.maximum(seal[sl], w)
        press[sl] = np.maximum(press[sl], w * g.target[BS["MouthPressLeft"]])
    if seal.any():
        w = seal[:, None]
        jaw_closed = np.minimum(y[:, jaw], 0.07 * style.jaw)
        y[:, jaw] = (1 - seal) * y[:, jaw] + seal * jaw_closed
        y[:, close] = (1 - seal) * y[:, close] + seal * y[:, jaw]
        opening = [BS[n] for n in _GROUP_CHANNELS["aperture"] + _GROUP_CHANNELS["round"] + ("TongueOut",)]
        opening += [BS["MouthStretchLeft"], BS["MouthStretchRight"]]
        y[:, opening] *= 1.0 - 0.85 * w
        for n in ("MouthPressLeft", "MouthPressRight"):
            y[:, BS[n]] = np.maximum(y[:, BS[n]], press)
        for n, k in (("MouthRollLower", 0.12), ("MouthRollUpper", 0.06)):
            y[:, BS[n]] = np.maximum(y[:, BS[n]], seal * k * style.closure)

    # Hard constraint 2: closed, still mouth inside long silences.
    hush = np.zeros(frames)
    for p in segs:
        dur = p.end - p.start
        if p.phone != SILENCE or dur < MIN_CLOSED_SILENCE_S:
            continue
        a = 0.0 if p.start <= 0.0 else min(0.07, 0.3 * dur)
        b = 0.0 if p.end >= total else min(lead + 0.05, 0.35 * dur)
        f0, w = _overlap_weights(p.start + a, p.end - b, frames, fps)
        if w.size:
            sl = slice(f0, f0 + w.size)
            hush[sl] = np.maximum(hush[sl], w)
    y *= (1.0 - hush)[:, None]

    # Style: sideways mouth offset while articulating, left/right asymmetry.
    active = np.clip(y[:, jaw] / 0.15, 0.0, 1.0) * (1.0 - hush)
    if style.mouth_shift > 0:
        y[:, BS["MouthLeft"]] += style.mouth_shift * active
    elif style.mouth_shift < 0:
        y[:, BS["MouthRight"]] += -style.mouth_shift * active
    if style.asymmetry:
        for name in ARKIT_BLENDSHAPES:
            if name.endswith("Left") and _MOUTH_MASK[BS[name]] and name not in ("MouthLeft", "JawLeft"):
                y[:, BS[name]] *= 1.0 + style.asymmetry
                y[:, BS[name[:-4] + "Right"]] *= 1.0 - style.asymmetry
    y[y < 1e-5] = 0.0  # no numerical dust in silences
    out[:] = np.clip(y, 0.0, 1.0)
    return out


def viseme_matrix() -> np.ndarray:
    """(15, 52) targets of the Oculus visemes in `phones.VISEMES` order."""
    from .phones import VISEMES

    return np.stack([_vec(VISEME_TARGETS[v]) for v in VISEMES]).astype(np.float32)
