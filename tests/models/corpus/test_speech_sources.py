"""Speech sources of the corpus with the real engines: espeak-ng (espeakng-loader), flite, the Asterisk
prompts aligned by pocketsphinx, and the augmentations. The timing checks use the audio itself:
silence spans are quiet, vowels loud, bilabial closures quieter than the vowels around them."""

from __future__ import annotations

import itertools
import shutil
import threading

import numpy as np
import pytest

for _module in ("espeakng_loader", "pocketsphinx", "soxr", "soundfile"):
    pytest.importorskip(_module, reason=f"{_module} missing: pip install -e '.[corpus]'")

from models.corpus import augment as aug  # noqa: E402
from models.corpus.phones import BILABIALS, OPEN_VOWELS, PHONES, SILENCE, VOWELS  # noqa: E402
from models.corpus.tts_espeak import (  # noqa: E402
    ESPEAK_TO_ARPABET,
    EspeakVoice,
    espeak_to_arpabet,
    list_languages,
    list_variants,
    make_voices,
    phoneme_table,
)
from models.corpus.utterance import Utterance  # noqa: E402

SENTENCE = "Papa bought a big map, and Bob met Mom by the park."


# --- shared checks ------------------------------------------------------------------------------


def _rms(utt: Utterance, start: float, end: float) -> float:
    x = utt.audio[round(start * utt.sample_rate) : round(end * utt.sample_rate)]
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _check_spans(utt: Utterance) -> None:
    phones = utt.phones
    assert phones, "no phones"
    assert all(p.phone in PHONES for p in phones)
    assert phones[0].start == 0.0
    for a, b in itertools.pairwise(phones):
        assert b.start == pytest.approx(a.end, abs=1e-9), f"gap/overlap between {a} and {b}"
        assert b.end > b.start, f"empty span {b}"
    assert phones[-1].end == pytest.approx(utt.duration, abs=1.0 / utt.sample_rate)
    assert phones[0].phone == SILENCE and phones[-1].phone == SILENCE, "no silence at the edges"


def _check_audio(utt: Utterance, sample_rate: int) -> None:
    assert utt.sample_rate == sample_rate
    assert utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert np.all(np.isfinite(utt.audio)) and float(np.max(np.abs(utt.audio))) <= 1.0
    assert float(np.sqrt(np.mean(utt.audio.astype(np.float64) ** 2))) > 0.01, "silent audio"


def _check_content(utt: Utterance) -> None:
    names = {p.phone for p in utt.phones}
    assert {"P", "B", "M"} <= names, f"bilabials missing from {names}"
    assert names & OPEN_VOWELS, f"no open vowel in {names}"


def _check_energy(utt: Utterance, edge_ratio: float = 0.1, closure_ratio: float = 0.7) -> dict[str, float]:
    """Edge silence much quieter than vowels; P/B quieter than their neighbouring vowels on average."""
    vowels = [_rms(utt, p.start, p.end) for p in utt.phones if p.phone in VOWELS]
    edges = [_rms(utt, p.start, p.end) for p in (utt.phones[0], utt.phones[-1])]
    vowel_level = float(np.mean(vowels))
    edge = float(np.mean(edges)) / vowel_level
    assert edge < edge_ratio, f"edge silence at {edge:.3f} x the vowel level"
    ratios = []
    phones = utt.phones
    for i, p in enumerate(phones):
        if p.phone in ("P", "B"):
            around = phones[max(i - 1, 0) : i] + phones[i + 1 : i + 2]
            levels = [_rms(utt, q.start, q.end) for q in around if q.phone in VOWELS]
            if levels:
                ratios.append(_rms(utt, p.start, p.end) / float(np.mean(levels)))
    assert ratios, "no P/B next to a vowel"
    closure = float(np.mean(ratios))
    assert closure < closure_ratio, f"P/B at {closure:.2f} x their neighbouring vowels"
    return {"edge": edge, "closure": closure}


