"""A simulated two-person conversation: audio tracks, ARKit motion and events for "avatar" and "user".

`simulate_conversation(rng, avatar_source, user_source, duration_s)` plans turn-taking, renders
each person's speech with their own `SpeechSource` (any object with
``synthesize(text, kind="speech") -> Utterance``; every utterance is resampled to 16 kHz with
`scipy.signal.resample_poly`), and builds each person's face motion at 25 fps:
mouth = `visemes.articulate` on their own phones; everything else = `behaviour.behave`, which
reacts to the partner. Laughs are procedural (`laugh.synthesize_laugh`) at the person's measured
voice pitch.

Turn-taking plan (probabilities per turn or sentence; ranges are uniform draws):
- turns of 1-4 sentences (more for verbose personas), 0.2-0.9 s pauses between sentences;
- turn transitions: a gap of 0.2-1.5 s (most), an overlap (~15%: the next speaker starts
  0.1-0.5 s before the current one ends), a barge-in (6-13% depending on the listener's
  interruptiveness: the next speaker starts mid-sentence and the interrupted one stops
  0.15-0.5 s later at a phone boundary, audio faded out over 15 ms, later phones dropped), or a
  long silence (~7%: 2-6 s, both idle);
- verbal backchannels ("mm-hm", "yeah", "uh-huh", "right", "okay", "wow", ...) by the listener in
  the speaker's pauses, synthesised by the listener's own source, with probability
  `backchannel_propensity`, after the listener's reaction delay;
- laughs, mostly after funny sentences, by the speaker or the listener; the other one laughs
  back after 0.3-0.5 s with probability `laugh_propensity` (shared laughter);
- spontaneous smiles (silent events) while speaking or listening; the partner's `behave`
  mirrors them.

Levels: each person has a speech level of -26..-16 dBFS RMS (+-2 dB per utterance, backchannels
a little softer) and a noise floor of -80..-45 dBFS (quiet studio to laptop microphone).

Storage (`Conversation.save` / `Conversation.load`): ONE compressed .npz holding
``avatar_audio`` / ``user_audio`` (N,) float32, ``avatar_motion`` / ``user_motion`` (T, 58)
float32, and ``meta``: a 0-d unicode array with a JSON document (sample_rate, fps, meta, and per
person: persona, source, events, phones as [phone, start, end], utterances). It loads with
``numpy.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.signal import resample_poly

from models.motion.arkit import ARKIT_DIM, ArkitSpace

from .behaviour import Event, Persona, PersonSignals, behave, child_rngs, prosody, speech_activity
from .laugh import formant_filter, glottal_source, shaped_noise, synthesize_laugh
from .phones import SILENCE, VOWELS, PhoneSegment
from .utterance import Utterance
from .visemes import articulate

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FPS = 25.0
HOP = 640  # samples per frame at 16 kHz / 25 fps
PEOPLE: tuple[str, str] = ("avatar", "user")
#: Verbal backchannels. "mm-hm" is written "hmm-hmm": TTS engines (espeak-ng) spell "mm-hm" out.
BACKCHANNELS: tuple[str, ...] = (
    "hmm-hmm", "yeah", "uh-huh", "right", "okay", "wow", "oh really", "I see", "sure", "yeah yeah",
    "hmm", "aha", "oh", "true",
)  # fmt: skip


@runtime_checkable
class SpeechSource(Protocol):
    """Anything that speaks: returns an Utterance with phone timings (any sample rate)."""

    def synthesize(self, text: str, kind: str = "speech") -> Utterance: ...


# ----------------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Sentence:
    text: str
    kind: str  # statement, question, exclamation (funny), short

    @property
    def question(self) -> bool:
        return self.text.rstrip().endswith("?")


_W: dict[str, tuple[str, ...]] = {
    "name": (
        "Pam", "Bob", "Ben", "Molly", "Maggie", "Paul", "Emma", "Tom", "Amber", "Jim", "Mabel", "Pablo",
        "Bobby", "Kim", "Sam", "Maya", "Peter", "Barbara", "Omar", "Lou", "Joy", "Mike", "Beth", "Ruth",
    ),
    "noun": (
        "pumpkin pie", "map", "museum ticket", "problem", "baby", "puppy", "umbrella", "boat", "beach house",
        "mountain bike", "bakery", "piano", "pepper plant", "bubble machine", "maple tree", "bamboo lamp",
        "book", "phone", "movie", "market stall", "balloon", "loaf of bread", "blueberry muffin", "camera",
        "apartment", "meeting", "bus", "playground", "peach", "paper", "hamburger", "pool", "toy boat",
        "noisy boiler", "cookbook", "father's car", "house plant", "coffee machine", "menu", "map of Boston",
    ),
    "place": (
        "the park", "the beach", "the museum", "the bakery", "Boston", "my office", "the market",
        "the mountains", "Paris", "the pub", "the campus", "Bombay", "the zoo", "the airport", "Miami",
        "the opera", "the pool", "my mom's place", "the bookshop", "Memphis",
    ),
    "verb_past": (
        "bought", "made", "baked", "played", "moved", "brought", "booked", "mailed", "picked", "painted",
        "borrowed", "broke", "found", "saw", "fixed", "lost", "opened", "cooked", "watched", "tried",
    ),
    "verb": (
        "buy", "make", "bake", "play", "move", "bring", "book", "pick", "paint", "borrow", "fix", "find",
        "see", "open", "cook", "watch", "try", "plan", "meet", "visit", "pay for", "look at",
    ),
    "adj": (
        "big", "bumpy", "purple", "brown", "amazing", "simple", "busy", "sweet", "cool", "blue",
        "beautiful", "boring", "perfect", "small", "cheap", "modern", "old", "huge", "tiny", "funny",
        "quiet", "awful", "bright", "smooth", "bizarre", "pink", "good", "proper",
    ),
    "time": (
        "last Monday", "this morning", "in May", "yesterday", "on my birthday", "every weekend",
        "a month ago", "before lunch", "at midnight", "next week", "this summer", "back in April",
        "by Monday", "maybe tomorrow",
    ),
    "relative": (
        "mom", "brother", "boss", "neighbour", "partner", "best friend", "aunt", "grandpa", "boyfriend",
    ),
    "emotion": ("pretty happy", "a bit upset", "so confused", "amazed", "embarrassed", "impressed", "bored"),
}  # fmt: skip
_OPENERS: tuple[str, ...] = (
    "", "", "", "", "", "Well, ", "So, ", "You know, ", "Um, ", "Honestly, ", "Actually, ", "Oh, ",
    "By the way, ", "Basically, ", "I mean, ", "Okay, so ",
)  # fmt: skip
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "statement": (
        "{name} {verb_past} a {adj} {noun} {time}.",
        "I think the {noun} was {adj}, but {name} did not agree.",
        "We should {verb} the {noun} {time}.",
        "My {relative} {verb_past} a couple of things at {place}.",
        "It was so {adj} that I almost forgot about the {noun}.",
        "The problem is that nobody wants to {verb} the {noun}.",
        "I remember when we went to {place} and {verb_past} a {noun}.",
        "Maybe we can {verb} something at {place} {time}.",
        "To be honest, I was {emotion} about the whole thing.",
        "{name} says the {noun} at {place} is {adj}.",
        "I've been meaning to {verb} a {noun} for months.",
        "That's the most {adj} {noun} I've ever seen.",
        "Anyway, the point is we need a plan for {place}.",
        "My {relative} always wanted to live near {place}.",
        "We waited for the bus for about an hour, and then it just passed by.",
        "I usually {verb} a {noun} on Mondays, but this week was different.",
        "{name} and I {verb_past} the {noun}, and it was {adj}.",
        "You would not believe how {adj} the {noun} was.",
        "Before we go to {place}, I need to {verb} my {noun}.",
        "The weather in {place} was {adj}, so we stayed home and {verb_past} a {noun}.",
    ),
    "question": (
        "Did you ever {verb} a {noun}?",
        "What do you think about the {noun}?",
        "Have you been to {place} {time}?",
        "Why would {name} {verb} the {noun}?",
        "Is it true that {name} {verb_past} the {adj} {noun}?",
        "How was your trip to {place}?",
        "Do you want to {verb} a {noun} with me {time}?",
        "Where did you find such a {adj} {noun}?",
        "Can you believe it?",
        "Wait, are you serious?",
        "So what happened next?",
        "Would you rather {verb} a {noun} or go to {place}?",
        "How is your {relative} doing?",
        "What time should we meet at {place}?",
    ),
    "exclamation": (
        "That's hilarious!",
        "No way, that's so funny!",
        "Oh my god, the {noun} fell into the pool!",
        "And then the {noun} just blew up!",
        "You should have seen {name}'s face!",
        "I couldn't stop laughing!",
        "And my {relative} was wearing a purple pumpkin costume!",
        "The puppy ate the whole {noun}!",
    ),
    "short": (
        "Yeah, I know.", "Maybe.", "Exactly.", "Not really.", "I'm not sure.", "Oh, I see what you mean.",
        "Absolutely.", "Good point.", "Me too.", "Right, of course.", "Hmm, maybe not.", "Sounds good.",
    ),
}  # fmt: skip
_KIND_P = {"statement": 0.55, "question": 0.2, "exclamation": 0.1, "short": 0.15}


class TextSource:
    """Varied English sentences, deterministic given the rng passed to each call.

    Templates and word lists rich in p/b/m words and covering every vowel; statements,
    questions, funny exclamations and short replies. `extra` sentences (e.g. `from_text`) are
    mixed in with probability `extra_share`.
    """

    def __init__(self, extra: Sequence[str] = (), extra_share: float = 0.3) -> None:
        self.extra = tuple(s.strip() for s in extra if s.strip())
        self.extra_share = float(extra_share) if self.extra else 0.0

    @classmethod
    def from_text(cls, text: str, extra_share: float = 0.5) -> TextSource:
        """Use sentences of a free text (split at . ! ?) besides the templates."""
        parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
        return cls([p for p in parts if 2 <= len(p.split()) <= 30], extra_share)

    def sentence(self, rng: np.random.Generator, kind: str | None = None) -> Sentence:
        if kind is None and self.extra and rng.random() < self.extra_share:
            text = self.extra[int(rng.integers(len(self.extra)))]
            k = "question" if text.endswith("?") else "exclamation" if text.endswith("!") else "statement"
            return Sentence(text, k)
        if kind is None:
            kinds = list(_KIND_P)
            kind = kinds[int(rng.choice(len(kinds), p=list(_KIND_P.values())))]
        templates = _TEMPLATES[kind]
        template = templates[int(rng.integers(len(templates)))]
        text = re.sub(r"\{(\w+)\}", lambda m: self._word(rng, m.group(1)), template)
        if kind in ("statement", "question") and rng.random() < 0.35:
            opener = _OPENERS[int(rng.integers(len(_OPENERS)))]
            if opener:
                text = (
                    opener + text[0].lower() + text[1:]
                    if not text.startswith(("I ", "I'"))
                    else opener + text
                )
        return Sentence(text, kind)

    @staticmethod
    def _word(rng: np.random.Generator, slot: str) -> str:
        words = _W[slot]
        return words[int(rng.integers(len(words)))]

    @staticmethod
    def backchannel(rng: np.random.Generator) -> str:
        return BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]


# ----------------------------------------------------------------------------------- procedural voice

_FORMANTS: dict[str, tuple[float, float, float]] = {
    "AA": (730, 1090, 2440), "AE": (660, 1720, 2410), "AH": (560, 1190, 2390), "AO": (570, 840, 2410),
    "EH": (530, 1840, 2480), "ER": (490, 1350, 1690), "IH": (390, 1990, 2550), "IY": (270, 2290, 3010),
    "UH": (440, 1020, 2240), "UW": (300, 870, 2240), "L": (360, 1300, 2700), "R": (310, 1060, 1380),
    "W": (290, 610, 2150), "Y": (260, 2070, 3020), "M": (250, 1100, 2300), "N": (250, 1600, 2500),
    "NG": (250, 2000, 2700),
}  # fmt: skip
_DIPH = {"AY": ("AA", "IY"), "AW": ("AA", "UH"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY")}
_FRIC_BAND = {
    "S": (3800, 7500, 0.25), "Z": (3800, 7500, 0.18), "SH": (1800, 5000, 0.25), "ZH": (1800, 5000, 0.18),
    "F": (1000, 7000, 0.08), "V": (1000, 7000, 0.07), "TH": (1200, 7000, 0.06), "DH": (1200, 7000, 0.06),
    "HH": (400, 5000, 0.1),
}  # fmt: skip
_STOP_BAND = {
    "P": (400, 1800), "B": (400, 1800), "T": (3000, 7000), "D": (3000, 7000), "K": (1500, 3500),
    "G": (1500, 3500), "CH": (1800, 5500), "JH": (1800, 5500),
}  # fmt: skip
_VOICED_CONS = frozenset("B D G V DH Z ZH JH M N NG L R W Y".split())
_DH_WORDS = frozenset("the this that they then there those these them their than though".split())
_DIGRAPHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tch", ("CH",)), ("igh", ("AY",)), ("th", ("TH",)), ("sh", ("SH",)), ("ch", ("CH",)), ("ph", ("F",)),
    ("ng", ("NG",)), ("ck", ("K",)), ("qu", ("K", "W")), ("wh", ("W",)), ("ee", ("IY",)), ("ea", ("IY",)),
    ("oo", ("UW",)), ("ou", ("AW",)), ("ow", ("OW",)), ("oi", ("OY",)), ("oy", ("OY",)), ("ai", ("EY",)),
    ("ay", ("EY",)), ("oa", ("OW",)), ("er", ("ER",)), ("ir", ("ER",)), ("ur", ("ER",)), ("ar", ("AA", "R")),
    ("or", ("AO", "R")), ("aw", ("AO",)), ("au", ("AO",)), ("mm", ("M",)),
)  # fmt: skip
_LETTERS = {
    "a": ("AE",), "e": ("EH",), "i": ("IH",), "o": ("AA",), "u": ("AH",), "b": ("B",), "c": ("K",),
    "d": ("D",), "f": ("F",), "g": ("G",), "h": ("HH",), "j": ("JH",), "k": ("K",), "l": ("L",),
    "m": ("M",), "n": ("N",), "p": ("P",), "q": ("K",), "r": ("R",), "s": ("S",), "t": ("T",),
    "v": ("V",), "w": ("W",), "x": ("K", "S"), "z": ("Z",),
}  # fmt: skip
_LONG = {"a": "EY", "e": "IY", "i": "AY", "o": "OW", "u": "UW"}


def word_to_phones(word: str) -> list[str]:
    """Crude English letter-to-sound rules (good enough for a test voice), ARPAbet."""
    w = word.lower().strip("'")
    if w in _DH_WORDS:
        w = "dh" + w[2:]
    out: list[str] = []
    magic = len(w) > 2 and w.endswith("e") and w[-2] not in "aeiouy" and w[-3] in "aeiou"
    if magic:
        w = w[:-1]
    elif len(w) > 3 and w.endswith("e") and w[-2] not in "aeiouyl":
        w = w[:-1]  # silent final e
    i = 0
    while i < len(w):
        if w.startswith("dh", i) and i == 0 and word.lower() in _DH_WORDS:
            out.append("DH")
            i += 2
            continue
        for g, ph in _DIGRAPHS:
            if w.startswith(g, i):
                out.extend(ph)
                i += len(g)
                break
        else:
            ch = w[i]
            if ch == "y":
                out.append("Y" if i == 0 else "IY")
            elif ch == "c" and i + 1 < len(w) and w[i + 1] in "eiy":
                out.append("S")
            elif magic and ch in _LONG and i == len(w) - 2:
                out.append(_LONG[ch])
            elif ch in _LETTERS:
                if not (i > 0 and w[i - 1] == ch and ch not in "aeiou"):
                    out.extend(_LETTERS[ch])
            i += 1
    return out or ["AH"]


class ProceduralVoice:
    """A dependency-free source-filter voice for tests and smoke runs (not for training real models).

    Letter-to-sound rules, per-phone durations, declining F0 with accents and question rises,
    Rosenberg glottal pulses through vowel formants, band noise for fricatives and bursts.
    Deterministic: the same (seed, text, kind) gives the same audio. kind="laugh" gives
    `synthesize_laugh` at this voice's pitch.
    """

    def __init__(
        self, pitch_hz: float = 120.0, rate: float = 1.0, sample_rate: int = SAMPLE_RATE, seed: int = 0
    ) -> None:
        self.pitch_hz = float(pitch_hz)
        self.rate = float(rate)
        self.sample_rate = int(sample_rate)
        self.seed = int(seed)
        self.name = f"procedural:{self.pitch_hz:.0f}Hz"

    def synthesize(self, text: str, kind: str = "speech") -> Utterance:
        rng = np.random.default_rng([self.seed, zlib.crc32(f"{kind}|{text}".encode())])
        if kind == "laugh":
            return synthesize_laugh(rng, self.pitch_hz, self.sample_rate)
        sr = self.sample_rate
        phones = self._plan(text, rng, short=kind == "backchannel")
        total = phones[-1].end
        n = math.ceil(total * sr)
        # F0: declination, accents, question rise; interpolated between vowel centres
        vow = [p for p in phones if p.phone in VOWELS]
        centres = np.array([(p.start + p.end) / 2 for p in vow] or [total / 2])
        f = np.linspace(1.1, 0.85, len(centres)) * self.pitch_hz
        f *= np.where(rng.random(len(centres)) < 0.3, rng.uniform(1.1, 1.3, len(centres)), 1.0)
        if text.rstrip().endswith("?") and len(f) >= 2:
            f[-2:] *= (1.15, 1.35)
        ts = np.arange(n) / sr
        f0 = np.interp(ts, centres, f)
        src = glottal_source(f0, sr, rng, open_quotient=rng.uniform(0.5, 0.7))
        scale = float(np.clip((self.pitch_hz / 120.0) ** 0.25, 0.95, 1.25))
        audio = np.zeros(n + sr // 10)
        pad = int(0.008 * sr)
        for k, p in enumerate(phones):
            a, b = int(p.start * sr), int(p.end * sr)
            if b <= a or p.phone == SILENCE:
                continue
            nxt = next((q.phone for q in phones[k + 1 :] if q.phone in VOWELS), "AH")
            seg = self._phone_audio(p.phone, src, a, b, pad, sr, rng, scale, nxt)
            lo = max(a - pad, 0)
            audio[lo : lo + len(seg)] += seg
        audio = audio[:n]
        peak = float(np.max(np.abs(audio))) if n else 0.0
        if peak > 0:
            audio *= 0.5 / peak
        return Utterance(audio.astype(np.float32), sr, phones, text, self.name, kind)

    def _plan(self, text: str, rng: np.random.Generator, short: bool) -> list[PhoneSegment]:
        tokens = re.findall(r"[A-Za-z']+|[,.;:!?]", text)
        t = float(rng.uniform(0.04, 0.12))
        out: list[PhoneSegment] = [PhoneSegment(SILENCE, 0.0, t)]
        r = self.rate * (1.15 if short else 1.0)
        for tok in tokens:
            if not tok[0].isalpha():
                if tok in ",;:":
                    d = float(rng.uniform(0.15, 0.3))
                    out.append(PhoneSegment(SILENCE, t, t + d))
                    t += d
                continue
            first_vowel = True
            for ph in word_to_phones(tok):
                if ph in VOWELS:
                    d = rng.uniform(0.07, 0.13) * (1.3 if first_vowel and len(tok) > 3 else 1.0)
                    d *= 1.4 if ph in _DIPH else 1.0
                    first_vowel = False
                elif ph in _STOP_BAND:
                    d = rng.uniform(0.06, 0.09)
                else:
                    d = rng.uniform(0.045, 0.08)
                d = float(d) / r
                out.append(PhoneSegment(ph, t, t + d))
                t += d
            if rng.random() < 0.06:
                d = float(rng.uniform(0.05, 0.12))
                out.append(PhoneSegment(SILENCE, t, t + d))
                t += d
        d = float(rng.uniform(0.05, 0.12))
        out.append(PhoneSegment(SILENCE, t, t + d))
        return out

    @staticmethod
    def _phone_audio(
        ph: str,
        src: np.ndarray,
        a: int,
        b: int,
        pad: int,
        sr: int,
        rng: np.random.Generator,
        scale: float,
        next_vowel: str,
    ) -> np.ndarray:
        lo, hi = max(a - pad, 0), min(b + pad, len(src))
        n = hi - lo
        bw = (90.0, 110.0, 160.0)
        taper = np.ones(n)
        r = min(2 * pad, n // 2)
        if r > 0:
            ramp = 0.5 * (1 - np.cos(np.pi * np.arange(r) / r))
            taper[:r] = ramp
            taper[n - r :] = ramp[::-1]
        if ph in VOWELS:
            parts = _DIPH.get(ph, (ph, ph))
            half = n // 2
            y = np.concatenate(
                [
                    formant_filter(src[lo : lo + half], np.array(_FORMANTS[parts[0]]) * scale, bw, sr),
                    formant_filter(src[lo + half : hi], np.array(_FORMANTS[parts[1]]) * scale, bw, sr),
                ]
            )
            return 1.0 * y * taper
        if ph in _FORMANTS:  # nasals and approximants
            gain = 0.3 if ph in ("M", "N", "NG") else 0.55
            bws = (100.0, 300.0, 300.0) if gain < 0.5 else bw
            return gain * formant_filter(src[lo:hi], np.array(_FORMANTS[ph]) * scale, bws, sr) * taper
        if ph in _FRIC_BAND:
            f_lo, f_hi, gain = _FRIC_BAND[ph]
            noise = shaped_noise(n, rng, sr, f_lo, f_hi) * 0.1
            if ph == "HH":
                noise = formant_filter(
                    noise, np.array(_FORMANTS.get(next_vowel, _FORMANTS["AH"])) * scale, bw, sr
                )
                noise /= max(float(np.std(noise)), 1e-9) / 0.1
            y = gain * 8.0 * noise
            if ph in _VOICED_CONS:
                y += 0.15 * formant_filter(src[lo:hi], (300.0,), (120.0,), sr)
            return y * taper
        if ph in _STOP_BAND:
            f_lo, f_hi = _STOP_BAND[ph]
            y = np.zeros(n)
            c = int(0.6 * n)
            if ph in _VOICED_CONS:
                y[:c] = 0.06 * formant_filter(src[lo : lo + c], (250.0,), (100.0,), sr)
            burst = shaped_noise(n - c, rng, sr, f_lo, f_hi) * 0.35
            burst *= np.exp(-np.arange(n - c) / (0.02 * sr))
            if ph in ("CH", "JH"):
                burst = shaped_noise(n - c, rng, sr, f_lo, f_hi) * 0.25
            y[c:] = burst
            return y * taper
        return np.zeros(n)


# ----------------------------------------------------------------------------------- result


@dataclass
class Track:
    """One person's side of a conversation."""

    audio: np.ndarray  # (N,) float32 at 16 kHz
    motion: np.ndarray  # (T, 58) float32 at 25 fps, T = ceil(N / 640)
    events: list[Event]  # speech/backchannel/laugh/silence (planned) + behaviour events, by start
    phones: list[PhoneSegment]  # every own utterance (laughs too: HH/AA), conversation clock
    persona: Persona
    source: str
    utterances: list[dict[str, Any]] = field(default_factory=list)

    def events_of(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]


