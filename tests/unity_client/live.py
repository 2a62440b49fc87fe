"""A live `avatar-forcing serve` for the C# programs of the Unity client's tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "models" / "samples" / "avatar.flac"


def write_sample_wav(path: Path, seconds: float) -> Path:
    """The first `seconds` of the bundled sample speech, mono 16-bit WAV (real speech opens the
    trained model's mouth; the synthetic test signal does not)."""
    import soundfile as sf

    speech, rate = sf.read(SAMPLE, dtype="float32", always_2d=True)
    sf.write(path, np.asarray(speech[: int(seconds * rate)]).mean(axis=1), rate, subtype="PCM_16")
    return path


def start_server() -> tuple[subprocess.Popen[str], str]:
    """`avatar-forcing serve` on the bundled model, any free port, one generation thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("AVATAR_FORCING_TOKEN", None)
    cmd = [sys.executable, "-m", "plugin_server", "serve", "--port", "0", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"serve printed no URL: {line!r}\n{err}")
    return proc, match.group(0)


def run_against_server(
    program: list[str], wav: Path, timeout: float
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `program URL WAV` against a fresh server; returns the run and its output followed by the
    server's log. A timeout raises subprocess.TimeoutExpired after the server was stopped."""
    proc, url = start_server()
    try:
        run = subprocess.run([*program, url, str(wav)], capture_output=True, text=True, timeout=timeout)
    finally:
        proc.terminate()
        try:
            _, server_log = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, server_log = proc.communicate()
    return run, f"{run.stdout}\n{run.stderr}\n--- server log ---\n{server_log}"
