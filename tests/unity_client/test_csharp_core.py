"""The Unity client's engine-free C# core, compiled with Mono and run against a live server.

`unity_client/Runtime/Core` (the protocol, JSON codec, PCM, ARKit names, backoff and the session
state machine) must build without any Unity assembly: it is compiled alone as a library with only
the base class library. Then the core and the standalone test program
(`unity_client/Tests/Standalone`: a System.Net.WebSockets transport and `CoreTests.Main`) are
compiled into one executable and run against `avatar-forcing serve` (the bundled trained model, one
thread), streaming a clip of the bundled speech sample: handshake, session config, speech streamed in
real time, motion and avatar audio decoded and checked, a forced disconnect and the resumed session,
bye, and a refused resume of the ended session. The program prints every check and exits 0 only if
all pass.

Skipped when `mcs` or `mono` is missing (Debian: `apt-get install mono-devel`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "unity_client" / "Runtime" / "Core"
STANDALONE = ROOT / "unity_client" / "Tests" / "Standalone"
SAMPLE = ROOT / "models" / "samples" / "avatar.flac"
CLIP_S = 5.0  # 3 s streamed before the forced disconnect, 1.5 s after it
# C# 7.2 is the newest mcs takes; Unity 2021.3+ compiles it (it takes C# 9). -noconfig: no implicit
# assemblies, so the core provably needs nothing beyond mscorlib and System. With -doc, a public member
# without an XML doc comment is a warning, so an error here.
MCS = ["mcs", "-noconfig", "-langversion:7.2", "-warnaserror+", "-warn:4", "-nologo"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("mcs") is None or shutil.which("mono") is None,
        reason="needs Mono's mcs and mono (Debian: apt-get install mono-devel)",
    ),
]


def sources(*folders: Path) -> list[str]:
    files = sorted(str(p) for folder in folders for p in folder.glob("*.cs"))
    assert files, f"no C# sources in {folders}"
    return files


def compile_cs(args: list[str]) -> None:
    proc = subprocess.run([*MCS, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mcs failed:\n{proc.stdout}\n{proc.stderr}"


def test_core_builds_without_unity(tmp_path: Path) -> None:
    for path in sources(CORE):
        text = Path(path).read_text()
        assert not re.search(r"^\s*using\s+(static\s+)?Unity", text, re.M), f"{path} uses Unity"
    dll = tmp_path / "AvatarForcing.Core.dll"
    compile_cs(
        ["-t:library", "-r:System.dll", f"-out:{dll}", f"-doc:{dll.with_suffix('.xml')}", *sources(CORE)]
    )
    assert dll.stat().st_size > 0
    assert b"UnityEngine" not in dll.read_bytes()


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


def test_csharp_client_against_a_live_server(tmp_path: Path) -> None:
    exe = tmp_path / "CoreTests.exe"
    compile_cs(
        [
            "-r:System.dll",
            "-r:System.Core.dll",
            f"-out:{exe}",
            f"-doc:{exe.with_suffix('.xml')}",
            *sources(CORE, STANDALONE),
        ]
    )

    speech, rate = sf.read(SAMPLE, dtype="float32", always_2d=True)
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech[: int(CLIP_S * rate)].mean(axis=1), rate, subtype="PCM_16")

    proc, url = start_server()
    try:
        run = subprocess.run(["mono", str(exe), url, str(wav)], capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as e:
        partial = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout
        pytest.fail(f"the C# test program did not finish in {e.timeout} s:\n{partial}")
    finally:
        proc.terminate()
        try:
            _, server_log = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, server_log = proc.communicate()
    output = f"{run.stdout}\n{run.stderr}\n--- server log ---\n{server_log}"
    assert run.returncode == 0, output
    assert "live server at" in run.stdout and " 0 failed" in run.stdout, output
    resumed = ("welcome resumed = true", "audio seq continued across the resume", "no server errors at all")
    for check in resumed:
        assert f"ok   {check}" in run.stdout, output
