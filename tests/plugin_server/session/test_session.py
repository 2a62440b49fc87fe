"""A scripted client drives real sessions (real model, real codec) on a fake clock."""

import numpy as np
import pytest
import torch

from models.bundle import AvatarForcingModel
from models.motion.arkit import INDEX
from models.render import Renderer, create_renderer, register_renderer
from plugin_server.protocol import (
    Ack,
    Audio,
    AvatarAudio,
    Bye,
    Config,
    Control,
    Error,
    ErrorCode,
    Hello,
    Motion,
    ProtocolError,
    RenderedFrame,
    Stats,
    Turn,
    TurnEvent,
    UserMotion,
    UserVideo,
    decode,
    decode_pcm,
    encode,
    encode_pcm,
)
from plugin_server.session import Session, SessionLimits, SessionRegistry
from plugin_server.session.frames import client_renderers
from plugin_server.session.mapping import VTS_NAMES
from tests.helpers import with_articulation_head

from .conftest import Driver, speech


def _audio_chunks(
    x: np.ndarray, rate: int, chunk_s: float, stream: str = "avatar", seq0: int = 0
) -> list[Audio]:
    step = int(rate * chunk_s)
    return [
        Audio(
            id=1000 + seq0 + i,
            stream=stream,
            seq=seq0 + i,
            format="s16le",
            rate=rate,
            data=encode_pcm(x[j : j + step], "s16le"),
        )
        for i, j in enumerate(range(0, len(x), step))
    ]


def _frames(motion: list[Motion]) -> list[int]:
    return [m.frame + i for m in motion for i in range(len(m.timestamps))]


def _session(model: AvatarForcingModel, **kw) -> Driver:
    return Driver(Session("t", model, 0.0, **kw))


def test_scripted_conversation(model: AvatarForcingModel) -> None:
    registry = SessionRegistry(lambda sid, now: Session(sid, model, now), grace_s=5.0, new_id=lambda: "s1")
    hello = decode(encode(Hello(id=0, version=1, capabilities=["msgpack"], client="test"), True))
    session, out = registry.open(hello, now=100.0)
    (welcome,) = out
    assert welcome.session_id == "s1" and not welcome.resumed and welcome.fps == 25
    assert welcome.config["naming"] == "arkit" and welcome.limits["max_audio_chunk_s"] == 2.0
    d = Driver(session, 100.0)
    # the synthetic voice is a harmonic buzz: the energy detector hears it, silero-vad does not
    (ack,) = d.send(Config(id=1, config={"seed": 1, "stats_interval_s": 0.5, "vad": "energy"}))
    assert isinstance(ack, Ack) and ack.msg_id == 1 and ack.frame == 0 and ack.config["seed"] == 1

    voice = speech(1.0, 24000)
    for chunk in _audio_chunks(voice, 24000, 0.1):  # a TTS engine sends ahead
        assert d.send(chunk) == []
    d.send(Turn(id=2, event="avatar_start"))
    rng = np.random.default_rng(0)
    user_seq = [0]

    def user_side() -> None:  # a quiet microphone in real time, and a tracked face
        d.send(
            Audio(
                stream="user",
                seq=user_seq[0],
                format="f32le",
                rate=16000,
                data=encode_pcm(rng.normal(0, 1e-3, 640), "f32le"),
            )
        )
        d.send(UserMotion(seq=user_seq[0], names=["HeadYaw", "jawOpen"], frames=[[5.0, 0.1]]))
        user_seq[0] += 1

    d.run(2.08, 0.04, user_side)
    assert not d.of(Error)
    motion = d.of(Motion)
    frames = _frames(motion)
    assert frames == list(range(52))  # 2.08 s at 25 fps, every frame once, in order
    stamps = [t for m in motion for t in m.timestamps]
    assert np.all(np.diff(stamps) > 0) and np.allclose(stamps, np.arange(52) / 25)
    assert all(len(m.timestamps) == 4 or m is motion[-1] for m in motion)
    assert motion[0].names[17] == "JawOpen" and len(motion[0].values[0]) == 58
    values = np.array([v for m in motion for v in m.values])
    assert np.isfinite(values).all() and (values[:, :52] >= 0).all() and (values[:, :52] <= 1).all()

    audio = d.of(AvatarAudio)
    assert [(a.frame, a.t) for a in audio] == [(m.frame, m.timestamps[0]) for m in motion]
    assert all(a.rate == 24000 and a.format == "s16le" and len(a.data) == a.frames * 960 * 2 for a in audio)
    replayed = decode_pcm(b"".join(a.data for a in audio), "s16le", 1)[:, 0]
    sent = decode_pcm(encode_pcm(voice, "s16le"), "s16le", 1)[:, 0]
    assert np.array_equal(replayed[: len(sent)], sent)  # the avatar audio comes back on the motion clock
    assert np.all(replayed[len(sent) :] == 0)  # then silence: the clock did not wait

    events = [(e.event, e.source) for e in d.of(TurnEvent)]
    assert events[0] == ("avatar_started", "client")
    assert ("avatar_stopped", "server") in events  # the speech detector heard the utterance end
    stop = next(e for e in d.of(TurnEvent) if e.event == "avatar_stopped")
    assert 25 <= stop.frame <= 25 + 16 and stop.state == "idle"
    stats = d.of(Stats)
    assert len(stats) >= 3 and stats[-1].frames_generated >= 44 and stats[-1].late_blocks == 0
    assert stats[-1].rtf > 0 and stats[-1].errors == 0 and stats[-1].queues["avatar_audio_s"] == 0
    assert d.send(Bye(id=3)) == [] and session.closed
    assert d.tick() == []
    assert registry.expire(d.now) == ["s1"] and "s1" not in registry


