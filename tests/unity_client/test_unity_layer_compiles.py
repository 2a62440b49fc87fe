"""The Unity-facing layer of `unity_client/` compiles against the documented APIs it uses.

There is no Unity here. `unity_client/Tests/ApiStubs/` declares, with the signatures of the Unity
2021.3 scripting reference and of NativeWebSocket's source, only the members the package uses (each
with the page or file it mirrors); these tests build them into UnityEngine.dll, UnityEditor.dll,
NativeWebSocket.dll and nunit.framework.dll with mono's `mcs`, then compile the package's code
against them, warnings as errors and XML docs required. A call to a Unity member that is not
declared in the stubs, or with the wrong types, fails here: that is the guard against invented
APIs (it cannot catch a stub that itself misdeclares a member, nor behaviour). The engine-free
logic classes are also compiled without any Unity assembly, and their NUnit tests run with mono.
The slow test runs that logic (pacing, timeline, playout buffer and clock) against a live
`avatar-forcing serve` with `unity_client/Tests/Mono/LiveSyncCheck.cs`: the mouth it would show
must follow the loudness of the sound it would play at the same moment.

`mcs` is the newest C# compiler mono ships (C# 7.2 at most); Unity 2021.3 compiles the package
with Roslyn, so code that passes here is also valid there. Skipped without `mcs` (Debian:
`apt-get install mono-devel`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .live import run_against_server, write_sample_wav

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "unity_client"
STUBS = PKG / "Tests" / "ApiStubs"
MCS = shutil.which("mcs")
MONO = shutil.which("mono")

pytestmark = pytest.mark.skipif(MCS is None, reason="mcs (mono-devel) is not installed")

LANG = "-langversion:7.2"
NWS = "AVATAR_FORCING_NATIVEWEBSOCKET"
ENGINE_TOKEN = re.compile(r"\bUnity(Engine|Editor)\b")


def _sources(*folders: Path) -> list[str]:
    files: list[str] = []
    for folder in folders:
        files += sorted(str(p) for p in folder.rglob("*.cs"))
    assert files, f"no C# sources under {folders}"
    return files


def _mcs(
    out: Path,
    sources: list[str],
    refs: tuple[Path, ...] = (),
    defines: tuple[str, ...] = (),
    *,
    target: str = "library",
    strict: bool = True,
) -> Path:
    """Compiles with mcs; strict: warnings are errors and every public member needs XML docs."""
    cmd = [MCS, "-nologo", f"-target:{target}", LANG, f"-out:{out}"]
    if strict:
        cmd += ["-warn:4", "-warnaserror+", f"-doc:{out.with_suffix('.xml')}"]
    cmd += [f"-r:{r}" for r in refs]
    cmd += [f"-define:{d}" for d in defines]
    result = subprocess.run(cmd + sources, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mcs failed for {out.name}:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The stub assemblies and the engine-free core, built once."""
    out = tmp_path_factory.mktemp("unity_client_build")
    dlls: dict[str, Path] = {}
    dlls["engine"] = _mcs(out / "UnityEngine.dll", [str(STUBS / "UnityEngine.cs")], strict=False)
    dlls["editor"] = _mcs(
        out / "UnityEditor.dll", [str(STUBS / "UnityEditor.cs")], (dlls["engine"],), strict=False
    )
    dlls["nws"] = _mcs(out / "NativeWebSocket.dll", [str(STUBS / "NativeWebSocket.cs")], strict=False)
    dlls["nunit"] = _mcs(out / "nunit.framework.dll", [str(STUBS / "NUnit.cs")], strict=False)
    # The core is built by its own tests too; here it only has to compile, without Unity.
    dlls["core"] = _mcs(out / "AvatarForcing.Core.dll", _sources(PKG / "Runtime" / "Core"), strict=False)
    dlls["out"] = out
    return dlls


def _unity_layer(build: dict[str, Path], name: str, defines: tuple[str, ...]) -> Path:
    refs = (build["engine"], build["core"]) + ((build["nws"],) if NWS in defines else ())
    return _mcs(build["out"] / name, _sources(PKG / "Runtime" / "Unity"), refs, defines)


def test_core_and_logic_have_no_engine_reference() -> None:
    for folder in (PKG / "Runtime" / "Core", PKG / "Runtime" / "Unity" / "Logic"):
        for path in folder.rglob("*.cs"):
            code = "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())
            assert not ENGINE_TOKEN.search(code), f"{path.relative_to(ROOT)} refers to a Unity assembly"


def test_logic_compiles_without_unity(build: dict[str, Path]) -> None:
    _mcs(build["out"] / "Logic.dll", _sources(PKG / "Runtime" / "Unity" / "Logic"), (build["core"],))


@pytest.mark.parametrize(
    ("variant", "defines"),
    [
        ("player", (NWS,)),
        ("editor", (NWS, "UNITY_EDITOR")),
        ("webgl_player", (NWS, "UNITY_WEBGL")),
        ("webgl_editor", (NWS, "UNITY_WEBGL", "UNITY_EDITOR")),
        ("without_nativewebsocket", ()),
    ],
)
def test_unity_layer_compiles(build: dict[str, Path], variant: str, defines: tuple[str, ...]) -> None:
    _unity_layer(build, f"AvatarForcing.{variant}.dll", defines)


