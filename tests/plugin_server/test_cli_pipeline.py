"""The offline pipeline end to end through the CLI: corpus -> train -> evaluate -> animate (smoke)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.corpus.conversation import Conversation
from models.motion.io import read_motion
from plugin_server.cli import main

pytest.importorskip("espeakng_loader", reason="the corpus extra is needed: pip install -e .[corpus]")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    assert (
        main(
            [
                "corpus",
                "--out",
                str(root / "corpus"),
                "--conversations",
                "2",
                "--duration",
                "8",
                "--engines",
                "espeak,procedural",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--corpus",
                str(root / "corpus"),
                "--out",
                str(root / "model"),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--window",
                "20",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return root


def test_corpus_is_deterministic_and_indexed(run: Path, tmp_path: Path) -> None:
    index = json.loads((run / "corpus" / "corpus.json").read_text())
    assert [c["file"] for c in index["conversations"]] == ["conv_00000.npz", "conv_00001.npz"]
    conv = Conversation.load(run / "corpus" / "conv_00001.npz")
    assert conv.avatar.motion.shape == (200, 58) and len(conv.user.audio) == 8 * 16000
    # the same seed and index give the same plan and motion (procedural voices are bit-exact)
    assert (
        main(
            [
                "corpus",
                "--out",
                str(tmp_path),
                "--conversations",
                "2",
                "--duration",
                "8",
                "--engines",
                "procedural",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    again = Conversation.load(tmp_path / "conv_00000.npz")
    assert (
        main(
            [
                "corpus",
                "--out",
                str(tmp_path / "b"),
                "--conversations",
                "1",
                "--duration",
                "8",
                "--engines",
                "procedural",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert np.array_equal(
        again.avatar.motion, Conversation.load(tmp_path / "b" / "conv_00000.npz").avatar.motion
    )


def test_evaluate_refuses_zero_seeds(run: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--seeds"):
        main(["evaluate", "--corpus", str(run / "corpus"), "--out", str(tmp_path), "--seeds", "0"])


def test_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="festival"):
        main(["corpus", "--out", str(tmp_path), "--engines", "festival"])


def test_evaluate_writes_a_report(run: Path) -> None:
    out = run / "report"
    assert (
        main(
            [
                "evaluate",
                "--corpus",
                str(run / "corpus"),
                "--model",
                str(run / "model" / "model.pt"),
                "--label",
                "smoke",
                "--out",
                str(out),
                "--limit",
                "1",
                "--seeds",
                "2",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())["results"]
    assert set(report) == {"smoke", "ground truth"}
    assert report["smoke"]["seeds"] == 2 and report["smoke"]["lip_auc_seed_sd"] >= 0.0
    assert 0.0 <= report["ground truth"]["silence_closed"] <= 1.0
    assert report["ground truth"]["lip_auc"] > 0.9  # the simulator's own mouths are in sync
    # fresh streams started 1 s before utterances, clean and with a noise floor: the model's
    # open-vowel openness over the data's (the data's own is 1 by definition)
    for key in ("cold_start_openness_ratio", "noisy_start_openness_ratio"):
        assert report["ground truth"][key] == 1.0 and report["smoke"][key] > 0.0
    md = (out / "report.md").read_text()
    assert "| lip_auc |" in md and "rpcc_smile" in md
    # corpus conversations say how the avatar track was made: lip sync per condition
    by_condition = json.loads((out / "report.json").read_text())["lip_auc_by_condition"]
    assert set(by_condition) == {"smoke", "ground truth"}
    tags = set(by_condition["smoke"])
    assert (
        "all" in tags
        and any(t.startswith("voice:") for t in tags)
        and any(t.startswith("channel:") for t in tags)
    )
    assert "## Lip sync by recording condition" in md


def test_animate_writes_csv_and_json(run: Path, tmp_path: Path) -> None:
    conv = Conversation.load(run / "corpus" / "conv_00000.npz")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.stack([conv.avatar.audio, conv.avatar.audio], 1)[: 3 * 16000], 16000)  # stereo
    user = tmp_path / "u.flac"
    sf.write(user, conv.user.audio[: 2 * 16000], 16000)
    outs = [tmp_path / "m.csv", tmp_path / "m.json"]
    assert (
        main(
            [
                "animate",
                "--avatar-audio",
                str(wav),
                "--user-audio",
                str(user),
                "--model",
                str(run / "model" / "model.pt"),
                "--out",
                *map(str, outs),
                "--names",
                "lr",
            ]
        )
        == 0
    )
    for out in outs:
        motion, fps = read_motion(out)
        assert motion.shape == (75, 58) and fps == 25
    assert "eyeBlink_L" in outs[0].read_text().splitlines()[0]
    with pytest.raises(ValueError, match="txt"):
        main(["animate", "--avatar-audio", str(wav), "--out", str(tmp_path / "m.txt")])
