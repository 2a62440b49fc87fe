"""Evaluate models on held-out conversations and write a report (Markdown + JSON + plots).

Each model animates the avatar side of every conversation from the avatar's audio, the user's
audio and the user's motion, through the same streaming path as the server (`models.stream`).
The generated motion is scored against the conversation's own (held-out) avatar motion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.bundle import AvatarForcingModel
from models.corpus.conversation import Conversation
from models.corpus.phones import BILABIALS, OPEN_VOWELS, PhoneSegment
from models.evaluation import metrics as M
from models.evaluation.conditions import pool_by_condition, recording_conditions
from models.generator.config import SamplerConfig
from models.stream import Recording, animate_many

log = logging.getLogger(__name__)

VOCAL = ("speech", "backchannel", "laugh")


@dataclass
class Scored:
    """One conversation's avatar side: generated and ground-truth motion and what is needed to score them."""

    name: str
    generated: np.ndarray  # (T, 58)
    truth: np.ndarray  # (T, 58)
    user: np.ndarray  # (T, 58)
    phones: list[PhoneSegment]
    avatar_vocal: list[tuple[float, float]]  # (start, end) s of the avatar's speech/backchannel/laugh
    user_vocal: list[tuple[float, float]]
    user_expressive: list[float]  # onsets (s) of the user's smiles and laughs
    fps: float = 25.0
    # how the avatar's track was recorded, e.g. ("voice:espeak", "channel:telephone"); empty for
    # conversations that do not say (models.evaluation.conditions.recording_conditions)
    conditions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def frame_mask(spans: Sequence[tuple[float, float]], frames: int, fps: float, pad: float = 0.0) -> np.ndarray:
    """(T,) True for frames whose centre lies inside any span widened by `pad` seconds."""
    centres = (np.arange(frames) + 0.5) / fps
    mask = np.zeros(frames, bool)
    for s, e in spans:
        mask |= (centres >= s - pad) & (centres < e + pad)
    return mask


def open_vowel_frames(
    phones: Sequence[PhoneSegment], frames: int, fps: float, shift_s: float = 0.0
) -> np.ndarray:
    """(T,) True for frames whose centre lies in an open vowel, phone times moved by `shift_s`."""
    return frame_mask(
        [(p.start + shift_s, p.end + shift_s) for p in phones if p.phone in OPEN_VOWELS], frames, fps
    )


def _utterance_aucs(
    openness: np.ndarray,
    vowels: np.ndarray,
    closures: np.ndarray,
    utterances: Sequence[tuple[float, float]],
    fps: float,
) -> np.ndarray:
    """(U,) AUC of `openness` (T,) on `vowels` against `closures` (T,) frames within each utterance."""
    aucs = []
    for s, e in utterances:
        inside = frame_mask([(s, e)], len(openness), fps)
        pos, neg = openness[inside & vowels], openness[inside & closures & ~vowels]
        if len(pos) >= 2 and len(neg) >= 1:
            aucs.append(M.roc_auc(pos, neg))
    return np.asarray(aucs, np.float64)


def _closure_frames(phones: Sequence[PhoneSegment], frames: int, fps: float) -> np.ndarray:
    return frame_mask([(p.start, p.end) for p in phones if p.phone in BILABIALS], frames, fps)


def utterance_lip_aucs(
    motion: np.ndarray, phones: Sequence[PhoneSegment], utterances: Sequence[tuple[float, float]], fps: float
) -> np.ndarray:
    """(U,) ROC AUC of mouth openness, open-vowel frames vs p/b/m frames, of each utterance that
    has at least two open-vowel frames and one closure frame (the others are left out)."""
    t = len(motion)
    return _utterance_aucs(
        M.mouth_openness(motion),
        open_vowel_frames(phones, t, fps),
        _closure_frames(phones, t, fps),
        utterances,
        fps,
    )


