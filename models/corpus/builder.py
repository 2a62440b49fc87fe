"""`avatar-forcing corpus`: many simulated two-person conversations, written to a folder.

Per conversation (deterministic by (seed, index)): each person gets a voice from one engine
(espeak-ng variants, flite voices, or real human speech: aligned asterisk prompts), a consistent
per-speaker pitch/rate change, per-utterance gain; the simulator plans the conversation and
builds both people's motion; then each track passes through a random channel (noise, reverb,
telephone band, a little of the partner's voice bleeding into the microphone). Motion is never
touched by the channel: the model must learn to ignore it.

The folder gets conv_00000.npz ... and corpus.json (the config and each conversation's voices).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import augment
from .conversation import ProceduralVoice, SpeechSource, simulate_conversation
from .human import PROMPT_SETS
from .utterance import Utterance

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("espeak", "flite", "asterisk", "procedural")


@dataclass(frozen=True)
class CorpusConfig:
    conversations: int = 100
    duration_s: float = 60.0
    seed: int = 0
    engines: tuple[str, ...] = ("espeak", "flite", "asterisk")
    engine_weights: tuple[float, ...] | None = None  # default: espeak 0.5, the rest share 0.5
    voice_strength: float = 0.6  # per-speaker pitch/rate change, 0..1
    channel_strength: float = 0.5  # per-track noise/reverb/telephone, 0..1
    bleed_probability: float = 0.2  # partner's voice leaking into a microphone
    # share of tracks through the telephone channel (8 kHz, clipping, mu-law, 300-3400 Hz);
    # None = 0.25 * channel_strength. The channel draws from its own random stream, so a corpus
    # seed gives the same speech and motion whatever the share.
    telephone_probability: float | None = None
    # per-speaker vocal-tract length: formants scaled by a factor log-uniform within
    # 1 +/- formant_shift, pitch kept (0: off). Drawn from its own random stream like the line.
    formant_shift: float = 0.0
    # which real recordings the asterisk engine draws from: "all", or one side of the fixed split
    # by prompt name (models.corpus.human.prompt_set, 15 % "heldout"): train a model on "train"
    # and test it on "heldout" to measure it on human speech it has never heard
    human_prompts: str = "all"

    def __post_init__(self) -> None:
        if self.human_prompts not in PROMPT_SETS:
            raise ValueError(f"human_prompts must be one of {list(PROMPT_SETS)} (got {self.human_prompts!r})")
        bad = sorted(set(self.engines) - set(ENGINES))
        if bad or not self.engines:
            raise ValueError(f"unknown engine(s) {bad}; valid: {list(ENGINES)}")
        if self.engine_weights is not None and len(self.engine_weights) != len(self.engines):
            raise ValueError("engine_weights needs one weight per engine")
        for name in ("voice_strength", "channel_strength", "bleed_probability", "telephone_probability"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (got {value})")
        if not 0.0 <= self.formant_shift <= 0.5:
            raise ValueError(f"formant_shift must be in [0, 0.5] (got {self.formant_shift})")

    def telephone_share(self) -> float:
        """The probability that a track goes through the telephone channel."""
        if self.telephone_probability is not None:
            return self.telephone_probability
        return 0.25 * self.channel_strength

    def weights(self) -> np.ndarray:
        if self.engine_weights is not None:
            w = np.asarray(self.engine_weights, np.float64)
        else:
            w = np.array(
                [0.5 if e == "espeak" else 0.5 / max(1, len(self.engines) - 1) for e in self.engines]
            )
            if "espeak" not in self.engines:
                w = np.ones(len(self.engines))
        return w / w.sum()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SpeakerVoice:
    """A speech source with one consistent pitch/rate change, optionally a vocal-tract (formant)
    change of its own, and small per-utterance gain changes."""

    def __init__(
        self, source: SpeechSource, rng: np.random.Generator, strength: float, formant: float = 1.0
    ) -> None:
        self.source = source
        self.rng = rng
        self.semitones = float(rng.uniform(-3.0, 3.0) * strength) if rng.random() < 0.7 else 0.0
        self.rate = float(np.exp(rng.uniform(-0.15, 0.15) * strength)) if rng.random() < 0.7 else 1.0
        self.formant = float(formant)  # formant frequencies x this; 1 = unchanged

    def synthesize(self, text: str, kind: str = "speech") -> Utterance:
        utt = augment.resample_utterance(self.source.synthesize(text, kind), 16000)
        if self.semitones:
            utt = augment.pitch_shift(utt, self.rng, semitones=self.semitones)
        if self.rate != 1.0:
            utt = augment.change_rate(utt, self.rng, rate=self.rate)
        if self.formant != 1.0:
            utt = augment.formant_shift(utt, self.rng, factor=self.formant)
        return augment.apply_gain(utt, self.rng, max_db=2.0)

    def describe(self) -> dict[str, Any]:
        return {
            "voice": _describe(self.source),
            "semitones": round(self.semitones, 2),
            "rate": round(self.rate, 3),
            "formant": round(self.formant, 3),
        }


class HumanSpeech:
    """Real recorded speech (aligned asterisk prompts): a random prompt per request; text is ignored."""

    def __init__(self, rng: np.random.Generator, prompts: str = "all") -> None:
        from .human import AsteriskPrompts, select_prompts

        self.prompts = AsteriskPrompts()
        self.names = select_prompts(self.prompts.names(), prompts)
        if not self.names:
            raise RuntimeError("no asterisk prompts found: run scripts/install-system-deps.sh")
        self.short = [n for n in self.names if len(self.prompts.transcript(n).split()) <= 2]
        self.rng = rng

    def synthesize(self, text: str, kind: str = "speech") -> Utterance:
        pool = self.short if kind == "backchannel" and self.short else self.names
        for _ in range(5):
            try:
                utt = self.prompts.load(str(self.rng.choice(pool)))
                return dataclasses.replace(utt, kind=kind)
            except (ValueError, RuntimeError) as e:  # an unalignable prompt: try another
                log.debug("asterisk prompt skipped: %s", e)
        raise RuntimeError("asterisk prompts failed to align five times in a row")


def _describe(source: object) -> str:
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return f"{type(source).__name__}:{name}"
    return type(source).__name__


def make_source(engine: str, rng: np.random.Generator, human_prompts: str = "all") -> SpeechSource:
    """A random voice of one engine (`human_prompts`: the asterisk engine's prompt set)."""
    if engine == "espeak":
        from .tts_espeak import make_voices

        return make_voices(1, seed=int(rng.integers(2**31)))[0]
    if engine == "flite":
        from .tts_flite import FliteVoice, text_voices

        voices = text_voices()
        name = str(rng.choice(voices))
        f0 = float(rng.uniform(90, 220)) if name.startswith("kal") else None
        return FliteVoice(name, duration_stretch=float(rng.uniform(0.85, 1.2)), f0_mean=f0)
    if engine == "asterisk":
        return HumanSpeech(rng, human_prompts)
    if engine == "procedural":
        return ProceduralVoice(
            float(rng.uniform(90, 240)), float(rng.uniform(0.85, 1.15)), seed=int(rng.integers(2**31))
        )
    raise ValueError(f"unknown engine {engine!r}; valid: {list(ENGINES)}")


def _channel(
    audio: np.ndarray, partner: np.ndarray, rng: np.random.Generator, config: CorpusConfig
) -> tuple[np.ndarray, list[str]]:
    """Room, microphone and line effects on one finished track (timing unchanged)."""
    applied: list[str] = []
    s = config.channel_strength
    x = audio.astype(np.float32)
    if rng.random() < config.bleed_probability:
        x = x + partner.astype(np.float32) * np.float32(10 ** (rng.uniform(-32, -20) / 20))
        applied.append("bleed")
    utt = Utterance(x, 16000, [], "", "track")
    if s > 0 and rng.random() < 0.5 * s:
        utt = augment.add_reverb(utt, rng, rt60_range=(0.1, 0.1 + 0.6 * s))
        applied.append("reverb")
    if (s > 0 or config.telephone_probability is not None) and rng.random() < config.telephone_share():
        utt = augment.telephone(utt, rng)
        applied.append("telephone")
    if s > 0 and rng.random() < 0.6 * s:
        # noise relative to the whole track's level (no phones here): 15..45 dB below it
        level = float(np.sqrt(np.mean(utt.audio.astype(np.float64) ** 2)) + 1e-9)
        kind = str(rng.choice(["white", "pink", "brown"]))
        noise = {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]
        n = augment._colored_noise(len(utt.audio), rng, noise)
        n = n / (np.sqrt(np.mean(n**2)) + 1e-12) * level * 10 ** (-rng.uniform(15, 45) / 20)
        utt = dataclasses.replace(utt, audio=(utt.audio + n).astype(np.float32))
        applied.append(f"noise:{kind}")
    return np.clip(utt.audio, -1.0, 1.0).astype(np.float32), applied


def build_one(index: int, config: CorpusConfig, out_dir: Path) -> dict[str, Any]:
    rng = np.random.default_rng([config.seed, index])
    r_src, r_voice, r_sim, r_chan, r_formant = rng.spawn(5)  # a new stream leaves the others as they were
    engines = list(config.engines)
    picks = [str(r_src.choice(engines, p=config.weights())) for _ in range(2)]
    voices = [
        SpeakerVoice(
            make_source(e, r_src, config.human_prompts),
            r_voice,
            config.voice_strength,
            formant=augment.formant_factor(r_formant, config.formant_shift),
        )
        for e in picks
    ]
    conv = simulate_conversation(r_sim, voices[0], voices[1], config.duration_s)
    effects = {}
    raw = {who: conv.tracks[who].audio for who in ("avatar", "user")}
    for who, other in (("avatar", "user"), ("user", "avatar")):
        conv.tracks[who].audio, effects[who] = _channel(raw[who], raw[other], r_chan, config)
    conv.meta.update(
        {
            "index": index,
            "corpus_seed": config.seed,
            "voices": [v.describe() for v in voices],
            "channel": effects,
        }
    )
    path = conv.save(out_dir / f"conv_{index:05d}.npz")
    return {"file": path.name, "engines": picks, "voices": [v.describe() for v in voices], "channel": effects}


def build_corpus(
    out_dir: str | Path, config: CorpusConfig, workers: int = 1, progress: bool = True, start: int = 0
) -> list[Path]:
    """Write conversations start .. config.conversations - 1 (existing files are kept: resumable)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(start, config.conversations) if not (out / f"conv_{i:05d}.npz").exists()]
    entries: list[dict[str, Any]] = []
    bar = tqdm(total=len(todo), desc="corpus", unit="conv", disable=not progress)
    if workers <= 1:
        for i in todo:
            entries.append(build_one(i, config, out))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for entry in pool.map(build_one, todo, [config] * len(todo), [out] * len(todo)):
                entries.append(entry)
                bar.update(1)
    bar.close()
    index_path = out / "corpus.json"
    old = json.loads(index_path.read_text()).get("conversations", []) if index_path.exists() else []
    known = {e["file"]: e for e in old}
    known.update({e["file"]: e for e in entries})
    index_path.write_text(
        json.dumps({"config": config.to_dict(), "conversations": [known[k] for k in sorted(known)]}, indent=1)
    )
    return sorted(out.glob("conv_*.npz"))


def engines_available(wanted: Sequence[str]) -> list[str]:
    """The engines of `wanted` that can run on this machine (missing ones are logged)."""
    ok = []
    for e in wanted:
        try:
            make_source(e, np.random.default_rng(0)).synthesize("hello there", "speech")
            ok.append(e)
        except Exception as err:
            log.warning("speech engine %s unavailable: %s", e, err)
    return ok