def test_barge_in_silences_the_avatar_within_one_block(model: AvatarForcingModel) -> None:
    d = _session(model)
    d.send(Config(config={"seed": 2, "vad": "energy"}))  # the synthetic voice: see above
    for chunk in _audio_chunks(speech(3.0, 16000), 16000, 0.5):
        d.send(chunk)
    d.run(0.64)
    before = d.of(AvatarAudio)
    assert any(np.abs(decode_pcm(a.data, "s16le", 1)).max() > 0.1 for a in before)
    assert ("avatar_started", "server") in [(e.event, e.source) for e in d.of(TurnEvent)]

    out = d.send(Turn(id=9, event="interrupt"))
    ack, *events = out
    assert isinstance(ack, Ack) and ack.of == "turn" and ack.frame == 16
    assert [(e.event, e.source, e.frame) for e in events] == [
        ("avatar_stopped", "client", 16),
        ("interrupted", "client", 16),
    ]
    assert events[-1].state == "idle"
    session = d.session
    # everything queued or placed ahead was dropped; what the generator hears next is silence
    assert session.stats(d.now).avatar_audio_dropped_s == pytest.approx(3.0 - 0.64, abs=0.01)
    assert session.stats(d.now).queues["avatar_audio_s"] == 0
    assert np.all(session._avatar.replay_16k() == 0)
    late = _audio_chunks(speech(0.5, 16000, 1), 16000, 0.25, seq0=6)  # still in flight from the TTS
    assert d.send(late[0]) == []
    d.run(0.64)
    after = [a for a in d.of(AvatarAudio) if a.frame >= 16]
    assert after and all(np.all(decode_pcm(a.data, "s16le", 1) == 0) for a in after)
    assert not any(e.event == "avatar_started" for e in d.of(TurnEvent) if e.frame >= 16)

    d.send(Turn(event="avatar_start"))  # the next utterance
    d.send(late[1])
    d.run(0.32)
    resumed = [a for a in d.of(AvatarAudio) if a.frame >= 32]
    assert any(np.abs(decode_pcm(a.data, "s16le", 1)).max() > 0.1 for a in resumed)
    assert not d.of(Error)


