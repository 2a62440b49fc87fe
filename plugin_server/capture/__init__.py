"""Capture: local inputs of the server's local session (`serve --mic`, `serve --webcam`).

==========  ==============================================================  =====================
source      what                                                            needs
==========  ==============================================================  =====================
microphone  an input device (sounddevice) -> the session's user audio         sounddevice + PortAudio
                                                                            (the ``sinks`` extra)
webcam      a camera through MediaPipe Face Mesh -> ARKit user motion         the ``webcam`` extra
==========  ==============================================================  =====================

`face` (landmarks -> ARKit weights and head pose) is pure numpy and needs neither. Each source is a
thin adapter (`base.CaptureSource`): a device callback or thread fills a bounded drop-oldest queue,
and the server's local session polls it into ordinary protocol messages.
"""

from .base import WEBCAM_HINT, CaptureSource, CaptureUnavailableError
from .microphone import AudioChunk, MicrophoneCapture, MicrophoneSource, parse_device

__all__ = [
    "WEBCAM_HINT",
    "AudioChunk",
    "CaptureSource",
    "CaptureUnavailableError",
    "MicrophoneCapture",
    "MicrophoneSource",
    "parse_device",
]
