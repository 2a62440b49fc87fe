"""Causal audio front end of the CPU model: any audio stream -> per-frame conditions `(T, dim_cond)`.

`resample` (libsoxr, any rate/layout -> 16 kHz mono), `features` (causal, normalised log-mel,
one `(F,)` vector per 40-ms frame), `encoder` (learned causal conv + GRU), `frontend`
(`AudioConditioner`: the three for one live stream, or a whole file).
"""

from .encoder import AudioEncoder, AudioEncoderConfig, EncoderState
from .features import FrontEndConfig, StreamingFrontEnd, compute
from .frontend import AudioConditioner
from .resample import TARGET_RATE, StreamingResampler, to_16k

__all__ = [
    "TARGET_RATE",
    "AudioConditioner",
    "AudioEncoder",
    "AudioEncoderConfig",
    "EncoderState",
    "FrontEndConfig",
    "StreamingFrontEnd",
    "StreamingResampler",
    "compute",
    "to_16k",
]