def test_pause_resume_and_reset(model: AvatarForcingModel) -> None:
    d = _session(model)
    d.send(Config(config={"seed": 3, "outputs": ["motion", "stats"]}))
    d.run(0.48)
    assert _frames(d.of(Motion)) == list(range(12))
    clock = d.session.clock(d.now)
    (ack,) = d.send(Control(id=4, action="pause"))
    assert ack.of == "control" and ack.frame == 12
    got = d.run(2.0)
    assert not d.of(Motion, got) and d.session.clock(d.now) == clock
    assert all(s.t == pytest.approx(clock) for s in d.of(Stats, got))  # stats go on, the clock does not
    d.send(Control(action="resume"))
    d.run(0.32)
    assert _frames(d.of(Motion)) == list(range(20))  # no gap, no skip
    assert d.session.skipped_frames == 0
    d.send(Audio(stream="avatar", seq=0, format="s16le", rate=16000, data=encode_pcm(np.zeros(320), "s16le")))
    d.send(Control(action="reset"))
    # after a reset the sequence counters, formats and generator start over; frame numbers go on
    assert (
        d.send(
            Audio(stream="avatar", seq=0, format="f32le", rate=48000, data=encode_pcm(np.zeros(480), "f32le"))
        )
        == []
    )
    d.run(0.16)
    assert _frames(d.of(Motion)) == list(range(24)) and not d.of(Error)


def test_live_config_changes_take_effect_at_the_next_block(model: AvatarForcingModel) -> None:
    d = _session(model)
    d.send(Config(config={"seed": 4}))
    d.run(0.32)
    cache = d.session.stream.sampler.cache
    (ack,) = d.send(Config(id=5, config={"naming": "vts", "nfe": 4, "motion_intensity": 0.0}))
    assert ack.frame == 8 and ack.config["naming"] == "vts" and ack.config["nfe"] == 4
    got = d.run(0.16)
    (m,) = d.of(Motion, got)
    assert m.frame == 8 and m.naming == "vts" and m.names == list(VTS_NAMES)
    v = dict(zip(m.names, np.array(m.values).T, strict=True))
    assert np.all(v["MouthOpen"] == 0) and np.all(v["FaceAngleX"] == 0) and np.all(v["MouthSmile"] == 0.5)
    sampler = d.session.stream.sampler
    assert sampler.config.nfe == 4 and sampler.cache is cache  # same stream, new steps

    (ack,) = d.send(Config(config={"block_frames": 2, "naming": "vrm", "arkit_spelling": "lr"}))
    got = d.run(0.16)
    assert [len(m.timestamps) for m in d.of(Motion, got)] == [2, 2]
    assert d.of(Motion, got)[0].names[0] == "A" and d.of(Motion, got)[0].frame == 12
    (err,) = d.send(Config(id=6, config={"block_frames": 500}))
    assert err.code == "bad_config" and err.msg_id == 6
    (err,) = d.send(Config(id=8, config={"nfe": 100, "block_frames": 1}))
    assert err.code == "bad_config" and err.msg_id == 8 and "evaluations per second" in err.message
    (err,) = d.send(Config(id=7, config={"wobble": 1}))
    assert err.code == "bad_config" and "motion_intensity" in err.message
    (err,) = d.send(Config(config={"fps": 30}))
    assert err.code == "unsupported"
    (err,) = d.send(Config(config={"outputs": ["frames"]}))
    assert err.code == "unsupported"
    (err,) = d.send(Config(config={"model": "large"}))
    assert err.code == "bad_config"
    assert d.session.config.block_frames == 2 and d.session.config.naming == "vrm"
    d.run(0.08)
    assert _frames(d.of(Motion)) == list(range(18))
    # the user guidance on the jaw and lips apart from the rest: a new sampler, the same stream
    cache = d.session.stream.sampler.cache
    (ack,) = d.send(Config(config={"u_cfg": 3.0, "u_cfg_speech": 0.0}))
    assert ack.config["u_cfg_speech"] == 0.0
    d.run(0.16)
    sampler = d.session.stream.sampler
    assert sampler.cache is cache and isinstance(sampler.user_scale, torch.Tensor)
    assert sampler.user_scale[INDEX["JawOpen"]] == 0.0 and sampler.user_scale[INDEX["MouthSmileLeft"]] == 3.0
    # a speech-channel scale alone swaps the sampler too, the stream going on
    (ack,) = d.send(Config(config={"a_cfg_speech": 3.5}))
    assert ack.config["a_cfg_speech"] == 3.5
    d.run(0.16)
    sampler = d.session.stream.sampler
    assert sampler.cache is cache and isinstance(sampler.audio_scale, torch.Tensor)
    assert sampler.audio_scale[INDEX["JawOpen"]] == 3.5 and sampler.audio_scale[INDEX["EyeBlinkLeft"]] == 2.0
    d.send(Config(config={"u_cfg_speech": 1.0}))
    d.run(0.16)
    assert d.session.stream.sampler.user_scale[INDEX["JawOpen"]] == 1.0