def _check_utterance(utt: Utterance, sample_rate: int) -> None:
    _check_audio(utt, sample_rate)
    _check_spans(utt)
    _check_content(utt)
    _check_energy(utt)


# --- espeak-ng ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["en-us+f3", "en+m2", "en-gb-x-rp+klatt", "en-029+Andy"])
def test_espeak_voice_alignment(name: str) -> None:
    utt = EspeakVoice.from_name(name, rate=165).synthesize(SENTENCE)
    _check_utterance(utt, 22050)
    assert utt.source == f"espeak-ng:{name}" and utt.kind == "speech" and utt.text == SENTENCE
    assert 1.5 < utt.duration < 6.0


def test_espeak_random_voices_deterministic_and_aligned() -> None:
    voices = make_voices(6, seed=7)
    assert voices == make_voices(6, seed=7)
    assert voices != make_voices(6, seed=8)
    assert len({v.variant for v in voices}) > 2 and len({v.language for v in voices}) > 1
    for voice in voices:
        utt = voice.synthesize(SENTENCE, kind="speech")
        _check_spans(utt)
        _check_content(utt)
        _check_energy(utt, edge_ratio=0.15)  # echo variants leave a faint tail in the final silence


def test_espeak_options_and_errors() -> None:
    assert {"f3", "m2", "klatt"} <= set(list_variants())
    assert {"en-us", "en-gb", "en-gb-x-rp"} <= set(list_languages("en"))
    slow = EspeakVoice("en-us", rate=100).synthesize("Bob met Mom.")
    fast = EspeakVoice("en-us", rate=300).synthesize("Bob met Mom.")
    assert slow.duration > 1.5 * fast.duration
    low = EspeakVoice("en-us", "m1", pitch=10).synthesize("Aaah.", kind="backchannel")
    assert low.kind == "backchannel"
    with pytest.raises(ValueError, match="variant"):
        EspeakVoice("en-us", "no-such-variant")
    with pytest.raises(ValueError, match="language"):
        EspeakVoice("xx-nowhere").synthesize("hello")
    with pytest.raises(ValueError):
        EspeakVoice(rate=20)


def test_espeak_phoneme_table_covers_english() -> None:
    tables = ["base1", "en", "en-us", "en-rp", "en-sc", "en-n", "en-wm", "en-wi", "en-us-nyc"]
    for table in tables:
        for mnemonic, kind in phoneme_table(table).items():
            if 2 <= kind <= 8:  # vowels, liquids, stops, fricatives, nasals
                assert mnemonic in ESPEAK_TO_ARPABET, f"{table}: {mnemonic!r} not mapped"
    assert all(set(v) <= PHONES for v in ESPEAK_TO_ARPABET.values())
    assert espeak_to_arpabet("'A:") == ("AA",) and espeak_to_arpabet(",aI@") == ("AY", "ER")
    assert espeak_to_arpabet("b") == ("B",) and espeak_to_arpabet("_:") == ("SIL",)
    assert espeak_to_arpabet("zz~weird") == ("Z",)  # nearest class


def test_espeak_thread_safe() -> None:
    # espeak-ng keeps wavegen pitch state between utterances, so repeated runs differ by a few
    # samples per phone; what must hold under concurrency is that nothing gets mixed up.
    voices = [EspeakVoice.from_name(n) for n in ("en-us+f3", "en+m2", "en-us+m3")]
    expected = [v.synthesize(SENTENCE) for v in voices]
    results: dict[int, Utterance] = {}

    def work(i: int) -> None:
        results[i] = voices[i % 3].synthesize(SENTENCE)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    for i, utt in results.items():
        ref = expected[i % 3]
        assert utt.source == ref.source
        assert [p.phone for p in utt.phones] == [p.phone for p in ref.phones]
        assert utt.duration == pytest.approx(ref.duration, abs=0.02)
        ends = np.array([p.end for p in utt.phones])
        assert np.max(np.abs(ends - np.array([p.end for p in ref.phones]))) < 0.02
        _check_energy(utt)


