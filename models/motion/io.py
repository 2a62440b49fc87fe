"""Reading and writing ARKit motion tracks as CSV and JSON.

CSV: a header `frame,time,<channel names>` then one row per frame. JSON:
`{"fps": 25, "names": [...], "frames": [[...58 values...], ...]}`. On input, channel names may be in
any of the three spellings, `frame`/`time` columns are optional, missing channels are neutral (0).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .arkit import CHANNELS, ArkitSpace, Spelling, canonical_name, spell

MOTION_FORMATS: tuple[str, ...] = ("csv", "json")


def motion_format(path: str | Path) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in MOTION_FORMATS:
        raise ValueError(f"unknown motion file type {ext!r} for {path}; valid: {list(MOTION_FORMATS)}")
    return ext


def write_motion(path: str | Path, motion: np.ndarray, fps: float, spelling: Spelling = "pascal") -> Path:
    """Write (T, 58) frames; the format follows the extension (.csv or .json)."""
    path = Path(path)
    fmt = motion_format(path)
    names = [spell(n, spelling) for n in CHANNELS]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["frame", "time", *names])
            for i, row in enumerate(motion):
                w.writerow([i, f"{i / fps:.3f}", *(f"{v:.5f}" for v in row)])
    else:
        doc = {"fps": fps, "names": names, "frames": np.round(np.asarray(motion, np.float64), 5).tolist()}
        path.write_text(json.dumps(doc))
    return path


def read_motion(path: str | Path) -> tuple[np.ndarray, float | None]:
    """Read a motion file written by `write_motion` or by another tool with ARKit names.

    Returns ((T, 58) float32, fps or None when the file does not say)."""
    path = Path(path)
    fmt = motion_format(path)
    if fmt == "csv":
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            raise ValueError(f"{path}: empty motion file")
        header, body = rows[0], rows[1:]
        columns = [
            (i, h) for i, h in enumerate(header) if h.strip().lower() not in ("frame", "time", "timestamp")
        ]
        for _, h in columns:
            canonical_name(h)  # unknown names are an error naming the column
        frames = [{h: float(r[i]) for i, h in columns} for r in body if r]
        times = (
            [float(r[header.index("time")]) for r in body[:2]] if "time" in header and len(body) > 1 else []
        )
        fps = round(1.0 / (times[1] - times[0]), 3) if len(times) == 2 and times[1] > times[0] else None
        return ArkitSpace.from_dicts(frames), fps
    doc = json.loads(path.read_text())
    if isinstance(doc, dict) and "names" in doc and "frames" in doc:
        frames = [dict(zip(doc["names"], row, strict=True)) for row in doc["frames"]]
        return ArkitSpace.from_dicts(frames), doc.get("fps")
    if isinstance(doc, list):
        return ArkitSpace.from_dicts(doc), None
    raise ValueError(
        f"{path}: expected {{'names': [...], 'frames': [[...]]}} or a list of {{name: value}} frames"
    )