def test_articulation_is_a_live_sampler_setting(model: AvatarForcingModel) -> None:
    """`articulation` swaps the sampler at the next block (same stream); a model without an
    articulation head refuses it by name and keeps its settings."""
    d = _session(model)
    d.run(0.16)
    (err,) = d.send(Config(id=3, config={"articulation": 0.5}))
    assert err.code == "bad_config" and "articulation head" in err.message
    assert d.session.config.articulation is None
    (err,) = d.send(Config(id=4, config={"articulation": 1.5}))
    assert err.code == "bad_config" and "articulation must be in 0..1" in err.message

    d = _session(with_articulation_head(model))
    d.send(Config(config={"seed": 1}))
    d.run(0.32)
    cache = d.session.stream.sampler.cache
    (ack,) = d.send(Config(config={"articulation": 0.6}))
    assert ack.config["articulation"] == 0.6
    d.run(0.16)
    sampler = d.session.stream.sampler
    assert sampler.config.articulation == 0.6 and sampler.cache is cache


def test_resume_within_the_grace_period_and_expiry(model: AvatarForcingModel) -> None:
    ids = iter(["a", "b", "c"])
    registry = SessionRegistry(
        lambda sid, now: Session(sid, model, now), grace_s=5.0, max_sessions=2, new_id=lambda: next(ids)
    )
    session, _ = registry.open(Hello(version=1), 0.0)
    d = Driver(session, 0.0)
    d.send(Config(config={"seed": 5}))
    d.run(0.48)
    registry.detach("a", d.now)
    assert session.detached
    d.run(3.0)  # an adapter would not tick a detached session; if it does, nothing happens
    assert _frames(d.of(Motion)) == list(range(12))
    again, out = registry.open(Hello(version=1, resume="a"), d.now)
    assert again is session and out[0].resumed and out[0].session_id == "a" and session.connection == 2
    d.run(0.16)
    assert _frames(d.of(Motion)) == list(range(16)) and session.skipped_frames == 0

    registry.detach("a", d.now)
    assert registry.expire(d.now + 4.9) == [] and "a" in registry
    assert registry.expire(d.now + 5.1) == ["a"] and "a" not in registry and session.closed
    with pytest.raises(ProtocolError) as e:
        registry.open(Hello(id=3, version=1, resume="a"), d.now + 6)
    assert e.value.code == ErrorCode.UNKNOWN_SESSION and e.value.fatal and e.value.msg_id == 3
    with pytest.raises(ProtocolError) as e:
        registry.open(Hello(version=2), d.now)
    assert e.value.code == ErrorCode.VERSION_MISMATCH and e.value.fatal
    registry.open(Hello(version=1), d.now)
    registry.open(Hello(version=1), d.now)
    with pytest.raises(ProtocolError) as e:
        registry.open(Hello(version=1), d.now)
    assert e.value.code == ErrorCode.TOO_MANY_SESSIONS


