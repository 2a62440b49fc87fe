"""Speech from espeak-ng (PyPI ``espeakng-loader``) with phone timings from the engine's own events.

The library bundled by ``espeakng-loader`` (libespeak-ng plus its ``espeak-ng-data``) is bound with
:mod:`ctypes`. It runs in synchronous mode: ``espeak_Synth`` returns only after the synth callback has
received every audio buffer with the events that fall inside it. With
``espeakINITIALIZE_PHONEME_EVENTS`` the engine reports one ``espeakEVENT_PHONEME`` per phone, named by
its espeak mnemonic (e.g. ``'A:``, ``aI@``, ``tS``) and positioned by the absolute sample index at which
the phone starts. Those positions give the phone spans; the mnemonics are mapped to the common
ARPAbet set by :data:`ESPEAK_TO_ARPABET`.

One correction is applied: espeak emits an unvoiced stop's event at its burst, with the stop closure
(silence) generated before the event, i.e. inside the preceding phone. A lip-sync model needs the
closure inside the stop (the lips are shut for /p/ from the start of the closure), so stop and
affricate onsets are moved back over the low-energy tail of the preceding phone
(:func:`_refine_stop_onsets`).

espeak-ng keeps global state (one voice, one callback per process), so every call into the library
holds :data:`_LOCK`.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .phones import SILENCE, PhoneSegment
from .utterance import Utterance

logger = logging.getLogger(__name__)

__all__ = [
    "ENGLISH_LANGUAGES",
    "ESPEAK_TO_ARPABET",
    "EspeakVoice",
    "espeak_to_arpabet",
    "list_languages",
    "list_variants",
    "make_voices",
    "phoneme_table",
]

# --- the C API (speak_lib.h) --------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0
ENGINE_SAMPLE_RATE = 22050  # what espeak_Initialize reports for the bundled data


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``: ``sample`` is the absolute output sample index of the event."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """``espeak_VOICE`` as returned by ``espeak_ListVoices``."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_LOCK = threading.RLock()

# --- espeak mnemonic -> ARPAbet -----------------------------------------------------------------

