"""`avatar-forcing serve` in a subprocess (SIGINT or SIGTERM stops it) and `avatar-forcing client`."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf

from models.bundle import AvatarForcingModel
from models.motion.io import read_motion
from plugin_server.cli import main

from .conftest import serve_command, server_thread, spawn_serve, speech


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
    cmd, env = serve_command(model, tmp_path)
    proc, lines, url = spawn_serve(cmd, env, 4)
    try:
        assert "health" in lines[1] and "/overlay?session=*" in lines[2] and "Ctrl+C" in lines[3]
        with urllib.request.urlopen(url.replace("ws://", "http://") + "health", timeout=5) as r:
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


def test_key_values_reads_json_values_and_names_the_flag() -> None:
    from plugin_server.cli.options import key_values

    assert key_values(["a=1", "b=true", "c=x", "d=[1, 2]", "e="], "--opt") == {
        "a": 1,
        "b": True,
        "c": "x",
        "d": [1, 2],
        "e": "",
    }
    with pytest.raises(ValueError, match="--opt wants KEY=VALUE"):
        key_values(["novalue"], "--opt")
