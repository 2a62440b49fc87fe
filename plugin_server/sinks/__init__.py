"""Sinks: where generated motion (and the avatar's audio/video) leaves the process.

Each sink is optional and selected by name from the CLI or session config:

===============  ==========================================================  ===================
name             what                                                         needs
===============  ==========================================================  ===================
vmc              VMC protocol over UDP (VSeeFace, VNyan, Warudo, EVMC4U)       python-osc
vtube_studio     VTube Studio parameter injection over its websocket API       websockets
virtual_camera   rendered frames into a virtual webcam                        pyvirtualcam + OBS /
                                                                              v4l2loopback
audio            avatar audio on a local device, delayed by the A/V offset    sounddevice +
                                                                              PortAudio
===============  ==========================================================  ===================

``MicrophoneCapture`` (``--mic``) is the matching audio *source*. Optional packages:
``pip install 'avatar-forcing[sinks]'``. Built-in sink modules are imported on first use, so
importing this package needs none of them.
"""

from .base import (
    Counters,
    DropOldestQueue,
    MotionFrame,
    QueueClosedError,
    QueueEmptyError,
    Sink,
    SinkConfigError,
    SinkError,
    SinkStats,
    SinkUnavailableError,
    ThreadedSink,
    available_sinks,
    coerce_options,
    create_sink,
    get_sink_factory,
    parse_sink_spec,
    register_sink,
    sink_options,
)

__all__ = [
    "Counters",
    "DropOldestQueue",
    "MotionFrame",
    "QueueClosedError",
    "QueueEmptyError",
    "Sink",
    "SinkConfigError",
    "SinkError",
    "SinkStats",
    "SinkUnavailableError",
    "ThreadedSink",
    "available_sinks",
    "coerce_options",
    "create_sink",
    "get_sink_factory",
    "parse_sink_spec",
    "register_sink",
    "sink_options",
]
