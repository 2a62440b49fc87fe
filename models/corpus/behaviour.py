"""Non-verbal behaviour of one conversation partner: head, eyes, blinks, brows, smiles, laughs.

`behave(rng, persona, own, partner)` builds everything but the articulating mouth (that is
`visemes.articulate`) at 25 fps in the ARKit space, from

- the person's own speech (activity, energy and F0 per frame, planned speech / backchannel /
  laugh / spontaneous-smile events), and
- the PARTNER's speech activity, prosody and events: the listener reacts to the partner.

What is modelled (ranges are the persona's; see `Persona`):

Speaking: Ornstein-Uhlenbeck head drift 2-3x larger than at rest; head pitch follows the F0
contour; head beats (chin-down pulses of 0.6-2.2 deg x head_motion) on prominent syllables
(energy + F0 peaks); a new head orientation at phrase starts; gaze aversion (up / down / to the
side for 0.6-2.5 s) at phrase starts with probability `gaze_aversion`, gaze back to the partner
before yielding the turn; brow raises on some accents.
Listening: a tilted, slightly forward-leaning posture; gaze on the partner with short glances
away; nods (1-3 down-up cycles, 1.8-3.2 Hz, 2-6 deg) at the partner's pauses (backchannel
opportunities) with probability `nod_propensity`, after the persona's reaction delay, with every
own verbal backchannel, and rarely during the partner's speech; smile mirroring (a partner smile
is answered after 0.1-0.3 s with probability `smile_propensity`, 0.7-1.0); a smile when the partner laughs
and this person does not laugh back; brow raises at the partner's questions and strong accents.
Laughing (own laugh events, with their burst times): a broad Duchenne smile (cheek and eye
squint), a jaw-open pulse per "ha" burst, the head thrown back or forward with a bob per burst,
an afterglow smile.
Always: blinks (a Poisson process at `blink_rate` per minute, x1.3 while speaking, x2 near turn
boundaries and with large gaze shifts, 0.14-0.28 s each, 8% double blinks), fixational
micro-saccades, breathing (0.2-0.3 Hz head pitch / height), slow drift of brow and eye tone.

The mouth channels written here are smiles (and dimples / cheeks) and the jaw of laughs only,
so a silent person's lips never move except to smile or laugh.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from scipy.signal import find_peaks, lfilter

from models.motion.arkit import ARKIT_DIM, INDEX

from .phones import SILENCE, PhoneSegment
from .visemes import ArticulationStyle

log = logging.getLogger(__name__)

FPS = 25.0
EVENT_KINDS: tuple[str, ...] = (
    "speech", "backchannel", "laugh", "smile", "nod", "brow_raise", "blink", "gaze_away",
    "head_beat", "silence",
)  # fmt: skip
CH = INDEX  # channel name -> column in the 58-d ARKit frame


@dataclass
class Event:
    """Something one person does, in seconds on the conversation clock."""

    kind: str
    start: float
    end: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; valid: {list(EVENT_KINDS)}")
        if self.end < self.start:
            raise ValueError(f"event {self.kind} ends before it starts: {self.start}..{self.end}")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "meta": _jsonable(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(str(d["kind"]), float(d["start"]), float(d["end"]), dict(d.get("meta", {})))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


@dataclass
class Persona:
    """One person's behavioural and vocal traits. `sample` draws a varied person.

    Ranges drawn by `sample`: expressivity 0.4-1.4 (facial expression gain); head_motion
    0.3-1.8 (head movement gain; low = a calm receptionist); nod_propensity 0.2-0.95 (P(nod) at a
    partner pause); smile_propensity 0.7-1.0 (P(mirror a smile)); laugh_propensity 0.1-0.8
    (P(laugh back)); backchannel_propensity 0.1-0.7 (P(verbal backchannel) at a partner pause);
    blink_rate 8-30 per minute; gaze_aversion 0.2-0.8 (P(look away) at a phrase start while
    speaking); reaction_delay 0.25-0.5 s mean, reaction_jitter 0.04-0.12 s std; brow_activity
    0.1-0.9; beat_propensity 0.4-0.9 (P(head beat) on a prominent syllable); f0_head_coupling
    0.2-1.2 deg of head pitch per F0 standard deviation; verbosity 0.2-1.0 (longer turns);
    interruptiveness 0-0.5; voice_pitch_hz 85-260 (replaced by the measured F0 of the person's
    speech in a conversation); rest_yaw/pitch/roll N(0, 3/2.5/2) deg; listen_tilt N(0, 2.5) deg;
    listen_lean 0-1.5 cm; rest_smile 0-0.08; rest_brow 0-0.08; articulation: ArticulationStyle.
    """

    expressivity: float = 1.0
    head_motion: float = 1.0
    nod_propensity: float = 0.6
    smile_propensity: float = 0.5
    laugh_propensity: float = 0.4
    backchannel_propensity: float = 0.35
    blink_rate: float = 17.0
    gaze_aversion: float = 0.5
    reaction_delay: float = 0.35
    reaction_jitter: float = 0.08
    brow_activity: float = 0.5
    beat_propensity: float = 0.65
    f0_head_coupling: float = 0.6
    verbosity: float = 0.6
    interruptiveness: float = 0.2
    voice_pitch_hz: float = 150.0
    rest_yaw: float = 0.0
    rest_pitch: float = 0.0
    rest_roll: float = 0.0
    listen_tilt: float = 0.0
    listen_lean: float = 0.5
    rest_smile: float = 0.02
    rest_brow: float = 0.02
    articulation: ArticulationStyle = field(default_factory=ArticulationStyle)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Persona:
        """A random person (ranges in the class docstring)."""
        return cls(
            expressivity=float(rng.uniform(0.4, 1.4)),
            head_motion=float(np.clip(rng.lognormal(0.0, 0.4), 0.3, 1.8)),
            nod_propensity=float(rng.uniform(0.2, 0.95)),
            smile_propensity=float(rng.uniform(0.7, 1.0)),
            laugh_propensity=float(rng.uniform(0.1, 0.8)),
            backchannel_propensity=float(rng.uniform(0.1, 0.7)),
            blink_rate=float(rng.uniform(8.0, 30.0)),
            gaze_aversion=float(rng.uniform(0.2, 0.8)),
            reaction_delay=float(rng.uniform(0.25, 0.5)),
            reaction_jitter=float(rng.uniform(0.04, 0.12)),
            brow_activity=float(rng.uniform(0.1, 0.9)),
            beat_propensity=float(rng.uniform(0.4, 0.9)),
            f0_head_coupling=float(rng.uniform(0.2, 1.2)),
            verbosity=float(rng.uniform(0.2, 1.0)),
            interruptiveness=float(rng.uniform(0.0, 0.5)),
            voice_pitch_hz=float(rng.choice([rng.uniform(85, 155), rng.uniform(150, 260)])),
            rest_yaw=float(rng.normal(0.0, 3.0)),
            rest_pitch=float(rng.normal(0.0, 2.5)),
            rest_roll=float(rng.normal(0.0, 2.0)),
            listen_tilt=float(rng.normal(0.0, 2.5)),
            listen_lean=float(rng.uniform(0.0, 1.5)),
            rest_smile=float(rng.uniform(0.0, 0.08)),
            rest_brow=float(rng.uniform(0.0, 0.08)),
            articulation=ArticulationStyle.sample(rng),
        )

    def draw_delay(self, rng: np.random.Generator, lo: float = 0.15, hi: float = 0.9) -> float:
        """A reaction delay (s): normal(reaction_delay, reaction_jitter) truncated to [lo, hi]."""
        for _ in range(16):
            d = float(rng.normal(self.reaction_delay, self.reaction_jitter))
            if lo <= d <= hi:
                return d
        return float(np.clip(d, lo, hi))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["articulation"] = self.articulation.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Persona:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown persona key(s) {unknown}")
        kw: dict[str, Any] = {k: float(v) for k, v in d.items() if k != "articulation"}
        if "articulation" in d:
            kw["articulation"] = ArticulationStyle.from_dict(d["articulation"])
        return cls(**kw)


# ----------------------------------------------------------------------------------- signals


@dataclass
class Prosody:
    """Per-frame prosody: energy = RMS of the frame's samples, f0 in Hz (0 where unvoiced)."""

    energy: np.ndarray  # (T,) float32
    f0: np.ndarray  # (T,) float32

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0