# --- flite --------------------------------------------------------------------------------------

needs_flite = pytest.mark.skipif(
    shutil.which("flite") is None,
    reason="Debian package 'flite' not installed (scripts/install-system-deps.sh)",
)


@needs_flite
@pytest.mark.parametrize(("name", "rate"), [("slt", 16000), ("kal", 8000), ("awb", 16000)])
def test_flite_voice_alignment(name: str, rate: int) -> None:
    from models.corpus.tts_flite import FliteVoice

    utt = FliteVoice(name).synthesize(SENTENCE)
    _check_utterance(utt, rate)
    assert utt.source == f"flite:{name}"
    utt16 = aug.resample_utterance(utt, 16000)
    _check_audio(utt16, 16000)
    _check_spans(utt16)


@needs_flite
def test_flite_options() -> None:
    from models.corpus.tts_flite import FliteVoice, list_voices, parse_psdur, text_voices

    assert {"kal", "slt"} <= set(text_voices()) <= set(list_voices())
    normal = FliteVoice("kal16").synthesize("Bob met Mom.")
    slow = FliteVoice("kal16", duration_stretch=1.5).synthesize("Bob met Mom.")
    assert slow.duration > 1.3 * normal.duration
    _check_spans(slow)
    assert parse_psdur("pau:0.2 b:0.25 aa0:0.4") == [("SIL", 0.2), ("B", 0.25), ("AA", 0.4)]
    with pytest.raises(ValueError, match="voice"):
        FliteVoice("nobody").synthesize("hello")


@needs_flite
def test_flite_limited_domain_voice_is_never_drawn() -> None:
    """awb_time says only clock times: a sentence comes out as a short burst whose printed phones
    do not match the sound; the corpus must never speak with it."""
    from models.corpus.builder import make_source
    from models.corpus.tts_flite import LIMITED_DOMAIN_VOICES, FliteVoice, list_voices, text_voices

    installed = LIMITED_DOMAIN_VOICES & set(list_voices())
    assert not installed & set(text_voices())
    rng = np.random.default_rng(0)
    drawn = {make_source("flite", rng).name for _ in range(60)}
    assert drawn <= set(text_voices()) and len(drawn) == len(text_voices())
    for name in installed:
        with pytest.raises(ValueError, match="limited-domain"):
            FliteVoice(name).synthesize("The cat sat on the mat.")


def test_flite_missing_binary_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.corpus.tts_flite import FliteVoice

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="flite"):
        FliteVoice("slt").synthesize("hello")


# --- Asterisk prompts + pocketsphinx ------------------------------------------------------------

ASTERISK_PROMPTS = ["agent-alreadyon", "check-number-dial-again", "all-circuits-busy-now"]


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory):
    from models.corpus.human import AsteriskPrompts

    try:
        return AsteriskPrompts(cache_dir=tmp_path_factory.mktemp("align-cache"))
    except FileNotFoundError as exc:
        pytest.skip(f"Asterisk prompts absent ({exc}); run scripts/install-system-deps.sh")


def test_asterisk_listing(asterisk) -> None:
    assert len(asterisk) > 500
    names = asterisk.names()
    assert 450 < len(names) <= len(asterisk)
    assert "beep" in asterisk.names(speakable_only=False) and "beep" not in names
    assert all(name in names for name in ASTERISK_PROMPTS)
    assert asterisk.transcript("auth-thankyou") == "Thank you."


