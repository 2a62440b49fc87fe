"""Recording conditions of held-out conversations, and scores pooled by condition.

A corpus conversation's metadata says how its avatar track was made: the speech engine of the
voice (`voices[0]`, the avatar's) and the channel effects on its microphone (`channel.avatar`:
bleed of the partner's voice, reverb, telephone line, noise). An average over a dozen held-out
conversations hides where a model fails (one telephone call with the partner in the microphone
weighs as much as three clean ones); the report therefore also gives lip sync per condition.

Tags: ``voice:<engine>`` (espeak, flite, human, procedural, or the class name for other sources)
and ``channel:<effect>`` for each effect on the avatar's track, ``channel:clean`` for none.
Conversations without that metadata (recordings a user brings) carry no tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# class names of the corpus's speech sources (models.corpus.builder.make_source) -> engine tags
VOICE_ENGINES = {
    "EspeakVoice": "espeak",
    "FliteVoice": "flite",
    "HumanSpeech": "human",
    "ProceduralVoice": "procedural",
}


def recording_conditions(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Condition tags of a conversation's avatar track from its metadata (empty if unknown)."""
    tags: list[str] = []
    voices = meta.get("voices")
    if isinstance(voices, Sequence) and voices and isinstance(voices[0], Mapping):
        source = str(voices[0].get("voice", "")).split(":", 1)[0]
        if source:
            tags.append("voice:" + VOICE_ENGINES.get(source, source))
    channel = meta.get("channel")
    if isinstance(channel, Mapping) and "avatar" in channel:
        # "noise:pink" -> "noise": the colour matters less than the line
        effects = sorted({str(e).split(":", 1)[0] for e in channel["avatar"]})
        tags += [f"channel:{e}" for e in effects] or ["channel:clean"]
    return tuple(tags)


def pool_by_condition(
    items: Iterable[tuple[Sequence[str], np.ndarray]],
) -> dict[str, dict[str, float]]:
    """Per-utterance scores of each conversation, (tags, (U,) scores), pooled per tag:
    {tag: {"mean": mean over the tag's utterances, "utterances": their count}}; tag "all" pools
    every utterance. Tags are sorted; a tag with no utterance is left out."""
    pooled: dict[str, list[np.ndarray]] = {"all": []}
    for tags, scores in items:
        values = np.asarray(scores, np.float64).ravel()
        for tag in ("all", *tags):
            pooled.setdefault(tag, []).append(values)
    out = {}
    for tag in ["all", *sorted(t for t in pooled if t != "all")]:
        values = np.concatenate(pooled[tag]) if pooled[tag] else np.zeros(0)
        if len(values):
            out[tag] = {"mean": float(values.mean()), "utterances": float(len(values))}
    return out


def average_conditions(runs: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The mean of each tag's score over runs with different sampling seeds (same conversations,
    so the same utterances per tag)."""
    if not runs:
        raise ValueError("no runs to average")
    out = {}
    for tag in runs[0]:
        means = [r[tag]["mean"] for r in runs if tag in r]
        out[tag] = {"mean": float(np.mean(means)), "utterances": runs[0][tag]["utterances"]}
    return out