def prosody(
    audio: np.ndarray,
    sample_rate: int = 16000,
    fps: float = FPS,
    frames: int | None = None,
    fmin: float = 65.0,
    fmax: float = 450.0,
) -> Prosody:
    """RMS energy and a normalised-autocorrelation F0 per frame (frame i = samples of [i/fps, (i+1)/fps)).

    F0 is searched in [fmin, fmax] over a 64 ms Hann window centred on each frame; a frame is
    voiced when the autocorrelation peak exceeds 0.45 and its energy is within 35 dB of the
    track's loud frames.
    """
    x = np.asarray(audio, np.float64).reshape(-1)
    hop = sample_rate / fps
    t_frames = frames if frames is not None else int(np.ceil(len(x) / hop))
    if t_frames <= 0:
        return Prosody(np.zeros(0, np.float32), np.zeros(0, np.float32))
    hop_i = round(hop)
    padded = np.zeros(t_frames * hop_i + 2048)
    padded[512 : 512 + min(len(x), t_frames * hop_i)] = x[: t_frames * hop_i]
    fr = padded[512 : 512 + t_frames * hop_i].reshape(t_frames, hop_i)
    energy = np.sqrt(np.mean(fr**2, axis=1))
    win = round(0.064 * sample_rate)
    centres = (np.arange(t_frames) * hop_i + hop_i // 2 + 512).astype(np.int64)
    idx = centres[:, None] + np.arange(-win // 2, win - win // 2)[None, :]
    seg = padded[np.clip(idx, 0, len(padded) - 1)] * np.hanning(win)[None, :]
    seg -= seg.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(seg, nfft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :win]
    wac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(win), nfft)) ** 2, nfft)[:win]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / np.maximum(wac / wac[0], 1e-3)[None, :]
    lo = max(int(sample_rate / fmax), 2)
    hi = min(int(sample_rate / fmin), win - 2)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(t_frames), lag]
    # parabolic refinement
    a = ac[np.arange(t_frames), lag - 1]
    c = ac[np.arange(t_frames), np.minimum(lag + 1, win - 1)]
    denom = a - 2 * peak + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    f0 = sample_rate / (lag + np.clip(shift, -0.5, 0.5))
    loud = np.percentile(energy, 95) if energy.size else 0.0
    voiced = (peak > 0.45) & (energy > loud * 10 ** (-35 / 20)) & (energy > 1e-5)
    return Prosody(energy.astype(np.float32), np.where(voiced, f0, 0.0).astype(np.float32))


def speech_activity(
    phones: Iterable[PhoneSegment], frames: int, fps: float = FPS, bridge_s: float = 0.12
) -> np.ndarray:
    """(frames,) bool: frame centres inside non-silent phones, gaps shorter than bridge_s filled."""
    act = np.zeros(frames, bool)
    t = (np.arange(frames) + 0.5) / fps
    for p in phones:
        if p.phone == SILENCE:
            continue
        i0 = int(np.searchsorted(t, p.start - 0.5 * bridge_s))
        i1 = int(np.searchsorted(t, p.end + 0.5 * bridge_s))
        act[i0:i1] = True
    return act


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where mask is True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def pauses(
    activity: np.ndarray,
    fps: float = FPS,
    min_pause: float = 0.2,
    min_speech_before: float = 0.5,
) -> list[tuple[float, float]]:
    """Backchannel opportunities: (start, end) s of silences >= min_pause that follow >= min_speech_before s
    of speech (within the last 1.5 s). A silence at the end of the track ends at the track's end."""
    act = np.asarray(activity, bool)
    out: list[tuple[float, float]] = []
    speech_runs = _runs(act)
    for s, e in _runs(~act):
        if s == 0 or (e - s) / fps < min_pause:
            continue
        recent = sum(
            min(re, s) - max(rs, s - int(1.5 * fps))
            for rs, re in speech_runs
            if re > s - 1.5 * fps and rs < s
        )
        if recent / fps >= min_speech_before:
            out.append((s / fps, e / fps))
    return out


