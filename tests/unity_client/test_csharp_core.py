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

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .live import run_against_server, write_sample_wav

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "unity_client" / "Runtime" / "Core"
STANDALONE = ROOT / "unity_client" / "Tests" / "Standalone"
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

    wav = write_sample_wav(tmp_path / "speech.wav", CLIP_S)
    try:
        run, output = run_against_server(["mono", str(exe)], wav, timeout=90)
    except subprocess.TimeoutExpired as e:
        partial = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout
        pytest.fail(f"the C# test program did not finish in {e.timeout} s:\n{partial}")
    assert run.returncode == 0, output
    assert "live server at" in run.stdout and " 0 failed" in run.stdout, output
    resumed = ("welcome resumed = true", "audio seq continued across the resume", "no server errors at all")
    for check in resumed:
        assert f"ok   {check}" in run.stdout, output