def test_bad_input_gets_errors_and_the_session_goes_on(model: AvatarForcingModel) -> None:
    d = _session(model)
    chunks = _audio_chunks(speech(0.5, 16000), 16000, 0.1)
    assert d.send(chunks[0]) == [] and d.send(chunks[1]) == []
    (gap,) = d.send(chunks[3])
    assert gap.code == "sequence_gap" and gap.msg_id == chunks[3].id
    queued = d.session._avatar.pending_s
    assert queued == pytest.approx(0.3)  # the chunk after the gap was kept
    for dup in (chunks[3], chunks[2]):
        (rep,) = d.send(dup)
        assert rep.code == "sequence_repeat"
    assert d.session._avatar.pending_s == queued  # duplicates dropped
    errors = d.session.handle_frame(b"\x93garbage", d.now) + d.session.handle_frame("{oops", d.now)
    assert [e.code for e in errors] == ["malformed", "malformed"]
    (e,) = d.session.handle_frame('{"type": "audio", "id": 77, "stream": "avatar"}', d.now)
    assert e.code == "missing_field" and e.msg_id == 77
    (e,) = d.send(
        Audio(stream="avatar", seq=4, format="f32le", rate=16000, data=encode_pcm(np.zeros(8), "f32le"))
    )
    assert e.code == "format_changed"
    (e,) = d.send(UserVideo(id=8, seq=0, width=1, height=1, format="rgb24", data=b"\x00\x00\x00"))
    assert e.code == "unsupported" and e.msg_id == 8
    (e,) = d.send(Hello(version=1))
    assert e.code == "bad_state"
    (e,) = d.session.handle(Audio(stream="avatar", seq=9, format="s16le", rate=5, data=b""), d.now)
    assert e.code == "unsupported_rate"  # messages built in code are validated too
    d.run(0.32)
    assert _frames(d.of(Motion)) == list(range(8))
    assert d.session.stats(d.now).errors == 10


def test_slow_client_and_falling_behind(model: AvatarForcingModel) -> None:
    d = _session(model, session_limits=SessionLimits(outbox_max_frames=8, max_lag_s=0.5))
    d.send(Config(config={"seed": 6, "outputs": ["motion", "audio"]}))
    box = d.session.outbox
    for _ in range(25):  # the client reads nothing for a second
        d.now += 0.04
        box.put(d.tick())
    assert box.pending_frames <= 8 and box.dropped_frames == 24 - 8
    kept = box.drain()
    assert [m.frame for m in kept if isinstance(m, Motion)] == [16, 20]
    assert [m.frame for m in kept if isinstance(m, AvatarAudio)] == [16, 20]

    d.now += 3.0  # the process stalled for 3 s
    got = d.tick()
    frames = _frames(d.of(Motion, got))
    assert frames[0] > 24 and frames == list(range(frames[0], frames[0] + len(frames)))
    st = d.session.stats(d.now)
    assert st.skipped_frames == frames[0] - 24 and st.late_blocks >= 1 and st.dropped_frames == 16
    d.run(0.32)
    assert _frames(d.of(Motion))[-1] == round(d.session.clock(d.now) * 25) - 1


@register_renderer("test_stripe", replace=True)
class StripeRenderer(Renderer):
    """A renderer (the `models.render.Renderer` interface): a width x 1 grey image per frame,
    JawOpen as brightness."""

    def render(self, frame: np.ndarray) -> np.ndarray:
        return np.full((self.config.height, self.config.width, 4), int(255 * frame[17]), np.uint8)

    def regions(self) -> dict[str, tuple[int, int, int, int]]:
        return {}


class NoddingTracker:
    """A tracker (the `Tracker` protocol): every camera frame is a face turned by 10 degrees."""

    def track(self, image: UserVideo) -> np.ndarray | None:
        x = np.zeros(58, np.float32)
        x[52] = 10.0
        return x if image.width > 1 else None