@dataclass
class PersonSignals:
    """What `behave` needs to know about one person (own or partner).

    activity: (T,) bool, speaking (speech or backchannel, short gaps bridged). prosody: energy
    and F0 per frame. events: the person's planned events on the conversation clock: speech
    (meta: question bool, turn_end bool), backchannel (meta: text), laugh (meta: bursts [(s, e)]),
    smile (spontaneous; meta: amplitude).
    """

    activity: np.ndarray
    prosody: Prosody
    events: list[Event] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]


# ----------------------------------------------------------------------------------- helpers


def child_rngs(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """n independent generators derived deterministically from rng (one draw from it)."""
    seeds = rng.integers(0, 2**63 - 1, size=(n, 2))
    return [np.random.default_rng([int(a), int(b)]) for a, b in seeds]


def _smooth(x: np.ndarray, tau_s: float, fps: float = FPS) -> np.ndarray:
    """Zero-phase one-pole low-pass along axis 0."""
    if tau_s <= 0 or len(x) == 0:
        return np.asarray(x, np.float64)
    a = float(np.exp(-1.0 / (fps * tau_s)))
    x = np.asarray(x, np.float64)
    zi_shape = (1, *x.shape[1:])
    y = lfilter([1 - a], [1, -a], x, axis=0, zi=a * x[:1].reshape(zi_shape))[0]
    y = lfilter([1 - a], [1, -a], y[::-1], axis=0, zi=a * y[-1:].reshape(zi_shape))[0][::-1]
    return y


def _ou(n: int, tau_s: float, rng: np.random.Generator, fps: float = FPS) -> np.ndarray:
    """Unit-variance smooth Ornstein-Uhlenbeck-like noise: two cascaded AR(1) stages of time constant tau."""
    a = float(np.exp(-1.0 / (fps * max(tau_s, 1e-3))))
    burn = int(3 * tau_s * fps) + 10
    e = rng.standard_normal(n + burn)
    x = lfilter([1.0], [1.0, -a], lfilter([1.0], [1.0, -a], e))[burn:]
    var = (1 + a * a) / (1 - a * a) ** 3
    return x / np.sqrt(var)


def _bump(t: np.ndarray, start: float, dur: float) -> np.ndarray:
    """sin^2 bump from start to start + dur (peak 1 at the middle), 0 elsewhere."""
    x = (t - start) / max(dur, 1e-6)
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)


def _envelope(t: np.ndarray, start: float, rise: float, hold_end: float, fall: float) -> np.ndarray:
    """Smoothstep rise from start over `rise`, 1 until hold_end, smoothstep fall over `fall`."""
    up = np.clip((t - start) / max(rise, 1e-6), 0, 1)
    down = np.clip(1 - (t - hold_end) / max(fall, 1e-6), 0, 1)
    s = np.minimum(up, down)
    return s * s * (3 - 2 * s)


def _union_mask(events: Iterable[Event], t: np.ndarray, pad: float = 0.0) -> np.ndarray:
    m = np.zeros(len(t), bool)
    for e in events:
        m |= (t >= e.start - pad) & (t < e.end + pad)
    return m


def _zscore(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x, dtype=np.float64)
    if mask.sum() < 3:
        return out
    v = x[mask].astype(np.float64)
    s = float(v.std())
    out[mask] = (v - v.mean()) / (s if s > 1e-9 else 1.0)
    return out