def lip_sync(
    motion: np.ndarray, phones: Sequence[PhoneSegment], utterances: Sequence[tuple[float, float]], fps: float
) -> dict[str, float]:
    """Per-utterance ROC AUC of mouth openness, open vowels vs p/b/m frames; closure in silence."""
    openness = M.mouth_openness(motion)
    t = len(motion)
    vowels = open_vowel_frames(phones, t, fps)
    aucs = _utterance_aucs(openness, vowels, _closure_frames(phones, t, fps), utterances, fps)
    silent = ~frame_mask(utterances, t, fps, pad=0.25)
    spoken_vowels = vowels & frame_mask(utterances, t, fps)
    return {
        "lip_auc": float(np.mean(aucs)) if len(aucs) else float("nan"),
        "lip_auc_utterances": float(len(aucs)),
        # AUC only ranks frames: a mouth that barely opens can still rank them well
        "vowel_openness_mean": float(openness[spoken_vowels].mean()) if spoken_vowels.any() else float("nan"),
        "silence_closed": M.silence_closure(openness, silent),
        "silence_openness_p95": float(np.percentile(openness[silent], 95)) if silent.any() else float("nan"),
    }


def reactiveness(s: Scored, motion: np.ndarray) -> dict[str, float]:
    fps, t = s.fps, len(motion)
    avatar_busy = frame_mask(s.avatar_vocal, t, fps, pad=0.5)
    stimuli = [o for o in s.user_expressive if int(o * fps) < t and not avatar_busy[min(t - 1, int(o * fps))]]
    delays = M.reaction_delays(
        np.array([int(o * fps) for o in stimuli], int), M.smile(motion), int(fps), rise=0.08
    )
    user_talk = frame_mask(s.user_vocal, t, fps)
    after_user = frame_mask([(e, e + 2.0) for _, e in s.user_vocal], t, fps)
    pauses = after_user & ~user_talk & ~frame_mask(s.avatar_vocal, t, fps)
    nods = M.nod_times(motion[:, M.PITCH], int(fps))
    minutes = pauses.sum() / fps / 60.0
    return {
        "rpcc_smile": M.rpcc(M.smile(s.user), M.smile(motion), M.smile(s.truth)),
        "rpcc_pitch": M.rpcc(s.user[:, M.PITCH], motion[:, M.PITCH], s.truth[:, M.PITCH]),
        "reaction_stimuli": float(len(delays)),
        "reaction_within_0_5s": float(np.mean(np.nan_to_num(delays, nan=9.0) <= 0.5))
        if len(delays)
        else float("nan"),
        "reaction_within_1s": float(np.mean(np.nan_to_num(delays, nan=9.0) <= 1.0))
        if len(delays)
        else float("nan"),
        "reaction_median_s": float(np.nanmedian(delays)) if np.isfinite(delays).any() else float("nan"),
        "nods_per_min_in_partner_pauses": float(np.isin(nods, np.flatnonzero(pauses)).sum() / minutes)
        if minutes > 0
        else float("nan"),
    }


def score(s: Scored, motion: np.ndarray) -> dict[str, float]:
    return {
        **lip_sync(motion, s.phones, s.avatar_vocal, s.fps),
        **reactiveness(s, motion),
        "var": M.temporal_variance(motion),
    }


def load_heldout(path: Path) -> Conversation:
    return Conversation.load(path)


def run_model(
    model: AvatarForcingModel,
    files: Sequence[Path],
    sampler: SamplerConfig | None = None,
    seed: int = 0,
    progress: bool = True,
    label: str = "model",
    max_batch: int | None = 16,
) -> list[Scored]:
    """Animate the avatar side of every conversation (their streams batched, at most `max_batch`
    at a time: the same motion as one by one, faster) and pair it with what scoring needs.
    Conversations are loaded a batch at a time; only their motion and labels are kept."""
    out = []
    step = max_batch or max(1, len(files))
    with tqdm(total=len(files), desc=f"animate {label}", unit="conv", disable=not progress) as bar:
        for start in range(0, len(files), step):
            names = files[start : start + step]
            convs = [Conversation.load(f) for f in names]
            recordings = [
                Recording(c.avatar.audio, c.sample_rate, c.user.audio, c.sample_rate, c.user.motion)
                for c in convs
            ]

            def tick(done: int, total: int, size: int = len(names)) -> None:
                bar.update(size / total)

            generated = animate_many(model, recordings, sampler, seed, on_chunk=tick, max_batch=max_batch)
            for f, conv, gen in zip(names, convs, generated, strict=True):
                a, u = conv.avatar, conv.user
                t = min(len(gen), len(a.motion))
                out.append(
                    Scored(
                        name=Path(f).stem,
                        generated=gen[:t],
                        truth=a.motion[:t],
                        user=u.motion[:t],
                        phones=a.phones,
                        avatar_vocal=[(e.start, e.end) for e in a.events if e.kind in VOCAL],
                        user_vocal=[(e.start, e.end) for e in u.events if e.kind in VOCAL],
                        user_expressive=[e.start for e in u.events if e.kind in ("smile", "laugh")],
                        fps=conv.fps,
                        conditions=recording_conditions(conv.meta),
                    )
                )
    return out