def test_asterisk_alignment(asterisk) -> None:
    from models.corpus.human import normalize_transcript

    closures = []
    for name in ASTERISK_PROMPTS:
        utt = asterisk.load(name)
        _check_audio(utt, 16000)
        _check_spans(utt)
        assert utt.source == "asterisk" and utt.meta["prompt"] == name
        closures.append(_check_energy(utt, closure_ratio=1.0)["closure"])
        inner = [p for p in utt.phones[1:-1] if p.phone != SILENCE]
        assert all(p.end - p.start >= 0.03 - 1e-9 for p in inner)  # 3 HMM states x 10 ms
        assert all(p.end - p.start < 0.6 for p in inner)
        words = utt.meta["words"]
        assert [w for w, _s, _e in words] == normalize_transcript(utt.text)[0]
        starts = [s for _w, s, _e in words]
        assert starts == sorted(starts) and words[-1][2] <= utt.duration
        assert utt.phones[0].end <= words[0][1] + 1e-9  # the first word starts after the lead silence
    assert float(np.mean(closures)) < 0.6
    content = {p.phone for name in ASTERISK_PROMPTS for p in asterisk.load(name).phones}
    assert BILABIALS <= content and content & OPEN_VOWELS


def test_asterisk_cache_reused(asterisk) -> None:
    from models.corpus.human import AsteriskPrompts

    first = asterisk.load("auth-thankyou")
    again = AsteriskPrompts(cache_dir=asterisk.cache_dir)
    second = again.load("auth-thankyou")
    assert again._decoder is None, "a cached alignment should not start pocketsphinx"
    assert second.phones == first.phones
    assert any(asterisk.cache_dir.iterdir())


def test_normalize_transcript() -> None:
    from models.corpus.human import normalize_transcript

    words, _ = normalize_transcript("Press * to toggle pause, press # to enter 2 digits.")
    assert words == "press star to toggle pause press pound to enter two digits".split()
    assert normalize_transcript("[ascending tones]")[0] is None
    assert normalize_transcript("Dial 1234 now")[0] is None
    assert normalize_transcript("Call-Forward on Busy.")[0] == ["call", "forward", "on", "busy"]


# --- augmentations ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech16() -> Utterance:
    return aug.resample_utterance(EspeakVoice.from_name("en-us+m3").synthesize(SENTENCE), 16000)


@pytest.fixture(scope="module")
def monotone16() -> Utterance:
    """Flat intonation (pitch range 0), so that one vowel has one pitch."""
    voice = EspeakVoice("en-us", "m3", pitch_range=0)
    return aug.resample_utterance(voice.synthesize("Aaah, Bob saw the mall."), 16000)