def prominences(pros: Prosody, activity: np.ndarray, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Prominent syllables: (times s, strength z) of peaks of log-energy + 0.7 * F0 z-scores."""
    act = np.asarray(activity, bool) & (pros.energy > 0)
    if act.sum() < 5:
        return np.zeros(0), np.zeros(0)
    le = np.log(np.maximum(pros.energy.astype(np.float64), 1e-6))
    voiced = act & (pros.f0 > 0)
    lf = np.log(np.maximum(pros.f0.astype(np.float64), 1.0))
    p = _zscore(le, act) + 0.7 * _zscore(lf, voiced)
    p = np.where(act, _smooth(p, 0.03, fps), -10.0)
    idx, props = find_peaks(p, height=0.3, distance=max(int(0.25 * fps), 1), prominence=0.4)
    return (idx + 0.5) / fps, props["peak_heights"]


# ----------------------------------------------------------------------------------- behave


@dataclass
class _Ctx:
    persona: Persona
    t: np.ndarray
    fps: float
    motion: np.ndarray
    events: list[Event]


def behave(
    rng: np.random.Generator,
    persona: Persona,
    own: PersonSignals,
    partner: PersonSignals,
    fps: float = FPS,
) -> tuple[np.ndarray, list[Event]]:
    """Non-verbal motion (T, 58) and the behaviour events (nod, smile, brow_raise, blink, gaze_away,
    head_beat) of one person. T = len(own.activity). Channels not written: the articulating mouth."""
    n = len(own.activity)
    t = (np.arange(n) + 0.5) / fps
    ctx = _Ctx(persona, t, fps, np.zeros((n, ARKIT_DIM), np.float64), [])
    if n == 0:
        return ctx.motion.astype(np.float32), []
    r_head, r_nod, r_gaze, r_blink, r_smile, r_brow, r_laugh, r_tone = child_rngs(rng, 8)

    # conversational state weights (smooth, sum to 1)
    own_turn = _union_mask(own.of_kind("speech"), t, pad=0.1) | np.asarray(own.activity, bool)
    for s, e in _runs(~own_turn):  # a turn holds through the short pauses between its sentences
        if 0 < s and e < n and (e - s) / fps < 1.0:
            own_turn[s:e] = True
    partner_talk = _smooth(np.asarray(partner.activity, float), 0.5, fps) > 0.2
    partner_turn = _union_mask(partner.of_kind("speech"), t, pad=0.6) | partner_talk
    speak_w = _smooth(own_turn.astype(float), 0.25, fps)
    listen_w = _smooth((partner_turn & ~own_turn).astype(float), 0.5, fps)
    listen_w = np.minimum(listen_w, 1 - speak_w)
    idle_w = np.clip(1 - speak_w - listen_w, 0, 1)

    gaze_yaw, gaze_pitch, big_saccades = _gaze(ctx, r_gaze, own, speak_w, listen_w)
    _head(ctx, r_head, own, speak_w, listen_w, idle_w, gaze_yaw, gaze_pitch)
    _nods(ctx, r_nod, own, partner, own_turn)
    _laughs(ctx, r_laugh, own)
    _smiles(ctx, r_smile, own, partner)
    _brows(ctx, r_brow, own, partner, own_turn)
    _blinks(ctx, r_blink, own, partner, speak_w, listen_w, big_saccades)
    _tone(ctx, r_tone)

    ctx.events.sort(key=lambda e: (e.start, e.kind))
    motion = ctx.motion
    motion[:, :52] = np.clip(motion[:, :52], 0.0, 1.0)
    return motion.astype(np.float32), ctx.events


def _add(ctx: _Ctx, name: str, values: np.ndarray | float) -> None:
    ctx.motion[:, CH[name]] += values


def _max(ctx: _Ctx, name: str, values: np.ndarray) -> None:
    ctx.motion[:, CH[name]] = np.maximum(ctx.motion[:, CH[name]], values)


# ----------------------------------------------------------------------------------- gaze


_GAZE_YAW_FULL = 30.0  # degrees of eye yaw at EyeLookIn/Out = 1
_GAZE_PITCH_FULL = 25.0


def _gaze(
    ctx: _Ctx,
    rng: np.random.Generator,
    own: PersonSignals,
    speak_w: np.ndarray,
    listen_w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Fixation sequence -> EyeLook* channels; returns eye yaw/pitch (deg) and big-saccade times."""
    p = ctx.persona
    t, fps = ctx.t, ctx.fps
    total = len(t) / fps
    # forced aversions at own phrase starts (planning), gaze back to partner before yielding
    aversions: list[tuple[float, float, float, float]] = []
    for e in own.of_kind("speech"):
        if rng.random() < p.gaze_aversion:
            s = e.start - rng.uniform(0.0, 0.25)
            end = min(s + rng.uniform(0.6, 2.5), e.end - (0.5 if e.meta.get("turn_end") else 0.0))
            if end - s > 0.3:
                aversions.append((s, end, *_away_target(rng)))
        # a second look-away in long sentences
        if e.duration > 3.0 and rng.random() < 0.5 * p.gaze_aversion:
            s = rng.uniform(e.start + 1.2, e.end - 1.2)
            aversions.append((s, s + rng.uniform(0.4, 1.2), *_away_target(rng)))
    aversions.sort()
    yaw = np.zeros(len(t))
    pitch = np.zeros(len(t))
    fixations: list[tuple[float, float, float, float]] = []  # start, end, yaw, pitch
    now = 0.0
    ai = 0
    while now < total:
        while ai < len(aversions) and aversions[ai][1] <= now:
            ai += 1
        if ai < len(aversions) and aversions[ai][0] <= now:
            s, e, y, pt = aversions[ai]
            fixations.append((now, e, y, pt))
            ctx.events.append(Event("gaze_away", max(now, 0.0), min(e, total), {"yaw": y, "pitch": pt}))
            now = e
            ai += 1
            continue
        f = min(int(now * fps), len(t) - 1)
        state = "speak" if speak_w[f] > 0.5 else "listen" if listen_w[f] > 0.5 else "idle"
        if state == "listen":
            if rng.random() < 0.1:
                y, pt = _away_target(rng, small=True)
                dur = rng.uniform(0.3, 0.9)
            else:
                y, pt = rng.normal(0, 1.2), rng.normal(0, 1.0)
                dur = rng.uniform(0.8, 3.0)
        elif state == "speak":
            if rng.random() < 0.25 * p.gaze_aversion:
                y, pt = _away_target(rng, small=True)
                dur = rng.uniform(0.3, 1.0)
            else:
                y, pt = rng.normal(0, 1.5), rng.normal(0, 1.2)
                dur = rng.uniform(0.6, 2.5)
        else:  # idle: wander, often back to the partner
            if rng.random() < 0.5:
                y, pt = rng.normal(0, 1.5), rng.normal(0, 1.2)
            else:
                y, pt = rng.normal(0, 10.0), rng.normal(-2.0, 6.0)
            dur = rng.uniform(0.8, 4.0)
        end = now + dur
        if ai < len(aversions):
            end = min(end, aversions[ai][0])
        end = max(end, now + 1.0 / fps)
        fixations.append((now, end, float(y), float(pt)))
        if abs(y) > 6 or abs(pt) > 6:
            ctx.events.append(Event("gaze_away", now, min(end, total), {"yaw": float(y), "pitch": float(pt)}))
        now = end
    big: list[float] = []
    prev = (0.0, 0.0)
    for s, e, y, pt in fixations:
        i0, i1 = int(np.searchsorted(t, s)), int(np.searchsorted(t, e))
        # fixational micro-saccades inside long fixations
        k = i0
        while k < i1:
            step = int(rng.uniform(0.4, 1.2) * fps)
            yaw[k : min(k + step, i1)] = y + rng.normal(0, 0.4)
            pitch[k : min(k + step, i1)] = pt + rng.normal(0, 0.3)
            k += max(step, 1)
        if np.hypot(y - prev[0], pt - prev[1]) > 10.0:
            big.append(s)
        prev = (y, pt)
    # saccades last 30-60 ms: nearly a step at 25 fps
    yaw = _smooth(yaw, 0.02, fps)
    pitch = _smooth(pitch, 0.02, fps)
    yr, pr = yaw / _GAZE_YAW_FULL, pitch / _GAZE_PITCH_FULL
    left, right = np.clip(yr, 0, None), np.clip(-yr, 0, None)
    up, down = np.clip(pr, 0, None), np.clip(-pr, 0, None)
    # +yaw: looking to the person's own left -> left eye looks out, right eye looks in
    _add(ctx, "EyeLookOutLeft", left)
    _add(ctx, "EyeLookInRight", left)
    _add(ctx, "EyeLookInLeft", right)
    _add(ctx, "EyeLookOutRight", right)
    for side in ("Left", "Right"):
        _add(ctx, f"EyeLookUp{side}", up)
        _add(ctx, f"EyeLookDown{side}", down)
        _add(ctx, f"EyeBlink{side}", 0.35 * down)  # the lids follow the eyes down
        _add(ctx, f"EyeWide{side}", 0.15 * up)
    return yaw, pitch, big


def _away_target(rng: np.random.Generator, small: bool = False) -> tuple[float, float]:
    side = rng.choice([-1.0, 1.0])
    scale = 0.6 if small else 1.0
    r = rng.random()
    if r < 0.4:  # up and to the side (recall / planning)
        return float(side * rng.uniform(6, 18) * scale), float(rng.uniform(5, 12) * scale)
    if r < 0.7:  # down
        return float(side * rng.uniform(2, 12) * scale), float(-rng.uniform(6, 14) * scale)
    return float(side * rng.uniform(10, 22) * scale), float(rng.uniform(-3, 3))


# ----------------------------------------------------------------------------------- head


def _head(
    ctx: _Ctx,
    rng: np.random.Generator,
    own: PersonSignals,
    speak_w: np.ndarray,
    listen_w: np.ndarray,
    idle_w: np.ndarray,
    gaze_yaw: np.ndarray,
    gaze_pitch: np.ndarray,
) -> None:
    p, t, fps, n = ctx.persona, ctx.t, ctx.fps, len(ctx.t)
    hm = p.head_motion
    # rest pose
    _add(ctx, "HeadYaw", p.rest_yaw)
    _add(ctx, "HeadPitch", p.rest_pitch)
    _add(ctx, "HeadRoll", p.rest_roll)
    # OU drift, state-dependent amplitude: (idle, listen, speak) std and time constant
    drift = {
        "HeadYaw": ((1.2, 1.4, 3.0), 1.5),
        "HeadPitch": ((0.8, 1.0, 2.0), 1.0),
        "HeadRoll": ((0.6, 1.0, 1.5), 2.0),
        "HeadX": ((0.3, 0.3, 0.6), 2.5),
        "HeadY": ((0.2, 0.2, 0.4), 2.5),
        "HeadZ": ((0.4, 0.5, 0.8), 3.0),
    }
    for name, ((si, sl, ss), tau) in drift.items():
        sigma = hm * (si * idle_w + sl * listen_w + ss * speak_w)
        _add(ctx, name, sigma * _ou(n, tau * rng.uniform(0.7, 1.4), rng, fps))
    # breathing: 0.2-0.3 Hz with slow frequency wander, weaker and irregular while speaking
    f_b = rng.uniform(0.2, 0.3) * (1 + 0.1 * _ou(n, 5.0, rng, fps))
    phase = 2 * np.pi * np.cumsum(f_b) / fps + rng.uniform(0, 2 * np.pi)
    breath = np.sin(phase) * (1 - 0.6 * speak_w)
    _add(ctx, "HeadPitch", 0.3 * hm * breath)
    _add(ctx, "HeadY", 0.1 * breath)
    _add(ctx, "HeadZ", 0.05 * breath)
    # speaking: head pitch follows F0
    act = np.asarray(own.activity, bool)
    voiced = act & (own.prosody.f0 > 0)
    if voiced.sum() > 5:
        z = _zscore(np.log(np.maximum(own.prosody.f0.astype(np.float64), 1.0)), voiced)
        z = _smooth(np.clip(z, -2.5, 2.5), 0.15, fps)
        _add(ctx, "HeadPitch", p.f0_head_coupling * hm * z * speak_w)
    # speaking: beats on prominent syllables
    times, strength = prominences(own.prosody, act, fps)
    for tp, sz in zip(times, strength, strict=True):
        if rng.random() > p.beat_propensity:
            continue
        amp = rng.uniform(0.6, 2.2) * hm * float(np.clip(0.6 + 0.3 * sz, 0.6, 1.6))
        dur = rng.uniform(0.25, 0.4)
        start = tp - rng.uniform(0.05, 0.12) - 0.3 * dur  # apex slightly ahead of the stressed syllable
        b = _bump(t, start, dur)
        _add(ctx, "HeadPitch", -amp * b)
        _add(ctx, "HeadYaw", rng.normal(0, 0.3) * amp * b)
        _add(ctx, "HeadRoll", rng.normal(0, 0.2) * amp * b)
        _add(ctx, "HeadY", -0.05 * amp * b)
        ctx.events.append(Event("head_beat", start, start + dur, {"amplitude": float(amp)}))
    # speaking: a new head orientation at each phrase start, back to rest at the turn end
    target = np.zeros((n, 3))
    speech = sorted(own.of_kind("speech"), key=lambda e: e.start)
    off = np.zeros(3)
    for k, e in enumerate(speech):
        if rng.random() < 0.75:
            off = np.array([rng.normal(0, 3.0), rng.normal(0.8, 1.5), rng.normal(0, 1.5)]) * hm
        # hold the orientation through short pauses inside a turn
        nxt = speech[k + 1].start if k + 1 < len(speech) else np.inf
        hold = nxt - 0.1 if nxt - e.end < 1.0 else e.end
        i0, i1 = int(np.searchsorted(t, e.start - 0.1)), int(np.searchsorted(t, hold))
        target[i0:i1] = off
        if e.meta.get("turn_end") or nxt - e.end >= 1.0:
            off = np.zeros(3)
    target = _smooth(target, rng.uniform(0.2, 0.4), fps)
    _add(ctx, "HeadYaw", target[:, 0])
    _add(ctx, "HeadPitch", target[:, 1])
    _add(ctx, "HeadRoll", target[:, 2])
    # listening posture: tilt, lean in, slight chin down
    _add(ctx, "HeadRoll", p.listen_tilt * listen_w)
    _add(ctx, "HeadZ", p.listen_lean * listen_w)
    _add(ctx, "HeadPitch", -0.6 * hm * listen_w)
    # the head follows large gaze shifts partly, with a lag
    c = rng.uniform(0.15, 0.4)
    _add(ctx, "HeadYaw", c * _smooth(gaze_yaw, 0.15, fps))
    _add(ctx, "HeadPitch", 0.5 * c * _smooth(gaze_pitch, 0.15, fps))


def _nod_shape(t: np.ndarray, start: float, cycles: int, freq: float, amp: float) -> np.ndarray:
    """Down-up cycles of head pitch (negative = chin down), decaying, returning to 0."""
    x = (t - start) * freq
    on = (x >= 0) & (x <= cycles)
    decay = 0.7 ** np.floor(np.clip(x, 0, cycles))
    return np.where(on, -amp * decay * 0.5 * (1 - np.cos(2 * np.pi * x)), 0.0)


def _nods(
    ctx: _Ctx, rng: np.random.Generator, own: PersonSignals, partner: PersonSignals, own_turn: np.ndarray
) -> None:
    p, t, fps = ctx.persona, ctx.t, ctx.fps
    total = len(t) / fps
    starts: list[tuple[float, str]] = []
    own_laughs = own.of_kind("laugh")
    for s, e in pauses(partner.activity, fps):
        f = min(int(s * fps), len(t) - 1)
        if own_turn[f]:
            continue
        prob = p.nod_propensity * (1.0 if e - s >= 0.3 else 0.6)
        if rng.random() < prob:
            starts.append((s + p.draw_delay(rng), "pause"))
    for e in own.of_kind("backchannel"):
        if rng.random() < 0.85:
            starts.append((e.start + rng.uniform(-0.1, 0.1), "backchannel"))
    # rare nods while the partner is talking (agreement with content)
    talk = np.asarray(partner.activity, bool) & ~own_turn
    rate = 0.02 * p.nod_propensity
    for i in np.flatnonzero(rng.random(len(t)) < rate / fps):
        if talk[i]:
            starts.append((float(t[i]), "speech"))
    starts.sort()
    last_end = -1.0
    for s, why in starts:
        if s < last_end + 0.2 or s >= total or any(lg.start - 0.3 < s < lg.end for lg in own_laughs):
            continue
        cycles = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        freq = rng.uniform(1.8, 3.2)
        amp = rng.uniform(2.0, 6.0) * p.head_motion**0.7 / cycles**0.3
        if why == "speech":
            amp *= 0.6
        shape = _nod_shape(t, s, cycles, freq, amp)
        _add(ctx, "HeadPitch", shape)
        _add(ctx, "HeadY", 0.03 * shape)
        _add(ctx, "HeadZ", -0.04 * shape)
        end = s + cycles / freq
        ctx.events.append(Event("nod", s, end, {"cycles": cycles, "amplitude": float(amp), "cue": why}))
        last_end = end


# ----------------------------------------------------------------------------------- laughs / smiles


def _laughs(ctx: _Ctx, rng: np.random.Generator, own: PersonSignals) -> None:
    """Laugh faces for the person's own laugh events."""
    p, t = ctx.persona, ctx.t
    style = p.articulation
    for e in own.of_kind("laugh"):
        bursts = [tuple(b) for b in e.meta.get("bursts", [])] or [(e.start, e.end)]
        amp = float(np.clip(rng.uniform(0.6, 1.0) * max(p.expressivity, 0.6), 0.4, 1.0))
        env = _envelope(t, e.start - rng.uniform(0.1, 0.25), 0.2, e.end, rng.uniform(0.8, 2.0))
        asym = rng.normal(0, 0.05)
        for side, sgn in (("Left", 1), ("Right", -1)):
            _max(ctx, f"MouthSmile{side}", amp * (1 + sgn * asym) * env)
            _max(ctx, f"CheekSquint{side}", rng.uniform(0.5, 0.9) * amp * env)
            _max(ctx, f"EyeSquint{side}", rng.uniform(0.3, 0.7) * amp * env)
            _max(ctx, f"MouthDimple{side}", 0.25 * amp * env)
            _add(ctx, f"EyeBlink{side}", rng.uniform(0.1, 0.3) * env)
            _max(ctx, f"NoseSneer{side}", rng.uniform(0.0, 0.15) * env)
        if rng.random() < 0.3:
            _max(ctx, "BrowInnerUp", rng.uniform(0.1, 0.35) * env)
        # jaw: slightly open through the bout, a pulse per burst (leading the sound)
        lead = style.lead_s
        b0, b1 = bursts[0][0], bursts[-1][1]
        jaw = 0.06 * _envelope(t, b0 - 0.1, 0.08, b1, 0.15)
        for bs, be in bursts:
            peak = rng.uniform(0.25, 0.5) * style.jaw
            jaw = np.maximum(jaw, peak * _bump(t, bs - lead - 0.02, (be - bs) + 0.08))
        _max(ctx, "JawOpen", jaw)
        for side in ("Left", "Right"):
            _max(ctx, f"MouthLowerDown{side}", 0.6 * jaw)
            _max(ctx, f"MouthUpperUp{side}", 0.3 * jaw)
            _max(ctx, f"MouthStretch{side}", 0.2 * jaw)
        # head: thrown back (70%) or forward, bobbing with the bursts
        back = rng.uniform(2.0, 6.0) * p.head_motion * (1 if rng.random() < 0.7 else -0.6)
        head_env = _envelope(t, e.start - 0.1, 0.3, e.end, 0.6)
        _add(ctx, "HeadPitch", back * head_env)
        _add(ctx, "HeadRoll", rng.normal(0, 2.0) * p.head_motion * head_env)
        _add(ctx, "HeadY", 0.15 * abs(back) * head_env)
        for bs, be in bursts:
            bob = rng.uniform(0.8, 2.0) * p.head_motion * _bump(t, bs - 0.03, (be - bs) + 0.1)
            _add(ctx, "HeadPitch", -bob)
            _add(ctx, "HeadY", 0.1 * bob)


# The product answers a user's smile within about half a second in most cases (the listener's
# facial mimicry); corpus v3 draws the answers accordingly (v2: delay 0.15-0.45 s, rise 0.2-0.45 s,
# smile_propensity 0.55-0.95, so the data itself answered only 41 % of smiles within 0.5 s).
MIRROR_DELAY = (0.1, 0.3)  # s from the partner's smile (or laugh) to the answering smile
MIRROR_RISE = (0.15, 0.3)  # s the answering smile takes to rise


def _smiles(
    ctx: _Ctx,
    rng: np.random.Generator,
    own: PersonSignals,
    partner: PersonSignals,
) -> None:
    p, t = ctx.persona, ctx.t
    total = len(t) / ctx.fps
    plan: list[tuple[float, float, float, str]] = []  # start, hold_end, amplitude, cause
    for e in own.of_kind("smile"):
        amp = float(e.meta.get("amplitude", rng.uniform(0.25, 0.7))) * p.expressivity
        plan.append((e.start, e.end, amp, "spontaneous"))
    own_laughs = own.of_kind("laugh")
    for e in partner.of_kind("smile", "laugh"):
        if e.kind == "laugh":
            if any(lg.start <= e.end + 1.0 and lg.end >= e.start - 0.2 for lg in own_laughs):
                continue  # laughing back: the laugh face covers it
            prob = min(1.0, p.smile_propensity + 0.3)
            partner_amp = 0.8
        else:
            prob = p.smile_propensity
            partner_amp = float(e.meta.get("amplitude", 0.5))
        if rng.random() >= prob:
            continue
        # Facial mimicry: a smile answers the partner's within about half a second, most of the
        # time (smile_propensity 0.7-1.0), rising quickly (MIRROR_RISE).
        # mimicry is quicker than a deliberate reaction: 0.6 x this person's reaction delay
        delay = float(np.clip(0.6 * p.draw_delay(rng), *MIRROR_DELAY))
        amp = float(np.clip(partner_amp * rng.uniform(0.6, 1.2) * p.expressivity, 0.15, 0.9))
        dur = float(np.clip(e.duration * rng.uniform(0.7, 1.3), 0.8, 4.0))
        plan.append((e.start + delay, e.start + delay + dur, amp, f"mirror:{e.kind}"))
    rest = p.rest_smile
    smile_l = np.full(len(t), rest)
    smile_r = np.full(len(t), rest)
    cheek = np.zeros(len(t))
    for start, hold_end, amp, cause in plan:
        if start >= total:
            continue
        amp = float(np.clip(amp, 0.1, 1.0))
        rise = rng.uniform(*(MIRROR_RISE if cause.startswith("mirror") else (0.25, 0.6)))
        fall = rng.uniform(0.5, 1.2)
        env = amp * _envelope(t, start, rise, max(hold_end, start + rise), fall)
        asym = rng.normal(0, 0.08)
        smile_l = np.maximum(smile_l, env * (1 + asym))
        smile_r = np.maximum(smile_r, env * (1 - asym))
        duchenne = rng.uniform(0.2, 0.8) if amp > 0.35 or rng.random() < 0.4 else 0.0
        cheek = np.maximum(cheek, duchenne * env)
        meta: dict[str, Any] = {"amplitude": amp, "cause": cause}
        ctx.events.append(Event("smile", start, min(hold_end + fall, total), meta))
    _max(ctx, "MouthSmileLeft", smile_l)
    _max(ctx, "MouthSmileRight", smile_r)
    for side in ("Left", "Right"):
        _max(ctx, f"CheekSquint{side}", cheek)
        _max(ctx, f"EyeSquint{side}", 0.4 * cheek)
        _max(ctx, f"MouthDimple{side}", 0.2 * np.maximum(smile_l, smile_r) - 0.2 * rest)


# ----------------------------------------------------------------------------------- brows, blinks, tone


def _brows(
    ctx: _Ctx, rng: np.random.Generator, own: PersonSignals, partner: PersonSignals, own_turn: np.ndarray
) -> None:
    p, t, fps = ctx.persona, ctx.t, ctx.fps
    cues: list[tuple[float, str]] = []
    for e in partner.of_kind("speech"):
        if e.meta.get("question") and rng.random() < 0.3 + 0.5 * p.brow_activity:
            cues.append((e.end - 0.3 + p.draw_delay(rng, 0.1, 0.6), "partner_question"))
    times, strength = prominences(partner.prosody, partner.activity, fps)
    for tp, sz in zip(times, strength, strict=True):
        f = min(int(tp * fps), len(t) - 1)
        if sz > 1.5 and not own_turn[f] and rng.random() < 0.15 * p.brow_activity:
            cues.append((tp + p.draw_delay(rng, 0.15, 0.6), "partner_emphasis"))
    times, strength = prominences(own.prosody, own.activity, fps)
    for tp, sz in zip(times, strength, strict=True):
        if sz > 1.0 and rng.random() < 0.3 * p.brow_activity:
            cues.append((tp - rng.uniform(0.05, 0.15), "emphasis"))
    for e in own.of_kind("backchannel"):
        text = str(e.meta.get("text", "")).lower()
        if any(w in text for w in ("wow", "really", "oh")) and rng.random() < 0.7:
            cues.append((e.start - 0.05, "surprise"))
    for e in own.of_kind("speech"):  # thinking frown when starting to speak, sometimes
        if rng.random() < 0.2 * p.brow_activity:
            d = rng.uniform(0.5, 1.5)
            env = rng.uniform(0.1, 0.3) * p.expressivity * _envelope(t, e.start - 0.2, 0.25, e.start + d, 0.4)
            _max(ctx, "BrowDownLeft", env)
            _max(ctx, "BrowDownRight", env)
    cues.sort()
    last = -1.0
    for s, why in cues:
        if s < last + 0.3:
            continue
        dur = rng.uniform(0.35, 1.0)
        env = _envelope(t, s, 0.12, s + dur - 0.3, 0.3)
        inner = rng.uniform(0.2, 0.6) * p.expressivity
        outer = rng.uniform(0.15, 0.5) * p.expressivity
        asym = rng.normal(0, 0.1)
        _max(ctx, "BrowInnerUp", inner * env)
        _max(ctx, "BrowOuterUpLeft", outer * (1 + asym) * env)
        _max(ctx, "BrowOuterUpRight", outer * (1 - asym) * env)
        if why == "surprise":
            _max(ctx, "EyeWideLeft", 0.3 * env)
            _max(ctx, "EyeWideRight", 0.3 * env)
        ctx.events.append(Event("brow_raise", s, s + dur, {"cue": why}))
        last = s + dur


def _blinks(
    ctx: _Ctx,
    rng: np.random.Generator,
    own: PersonSignals,
    partner: PersonSignals,
    speak_w: np.ndarray,
    listen_w: np.ndarray,
    big_saccades: Sequence[float],
) -> None:
    p, t, fps, n = ctx.persona, ctx.t, ctx.fps, len(ctx.t)
    total = n / fps
    boost = np.zeros(n)
    for e in own.of_kind("speech"):
        boost = np.maximum(boost, _bump(t, e.start - 0.3, 0.9))
        if e.meta.get("turn_end"):
            boost = np.maximum(boost, _bump(t, e.end - 0.2, 0.9))
    for e in partner.of_kind("speech"):
        if e.meta.get("turn_end"):
            boost = np.maximum(boost, _bump(t, e.end - 0.1, 1.0))
    rate = p.blink_rate / 60.0 * (1.3 * speak_w + 0.85 * listen_w + (1 - speak_w - listen_w)) * (1 + boost)
    rmax = float(rate.max())
    cand: list[float] = []
    now = 0.0
    while rmax > 0:
        now += rng.exponential(1.0 / rmax)
        if now >= total:
            break
        if rng.random() < rate[min(int(now * fps), n - 1)] / rmax:
            cand.append(now)
    cand += [s + rng.uniform(-0.02, 0.06) for s in big_saccades if rng.random() < 0.35]
    cand.sort()
    times: list[float] = []
    for c in cand:
        if c >= 0 and (not times or c - times[-1] >= 0.35):
            times.append(c)
            if rng.random() < 0.08:  # double blink
                times.append(c + rng.uniform(0.25, 0.35))
    sub = 8
    th = (np.arange(n * sub) + 0.5) / (fps * sub)
    lid = {"Left": np.zeros(n * sub), "Right": np.zeros(n * sub)}
    for s in times:
        close, hold, open_ = rng.uniform(0.05, 0.08), rng.uniform(0.0, 0.05), rng.uniform(0.09, 0.15)
        amp = rng.uniform(0.85, 1.0)
        for side in ("Left", "Right"):
            a = float(np.clip(amp + rng.normal(0, 0.03), 0.7, 1.0))
            x = th - s
            shape = np.where(
                x < 0,
                0.0,
                np.where(
                    x < close,
                    np.sin(0.5 * np.pi * x / close) ** 2,
                    np.where(x < close + hold, 1.0, np.clip(1 - (x - close - hold) / open_, 0, 1) ** 1.5),
                ),
            )
            lid[side] = np.maximum(lid[side], a * shape)
        ctx.events.append(Event("blink", s, s + close + hold + open_))
    for side in ("Left", "Right"):
        v = lid[side].reshape(n, sub).mean(1)
        cur = ctx.motion[:, CH[f"EyeBlink{side}"]]
        ctx.motion[:, CH[f"EyeBlink{side}"]] = cur + v * (1 - cur)
        # a blink briefly relaxes the squint of a smile
        ctx.motion[:, CH[f"EyeSquint{side}"]] *= 1 - 0.5 * v


def _tone(ctx: _Ctx, rng: np.random.Generator) -> None:
    """Slow drift of non-mouth expression tone (brows, eye aperture)."""
    p, n, fps = ctx.persona, len(ctx.t), ctx.fps
    e = p.expressivity
    _add(ctx, "BrowInnerUp", np.clip(p.rest_brow + 0.02 * e * _ou(n, 3.0, rng, fps), 0, None))
    sq = np.clip(0.02 + 0.015 * e * _ou(n, 4.0, rng, fps), 0, None)
    _add(ctx, "EyeSquintLeft", sq)
    _add(ctx, "EyeSquintRight", sq)
