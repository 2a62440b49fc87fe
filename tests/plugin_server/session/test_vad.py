"""silero-vad on onnxruntime: the real model on real speech, noise and silence; streaming; the session."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from models.bundle import AvatarForcingModel
from plugin_server.protocol import (
    Audio,
    Config,
    ErrorCode,
    ProtocolError,
    SessionConfig,
    TurnEvent,
    encode_pcm,
)
from plugin_server.protocol import config as config_module
from plugin_server.session import Session
from plugin_server.session import session as session_module
from plugin_server.session.turns import EnergyVad
from plugin_server.session.vad import (
    SILERO_MODEL_PATH,
    WINDOW,
    SileroVad,
    VadChange,
    load_silero,
    make_vad,
)

from .conftest import Driver

pytest.importorskip("onnxruntime")

SAMPLES = Path(__file__).resolve().parents[3] / "models" / "samples"
RATE = 16000


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    out = {}
    for name in ("avatar", "user"):
        x, rate = sf.read(SAMPLES / f"{name}.flac", dtype="float32")
        assert rate == RATE and x.ndim == 1
        out[name] = x
    return out


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)  # unit RMS


def _speech_s(changes: list[VadChange], end_s: float) -> float:
    """Total time between start and stop changes (an open start runs to end_s)."""
    total, start = 0.0, None
    for c in changes:
        if c.speaking:
            start = c.seconds
        elif start is not None:
            total += c.seconds - start
            start = None
    return total + (end_s - start if start is not None else 0.0)


def test_the_bundled_model_has_the_expected_inputs_and_outputs() -> None:
    model = load_silero(SILERO_MODEL_PATH)
    inputs = {i.name: (i.shape, i.type) for i in model.get_inputs()}
    assert inputs["input"][1] == "tensor(float)" and inputs["state"][1] == "tensor(float)"
    assert inputs["sr"] == ([], "tensor(int64)") and inputs["state"][0][::2] == [2, 128]
    state = np.zeros((2, 1, 128), np.float32)
    prob, new_state = model.run(
        None, {"input": np.zeros((1, 576), np.float32), "state": state, "sr": np.array(RATE)}
    )
    assert prob.shape == (1, 1) and 0.0 <= prob[0, 0] < 0.1 and new_state.shape == (2, 1, 128)
    assert (SILERO_MODEL_PATH.parent / "silero_vad.LICENSE").read_text().startswith("MIT License")


def test_speech_is_detected_in_the_sample_voices(clips: dict[str, np.ndarray]) -> None:
    vad = SileroVad()
    # avatar.flac: speech from ~1.0 s with pauses; user.flac: silent until ~7.6 s
    expected = {"avatar": (0.8, 1.3, 6.0), "user": (7.3, 7.9, 2.5)}
    for name, x in clips.items():
        vad.reset()
        changes = vad.process(x)
        first_lo, first_hi, min_speech = expected[name]
        assert changes and changes[0].speaking, name
        assert first_lo <= changes[0].seconds <= first_hi, (name, changes)
        assert [c.speaking for c in changes] == [i % 2 == 0 for i in range(len(changes))]  # alternating
        assert min_speech <= _speech_s(changes, len(x) / RATE) <= len(x) / RATE - first_lo, (name, changes)
        assert vad.samples == len(x) // WINDOW * WINDOW


def test_silence_and_noise_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    n = 3 * RATE
    signals = {
        "digital silence": np.zeros(n, np.float32),
        "white -30 dBFS": (0.03 * rng.normal(size=n)).astype(np.float32),
        "white -20 dBFS": (0.1 * rng.normal(size=n)).astype(np.float32),
        "pink -20 dBFS": 0.1 * _pink(n, rng),
    }
    vad = SileroVad()
    for name, x in signals.items():
        vad.reset()
        probs = []
        for i in range(0, n, WINDOW):
            assert vad.update(x[i : i + WINDOW], WINDOW / RATE) is None, name
            probs.append(vad.probability)
        assert not vad.speaking and max(probs) < 0.2, (name, max(probs))
    energy = EnergyVad()  # what the silero detector is for: the energy detector takes noise for speech
    assert energy.update(signals["pink -20 dBFS"][:2560], 0.16) is True


class _Recording:
    """Wraps the onnxruntime session and keeps every probability."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.probs: list[float] = []

    def run(self, outputs: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = self.model.run(outputs, feeds)  # type: ignore[attr-defined]
        self.probs.append(float(out[0][0, 0]))
        return out


@pytest.mark.parametrize("rate", [16000, 48000])
def test_any_chunking_gives_the_same_decisions(clips: dict[str, np.ndarray], rate: int) -> None:
    x = clips["avatar"][: 6 * RATE]
    if rate != RATE:  # 48 kHz stereo: resampled inside the detector (libsoxr streams exactly)
        x = np.stack([soxr.resample(x, RATE, rate)] * 2, axis=1).astype(np.float32)
    whole, chunked = SileroVad(rate=rate), SileroVad(rate=rate)
    whole._model = _Recording(whole._model)  # type: ignore[assignment]
    chunked._model = _Recording(chunked._model)  # type: ignore[assignment]
    want = whole.process(x)
    assert len(want) >= 3
    rng = np.random.default_rng(1)
    sizes = [1, 511, 513, 0, 1023, 7]
    got: list[VadChange] = []
    i = 0
    while i < len(x):
        k = sizes.pop(0) if sizes else int(rng.integers(1, 3000))
        got += chunked.process(x[i : i + k])
        i += k
    assert got == want and chunked.samples == whole.samples
    assert chunked._model.probs == whole._model.probs  # type: ignore[attr-defined]


class _Scripted:
    """A stand-in for the onnxruntime session that returns scripted probabilities."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)

    def run(self, _outputs: None, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        assert feeds["input"].shape == (1, 576) and feeds["sr"] == RATE
        return np.array([[self.probs.pop(0)]], np.float32), feeds["state"]


def _decide(vad: SileroVad, probs: list[float]) -> list[tuple[int, bool]]:
    vad._model = _Scripted(probs)  # type: ignore[assignment]
    vad.reset()
    return [(c.sample // WINDOW, c.speaking) for c in vad.process(np.zeros(len(probs) * WINDOW, np.float32))]


def test_thresholds_hangover_and_minimum_speech() -> None:
    vad = SileroVad(threshold=0.5, neg_threshold=0.35, hangover_s=0.096)  # 3 windows
    # start at the first window >= 0.5; 0.4 (between the thresholds) does not start a quiet run;
    # 2 quiet windows are a pause; 3 end speech, decided after the third
    probs = [0.1, 0.49, 0.5, 0.4, 0.4, 0.2, 0.2, 0.9, 0.2, 0.45, 0.3, 0.6, 0.1]
    assert _decide(vad, probs) == [(3, True), (11, False), (12, True)]
    # a window >= threshold cancels the quiet run; one in between does not
    assert _decide(vad, [0.9, 0.2, 0.4, 0.2, 0.1]) == [(1, True), (4, False)]
    slow = SileroVad(min_speech_s=0.064, hangover_s=0.0)  # 2 windows of speech to start
    assert _decide(slow, [0.9, 0.1, 0.9, 0.9, 0.9, 0.3]) == [(4, True), (6, False)]


def test_update_reports_the_net_change_and_reset_forgets() -> None:
    vad = SileroVad(hangover_s=0.032)
    vad._model = _Scripted([0.9] * 5 + [0.1] * 5 + [0.9, 0.1])  # type: ignore[assignment]
    silence = np.zeros(WINDOW, np.float32)
    assert vad.update(np.zeros(5 * WINDOW, np.float32), 0.16) is True
    assert vad.update(np.zeros(WINDOW // 2, np.float32), 0.016) is None  # buffered, no window yet
    assert vad.update(np.zeros(4 * WINDOW + WINDOW // 2, np.float32), 0.144) is False
    assert vad.update(np.concatenate([silence, silence]), 0.064) is None  # a start and a stop cancel out
    vad.reset()
    assert not vad.speaking and vad.samples == 0 and vad.probability == 0.0


def test_bad_settings_are_clear_errors() -> None:
    for kw, word in (
        ({"threshold": 1.5}, "threshold"),
        ({"neg_threshold": 0.6}, "neg_threshold"),
        ({"hangover_s": -1.0}, "hangover_s"),
        ({"min_speech_s": float("nan")}, "min_speech_s"),
        ({"rate": 0}, "sample rate"),
    ):
        with pytest.raises(ValueError, match=word):
            SileroVad(**kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"valid: \['silero', 'energy'\]"):
        make_vad("webrtc")
    with pytest.raises(ValueError, match="NaN"):
        SileroVad().update(np.full(600, np.nan, np.float32), 0.04)
    assert isinstance(make_vad("energy"), EnergyVad) and isinstance(make_vad("silero"), SileroVad)


def test_the_default_vad_is_silero_and_falls_back_to_energy(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert SessionConfig().vad == "silero"
    monkeypatch.setattr(config_module, "onnxruntime_installed", lambda: False)
    config_module.default_vad.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="plugin_server.protocol.config"):
            assert SessionConfig().vad == "energy" and SessionConfig().vad == "energy"
        warnings = [r for r in caplog.records if "onnxruntime" in r.getMessage()]
        assert len(warnings) == 1 and "avatar-forcing[vad]" in warnings[0].getMessage()
    finally:
        config_module.default_vad.cache_clear()
    assert SessionConfig.from_dict({"vad": "energy"}).vad == "energy"


def _chunks(x: np.ndarray, rate: int, stream: str, step_s: float = 0.04) -> list[Audio]:
    step = round(rate * step_s)
    return [
        Audio(stream=stream, seq=i, format="s16le", rate=rate, data=encode_pcm(x[j : j + step], "s16le"))
        for i, j in enumerate(range(0, len(x), step))
    ]


def test_a_session_takes_turn_events_from_silero(
    model: AvatarForcingModel, clips: dict[str, np.ndarray]
) -> None:
    d = Driver(Session("v", model, 0.0))
    assert d.session.config.vad == "silero"
    d.send(Config(config={"seed": 0, "outputs": ["events"]}))
    # the avatar's TTS at 24 kHz, sent ahead: speech from 0.22 s to ~1.0 s, then silence
    avatar = soxr.resample(clips["avatar"][int(0.8 * RATE) : int(2.25 * RATE)], RATE, 24000)
    for chunk in _chunks(avatar.astype(np.float32), 24000, "avatar", 0.5):
        d.send(chunk)
    # the user's microphone in real time, 16 kHz: speech from 0.62 s, cut off at 2.0 s
    user = _chunks(clips["user"][7 * RATE : 9 * RATE], RATE, "user")
    d.run(3.2, 0.04, lambda: d.send(user.pop(0)) if user else None)
    events = [(e.event, e.source, e.frame) for e in d.of(TurnEvent)]
    assert all(source == "server" for _, source, _ in events)
    avatar_events = [(e, f) for e, _, f in events if e.startswith("avatar")]
    user_events = [(e, f) for e, _, f in events if e.startswith("user")]
    # events are stamped with the first frame of the block whose audio decided them (4-frame blocks)
    assert [e for e, _ in avatar_events] == ["avatar_started", "avatar_stopped"]
    assert 4 <= avatar_events[0][1] <= 8 and 28 <= avatar_events[1][1] <= 36, avatar_events
    assert [e for e, _ in user_events] == ["user_started", "user_stopped"]
    assert 12 <= user_events[0][1] <= 20 and 52 <= user_events[1][1] <= 60, user_events  # cut + 0.3 s


def test_the_vad_is_chosen_per_session_and_changes_live(
    model: AvatarForcingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = Driver(Session("v", model, 0.0, config=SessionConfig(vad="energy")))
    (ack,) = d.send(Config(id=1, config={"vad": "silero"}))
    assert ack.config["vad"] == "silero" and isinstance(d.session._vad["user"], SileroVad)
    (err,) = d.send(Config(id=2, config={"vad": "webrtc"}))
    assert err.code == ErrorCode.BAD_CONFIG.value
    assert "'silero', 'energy'" in err.message
    d.session._vad["user"].speaking = True
    d.send(Config(id=3, config={"vad": "energy"}))
    assert isinstance(d.session._vad["user"], EnergyVad) and d.session._vad["user"].speaking
    monkeypatch.setattr(session_module, "silero_available", lambda: False)
    (err,) = d.send(Config(id=4, config={"vad": "silero"}))
    assert err.code == ErrorCode.UNSUPPORTED.value and "onnxruntime" in err.message
    with pytest.raises(ProtocolError, match="avatar-forcing\\[vad\\]"):
        Session("w", model, 0.0, config=SessionConfig(vad="silero"))