def probes(
    model: AvatarForcingModel,
    conversation: Path,
    seed: int = 0,
    idle_s: float = 60.0,  # blinks come a few every 20 s: a minute keeps the rate from jumping
    sampler: SamplerConfig | None = None,
) -> dict[str, float]:
    """Behaviour on constructed inputs: a silent avatar while the user talks (lips must stay still),
    and `idle_s` seconds of nobody talking with a still user (calm but alive: blinks, small head
    motion)."""
    conv = Conversation.load(conversation)
    rate = conv.sample_rate
    silent = np.zeros_like(conv.avatar.audio)
    n = int(idle_s * rate)
    talk, idle = animate_many(
        model,
        [
            Recording(silent, rate, conv.user.audio, rate, conv.user.motion),
            Recording(np.zeros(n, np.float32), rate, np.zeros(n, np.float32), rate, None),
        ],
        sampler,
        seed,
    )
    blink = idle[:, M.INDEX["EyeBlinkLeft"]]
    minutes = len(idle) / conv.fps / 60.0
    return {
        "silent_avatar_openness_max": float(M.mouth_openness(talk).max()),
        "silent_avatar_openness_p95": float(np.percentile(M.mouth_openness(talk), 95)),
        "idle_blinks_per_min": float(len(M.onsets(blink, 0.5, min_gap=3)) / minutes),
        "idle_head_std_deg": float(idle[:, 52:55].std(axis=0).mean()),
        "idle_openness_max": float(M.mouth_openness(idle).max()),
    }


def cold_starts(
    model: AvatarForcingModel,
    files: Sequence[Path],
    sampler: SamplerConfig | None = None,
    seed: int = 0,
    lead_s: float = 1.0,
    per_conversation: int = 4,
    noise_dbfs: float = -50.0,
) -> dict[str, float]:
    """How wide the mouth opens when speech comes right after a stream starts.

    For up to `per_conversation` avatar utterances per file, a fresh stream starts `lead_s` before
    the utterance (the conversation's own audio and user motion from there on), once as recorded
    and once with white noise of RMS level `noise_dbfs` added to the avatar's audio. Returns the
    mean openness on the utterances' open vowels, generated over true (1 = as wide as the data),
    pooled over all of them (NaN without any): `cold_start_openness_ratio` and
    `noisy_start_openness_ratio`. A model that infers its speaker's articulation from its own
    history can lock into a barely-moving mouth from its first syllables, and a noise floor louder
    than the training corpus held (v2: -80..-60 dBFS) can trigger it; lip AUC, which only ranks
    frames, does not show it.
    """
    rng = np.random.default_rng(seed)
    recordings: list[Recording] = []
    # per utterance: the avatar's motion and phones, its first and end frame, start and end (s), fps
    places: list[tuple[np.ndarray, Sequence[PhoneSegment], int, int, float, float, float]] = []
    for f in files:
        conv = Conversation.load(f)
        a, u, rate, fps = conv.avatar, conv.user, conv.sample_rate, conv.fps
        spans = sorted((e.start, e.end) for e in a.events if e.kind in VOCAL and e.start >= lead_s)
        for start, end in spans[:per_conversation]:
            f0, f1 = round((start - lead_s) * fps), round(end * fps)
            i0, i1 = int(f0 * rate / fps), int(f1 * rate / fps)
            audio = a.audio[i0:i1]
            noise = rng.normal(0.0, 10 ** (noise_dbfs / 20), len(audio)).astype(audio.dtype)
            for x in (audio, audio + noise):
                recordings.append(Recording(x, rate, u.audio[i0:i1], rate, u.motion[f0:f1]))
            places.append((a.motion, a.phones, f0, f1, start, end, fps))
    runs = animate_many(model, recordings, sampler, seed)
    clean: list[np.ndarray] = []
    noisy: list[np.ndarray] = []
    truth: list[np.ndarray] = []
    for k, (motion, ph, f0, f1, start, end, fps) in enumerate(places):
        pair = runs[2 * k : 2 * k + 2]
        t = min(f1 - f0, *(len(g) for g in pair))
        lo = f0 / fps  # seconds at the stream's first frame
        mask = open_vowel_frames(ph, t, fps, shift_s=-lo) & frame_mask([(start - lo, end - lo)], t, fps)
        clean.append(M.mouth_openness(pair[0][:t])[mask])
        noisy.append(M.mouth_openness(pair[1][:t])[mask])
        truth.append(M.mouth_openness(motion[f0 : f0 + t])[mask])
    true_mean = float(np.concatenate(truth).mean()) if truth and sum(map(len, truth)) else 0.0

    def ratio(parts: list[np.ndarray]) -> float:
        return float(np.concatenate(parts).mean() / true_mean) if true_mean > 0 else float("nan")

    return {"cold_start_openness_ratio": ratio(clean), "noisy_start_openness_ratio": ratio(noisy)}