# Every phoneme of the English tables (en, en-us, en-rp, en-sc, en-n, en-wm, en-wi, en-us-nyc) and of
# the shared consonant table base1 that English inherits. Multi-phone entries split the espeak span
# evenly (r-coloured diphthongs of rhotic accents, syllabic consonants).
ESPEAK_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # pauses
    "_": ("SIL",), "_:": ("SIL",), "_!": ("SIL",), "_::": ("SIL",), "||": ("SIL",), "_^_": ("SIL",),
    "_X1": ("SIL",), "_|": ("SIL",), "_;_": ("SIL",), "": ("SIL",),
    # English vowels
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@#": ("AH",), "@-": ("AH",), "@L": ("L",),
    "3": ("ER",), "3:": ("ER",),
    "a": ("AE",), "a2": ("AE",), "aa": ("AE",), "a/": ("AE",), "a#": ("AH",), "a#2": ("AH",),
    "A:": ("AA",), "A#": ("AA",), "A~": ("AA",), "A@": ("AA", "R"),
    "E": ("EH",), "E#": ("EH",), "E2": ("EH",), "e": ("EH",), "e#": ("EH",), "e:": ("EY",),
    "e@": ("EH", "R"),
    "I": ("IH",), "I2": ("IH",), "I#": ("IH",), "I2#": ("IH",), "IR": ("IH", "R"),
    "i": ("IY",), "i:": ("IY",), "i@": ("IH", "R"), "i@3": ("IY", "ER"),
    "0": ("AA",), "0#": ("AA",), "02": ("AA",),
    "O": ("AO",), "O:": ("AO",), "O2": ("AO",), "O~": ("AO",), "O@": ("AO", "R"), "o@": ("AO", "R"),
    "o": ("OW",), "o:": ("OW",), "oU": ("OW",), "oU#": ("OW",),
    "V": ("AH",), "VR": ("AH", "R"),
    "U": ("UH",), "U@": ("UH", "R"), "u": ("UW",), "u:": ("UW",),
    "aI": ("AY",), "aI2": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"),
    "aU": ("AW",), "aU@": ("AW", "ER"), "eI": ("EY",), "OI": ("OY",),
    "y": ("UW",), "Y": ("UW",), "EI": ("EY",), "eU": ("OW",), "iU": ("UW",), "oI": ("OY",), "uI": ("UW",),
    # syllabic consonants
    "m-": ("AH", "M"), "n-": ("AH", "N"), "N-": ("AH", "NG"), "l-": ("AH", "L"), "r-": ("R",),
    # stops and affricates
    "p": ("P",), "b": ("B",), "t": ("T",), "t2": ("T",), "t[": ("T",), "d": ("D",), "d[": ("D",),
    "t#": ("D",), "d#": ("D",), "?": ("T",), "k": ("K",), "g": ("G",), "c": ("K",), "q": ("K",),
    "J": ("JH",), "*": ("D",), "tS": ("CH",), "tS;": ("CH",), "dZ": ("JH",), "dZ;": ("JH",),
    "ts": ("T", "S"),
    # fricatives
    "f": ("F",), "v": ("V",), "v#": ("V",), "B": ("V",), "T": ("TH",), "D": ("DH",),
    "s": ("S",), "s.": ("S",), "s;": ("S",), "z": ("Z",), "z.": ("Z",), "z;": ("Z",), "z#": ("Z",),
    "z/2": ("Z",), "S": ("SH",), "S;": ("SH",), "Z": ("ZH",), "Z;": ("ZH",), "J^": ("ZH",),
    "h": ("HH",), "C": ("HH",), "x": ("K",), "X": ("HH",), "Q": ("G",), "Q^": ("G",), "Q\"": ("G",),
    "#X1": ("HH",), "w#": ("W",), "l#": ("L",),
    # nasals
    "m": ("M",), "n": ("N",), "n.": ("N",), "n^": ("N",), "N": ("NG",),
    # liquids and glides
    "r": ("R",), "r/": ("R",), "R": ("R",), "R2": ("R",), "R3": ("R",), "r.": ("R",), "r\"": ("R",),
    "**": ("R",), "l": ("L",), "l/": ("L",), "l/2": ("L",), "l/3": ("L",), "l^": ("L",), "l.": ("L",),
    "L": ("L",), "L/": ("L",), "j": ("Y",), ";": ("Y",), "w": ("W",), "w2": ("W",),
    # virtual phonemes (not normally emitted)
    "#@": ("AH",), "#a": ("AH",), "#e": ("EH",), "#i": ("IH",), "#o": ("AA",), "#u": ("UH",),
}  # fmt: skip

# Nearest class for mnemonics outside the table, keyed on their first character.
_FALLBACK_BY_FIRST_CHAR: dict[str, str] = {
    "a": "AA", "A": "AA", "@": "AH", "3": "ER", "V": "AH", "e": "EH", "E": "EH", "i": "IY", "I": "IH",
    "o": "OW", "O": "AO", "0": "AA", "u": "UW", "U": "UH", "y": "UW", "Y": "UW", "&": "AE", "W": "UW",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "c": "K", "q": "K", "G": "G",
    "f": "F", "v": "V", "T": "TH", "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH",
    "x": "K", "X": "HH", "C": "HH", "m": "M", "n": "N", "N": "NG", "J": "JH", "r": "R", "R": "R",
    "l": "L", "L": "L", "j": "Y", "w": "W", "_": "SIL", "#": "AH",
}  # fmt: skip
_STRESS_MARKS = "'," + "%=" + "\u02c8\u02cc"
_STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})


def espeak_to_arpabet(mnemonic: str) -> tuple[str, ...]:
    """Map one espeak phoneme event name (stress prefix allowed) to common-set phones.

    Unknown mnemonics go to the nearest class (first by stripping modifier characters, then by the
    first character) and are logged at debug level.
    """
    name = mnemonic.strip().lstrip(_STRESS_MARKS)
    if name in ESPEAK_TO_ARPABET:
        return ESPEAK_TO_ARPABET[name]
    stripped = name
    while stripped and stripped[-1] in '#/23-:~.^;["<':
        stripped = stripped[:-1]
        if stripped in ESPEAK_TO_ARPABET:
            logger.debug("espeak phoneme %r mapped as %r", mnemonic, stripped)
            return ESPEAK_TO_ARPABET[stripped]
    phone = _FALLBACK_BY_FIRST_CHAR.get(name[:1], "AH")
    logger.debug("espeak phoneme %r not in the table; nearest class %s", mnemonic, phone)
    return (phone,)


