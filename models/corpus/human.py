"""Real human speech: the Asterisk core prompts, force-aligned to phones with pocketsphinx.

Data (Debian, CC-BY-SA-3.0, one US-English female speaker, "Allison"):

* ``asterisk-core-sounds-en-wav``: about 570 prompts as 8 kHz 16-bit mono WAV under
  ``/usr/share/asterisk/sounds/en_US_f_Allison/`` (sub-folders ``digits/``, ``letters/``, ...);
* ``asterisk-core-sounds-en``: the transcripts, ``/usr/share/doc/asterisk-core-sounds-en/
  core-sounds-en.txt.gz``, one ``name: text`` line per prompt.

Alignment uses PyPI ``pocketsphinx`` 5.x and the en-us acoustic model and CMU dictionary inside its
wheel: a word-level pass (``Decoder.set_align_text``) then a phone-level pass
(``Decoder.set_alignment`` / ``get_alignment``), 10 ms frames, with ``bestpath`` off (with it on,
pocketsphinx 5.1.1 fails the phone pass on about one prompt in ten) and the front end reinitialised
before every pass (live CMN otherwise carries over and makes results depend on the order of prompts).
The aligner sees the audio at 16 kHz with 0.2 s of silence padded on both sides and a -60 dBFS white
noise floor: the prompts are 8 kHz recordings with digital silence, which without the floor makes
short prompts align their words into the trailing silence. An alignment must pass an energy check
(edge silence quiet, vowels voiced, see ``_implausibility``); otherwise other padding/floor settings
are tried, then the prompt is skipped. On the Debian 1.6.1 package 534 of the 568 prompts align (the
rest are tones, silence, multi-digit numbers or words the speaker spells out).

Transcripts are normalised (single digits spelled out, ``*`` -> "star", ``#`` -> "pound", known
misspellings fixed, a few missing words added to the dictionary); prompts with bracketed non-speech,
multi-digit numbers (ambiguous reading) or words missing from the dictionary are skipped and logged.
Alignments (and failures) are cached as JSON files, keyed by the audio's hash and the transcript,
under ``~/.cache/avatar-forcing/asterisk-align`` by default.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .phones import SILENCE, VOWELS, PhoneSegment, normalize_arpabet
from .utterance import Utterance

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_SOUND_DIRS",
    "DEFAULT_TRANSCRIPT_FILES",
    "EXTRA_PRONUNCIATIONS",
    "AsteriskPrompts",
    "Prompt",
    "normalize_transcript",
]

DEFAULT_SOUND_DIRS: tuple[Path, ...] = (
    Path("/usr/share/asterisk/sounds/en_US_f_Allison"),
    Path("/usr/share/asterisk/sounds/en_US"),
    Path("/usr/share/asterisk/sounds/en"),
)
DEFAULT_TRANSCRIPT_FILES: tuple[Path, ...] = (
    Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"),
    Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt"),
)
DEFAULT_CACHE_DIR = Path("~/.cache/avatar-forcing/asterisk-align")
ALIGNER_VERSION = 3  # bump to invalidate cached alignments
# (silence padding each side in s, white noise floor in dBFS) tried in turn until one alignment
# passes the plausibility check; the first one alone aligns about 99 % of the prompts.
_ALIGN_ATTEMPTS: tuple[tuple[float, float], ...] = ((0.2, -60.0), (0.0, -60.0), (0.2, -55.0), (0.0, -50.0))
_FRAME_RATE = 100  # pocketsphinx frames per second (its default -frate)

# Misspellings in core-sounds-en.txt (the recordings say the intended word).
_TYPOS = {
    "umute": "unmute",
    "represenatives": "representatives",
    "indentified": "identified",
    "witheld": "withheld",
    "fourtieth": "fortieth",
}
# Words of the prompts missing from cmudict-en-us.dict (CMU phones, no stress).
EXTRA_PRONUNCIATIONS: dict[str, str] = {
    "unmute": "AH N M Y UW T",
    "unmuted": "AH N M Y UW T IH D",
    "undelete": "AH N D IH L IY T",
    "undeleted": "AH N D IH L IY T IH D",
    "rerecord": "R IY R IH K AO R D",
    "prepend": "P R IY P EH N D",
    "prepending": "P R IY P EH N D IH NG",
    "lowercase": "L OW ER K EY S",
    "uppercase": "AH P ER K EY S",
    "semicolon": "S EH M IY K OW L AH N",
    "caret": "K EH R AH T",
    "backtick": "B AE K T IH K",
    "xray": "EH K S R EY",
    "forevermore": "F ER EH V ER M AO R",
    "touchtone": "T AH CH T OW N",
    "pbx": "P IY B IY EH K S",
    "ivr": "AY V IY AA R",
    "digium": "D IH JH IY AH M",
    "dahdi": "D AA D IY",
    "mgcp": "EH M JH IY S IY P IY",
    "unistim": "Y UW N IH S T IH M",
    "iax": "AY AE K S",
    "waldo's": "W AO L D OW Z",
    "www": "D AH B AH L Y UW D AH B AH L Y UW D AH B AH L Y UW",
}

_DIGITS = "zero one two three four five six seven eight nine".split()
_SYMBOLS = {"*": " star ", "#": " pound ", "&": " and ", "%": " percent ", "+": " plus ", "@": " at "}


def normalize_transcript(text: str) -> tuple[list[str] | None, str]:
    """Prompt text -> (lower-case words for the aligner, reason); words is None when unusable."""
    if any(c in text for c in "[]()"):
        return None, "transcript describes non-speech sounds (brackets)"
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    words: list[str] = []
    for token in re.split(r"[\s\-/,;:!?\"()]+", text.lower()):
        token = token.strip(".'")
        if not token:
            continue
        if token.isdigit():
            if len(token) > 1:
                return None, f"multi-digit number {token!r} (ambiguous reading)"
            words.append(_DIGITS[int(token)])
            continue
        if not re.fullmatch(r"[a-z]+(?:[.'][a-z]+)*", token):
            return None, f"unspeakable token {token!r}"
        words.extend(_TYPOS.get(part, part) for part in token.split("."))  # "p.m" -> p m
    if not words:
        return None, "empty transcript"
    return words, ""


@dataclass(frozen=True)
class Prompt:
    """One Asterisk prompt: its name (``digits/1``), WAV path and transcript."""

    name: str
    path: Path
    transcript: str


def _find_existing(paths: tuple[Path, ...], what: str) -> Path | None:
    for path in paths:
        if path.exists():
            return path
    logger.debug("no %s in %s", what, [str(p) for p in paths])
    return None


def _read_transcripts(path: Path) -> dict[str, str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    out: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        name, sep, text = line.partition(":")
        if sep and name.strip():
            out[name.strip()] = text.strip()
    return out


PROMPT_SETS: tuple[str, ...] = ("all", "train", "heldout")
HELDOUT_PROMPT_SHARE = 0.15


def prompt_set(name: str, heldout_share: float = HELDOUT_PROMPT_SHARE) -> str:
    """ "heldout" or "train" for a prompt name: a fixed split by a hash of the name (not by any
    random seed), so every corpus, machine and release agrees which real recordings a model may
    have trained on."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") / 2**64 < heldout_share else "train"


