"""`avatar-forcing serve` in a subprocess (SIGINT or SIGTERM stops it) and `avatar-forcing client`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf

from models.bundle import AvatarForcingModel
from models.motion.io import read_motion
from plugin_server.cli import main

from .conftest import server_thread, speech

ROOT = Path(__file__).resolve().parents[3]


def test_client_cli_streams_a_file(model: AvatarForcingModel, tmp_path: Path, capsys) -> None:
    wav = tmp_path / "voice.wav"
    sf.write(wav, speech(1.2, 22050), 22050)
    out = tmp_path / "motion.json"
    with server_thread(model) as server:
        assert main(["client", "--audio", str(wav), "--url", server.url, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "received" in text and f"to {out}" in text
    motion, fps = read_motion(out)  # ARKit naming: the repository's own motion reader takes it
    doc = json.loads(out.read_text())
    assert fps == 25 and len(motion) == len(doc["frame_numbers"]) >= 30
    assert doc["frame_numbers"] == list(range(len(motion)))


def test_client_cli_reports_a_refused_connection(model: AvatarForcingModel, tmp_path: Path, capsys) -> None:
    wav = tmp_path / "voice.wav"
    sf.write(wav, speech(0.2, 16000), 16000)
    with server_thread(model, token="t0k") as server:
        assert main(["client", "--audio", str(wav), "--url", server.url]) == 1
    assert "401" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_cli_runs_until_a_signal(model: AvatarForcingModel, tmp_path: Path, sig: int) -> None:
    path = tmp_path / "model.pt"
    model.save(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("AVATAR_FORCING_TOKEN", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plugin_server",
            "serve",
            "--model",
            str(path),
            "--port",
            "0",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/", lines[0])
        assert match, lines
        assert "health" in lines[1] and "Ctrl+C" in lines[2]
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/health", timeout=5) as r:
            assert json.load(r)["status"] == "ok"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_serve_leaves_cores_to_the_event_loop_by_default() -> None:
    from plugin_server.cli.serve import default_generation_threads

    assert [default_generation_threads(n) for n in (1, 2, 4, 8, 64)] == [1, 1, 2, 4, 4]