def test_editor_tests_and_samples_compile(build: dict[str, Path]) -> None:
    runtime = _unity_layer(build, "AvatarForcing.dll", (NWS, "UNITY_EDITOR"))
    engine, core = build["engine"], build["core"]
    _mcs(
        build["out"] / "AvatarForcing.Editor.dll",
        _sources(PKG / "Editor"),
        (engine, build["editor"], core, runtime),
        ("UNITY_EDITOR",),
    )
    for folder in ("Runtime", "Editor"):
        _mcs(
            build["out"] / f"AvatarForcing.{folder}.Tests.dll",
            _sources(PKG / "Tests" / folder),
            (engine, core, runtime, build["nunit"]),
            ("UNITY_INCLUDE_TESTS",),
        )
    _mcs(build["out"] / "Samples.dll", _sources(PKG / "Samples~"), (engine, core, runtime))


@pytest.mark.skipif(MONO is None, reason="mono is not installed")
def test_logic_tests_run_with_mono(build: dict[str, Path]) -> None:
    logic = _sources(PKG / "Runtime" / "Core", PKG / "Runtime" / "Unity" / "Logic", PKG / "Tests" / "Editor")
    runner = [str(STUBS / "NUnit.cs"), str(STUBS / "NUnitLiteRunner.cs")]
    exe = _mcs(build["out"] / "LogicTests.exe", [*logic, *runner], target="exe", strict=False)
    result = subprocess.run([MONO, str(exe)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed 0" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(MONO is None, reason="mono is not installed")
def test_playback_logic_keeps_face_and_sound_together_with_a_live_server(tmp_path: Path) -> None:
    pytest.importorskip("soundfile")
    exe = _mcs(
        tmp_path / "LiveSyncCheck.exe",
        [
            *_sources(PKG / "Runtime" / "Core", PKG / "Runtime" / "Unity" / "Logic", PKG / "Tests" / "Mono"),
            str(PKG / "Tests" / "Standalone" / "ClientWebSocketTransport.cs"),
        ],
        (Path("System.dll"), Path("System.Core.dll")),
        target="exe",
        strict=False,  # the transport is the standalone tests' file; their own test builds it strictly
    )
    wav = write_sample_wav(tmp_path / "speech.wav", 8)
    run, output = run_against_server([MONO, str(exe)], wav, timeout=120)
    assert run.returncode == 0, output
    assert "FAIL" not in run.stdout, output


def test_every_stub_member_names_what_it_mirrors() -> None:
    for name in ("UnityEngine.cs", "UnityEditor.cs", "NativeWebSocket.cs"):
        lines = (STUBS / name).read_text().splitlines()
        for i, line in enumerate(lines):
            s = line.strip()
            if not s.startswith("public ") or s.startswith("public override "):
                continue
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("["):
                j -= 1
            comment = ""
            while j >= 0 and lines[j].strip().startswith("///"):
                comment = lines[j].strip() + " " + comment
                j -= 1
            assert re.search(r"\.html|\.cs\b|public ", comment), (
                f"{name}:{i + 1}: '{s}' has no comment naming the documentation it mirrors"
            )


def test_package_layout() -> None:
    manifest = json.loads((PKG / "package.json").read_text())
    assert manifest["name"] == "com.avatarforcing.client"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["unity"] == "2021.3"
    assert "dependencies" not in manifest or not any("://" in v for v in manifest["dependencies"].values())
    for sample in manifest["samples"]:
        assert (PKG / sample["path"]).is_dir()
    for doc in ("README.md", "CHANGELOG.md", "LICENSE.md", "Documentation~/avatar-forcing.md"):
        assert (PKG / doc).is_file(), doc

    asmdefs = {p.stem: json.loads(p.read_text()) for p in PKG.rglob("*.asmdef")}
    core, unity = asmdefs["AvatarForcing.Core"], asmdefs["AvatarForcing"]
    assert core["noEngineReferences"] is True and core["references"] == []
    # NativeWebSocket's assembly: endel.nativewebsocket (1.x, and 2.x's UPM branch); some 2.x
    # sources name it colyseus.nativewebsocket. Unity skips a reference that does not resolve.
    assert set(unity["references"]) == {
        "AvatarForcing.Core",
        "endel.nativewebsocket",
        "colyseus.nativewebsocket",
    }
    version_define = {"name": "com.endel.nativewebsocket", "expression": "1.0.0", "define": NWS}
    assert version_define in unity["versionDefines"]
    assert asmdefs["AvatarForcing.Editor"]["includePlatforms"] == ["Editor"]
    for test_asm in ("AvatarForcing.Tests", "AvatarForcing.Editor.Tests"):
        assert asmdefs[test_asm]["defineConstraints"] == ["UNITY_INCLUDE_TESTS"]
        assert asmdefs[test_asm]["precompiledReferences"] == ["nunit.framework.dll"]
    transport = (PKG / "Runtime" / "Unity" / "NativeWebSocketTransport.cs").read_text()
    assert transport.startswith(f"#if {NWS}\n") and transport.rstrip().endswith("#endif")
    assert "#if !UNITY_WEBGL || UNITY_EDITOR" in transport  # no DispatchMessageQueue in WebGL players
