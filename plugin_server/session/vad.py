"""Speech detection for the session's turn events: silero-vad on onnxruntime, and the detector choice.

`SileroVad` runs the bundled silero-vad model (`models/weights/silero_vad.onnx`, MIT licence, from
the silero-vad 6.2.3 wheel) with onnxruntime alone: no torch, no torchaudio. At 16 kHz the model
takes windows of 512 new samples (32 ms) preceded by the last 64 samples of the previous window,
plus a recurrent state `(2, 1, 128)`, and returns the probability that the window is speech and the
next state. One `onnxruntime.InferenceSession` (one thread) is shared by every detector of the
process; each detector keeps its own state, so any number of streams can use it.

Decisions, per window (as silero's own streaming iterator makes them):
- not speaking: speech starts once `min_speech_s` of consecutive windows (at least one) have
  probability >= `threshold`;
- speaking: the first window below `neg_threshold` starts a quiet run; a window >= `threshold`
  cancels it; speech ends once the quiet run lasts `hangover_s` (pauses between words do not end a
  turn). Probabilities in between neither start nor cancel a quiet run.

Audio is cut into windows whatever the chunk sizes, so a stream fed in any chunks gives the same
probabilities and decisions as the whole signal at once.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

import models
from models.audio.resample import StreamingResampler, check_rate, to_mono_float32
from plugin_server.protocol.config import VADS, onnxruntime_installed

from .turns import EnergyVad

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

SILERO_MODEL_PATH = Path(models.__file__).resolve().parent / "weights" / "silero_vad.onnx"
SILERO_RATE = 16000
WINDOW = 512  # new samples per model call at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each call
STATE_SHAPE = (2, 1, 128)


class Vad(Protocol):
    """A streaming speech detector: `update` returns True/False when speech starts/stops."""

    speaking: bool

    def reset(self) -> None: ...

    def update(self, samples: np.ndarray, seconds: float) -> bool | None: ...


class VadUnavailableError(RuntimeError):
    """The chosen detector cannot run here (onnxruntime or the model file is missing)."""


class VadChange(NamedTuple):
    """Speech started (`speaking` True) or stopped, decided at the end of the window that ends at
    16 kHz sample `sample` (counted from the last reset)."""

    sample: int
    speaking: bool

    @property
    def seconds(self) -> float:
        return self.sample / SILERO_RATE


def silero_available() -> bool:
    """Whether `SileroVad` can run: onnxruntime is installed and the bundled model is present."""
    return onnxruntime_installed() and SILERO_MODEL_PATH.is_file()


@functools.cache
def load_silero(path: Path = SILERO_MODEL_PATH) -> onnxruntime.InferenceSession:
    """The silero-vad model as an onnxruntime session (one thread), loaded once per process.

    Raises:
        VadUnavailableError: onnxruntime is not installed or the file is missing.
        ValueError: the file is not a silero-vad model with the expected inputs and outputs.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise VadUnavailableError(
            f"the silero speech detector needs onnxruntime ({e}); pip install 'avatar-forcing[vad]'"
        ) from None
    if not Path(path).is_file():
        raise VadUnavailableError(f"silero-vad model not found at {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # 0.2 ms per window: threads cost more than they save
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if inputs != {"input", "state", "sr"} or len(outputs) != 2:
        raise ValueError(
            f"{path} is not a silero-vad v5+ model: inputs {sorted(inputs)}, outputs {outputs} "
            "(expected inputs input/state/sr and two outputs: probability, state)"
        )
    log.info("silero-vad loaded from %s (onnxruntime %s)", path, ort.__version__)
    return session


class SileroVad:
    """silero-vad on one audio stream.

    Args:
        threshold: speech probability at or above which a window is speech (0..1).
        neg_threshold: below it a window is quiet while speaking (0 < neg_threshold <= threshold).
        hangover_s: quiet time that ends speech.
        min_speech_s: speech time before speech starts (0: the first speech window starts it).
        rate: sample rate of the audio given to `update`/`process`; other rates than 16 kHz are
            resampled with the project's streaming resampler (libsoxr).
        model_path: the ONNX file (the bundled model by default).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        neg_threshold: float = 0.35,
        hangover_s: float = 0.3,
        min_speech_s: float = 0.0,
        rate: float = SILERO_RATE,
        model_path: Path = SILERO_MODEL_PATH,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if not 0.0 < neg_threshold <= threshold:
            raise ValueError(f"neg_threshold must be in (0, threshold={threshold}], got {neg_threshold}")
        if not (math.isfinite(hangover_s) and hangover_s >= 0.0):
            raise ValueError(f"hangover_s must be a finite number >= 0, got {hangover_s}")
        if not (math.isfinite(min_speech_s) and min_speech_s >= 0.0):
            raise ValueError(f"min_speech_s must be a finite number >= 0, got {min_speech_s}")
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.hangover_s = hangover_s
        self.min_speech_s = min_speech_s
        self.rate = check_rate(rate)
        self._model = load_silero(Path(model_path))
        self._sr = np.array(SILERO_RATE, np.int64)
        self._min_windows = max(1, math.ceil(min_speech_s * SILERO_RATE / WINDOW - 1e-9))
        self._hangover_samples = hangover_s * SILERO_RATE
        self._resampler = StreamingResampler(self.rate) if self.rate != SILERO_RATE else None
        self._input = np.zeros((1, CONTEXT + WINDOW), np.float32)  # [context | window]
        self.reset()

    def reset(self) -> None:
        """Forget the stream: state, buffered samples, decisions."""
        self.speaking = False
        self.probability = 0.0  # of the last window
        self.samples = 0  # 16 kHz samples consumed in windows since the reset
        self._state = np.zeros(STATE_SHAPE, np.float32)
        self._input[:] = 0.0
        self._pending = np.zeros(0, np.float32)
        self._speech_run = 0  # consecutive speech windows while not speaking
        self._quiet_from: int | None = None  # first sample of the quiet run while speaking
        if self._resampler is not None:
            self._resampler.reset()

    def update(self, samples: np.ndarray, seconds: float = 0.0) -> bool | None:
        """Feed a chunk; returns True/False when the chunk changed the speaking state, else None.

        `samples`: `(N,)` or `(N, C)` at `rate` (int16 or float). `seconds` is accepted for the
        `Vad` interface and unused: time is counted in samples. A start and a stop within one
        chunk cancel out (use `process` to see every change).
        """
        before = self.speaking
        self.process(samples)
        return self.speaking if self.speaking != before else None

    def process(self, samples: np.ndarray) -> list[VadChange]:
        """Feed a chunk; returns every change it caused, in order."""
        x = to_mono_float32(np.asarray(samples))
        if self._resampler is not None:
            x = self._resampler.push(x)
        if self._pending.size:
            x = np.concatenate([self._pending, x])
        changes: list[VadChange] = []
        n = len(x) // WINDOW * WINDOW
        for start in range(0, n, WINDOW):
            change = self._window(x[start : start + WINDOW])
            if change is not None:
                changes.append(change)
        self._pending = x[n:].copy()
        return changes

    def _window(self, window: np.ndarray) -> VadChange | None:
        buf = self._input
        buf[0, CONTEXT:] = window
        prob, self._state = self._model.run(None, {"input": buf, "state": self._state, "sr": self._sr})
        buf[0, :CONTEXT] = buf[0, -CONTEXT:]  # the next call's context
        p = float(prob.reshape(-1)[0])
        self.probability = p
        first = self.samples
        self.samples += WINDOW
        if not self.speaking:
            self._speech_run = self._speech_run + 1 if p >= self.threshold else 0
            if self._speech_run >= self._min_windows:
                self.speaking = True
                self._speech_run = 0
                self._quiet_from = None
                return VadChange(self.samples, True)
            return None
        if p >= self.threshold:
            self._quiet_from = None
        elif p < self.neg_threshold and self._quiet_from is None:
            self._quiet_from = first
        if self._quiet_from is not None and self.samples - self._quiet_from >= self._hangover_samples:
            self.speaking = False
            self._quiet_from = None
            return VadChange(self.samples, False)
        return None


def make_vad(kind: str) -> Vad:
    """A fresh detector of `kind` ("silero" at 16 kHz, or "energy" at any rate).

    Raises:
        ValueError: an unknown kind (the message lists the valid ones).
        VadUnavailableError: silero without onnxruntime or the model file.
    """
    if kind == "silero":
        return SileroVad()
    if kind == "energy":
        return EnergyVad()
    raise ValueError(f"unknown vad {kind!r}; valid: {list(VADS)}")