def summarize(results: Sequence[Scored], which: str) -> dict[str, float]:
    """Average per-conversation scores; pooled richness (SID) and Fréchet distance to the truth."""
    motions = [r.generated if which == "generated" else r.truth for r in results]
    rows = [score(r, m) for r, m in zip(results, motions, strict=True)]
    summary: dict[str, float] = {}
    for key in rows[0]:
        vals = np.array([row[key] for row in rows], np.float64)
        if key.endswith(("_stimuli", "_utterances")):
            summary[key] = float(np.nansum(vals))
        else:
            summary[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    pooled = np.concatenate(motions)
    summary["sid"] = M.sid(pooled, k=40)
    truth_windows = np.concatenate([M.motion_windows(r.truth) for r in results])
    summary["fd"] = M.frechet_distance(np.concatenate([M.motion_windows(m) for m in motions]), truth_windows)
    return summary


def lip_auc_by_condition(results: Sequence[Scored], which: str) -> dict[str, dict[str, float]]:
    """Per-utterance lip AUC pooled by recording condition (`conditions.pool_by_condition`):
    {"all" or a tag: {"mean", "utterances"}}. "all" is the plain mean over every utterance (the
    summary's `lip_auc` averages conversations instead)."""
    return pool_by_condition(
        (
            r.conditions,
            utterance_lip_aucs(
                r.generated if which == "generated" else r.truth, r.phones, r.avatar_vocal, r.fps
            ),
        )
        for r in results
    )


def average_seeds(summaries: Sequence[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over runs with different sampling seeds (the same conversations),
    plus the spread of lip AUC between seeds (`lip_auc_seed_sd`, 0 for one run): one sampling
    seed moves the per-utterance mean by about 0.01 on 12 conversations."""
    if not summaries:
        raise ValueError("no summaries to average")
    out: dict[str, float] = {}
    for key in summaries[0]:
        vals = np.array([s[key] for s in summaries], np.float64)
        out[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    lips = np.array([s.get("lip_auc", float("nan")) for s in summaries], np.float64)
    out["lip_auc_seed_sd"] = float(np.nanstd(lips, ddof=1)) if np.isfinite(lips).sum() > 1 else 0.0
    out["seeds"] = float(len(summaries))
    return out


METRIC_DOCS: dict[str, str] = {
    "lip_auc": "lip sync: ROC AUC of mouth openness, open vowels vs p/b/m, per utterance (higher = better)",
    "lip_auc_seed_sd": "standard deviation of lip AUC between sampling seeds (`evaluate --seeds`)",
    "silence_closed": "fraction of the avatar's silent frames with the mouth closed (openness < 0.08)",
    "silence_openness_p95": "95th percentile of mouth openness in the avatar's silences",
    "vowel_openness_mean": "mean mouth openness on the avatar's open vowels (how wide it opens)",
    "cold_start_openness_ratio": (
        "open-vowel openness of utterances 1 s after a fresh stream starts, over the data's (1 = as wide)"
    ),
    "noisy_start_openness_ratio": "the same with white noise at -50 dBFS added to the avatar's audio",
    "rpcc_smile": "rPCC on smile: |PCC(user, generated) - PCC(user, truth)| (lower is better)",
    "rpcc_pitch": "rPCC on head pitch (lower is better)",
    "reaction_within_0_5s": (
        "fraction of user smiles/laughs (avatar silent) answered by an avatar smile within 0.5 s"
    ),
    "reaction_within_1s": "same, within 1 s",
    "reaction_median_s": "median reaction delay to a user smile/laugh (s)",
    "nods_per_min_in_partner_pauses": "avatar nods per minute in the 2 s after the user stops talking",
    "listening_smile_gain": (
        "teacher-forced: predicted avatar smile 0.2-1 s after the user's smiles/laughs (avatar "
        "silent), real user motion minus the user frozen before the onset (~0: ignores the user's "
        "face; ground-truth column: the data's own rise; models/evaluation/listening.py)"
    ),
    "listening_onsets": "onsets the listening probe used",
    "var": "Var: temporal variance of the motion (richness)",
    "sid": "SID: entropy of k-means (k=40) cluster use (richness)",
    "fd": "Fréchet distance of 1-s motion windows to the held-out truth (lower is better)",
    "silent_avatar_openness_max": "probe: silent avatar, the user talks: largest mouth openness (want ~0)",
    "silent_avatar_openness_p95": "probe: same, 95th percentile",
    "idle_blinks_per_min": "probe: nobody talks, user still: blinks per minute (alive: ~8-30)",
    "idle_head_std_deg": "probe: same, head rotation std in degrees (calm but not frozen)",
    "idle_openness_max": "probe: same, largest mouth openness (want ~0)",
}


def write_report(
    out_dir: str | Path,
    columns: dict[str, dict[str, float]],
    examples: dict[str, Scored] | None = None,
    info: dict[str, Any] | None = None,
    conditions: dict[str, dict[str, dict[str, float]]] | None = None,
) -> Path:
    """Write report.md, report.json and plots into out_dir. columns: {label: summary};
    conditions: {label: lip_auc_by_condition(...)} for the table of lip sync per recording
    condition (left out when None or when the conversations carry no conditions)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"info": info or {}, "results": columns}
    if conditions:
        doc["lip_auc_by_condition"] = conditions
    (out / "report.json").write_text(json.dumps(doc, indent=2))
    labels = list(columns)
    lines = ["# Evaluation report", ""]
    for k, v in (info or {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "| metric | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for key in METRIC_DOCS:
        cells = [f"{columns[c].get(key, float('nan')):.3f}" for c in labels]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += _condition_table(conditions or {})
    lines += ["", "Metrics:", ""] + [f"- `{k}`: {d}" for k, d in METRIC_DOCS.items()]
    plots = _plots(out, examples or {})
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _condition_table(conditions: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Markdown lines: lip AUC per recording condition (rows) and model (columns)."""
    labels = list(conditions)
    tags = list(dict.fromkeys(t for c in conditions.values() for t in c))
    if len(tags) <= 1:  # only "all": the conversations say nothing about their recording
        return []
    lines = [
        "",
        "## Lip sync by recording condition",
        "",
        "Lip AUC per utterance, pooled over the utterances of the avatar tracks with that voice engine"
        " or channel effect (a track may have several effects).",
        "",
        "| condition | utterances | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for tag in tags:
        count = next(int(c[tag]["utterances"]) for c in conditions.values() if tag in c)
        cells = [f"{c[tag]['mean']:.3f}" if tag in c else "-" for c in conditions.values()]
        lines.append(f"| {tag} | {count} | " + " | ".join(cells) + " |")
    return lines


def _plots(out: Path, examples: dict[str, Scored]) -> list[Path]:
    if not examples:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: the report has no plots (pip install matplotlib)")
        return []
    first = next(iter(examples.values()))
    t = np.arange(len(first.truth)) / first.fps
    fig, axes = plt.subplots(3, 1, figsize=(12, 7), sharex=True)
    axes[0].plot(t, M.mouth_openness(first.truth), label="truth", lw=1)
    axes[1].plot(t, M.smile(first.user), label="user", lw=1, color="gray")
    axes[1].plot(t, M.smile(first.truth), label="truth", lw=1)
    axes[2].plot(t, first.truth[:, M.PITCH], label="truth", lw=1)
    for label, s in examples.items():
        axes[0].plot(t, M.mouth_openness(s.generated), label=label, lw=1)
        axes[1].plot(t, M.smile(s.generated), label=label, lw=1)
        axes[2].plot(t, s.generated[:, M.PITCH], label=label, lw=1)
    for ax, title in zip(axes, ("mouth openness (avatar)", "smile", "head pitch (deg)"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    for s, e in first.avatar_vocal:
        axes[0].axvspan(s, e, color="orange", alpha=0.1)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    path = out / f"traces_{first.name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]