# --- library loading ----------------------------------------------------------------------------


def _loader_paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "espeak-ng synthesis needs the PyPI package 'espeakng-loader' "
            "(pip install 'avatar-forcing[corpus]')"
        ) from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def _data_path() -> Path:
    return Path(_loader_paths()[1])


class _Engine:
    """The process-wide libespeak-ng binding; use only under :data:`_LOCK`."""

    def __init__(self) -> None:
        lib_path, data_path = _loader_paths()
        lib = ctypes.CDLL(lib_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        options = _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), options)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({rate}) with data at {data_path}")
        self.lib = lib
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: the library holds it
        lib.espeak_SetSynthCallback(self._callback)
        logger.debug("libespeak-ng loaded from %s (%d Hz, data %s)", lib_path, rate, data_path)

    def _on_synth(self, wav: ctypes._Pointer, n_samples: int, events: ctypes._Pointer) -> int:
        try:
            if n_samples > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                event = events[i]
                if event.type == _EVENT_PHONEME:
                    name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                    self._events.append((int(event.sample), name))
                i += 1
        except Exception:  # never let an exception cross the C boundary
            logger.exception("espeak synth callback failed")
            return 1
        return 0

    def voices(self) -> list[tuple[str, str, list[tuple[int, str]]]]:
        """(name, identifier, [(priority, language), ...]) for every installed voice."""
        out = []
        array = self.lib.espeak_ListVoices(None)
        i = 0
        while array[i]:
            voice = array[i].contents
            raw = ctypes.string_at(voice.languages, 256)
            languages: list[tuple[int, str]] = []
            j = 0
            while j < len(raw) and raw[j] != 0:
                end = raw.index(b"\0", j + 1)
                languages.append((raw[j], raw[j + 1 : end].decode("ascii", "replace")))
                j = end + 1
            out.append((voice.name.decode("utf-8", "replace"), voice.identifier.decode(), languages))
            i += 1
        return out

    def synth(
        self, voice_name: str, rate: int, pitch: int, pitch_range: int, text: str
    ) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Synthesize ``text``; returns (int16 samples, [(start sample, mnemonic), ...])."""
        err = self.lib.espeak_SetVoiceByName(voice_name.encode())
        if err != _EE_OK:
            raise ValueError(f"espeak-ng has no voice {voice_name!r} (error {err})")
        for param, value in (
            (_PARAM_RATE, rate),
            (_PARAM_PITCH, pitch),
            (_PARAM_RANGE, pitch_range),
            (_PARAM_VOLUME, 100),
        ):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.replace("\0", " ").encode("utf-8")
        err = self.lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
        )
        if err != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with error {err}")
        chunks, events = self._chunks, self._events
        self._chunks, self._events = [], []
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return audio, events


_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE


# --- voices -------------------------------------------------------------------------------------

# English accents of the bundled data (espeak language codes); en-shaw reads the Shavian alphabet.
ENGLISH_LANGUAGES: tuple[str, ...] = (
    "en-us",
    "en-gb",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# Variants that are not useful as talking voices for lip sync (whispered, no clear voicing, effects).
_ODD_VARIANTS = frozenset({"whisper", "whisperf", "croak", "Demonic", "UniRobot", "anikaRobot"})


@lru_cache(maxsize=1)
def list_variants() -> tuple[str, ...]:
    """Voice variants shipped with the bundled data (``espeak-ng-data/voices/!v``), sorted."""
    folder = _data_path() / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))


@lru_cache(maxsize=1)
def _language_index() -> dict[str, str]:
    with _LOCK:
        voices = _engine().voices()
    best: dict[str, tuple[int, str]] = {}
    for _name, identifier, languages in voices:
        for priority, language in languages:
            key = language.lower()
            if key not in best or priority < best[key][0]:
                best[key] = (priority, identifier)
    return {language: identifier for language, (_p, identifier) in best.items()}


def list_languages(prefix: str = "") -> tuple[str, ...]:
    """espeak language codes (lower case) starting with ``prefix``, e.g. ``list_languages("en")``."""
    return tuple(sorted(lang for lang in _language_index() if lang.startswith(prefix.lower())))


@dataclass(frozen=True)
class EspeakVoice:
    """One espeak-ng voice: a language (accent), a variant (timbre) and prosody settings.

    ``rate`` is in words per minute (80..450), ``pitch`` and ``pitch_range`` are espeak's 0..100 scales
    (50 = the variant's default). Synthesis is not bit-exact from call to call: espeak-ng's wave
    generator keeps its pitch state between utterances, so phone lengths vary by a few samples.
    """

    language: str = "en-us"
    variant: str | None = None
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50

    def __post_init__(self) -> None:
        if not 80 <= self.rate <= 450:
            raise ValueError(f"rate must be 80..450 words per minute; got {self.rate}")
        for label, value in (("pitch", self.pitch), ("pitch_range", self.pitch_range)):
            if not 0 <= value <= 100:
                raise ValueError(f"{label} must be 0..100; got {value}")
        if self.variant is not None and self.variant not in list_variants():
            raise ValueError(f"unknown espeak variant {self.variant!r}; see list_variants()")

    @classmethod
    def from_name(cls, name: str, **kwargs: int) -> EspeakVoice:
        """``"en-us+f3"`` -> ``EspeakVoice("en-us", "f3")``."""
        language, _, variant = name.partition("+")
        return cls(language=language, variant=variant or None, **kwargs)

    @property
    def name(self) -> str:
        """espeak's ``language+variant`` spelling."""
        return self.language if self.variant is None else f"{self.language}+{self.variant}"

    @property
    def sample_rate(self) -> int:
        return ENGINE_SAMPLE_RATE

    def _espeak_name(self) -> str:
        identifier = _language_index().get(self.language.lower())
        if identifier is None:
            raise ValueError(f"espeak-ng has no language {self.language!r}; see list_languages()")
        return identifier if self.variant is None else f"{identifier}+{self.variant}"

    def synthesize(self, text: str, kind: str = "speech") -> Utterance:
        """Speak ``text``; the Utterance carries float32 audio at 22050 Hz and aligned phones."""
        if not text.strip():
            raise ValueError("nothing to synthesize: empty text")
        with _LOCK:
            engine = _engine()
            pcm, events = engine.synth(self._espeak_name(), self.rate, self.pitch, self.pitch_range, text)
            sample_rate = engine.sample_rate
        audio = pcm.astype(np.float32) / 32768.0
        phones = events_to_phones(events, audio, sample_rate)
        return Utterance(
            audio=audio,
            sample_rate=sample_rate,
            phones=phones,
            text=text,
            source=f"espeak-ng:{self.name}",
            kind=kind,
            meta={
                "engine": "espeak-ng",
                "voice": self.name,
                "rate_wpm": self.rate,
                "pitch": self.pitch,
                "pitch_range": self.pitch_range,
                "espeak_phonemes": [name for _sample, name in events],
            },
        )


def make_voices(
    n: int,
    seed: int = 0,
    languages: Sequence[str] = ENGLISH_LANGUAGES,
    variants: Sequence[str] | None = None,
    rate_range: tuple[int, int] = (130, 230),
    pitch_range: tuple[int, int] = (25, 75),
    range_range: tuple[int, int] = (20, 85),
) -> list[EspeakVoice]:
    """``n`` diverse voices drawn deterministically from ``seed``.

    Accent, variant (timbre), speed, pitch and intonation range are drawn independently; by default
    the variants are all shipped ones except whispered and effect voices (plus the plain default).
    """
    if variants is None:
        variants = [v for v in list_variants() if v not in _ODD_VARIANTS]
    choices: list[str | None] = [None, *variants]
    rng = np.random.default_rng(seed)
    voices = []
    for _ in range(n):
        voices.append(
            EspeakVoice(
                language=str(languages[int(rng.integers(len(languages)))]),
                variant=choices[int(rng.integers(len(choices)))],
                rate=int(rng.integers(rate_range[0], rate_range[1] + 1)),
                pitch=int(rng.integers(pitch_range[0], pitch_range[1] + 1)),
                pitch_range=int(rng.integers(range_range[0], range_range[1] + 1)),
            )
        )
    return voices


# --- events -> phone spans ----------------------------------------------------------------------


def events_to_phones(
    events: Sequence[tuple[int, str]], audio: np.ndarray, sample_rate: int
) -> list[PhoneSegment]:
    """Turn (start sample, espeak mnemonic) events into contiguous spans covering ``audio``."""
    n = len(audio)
    spans: list[list] = []  # [phone, start sample, end sample]
    starts = [min(max(int(s), 0), n) for s, _ in events]
    for i in range(1, len(starts)):  # events are in time order; guard against jitter
        starts[i] = max(starts[i], starts[i - 1])
    if not starts or starts[0] > 0:
        spans.append([SILENCE, 0, starts[0] if starts else n])
    for i, (_sample, name) in enumerate(events):
        start = starts[i]
        end = starts[i + 1] if i + 1 < len(starts) else n
        if end <= start:
            continue
        phones = espeak_to_arpabet(name)
        edges = np.linspace(start, end, len(phones) + 1).round().astype(int)
        for phone, a, b in zip(phones, edges[:-1], edges[1:], strict=True):
            if b > a:
                spans.append([phone, int(a), int(b)])
    if not spans:
        spans = [[SILENCE, 0, n]]
    _refine_stop_onsets(spans, audio, sample_rate)
    merged: list[list] = []
    for span in spans:
        if merged and span[0] == SILENCE and merged[-1][0] == SILENCE:
            merged[-1][2] = span[2]
        elif span[2] > span[1] or not merged:
            merged.append(span)
    return [PhoneSegment(p, a / sample_rate, b / sample_rate) for p, a, b in merged]


def _refine_stop_onsets(
    spans: list[list], audio: np.ndarray, sample_rate: int, frame_s: float = 0.005, floor: float = 0.15
) -> None:
    """Move stop/affricate onsets back over the silent closure espeak puts in the preceding phone.

    The trailing run of 5 ms frames quieter than ``floor`` x the preceding phone's loudest frame is
    handed to the stop; the preceding phone keeps at least 40 % of its span and 15 ms.
    """
    frame = max(1, round(frame_s * sample_rate))
    x = audio.astype(np.float64)
    for i in range(1, len(spans)):
        phone = spans[i][0]
        prev = spans[i - 1]
        if phone not in _STOPS or prev[0] == SILENCE:
            continue
        a, b = prev[1], prev[2]
        n_frames = (b - a) // frame
        if n_frames < 2:
            continue
        # frames aligned to the end of the preceding span
        seg = x[b - n_frames * frame : b].reshape(n_frames, frame)
        rms = np.sqrt(np.mean(seg**2, axis=1))
        threshold = floor * float(rms.max())
        keep = max(int(np.ceil(0.4 * n_frames)), int(np.ceil(0.015 * sample_rate / frame)))
        k = n_frames
        while k > keep and rms[k - 1] < threshold:
            k -= 1
        if k < n_frames:
            new_start = b - (n_frames - k) * frame
            prev[2] = new_start
            spans[i][1] = new_start


# --- phoneme inventory (for tests and debugging) ------------------------------------------------


def phoneme_table(name: str) -> dict[str, int]:
    """Mnemonics of one compiled espeak phoneme table (``phontab``) -> espeak phoneme type.

    Types: 0 pause, 1 stress, 2 vowel, 3 liquid, 4 stop, 5 voiced stop, 6 fricative, 7 voiced
    fricative, 8 nasal, 9 virtual. Raises KeyError for an unknown table name.
    """
    data = (_data_path() / "phontab").read_bytes()
    n_tables = data[0]
    pos = 4
    for _ in range(n_tables):
        n_phonemes = data[pos]
        pos += 4
        table_name = data[pos : pos + 32].split(b"\0", 1)[0].decode()
        pos += 32
        entries: dict[str, int] = {}
        for _ in range(n_phonemes):
            mnemonic, _flags, _program, _code, ph_type = struct.unpack_from("<IIHBB", data, pos)
            pos += 16
            entries[struct.pack("<I", mnemonic).rstrip(b"\0").decode("latin-1")] = ph_type
        if table_name == name:
            return entries
    raise KeyError(f"no espeak phoneme table {name!r}")