def select_prompts(names: list[str], which: str) -> list[str]:
    """The prompts of one set of the split ("all" keeps every name), in the given order."""
    if which not in PROMPT_SETS:
        raise ValueError(f"unknown prompt set {which!r}; valid: {list(PROMPT_SETS)}")
    return list(names) if which == "all" else [n for n in names if prompt_set(n) == which]


class AsteriskPrompts:
    """The Asterisk English prompts with transcripts; ``load(name)`` returns an aligned Utterance.

    Args:
        root: folder of the WAV prompts (default: the first of :data:`DEFAULT_SOUND_DIRS` present).
        transcripts: ``core-sounds-en.txt[.gz]`` (default: :data:`DEFAULT_TRANSCRIPT_FILES`).
        cache_dir: where alignments are cached (default :data:`DEFAULT_CACHE_DIR`); ``False``
            disables the cache.
        sample_rate: rate of the returned audio (prompts are 8 kHz; 16 kHz by default).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        transcripts: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        sample_rate: int = 16000,
    ) -> None:
        root_path = Path(root) if root is not None else _find_existing(DEFAULT_SOUND_DIRS, "prompts")
        text_path = (
            Path(transcripts)
            if transcripts is not None
            else _find_existing(DEFAULT_TRANSCRIPT_FILES, "transcripts")
        )
        if root_path is None or not root_path.is_dir():
            raise FileNotFoundError(
                "Asterisk prompts not found; install the Debian package 'asterisk-core-sounds-en-wav' "
                f"(looked in {[str(p) for p in DEFAULT_SOUND_DIRS]})"
            )
        if text_path is None or not text_path.exists():
            raise FileNotFoundError(
                "Asterisk prompt transcripts not found; install the Debian package "
                f"'asterisk-core-sounds-en' (looked for {[str(p) for p in DEFAULT_TRANSCRIPT_FILES]})"
            )
        self.root = root_path
        self.transcripts_path = text_path
        self.sample_rate = int(sample_rate)
        if cache_dir is False:
            self.cache_dir: Path | None = None
        elif cache_dir is None or cache_dir is True:
            self.cache_dir = DEFAULT_CACHE_DIR.expanduser()
        else:
            self.cache_dir = Path(cache_dir).expanduser()
        self._prompts: dict[str, Prompt] = {}
        for name, text in sorted(_read_transcripts(text_path).items()):
            wav = root_path / f"{name}.wav"
            if wav.exists():
                self._prompts[name] = Prompt(name, wav, text)
        self._decoder = None
        self._lock = threading.Lock()

    # --- listing --------------------------------------------------------------------------------

    def prompts(self) -> list[Prompt]:
        """Every prompt that has both a WAV file and a transcript line."""
        return list(self._prompts.values())

    def names(self, speakable_only: bool = True) -> list[str]:
        """Prompt names; by default only those whose transcript normalises to plain words."""
        if not speakable_only:
            return list(self._prompts)
        return [name for name, p in self._prompts.items() if normalize_transcript(p.transcript)[0]]

    def transcript(self, name: str) -> str:
        return self._prompt(name).transcript

    def __len__(self) -> int:
        return len(self._prompts)

    def __iter__(self) -> Iterator[Utterance]:
        """Aligned utterances of every usable prompt; failures are logged and skipped."""
        for name in self.names():
            try:
                yield self.load(name)
            except ValueError as exc:
                logger.info("skipping Asterisk prompt %s: %s", name, exc)

    def _prompt(self, name: str) -> Prompt:
        try:
            return self._prompts[name]
        except KeyError:
            raise KeyError(f"no Asterisk prompt {name!r} with a transcript") from None

    # --- loading --------------------------------------------------------------------------------

    def load_audio(self, name: str) -> np.ndarray:
        """The prompt's audio as float32 mono at ``self.sample_rate``."""
        import soundfile as sf
        import soxr

        audio, rate = sf.read(self._prompt(name).path, dtype="float32", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        if rate != self.sample_rate:
            audio = soxr.resample(audio, rate, self.sample_rate, quality="HQ")
        return np.ascontiguousarray(audio, dtype=np.float32)

    def load(self, name: str) -> Utterance:
        """Audio at ``self.sample_rate`` with aligned phones; ValueError if it cannot be aligned."""
        prompt = self._prompt(name)
        audio = self.load_audio(name)
        duration = len(audio) / float(self.sample_rate)
        result = self._alignment(prompt, audio)
        if "error" in result:
            raise ValueError(f"prompt {name!r} unusable: {result['error']}")
        phones = _fit_spans(result["phones"], duration)
        words = [(w, max(0.0, s), min(e, duration)) for w, s, e in result["words"]]
        return Utterance(
            audio=audio,
            sample_rate=self.sample_rate,
            phones=phones,
            text=prompt.transcript,
            source="asterisk",
            kind="speech",
            meta={
                "prompt": name,
                "speaker": "en_US_f_Allison",
                "license": "CC-BY-SA-3.0",
                "words": words,
                "aligner": "pocketsphinx",
            },
        )

    # --- alignment and its cache ----------------------------------------------------------------

    def _cache_file(self, prompt: Prompt, words: list[str] | None) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha1()
        digest.update(f"v{ALIGNER_VERSION}|{self.sample_rate}|{' '.join(words or [])}|".encode())
        digest.update(prompt.path.read_bytes())
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", prompt.name)
        return self.cache_dir / f"{safe}-{digest.hexdigest()[:16]}.json"

    def _alignment(self, prompt: Prompt, audio: np.ndarray) -> dict:
        words, reason = normalize_transcript(prompt.transcript)
        cache_file = self._cache_file(prompt, words)
        if cache_file is not None and cache_file.exists():
            try:
                return json.loads(cache_file.read_text())
            except (OSError, ValueError):
                logger.warning("unreadable alignment cache %s; realigning", cache_file)
        if words is None:
            result: dict = {"error": reason}
        else:
            try:
                result = self._align(words, audio)
            except (RuntimeError, ValueError) as exc:
                result = {"error": f"alignment failed: {exc}"}
        if "error" in result:
            logger.info("Asterisk prompt %s: %s", prompt.name, result["error"])
        if cache_file is not None:
            _atomic_write_json(cache_file, result)
        return result

    def _get_decoder(self):  # -> pocketsphinx.Decoder (imported lazily)
        if self._decoder is None:
            try:
                import pocketsphinx
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise RuntimeError(
                    "aligning Asterisk prompts needs the PyPI package 'pocketsphinx' "
                    "(pip install 'avatar-forcing[corpus]')"
                ) from exc
            # bestpath=False: with the default lattice best path the word pass can give a phone fewer
            # frames than its HMM has states and the phone pass then fails ("Alignment failed in
            # frame N"); pocketsphinx's own `align` command turns it off for the same reason.
            decoder = pocketsphinx.Decoder(lm=None, samprate=16000, bestpath=False, loglevel="FATAL")
            for word, phones in EXTRA_PRONUNCIATIONS.items():
                if decoder.lookup_word(word) is None:
                    decoder.add_word(word, phones)
            self._decoder = decoder
        return self._decoder

    def _align(self, words: list[str], audio: np.ndarray) -> dict:
        """Word and phone alignment of ``audio`` (at ``self.sample_rate``) to ``words``.

        Tries the settings of :data:`_ALIGN_ATTEMPTS` in turn and keeps the first alignment that
        passes :func:`_implausibility` (silence at the edges, voiced vowels).
        """
        import soxr

        x = audio if self.sample_rate == 16000 else soxr.resample(audio, self.sample_rate, 16000)
        x = np.asarray(x, dtype=np.float32)
        failures: list[str] = []
        with self._lock:
            decoder = self._get_decoder()
            missing = [w for w in words if decoder.lookup_word(w) is None]
            if missing:
                return {"error": f"words not in the pocketsphinx dictionary: {missing}"}
            for pad_s, noise_dbfs in _ALIGN_ATTEMPTS:
                try:
                    result = self._align_once(decoder, words, x, pad_s, noise_dbfs)
                except RuntimeError as exc:
                    result = {"error": str(exc)}
                if "error" not in result:
                    problem = _implausibility(result["phones"], x, 16000)
                    if not problem:
                        result["attempt"] = [pad_s, noise_dbfs]
                        return result
                    result = {"error": problem}
                failures.append(f"pad {pad_s} s, floor {noise_dbfs} dBFS: {result['error']}")
        return {"error": "no plausible alignment (" + "; ".join(failures) + ")"}

    def _align_once(self, decoder, words: list[str], x: np.ndarray, pad_s: float, noise_dbfs: float) -> dict:
        """One two-pass alignment of 16 kHz ``x``: ``pad_s`` of silence each side, a noise floor."""
        rng = np.random.default_rng(0)
        pad = np.zeros(round(pad_s * 16000), np.float32)
        y = np.concatenate([pad, x, pad])
        # The prompts are 8 kHz recordings: nothing above 4 kHz and digital silence between words;
        # a faint white floor keeps the 16 kHz model's upper filters and silence model sane.
        y = y + rng.normal(0.0, 10.0 ** (noise_dbfs / 20.0), len(y)).astype(np.float32)
        pcm = (np.clip(y, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        # live CMN and noise estimates carry over between utterances (set_cmn does not reset them):
        # reinitialise the front end before each pass so a prompt aligns the same whatever came before
        decoder.reinit_feat()
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            return {"error": "no word alignment"}
        decoder.reinit_feat()
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        if alignment is None:
            return {"error": "no phone alignment"}
        pad_frames = round(pad_s * _FRAME_RATE)

        def seconds(frame: int) -> float:  # from whole frames, so adjacent spans meet exactly
            return (frame - pad_frames) / _FRAME_RATE

        word_spans: list[list] = []
        phone_spans: list[list] = []
        for word in alignment:
            name = re.sub(r"\(\d+\)$", "", word.name)
            if not name.startswith("<"):
                word_spans.append([name, seconds(word.start), seconds(word.start + word.duration)])
            for phone in word:
                try:
                    symbol = normalize_arpabet(phone.name)
                except ValueError:
                    logger.debug("pocketsphinx phone %r kept as silence", phone.name)
                    symbol = SILENCE
                phone_spans.append([symbol, seconds(phone.start), seconds(phone.start + phone.duration)])
        aligned = [w for w, _s, _e in word_spans]
        if aligned != words:
            return {"error": f"aligned words {aligned} differ from the transcript {words}"}
        return {"words": word_spans, "phones": phone_spans}


def _span_rms(x: np.ndarray, rate: int, start: float, end: float) -> float:
    seg = x[max(0, int(start * rate)) : max(0, int(end * rate))]
    return float(np.sqrt(np.mean(np.square(seg, dtype=np.float64)))) if len(seg) else 0.0


def _implausibility(spans: list[list], x: np.ndarray, rate: int) -> str:
    """Why an alignment looks wrong ("" when it looks right).

    Wrong alignments of these prompts put speech inside the leading or trailing silence and vowels on
    silence; both show in the energy: edge silence louder than 0.3 x the mean vowel level, or more
    than a fifth of the vowels quieter than 5 % of the loudest 10 ms frame.
    """
    duration = len(x) / rate
    vowels = [_span_rms(x, rate, s, e) for p, s, e in spans if p in VOWELS and e > s]
    if not vowels:
        return "no vowels aligned"
    edges = [
        _span_rms(x, rate, max(s, 0.0), min(e, duration))
        for p, s, e in (spans[0], spans[-1])
        if p == SILENCE and min(e, duration) - max(s, 0.0) >= 0.02
    ]
    vowel_level = float(np.mean(vowels))
    if edges and float(np.mean(edges)) > 0.3 * vowel_level:
        return f"edge silence at {np.mean(edges) / vowel_level:.2f} x the vowel level"
    n_frames = len(x) // (rate // 100)
    frames = x[: n_frames * (rate // 100)].reshape(n_frames, -1) if n_frames else x[None, :]
    peak = float(np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)).max())
    quiet = sum(v < 0.05 * peak for v in vowels)
    if quiet > 0.2 * len(vowels):
        return f"{quiet} of {len(vowels)} vowels on near-silence"
    return ""


def _fit_spans(spans: list[list], duration: float) -> list[PhoneSegment]:
    """Clip spans to [0, duration], make them contiguous, SIL at the edges, SIL runs merged."""
    out: list[list] = []
    cursor = 0.0
    for phone, start, end in spans:
        start, end = min(max(start, cursor), duration), min(max(end, cursor), duration)
        if start - cursor < 1e-6:
            start = cursor
        if start > cursor:  # a gap: silence
            out.append([SILENCE, cursor, start])
        if end > start:
            out.append([phone, start, end])
        cursor = max(cursor, end)
    if cursor < duration:
        out.append([SILENCE, cursor, duration])
    merged: list[list] = []
    for span in out:
        if merged and merged[-1][0] == SILENCE and span[0] == SILENCE:
            merged[-1][2] = span[2]
        else:
            merged.append(span)
    return [PhoneSegment(p, a, b) for p, a, b in merged]


def _atomic_write_json(path: Path, payload: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not write alignment cache %s: %s", path, exc)