def _f0(utt: Utterance, frame_s: float = 0.04) -> float:
    """Median YIN pitch (60-400 Hz) over 40 ms frames of the longest open vowel."""
    p = max((p for p in utt.phones if p.phone in OPEN_VOWELS), key=lambda p: p.end - p.start)
    x = utt.audio[int(p.start * utt.sample_rate) : int(p.end * utt.sample_rate)].astype(np.float64)
    lo, hi = utt.sample_rate // 400, utt.sample_rate // 60
    n = int(frame_s * utt.sample_rate)
    estimates = []
    for start in range(0, len(x) - n - hi, n // 2):
        seg = x[start : start + n + hi]
        diff = np.array([np.sum((seg[:n] - seg[tau : tau + n]) ** 2) for tau in range(hi + 1)])
        cmnd = diff[1:] * np.arange(1, hi + 1) / np.maximum(np.cumsum(diff[1:]), 1e-12)
        candidates = [tau for tau in range(lo, hi) if cmnd[tau - 1] < 0.15]
        if candidates:
            tau = candidates[0]
            while tau + 1 < hi and cmnd[tau] < cmnd[tau - 1]:  # down to the local minimum
                tau += 1
            estimates.append(utt.sample_rate / tau)
    assert estimates, "no voiced frame"
    return float(np.median(estimates))


def _envelope_db(utt: Utterance, times: np.ndarray) -> np.ndarray:
    half = int(0.01 * utt.sample_rate)
    x = utt.audio.astype(np.float64)
    idx = (times * utt.sample_rate).astype(int)
    return np.array(
        [10 * np.log10(np.mean(x[max(0, i - half) : i + half] ** 2) + 1e-5) for i in idx]
    )  # -50 dB floor


def test_resample_utterance(speech16: Utterance) -> None:
    original = EspeakVoice.from_name("en-us+m3").synthesize(SENTENCE)
    assert speech16.sample_rate == 16000
    assert speech16.duration == pytest.approx(original.duration, abs=1e-3)
    _check_spans(speech16)
    _check_energy(speech16)
    assert aug.resample_utterance(speech16, 16000) is speech16


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_change_rate_scales_timings(speech16: Utterance, rate: float) -> None:
    rng = np.random.default_rng(0)
    before = speech16.audio.copy()
    out = aug.change_rate(speech16, rng, rate=rate)
    assert np.array_equal(speech16.audio, before), "input modified"
    assert abs(len(out.audio) - len(speech16.audio) / rate) <= 1
    scale = len(out.audio) / len(speech16.audio)
    for a, b in zip(speech16.phones[:-1], out.phones[:-1], strict=True):
        assert a.phone == b.phone and b.end == pytest.approx(a.end * scale, abs=1e-9)
    _check_spans(out)
    _check_energy(out)
    times = np.arange(0.03, speech16.duration - 0.03, 0.01)
    corr = np.corrcoef(_envelope_db(speech16, times), _envelope_db(out, times * scale))[0, 1]
    assert corr > 0.93, f"envelope no longer follows the scaled time axis ({corr:.3f})"
    assert out.meta["augment"][-1] == ("rate", {"rate": rate, "preserve_pitch": True})


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_change_rate_keeps_pitch(monotone16: Utterance, rate: float) -> None:
    rng = np.random.default_rng(0)
    assert _f0(aug.change_rate(monotone16, rng, rate=rate)) == pytest.approx(_f0(monotone16), rel=0.03)
    tape = aug.change_rate(monotone16, rng, rate=rate, preserve_pitch=False)
    assert _f0(tape) == pytest.approx(_f0(monotone16) * rate, rel=0.03)


@pytest.mark.parametrize("semitones", [4.0, -3.0])
def test_pitch_shift_keeps_timings(speech16: Utterance, monotone16: Utterance, semitones: float) -> None:
    rng = np.random.default_rng(0)
    out = aug.pitch_shift(speech16, rng, semitones=semitones)
    assert len(out.audio) == len(speech16.audio) and out.phones == speech16.phones
    _check_energy(out)
    shifted = aug.pitch_shift(monotone16, rng, semitones=semitones)
    assert _f0(shifted) / _f0(monotone16) == pytest.approx(2 ** (semitones / 12), rel=0.03)


def _harmonic_db(
    x: np.ndarray, rate: int, f0: float, top_hz: float = 3500.0
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and levels (dB) of the harmonics of a steady vowel, read from its middle 0.5 s."""
    mid = x[len(x) // 4 : len(x) // 4 + rate // 2].astype(np.float64)
    spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freqs = np.fft.rfftfreq(len(mid), 1 / rate)
    harmonics = f0 * np.arange(2, int(top_hz / f0))
    return harmonics, np.array([20 * np.log10(spec[np.argmin(abs(freqs - h))] + 1e-12) for h in harmonics])


@pytest.mark.parametrize(("f0", "factor"), [(110.0, 0.87), (110.0, 1.15), (220.0, 1.15)])
def test_formant_shift_moves_the_envelope_and_keeps_the_pitch(f0: float, factor: float) -> None:
    from models.corpus.laugh import formant_filter, glottal_source

    rate, rng = 16000, np.random.default_rng(0)
    src = glottal_source(np.full(rate, f0), rate, rng, jitter=0.0, shimmer=0.0)
    vowel = formant_filter(src, (700.0, 1100.0, 2500.0), (80.0, 90.0, 120.0), rate)
    utt = Utterance((0.5 * vowel / np.abs(vowel).max()).astype(np.float32), rate, [], "", "vowel")
    out = aug.formant_shift(utt, rng, factor=factor)
    assert len(out.audio) == len(utt.audio) and out.meta["augment"][-1] == ("formant", {"factor": factor})
    freqs, before = _harmonic_db(utt.audio, rate, f0)
    _, after = _harmonic_db(out.audio, rate, f0)
    # the same harmonics (the pitch is kept), now with the levels the envelope had at f / factor
    target = np.interp(freqs / factor, freqs, before)
    err = np.abs(after - target - np.median(after - target)).mean()
    unchanged = np.abs(before - target - np.median(before - target)).mean()
    assert err < 2.5 and unchanged > 2 * err, (err, unchanged)
    power = [np.mean(u.audio.astype(np.float64) ** 2) for u in (utt, out)]
    assert power[1] == pytest.approx(power[0], rel=0.02)


def test_formant_shift_keeps_speech_timings(speech16: Utterance, monotone16: Utterance) -> None:
    rng = np.random.default_rng(0)
    out = aug.formant_shift(speech16, rng, factor=0.88)
    assert out.phones == speech16.phones and len(out.audio) == len(speech16.audio)
    _check_energy(out)
    times = np.arange(0.03, speech16.duration - 0.03, 0.01)
    assert np.corrcoef(_envelope_db(speech16, times), _envelope_db(out, times))[0, 1] > 0.95
    assert _f0(aug.formant_shift(monotone16, rng, factor=1.15)) == pytest.approx(_f0(monotone16), rel=0.03)
    near = aug.formant_shift(speech16, rng, factor=1.0 + 1e-6).audio - speech16.audio
    assert np.sqrt(np.mean(near**2) / np.mean(speech16.audio.astype(np.float64) ** 2)) < 1e-2
    drawn = aug.formant_shift(speech16, np.random.default_rng(3), max_change=0.1).meta["augment"][-1][1]
    assert 0.9 <= drawn["factor"] <= 1.1 and drawn["factor"] != 1.0
    with pytest.raises(ValueError, match="formant factor"):
        aug.formant_shift(speech16, rng, factor=0.0)


def test_gain(speech16: Utterance) -> None:
    out = aug.apply_gain(speech16, np.random.default_rng(0), gain_db=-6.0)
    ratio = np.sqrt(
        np.mean(out.audio.astype(np.float64) ** 2) / np.mean(speech16.audio.astype(np.float64) ** 2)
    )
    assert ratio == pytest.approx(10 ** (-6 / 20), rel=1e-4)
    assert out.phones == speech16.phones
    drawn = aug.apply_gain(speech16, np.random.default_rng(1))
    assert -6.0 <= drawn.meta["augment"][-1][1]["gain_db"] <= 6.0


@pytest.mark.parametrize("kind", aug.NOISE_KINDS)
@pytest.mark.parametrize("snr_db", [10.0, 25.0])
def test_noise_snr(speech16: Utterance, kind: str, snr_db: float) -> None:
    out = aug.add_noise(speech16, np.random.default_rng(1), snr_db=snr_db, kind=kind)
    noise = out.audio.astype(np.float64) - speech16.audio.astype(np.float64)
    measured = 10 * np.log10(aug.speech_power(speech16) / np.mean(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.3)
    assert out.phones == speech16.phones


def test_noise_deterministic_per_generator(speech16: Utterance) -> None:
    a = aug.add_noise(speech16, np.random.default_rng(5), snr_db=20.0, kind="pink")
    b = aug.add_noise(speech16, np.random.default_rng(5), snr_db=20.0, kind="pink")
    c = aug.add_noise(speech16, np.random.default_rng(6), snr_db=20.0, kind="pink")
    assert np.array_equal(a.audio, b.audio) and not np.array_equal(a.audio, c.audio)


def _band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def test_telephone_band(speech16: Utterance) -> None:
    noisy = aug.add_noise(speech16, np.random.default_rng(0), snr_db=20.0, kind="white")  # energy up to 8 kHz
    out = aug.telephone(noisy, np.random.default_rng(0))
    assert len(out.audio) == len(noisy.audio) and out.phones == noisy.phones
    total = _band_energy(out.audio, 16000, 0, 8000)
    assert _band_energy(noisy.audio, 16000, 3600, 8000) / _band_energy(noisy.audio, 16000, 0, 8000) > 0.005
    assert _band_energy(out.audio, 16000, 3450, 8000) / total < 1e-4
    assert _band_energy(out.audio, 16000, 0, 200) / total < 1e-3
    assert _band_energy(out.audio, 16000, 400, 3200) / total > 0.9


def test_reverb(speech16: Utterance) -> None:
    out = aug.add_reverb(speech16, np.random.default_rng(0), rt60=0.6, drr_db=3.0)
    assert len(out.audio) == len(speech16.audio) and out.phones == speech16.phones
    rms_in = np.sqrt(np.mean(speech16.audio.astype(np.float64) ** 2))
    rms_out = np.sqrt(np.mean(out.audio.astype(np.float64) ** 2))
    assert rms_out == pytest.approx(rms_in, rel=1e-3)
    last = speech16.phones[-1]  # trailing silence now carries the decaying tail
    assert _rms(out, last.start, last.start + 0.1) > 3 * _rms(speech16, last.start, last.start + 0.1)
    _check_energy(out, edge_ratio=0.5)


def test_random_augment(speech16: Utterance) -> None:
    a = aug.random_augment(speech16, np.random.default_rng(11), strength=0.8)
    b = aug.random_augment(speech16, np.random.default_rng(11), strength=0.8)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones
    same = aug.random_augment(speech16, np.random.default_rng(0), strength=0.0)
    assert np.array_equal(same.audio, speech16.audio) and same.phones == speech16.phones
    applied = set()
    for seed in range(12):
        out = aug.random_augment(speech16, np.random.default_rng(seed), strength=1.0)
        _check_audio(out, 16000)
        _check_spans(out)
        applied |= {name for name, _params in out.meta["augment"]}
        assert out.meta["augment"][0] == ("resample", {"rate": 16000})
    assert {"rate", "pitch", "reverb", "noise", "gain"} <= applied
    with pytest.raises(ValueError):
        aug.random_augment(speech16, np.random.default_rng(0), strength=2.0)


def test_prompt_split_is_fixed_disjoint_and_about_fifteen_percent(asterisk) -> None:
    from models.corpus.human import prompt_set, select_prompts

    names = asterisk.names()
    train, heldout = select_prompts(names, "train"), select_prompts(names, "heldout")
    assert set(train).isdisjoint(heldout) and sorted(train + heldout) == sorted(names)
    assert 0.10 < len(heldout) / len(names) < 0.20
    assert select_prompts(names, "all") == names
    assert prompt_set("agent-alreadyon") == prompt_set("agent-alreadyon")  # by name, no seed
    with pytest.raises(ValueError, match="unknown prompt set"):
        select_prompts(names, "test")


def test_human_speech_draws_from_its_prompt_set(asterisk, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.corpus import builder, human
    from models.corpus.builder import CorpusConfig, HumanSpeech

    monkeypatch.setattr(human, "AsteriskPrompts", lambda: asterisk)  # the module's alignment cache
    for which in ("train", "heldout"):
        source = HumanSpeech(np.random.default_rng(0), which)
        assert source.names and all(human.prompt_set(n) == which for n in source.names)
        utt = source.synthesize("ignored")
        assert human.prompt_set(utt.meta["prompt"]) == which
    assert isinstance(builder.make_source("asterisk", np.random.default_rng(1), "heldout"), HumanSpeech)
    with pytest.raises(ValueError, match="human_prompts must be one of"):
        CorpusConfig(human_prompts="test")