@dataclass
class Conversation:
    """Two tracks ("avatar", "user") of equal length, plus the plan's metadata."""

    tracks: dict[str, Track]
    sample_rate: int = SAMPLE_RATE
    fps: float = FPS
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def avatar(self) -> Track:
        return self.tracks["avatar"]

    @property
    def user(self) -> Track:
        return self.tracks["user"]

    @property
    def duration(self) -> float:
        return len(self.avatar.audio) / self.sample_rate

    @property
    def frames(self) -> int:
        return int(self.avatar.motion.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write one compressed .npz (arrays + a JSON `meta` string; see the module docstring)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        doc: dict[str, Any] = {
            "format": "avatar-forcing-conversation/1",
            "sample_rate": self.sample_rate,
            "fps": self.fps,
            "meta": self.meta,
            "people": {
                name: {
                    "persona": tr.persona.to_dict(),
                    "source": tr.source,
                    "events": [e.to_dict() for e in tr.events],
                    "phones": [[p.phone, p.start, p.end] for p in tr.phones],
                    "utterances": tr.utterances,
                }
                for name, tr in self.tracks.items()
            },
        }
        arrays: dict[str, np.ndarray] = {}
        for name, tr in self.tracks.items():
            arrays[f"{name}_audio"] = np.asarray(tr.audio, np.float32)
            arrays[f"{name}_motion"] = np.asarray(tr.motion, np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, meta=np.array(json.dumps(doc, default=_json_default)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Conversation:
        with np.load(Path(path), allow_pickle=False) as z:
            doc = json.loads(str(z["meta"]))
            tracks = {
                name: Track(
                    audio=z[f"{name}_audio"],
                    motion=z[f"{name}_motion"],
                    events=[Event.from_dict(e) for e in d["events"]],
                    phones=[PhoneSegment(str(p), float(s), float(e)) for p, s, e in d["phones"]],
                    persona=Persona.from_dict(d["persona"]),
                    source=str(d["source"]),
                    utterances=list(d.get("utterances", [])),
                )
                for name, d in doc["people"].items()
            }
        return cls(tracks, int(doc["sample_rate"]), float(doc["fps"]), dict(doc.get("meta", {})))


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")


# ----------------------------------------------------------------------------------- planning


@dataclass
class _Placed:
    person: str
    start: float  # audio start on the conversation clock
    utt: Utterance  # 16 kHz
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def v_start(self) -> float:
        sp = [p.start for p in self.utt.phones if p.phone != SILENCE]
        return self.start + (min(sp) if sp else 0.0)

    @property
    def v_end(self) -> float:
        sp = [p.end for p in self.utt.phones if p.phone != SILENCE]
        return self.start + (max(sp) if sp else self.utt.duration)

    def cut(self, at: float, sample_rate: int) -> bool:
        """Stop cleanly at the first phone boundary >= `at` (conversation clock); False if nothing to cut."""
        rel = at - self.start
        ends = sorted(p.end for p in self.utt.phones if p.phone != SILENCE and p.end >= rel)
        if not ends or ends[-1] <= rel + 1e-6 or rel <= 0:
            return False
        stop = ends[0]
        if stop >= max(p.end for p in self.utt.phones if p.phone != SILENCE) - 1e-6:
            return False
        n = round(stop * sample_rate)
        fade = min(int(0.015 * sample_rate), n)
        audio = self.utt.audio[:n].astype(np.float32).copy()
        if fade > 0:
            audio[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        phones = [
            PhoneSegment(p.phone, p.start, min(p.end, stop)) for p in self.utt.phones if p.start < stop - 1e-6
        ]
        u = self.utt
        self.utt = Utterance(audio, u.sample_rate, phones, u.text, u.source, u.kind, dict(u.meta))
        self.meta["interrupted"] = True
        return True


def _to_16k(utt: Utterance) -> Utterance:
    if utt.sample_rate == SAMPLE_RATE:
        audio = np.asarray(utt.audio, np.float32)
    else:
        g = math.gcd(int(utt.sample_rate), SAMPLE_RATE)
        audio = resample_poly(np.asarray(utt.audio, np.float64), SAMPLE_RATE // g, int(utt.sample_rate) // g)
        audio = audio.astype(np.float32)
    dur = len(audio) / SAMPLE_RATE
    phones = [PhoneSegment(p.phone, min(p.start, dur), min(p.end, dur)) for p in utt.phones if p.start < dur]
    return Utterance(audio, SAMPLE_RATE, phones, utt.text, utt.source, utt.kind, dict(utt.meta))


def _voiced_rms(utt: Utterance) -> float:
    spans = [(p.start, p.end) for p in utt.phones if p.phone != SILENCE]
    if spans:
        a = int(min(s for s, _ in spans) * utt.sample_rate)
        b = int(max(e for _, e in spans) * utt.sample_rate)
        x = utt.audio[a:b]
    else:
        x = utt.audio
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))) if len(x) else 0.0


class _Planner:
    def __init__(
        self,
        rng: np.random.Generator,
        sources: Mapping[str, SpeechSource],
        personas: Mapping[str, Persona],
        text: TextSource,
        duration: float,
    ) -> None:
        self.rng = rng
        self.sources = sources
        self.personas = personas
        self.text = text
        self.duration = duration
        self.placed: list[_Placed] = []
        self.smiles: dict[str, list[Event]] = {p: [] for p in PEOPLE}
        self.silences: list[tuple[float, float]] = []
        self.busy: dict[str, float] = dict.fromkeys(PEOPLE, 0.0)
        self.level = {p: 10 ** (rng.uniform(-26, -16) / 20) for p in PEOPLE}
        self.pitch: dict[str, float] = {}
        self.stats: dict[str, int] = dict.fromkeys(
            ("turns", "sentences", "overlaps", "interruptions", "backchannels", "laughs", "shared_laughs",
             "long_silences", "smiles"), 0)  # fmt: skip

    @staticmethod
    def other(p: str) -> str:
        return "user" if p == "avatar" else "avatar"

    def synth(self, person: str, text: str, kind: str) -> Utterance:
        if kind == "laugh":
            pitch = self.voice_pitch(person)
            p = self.personas[person]
            utt = synthesize_laugh(
                self.rng,
                pitch,
                SAMPLE_RATE,
                intensity=self.rng.uniform(0.5, 1.2) * (0.6 + 0.5 * p.laugh_propensity),
            )
        else:
            src = self.sources[person]
            try:
                utt = src.synthesize(text, kind)
            except (ValueError, TypeError, NotImplementedError):
                utt = src.synthesize(text)
            if utt.kind != kind:
                utt = Utterance(
                    utt.audio, utt.sample_rate, list(utt.phones), utt.text, utt.source, kind, dict(utt.meta)
                )
        utt = _to_16k(utt)
        rms = _voiced_rms(utt)
        if rms > 0:
            db = self.rng.normal(0, 2.0) - (self.rng.uniform(1, 5) if kind == "backchannel" else 0.0)
            target = self.level[person] * 10 ** (db / 20) * (1.3 if kind == "laugh" else 1.0)
            gain = target / rms
            peak = float(np.max(np.abs(utt.audio))) * gain
            if peak > 0.98:
                gain *= 0.98 / peak
            utt = Utterance(
                (utt.audio * gain).astype(np.float32),
                SAMPLE_RATE,
                utt.phones,
                utt.text,
                utt.source,
                utt.kind,
                utt.meta,
            )
        return utt

    def voice_pitch(self, person: str) -> float:
        if person not in self.pitch:
            own = [pl.utt for pl in self.placed if pl.person == person and pl.kind == "speech"][:3]
            if not own:
                own = [self.synth(person, "okay, sure", "speech")]
            f0 = np.concatenate([prosody(u.audio, SAMPLE_RATE, FPS).f0 for u in own])
            f0 = f0[f0 > 0]
            self.pitch[person] = float(np.median(f0)) if f0.size > 5 else self.personas[person].voice_pitch_hz
            self.personas[person].voice_pitch_hz = self.pitch[person]
        return self.pitch[person]

    def place(self, person: str, v_at: float, utt: Utterance, kind: str, **meta: Any) -> _Placed:
        """Place so that the voiced part starts at v_at (or right after the person's last utterance)."""
        lead = min((p.start for p in utt.phones if p.phone != SILENCE), default=0.0)
        v_at = max(v_at, self.busy[person] + 0.12)
        pl = _Placed(person, v_at - lead, utt, kind, dict(meta))
        self.placed.append(pl)
        self.busy[person] = pl.v_end
        return pl

    def smile(self, person: str, start: float, dur: float, amp: float, cause: str) -> None:
        if start < self.duration:
            self.smiles[person].append(Event("smile", start, start + dur, {"amplitude": amp, "cause": cause}))
            self.stats["smiles"] += 1

    def laugh(self, person: str, at: float, responds_to: str | None = None) -> _Placed:
        pl = self.place(person, at, self.synth(person, "haha", "laugh"), "laugh", responds_to=responds_to)
        self.stats["laughs"] += 1
        return pl

    def laugh_pair(self, first: str, at: float) -> float:
        """`first` laughs at `at`; the other may laugh back. Returns the end of the laughter."""
        rng = self.rng
        a = self.laugh(first, at)
        end = a.v_end
        second = self.other(first)
        if rng.random() < self.personas[second].laugh_propensity and self.busy[second] < a.v_start + 0.3:
            b = self.laugh(second, a.v_start + rng.uniform(0.3, 0.5), responds_to=first)
            a.meta["shared"] = b.meta["shared"] = True
            self.stats["shared_laughs"] += 1
            end = max(end, b.v_end)
        return end

    def backchannel(self, person: str, at: float) -> _Placed:
        text = self.text.backchannel(self.rng)
        self.stats["backchannels"] += 1
        return self.place(person, at, self.synth(person, text, "backchannel"), "backchannel", text=text)

    def run(self) -> None:
        rng = self.rng
        t = float(rng.uniform(0.3, 1.2))
        speaker = PEOPLE[int(rng.integers(2))]
        while t < self.duration - 0.3:
            listener = self.other(speaker)
            ps, pl = self.personas[speaker], self.personas[listener]
            n_sent = 1 + int(rng.binomial(3, 0.15 + 0.5 * ps.verbosity))
            self.stats["turns"] += 1
            last: _Placed | None = None
            for k in range(n_sent):
                if t >= self.duration - 0.3:
                    break
                s = self.text.sentence(rng)
                last = self.place(speaker, t, self.synth(speaker, s.text, "speech"), "speech",
                                  text=s.text, question=s.question, sentence_kind=s.kind)  # fmt: skip
                self.stats["sentences"] += 1
                t = last.v_end
                funny = s.kind == "exclamation"
                if rng.random() < (0.6 if funny else 0.3) * ps.smile_propensity:
                    st = rng.uniform(last.v_start, max(last.v_start, last.v_end - 0.5))
                    self.smile(speaker, st, rng.uniform(0.8, 2.5), rng.uniform(0.25, 0.7), "speaking")
                if rng.random() < (0.6 if funny else 0.25) * pl.smile_propensity:
                    self.smile(listener, last.v_end - rng.uniform(0.0, 0.6), rng.uniform(0.8, 2.5),
                               rng.uniform(0.2, 0.6), "listening")  # fmt: skip
                # mid-sentence pauses are backchannel opportunities too
                for p in last.utt.phones:
                    if p.phone == SILENCE and p.end - p.start >= 0.25 and last.start + p.start > last.v_start:
                        if rng.random() < 0.35 * pl.backchannel_propensity:
                            at = last.start + p.start + pl.draw_delay(rng, 0.1, 0.5)
                            if self.busy[listener] < at - 0.2:
                                self.backchannel(listener, at)
                lp_listener = (0.3 if funny else 0.025) * (0.4 + pl.laugh_propensity)
                lp_speaker = (0.3 if funny else 0.025) * (0.4 + ps.laugh_propensity)
                r = rng.random()
                if r < lp_listener and self.busy[listener] < t:
                    t = max(t, self.laugh_pair(listener, t + rng.uniform(0.15, 0.5)))
                elif r < lp_listener + lp_speaker:
                    t = max(t, self.laugh_pair(speaker, t + rng.uniform(0.05, 0.3)))
                elif k < n_sent - 1 and rng.random() < pl.backchannel_propensity and self.busy[listener] < t:
                    self.backchannel(listener, t + pl.draw_delay(rng, 0.1, 0.6))
                if k < n_sent - 1:
                    t += float(rng.uniform(0.2, 0.9))
            if last is None:
                break
            last.meta["turn_end"] = True
            end = max(t, last.v_end)
            # turn transition
            nxt = listener
            r = rng.random()
            p_int = 0.06 + 0.14 * pl.interruptiveness
            if r < p_int and last.v_end - last.v_start > 1.2:
                start = float(rng.uniform(last.v_start + 0.5, last.v_end - 0.4))
                kind = "interruption"
            elif r < p_int + 0.15:
                start = end - float(rng.uniform(0.1, 0.5))
                kind = "overlap"
            elif r < p_int + 0.22:
                start = end + float(rng.uniform(2.0, 6.0))
                self.silences.append((end, start))
                self.stats["long_silences"] += 1
                kind = "silence"
                if rng.random() < 0.15:
                    nxt = speaker
            else:
                start = end + float(rng.uniform(0.2, 1.5))
                kind = "gap"
            start = max(start, self.busy[nxt] + 0.12, last.v_start + 0.3 if nxt != speaker else 0.0)
            if kind == "interruption" and start < last.v_end - 0.2:
                if last.cut(start + float(rng.uniform(0.15, 0.5)), SAMPLE_RATE):
                    self.busy[speaker] = last.v_end
                    self.stats["interruptions"] += 1
            elif kind == "overlap" and start < last.v_end:
                self.stats["overlaps"] += 1
            speaker = nxt
            t = start

    def finish(self, n_samples: int) -> None:
        """Cut whatever runs past the end of the conversation; drop what starts after it."""
        end = n_samples / SAMPLE_RATE
        keep: list[_Placed] = []
        for pl in self.placed:
            if pl.v_start >= end - 0.05:
                continue
            if pl.start + pl.utt.duration > end:
                rel = end - pl.start
                n = int(rel * SAMPLE_RATE)
                audio = pl.utt.audio[:n].copy()
                fade = min(int(0.015 * SAMPLE_RATE), n)
                if fade:
                    audio[n - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
                phones = [
                    PhoneSegment(p.phone, p.start, min(p.end, rel)) for p in pl.utt.phones if p.start < rel
                ]
                u = pl.utt
                pl.utt = Utterance(audio, u.sample_rate, phones, u.text, u.source, u.kind, dict(u.meta))
            keep.append(pl)
        self.placed = keep


def _persona_map(
    personas: Mapping[str, Persona] | Sequence[Persona] | None, rng: np.random.Generator
) -> dict[str, Persona]:
    if personas is None:
        return {p: Persona.sample(rng) for p in PEOPLE}
    if isinstance(personas, Mapping):
        return {p: replace(personas[p]) for p in PEOPLE}
    a, u = personas
    return {"avatar": replace(a), "user": replace(u)}


def simulate_conversation(
    rng: np.random.Generator | int,
    avatar_source: SpeechSource,
    user_source: SpeechSource,
    duration_s: float,
    personas: Mapping[str, Persona] | Sequence[Persona] | None = None,
    text_source: TextSource | None = None,
) -> Conversation:
    """Simulate `duration_s` seconds of a two-person conversation (see the module docstring).

    rng: a numpy Generator (or an int seed) that drives every random choice; the same rng state,
    sources and personas give the same conversation. personas: {"avatar": ., "user": .} or
    (avatar, user); drawn with `Persona.sample` when None (their voice_pitch_hz is replaced by
    the measured median F0 of the person's speech).
    """
    seed = int(rng) if isinstance(rng, int | np.integer) else None
    gen = np.random.default_rng(seed) if seed is not None else rng
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator or an int seed; got {type(rng).__name__}")
    rng_state = gen.bit_generator.state
    persona_map = _persona_map(personas, gen)
    sources = {"avatar": avatar_source, "user": user_source}
    r_plan, r_beh_a, r_beh_u, r_art_a, r_art_u, r_noise = child_rngs(gen, 6)
    planner = _Planner(r_plan, sources, persona_map, text_source or TextSource(), float(duration_s))
    planner.run()
    for p in PEOPLE:  # measured voice pitch for every persona (laughs already used it)
        planner.voice_pitch(p)
    n = round(duration_s * SAMPLE_RATE)
    planner.finish(n)
    frames = math.ceil(n / HOP)

    audio = {p: np.zeros(n, np.float64) for p in PEOPLE}
    phones: dict[str, list[PhoneSegment]] = {p: [] for p in PEOPLE}
    art_phones: dict[str, list[PhoneSegment]] = {p: [] for p in PEOPLE}
    planned: dict[str, list[Event]] = {p: list(planner.smiles[p]) for p in PEOPLE}
    utterances: dict[str, list[dict[str, Any]]] = {p: [] for p in PEOPLE}
    for pl in sorted(planner.placed, key=lambda x: x.start):
        a = round(pl.start * SAMPLE_RATE)
        x = pl.utt.audio
        if a < 0:
            x, a = x[-a:], 0
        m = min(len(x), n - a)
        audio[pl.person][a : a + m] += x[:m]
        abs_ph = [
            PhoneSegment(p.phone, max(pl.start + p.start, 0.0), max(pl.start + p.end, 0.0))
            for p in pl.utt.phones
            if pl.start + p.end > 0
        ]
        phones[pl.person].extend(abs_ph)
        if pl.kind != "laugh":
            art_phones[pl.person].extend(abs_ph)
        meta = {k: v for k, v in pl.meta.items() if v is not None}
        if pl.kind == "laugh":
            meta["bursts"] = [[pl.start + s, pl.start + e] for s, e in pl.utt.meta.get("bursts", [])]
        if not meta.get("text"):
            meta["text"] = pl.utt.text
        planned[pl.person].append(Event(pl.kind, pl.v_start, min(pl.v_end, n / SAMPLE_RATE), meta))
        utterances[pl.person].append(
            {"kind": pl.kind, "start": pl.start, "end": pl.start + pl.utt.duration, "text": pl.utt.text,
             "source": pl.utt.source, "interrupted": bool(pl.meta.get("interrupted", False))}
        )  # fmt: skip
    for p in PEOPLE:
        # a microphone's noise floor: quiet studio to laptop microphone (v2: -80..-60; a louder
        # floor than any seen in training made models shut their mouths on real recordings)
        floor = 10 ** (r_noise.uniform(-80, -45) / 20)
        audio[p] += floor * r_noise.standard_normal(n)
        np.clip(audio[p], -1.0, 1.0, out=audio[p])

    signals: dict[str, PersonSignals] = {}
    for p in PEOPLE:
        pros = prosody(audio[p], SAMPLE_RATE, FPS, frames)
        act = speech_activity(art_phones[p], frames, FPS)
        signals[p] = PersonSignals(act, pros, sorted(planned[p], key=lambda e: e.start))
    tracks: dict[str, Track] = {}
    rngs = {"avatar": (r_beh_a, r_art_a), "user": (r_beh_u, r_art_u)}
    for p in PEOPLE:
        other = "user" if p == "avatar" else "avatar"
        r_beh, r_art = rngs[p]
        persona = persona_map[p]
        motion, beh_events = behave(r_beh, persona, signals[p], signals[other], FPS)
        mouth = articulate(art_phones[p], frames, FPS, r_art, persona.articulation, signals[p].prosody.energy)
        motion[:, : mouth.shape[1]] += mouth
        motion = ArkitSpace.clamp(motion)
        assert motion.shape == (frames, ARKIT_DIM)
        events = [e for e in signals[p].events if e.kind != "smile"] + beh_events
        events += [
            Event("silence", s, min(e, n / SAMPLE_RATE)) for s, e in planner.silences if s < n / SAMPLE_RATE
        ]
        events.sort(key=lambda e: (e.start, e.kind))
        tracks[p] = Track(
            audio=audio[p].astype(np.float32),
            motion=motion.astype(np.float32),
            events=events,
            phones=sorted(phones[p], key=lambda q: q.start),
            persona=persona,
            source=str(getattr(sources[p], "name", type(sources[p]).__name__)),
            utterances=utterances[p],
        )
    meta = {
        "seed": seed,
        "rng_state": rng_state,
        "duration_s": float(duration_s),
        "plan": dict(planner.stats),
        "voice_pitch_hz": dict(planner.pitch),
    }
    log.info("simulated %.1f s conversation: %s", duration_s, planner.stats)
    return Conversation(tracks, SAMPLE_RATE, FPS, meta)