def test_renderer_and_tracker_hooks(model: AvatarForcingModel) -> None:
    d = _session(model, renderers=create_renderer, tracker=NoddingTracker())
    assert "output:frames" in d.session.capabilities() and "input:user_video" in d.session.capabilities()
    frames_cfg = {
        "renderer": "test_stripe",
        "renderer_options": {"width": 16, "height": 16},
        "frame_format": "rgba",
    }
    (ack,) = d.send(Config(config={"outputs": ["motion", "frames"], "seed": 7, **frames_cfg}))
    assert ack.config["outputs"] == ["motion", "frames"] and ack.config["renderer"] == "test_stripe"
    for seq in range(4):
        d.send(UserVideo(seq=seq, width=2, height=1, format="rgb24", data=bytes(6)))
    assert len(d.session._motion_q) == 4
    d.run(0.32)
    rendered = d.of(RenderedFrame)
    assert [r.frame for r in rendered] == list(range(8)) and all(r.t == r.frame / 25 for r in rendered)
    assert all((r.width, r.height, r.format, len(r.data)) == (16, 16, "rgba", 16 * 16 * 4) for r in rendered)
    motion = np.array([v for m in d.of(Motion) for v in m.values])
    assert [r.data[0] for r in rendered] == [int(255 * j) for j in motion[:, 17]]
    assert not d.session._motion_q and d.session._last_user[52] == 10.0  # held after the last tracked frame


def test_bad_renderer_choices_are_refused_and_the_config_is_kept(model: AvatarForcingModel) -> None:
    d = _session(model, renderers=create_renderer)
    d.send(Config(config={"seed": 3}))
    for bad, code, words in (
        ({"renderer": "nope"}, "bad_config", "valid renderers"),
        ({"renderer": "test_stripe", "renderer_options": {"colour": 1}}, "bad_config", "unknown option"),
        ({"renderer": "test_stripe", "renderer_options": {"width": 5000}}, "bad_config", "4096"),
        ({"renderer": "test_stripe", "renderer_options": {"width": 2048}}, "bad_config", "too large"),
        ({"frame_format": "gif"}, "bad_config", "frame_format"),
    ):
        (err,) = d.send(Config(id=9, config={"outputs": ["motion", "frames"], **bad}))
        assert err.code == code and words in err.message and err.msg_id == 9, err
        assert d.session.config.seed == 3 and d.session.config.outputs == (
            "motion",
            "audio",
            "events",
            "stats",
        )
    no_renderer = _session(model)
    (err,) = no_renderer.send(Config(config={"outputs": ["frames"]}))
    assert err.code == "unsupported" and "render" in err.message


def test_log_records_carry_the_session_id(
    model: AvatarForcingModel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="plugin_server.session"):
        d = Driver(Session("log-me", model, 0.0))
        d.send(Config(config={"seed": 1}))
        d.send(
            Audio(stream="avatar", seq=0, format="s16le", rate=22050, data=encode_pcm(np.zeros(441), "s16le"))
        )
        d.send(
            Audio(stream="avatar", seq=5, format="s16le", rate=22050, data=encode_pcm(np.zeros(441), "s16le"))
        )
        d.run(0.16)
    records = [r for r in caplog.records if r.name.startswith("plugin_server.session")]
    assert len(records) >= 4
    assert all(
        getattr(r, "session_id", None) == "log-me" and "[session log-me]" in r.getMessage() for r in records
    )


def test_clients_may_not_name_files_on_the_server(model: AvatarForcingModel) -> None:
    made: list[dict] = []

    def factory(name: str, **options: object) -> Renderer:
        made.append({"name": name, **options})
        return create_renderer(name, **options)

    d = _session(model, renderers=client_renderers(factory, {"test_stripe": {"height": 20}}))
    portrait = {"renderer": "portrait", "renderer_options": {"image": "/etc/passwd"}}
    (err,) = d.send(Config(config={"outputs": ["frames"], **portrait}))
    assert err.code == "bad_config" and "set by the server" in err.message and not made
    stripe = {"renderer": "test_stripe", "renderer_options": {"width": 16}}
    (ack,) = d.send(Config(config={"outputs": ["frames"], **stripe}))
    assert ack.config["renderer_options"] == {"width": 16}
    assert made == [{"name": "test_stripe", "height": 20, "width": 16}]  # the server's default filled in
