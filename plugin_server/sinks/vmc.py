"""VMC protocol sender: drives VSeeFace, VNyan, Warudo, VMagicMirror, EVMC4U, ... over OSC/UDP.

Per motion frame the sink sends exactly ONE OSC bundle (VSeeFace's author asks for this; a
receiver then never renders half a frame) holding, in this order::

    /VMC/Ext/OK         1                       (int: avatar "loaded")
    /VMC/Ext/T          <frame timestamp, s>    (float, avatar-audio clock)
    /VMC/Ext/Bone/Pos   "Head" px py pz qx qy qz qw
    /VMC/Ext/Blend/Val  <name> <value>          one per VRM 0.x preset (+ the 52 ARKit names
                                                in Perfect Sync mode)
    /VMC/Ext/Blend/Apply                        (after all values)

Every number except OK's flag is an OSC float (type tag ``f``), built from Python floats: EVMC4U
silently drops int-typed values and python-osc refuses numpy scalars. VRM presets and the head
pose come from :mod:`plugin_server.sinks.vrm` (formulas and the Unity axis mapping are documented
there). The head bone's ``px py pz`` carry the head translation in metres in Unity axes
(``head_translation=True``); receivers that apply bone positions literally (a full-body
Marionette such as EVMC4U with bone position sync on) expect the bone's local rest offset there,
so use ``head_translation=false`` with those; face-tracking receivers use the rotation.

Default destination 127.0.0.1:39539 (a Marionette's port); use 39540 to feed a Performer as an
"Assistant". Sending runs on the sink's own thread behind a drop-oldest queue.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from models.motion.arkit import ARKIT_BLENDSHAPES, spell

from .base import PIP_HINT, MotionFrame, SinkConfigError, SinkUnavailableError, ThreadedSink, register_sink
from .vrm import arkit_blendshapes, arkit_to_vrm0, head_pose_unity

log = logging.getLogger(__name__)

DEFAULT_PORT = 39539


def _import_osc() -> tuple[Any, Any]:
    try:
        from pythonosc import osc_bundle_builder, osc_message_builder
    except ImportError as exc:
        raise SinkUnavailableError(f"the vmc sink needs python-osc: {PIP_HINT} ({exc})") from exc
    return osc_bundle_builder, osc_message_builder


@register_sink("vmc")
class VMCSink(ThreadedSink[MotionFrame]):
    """Send each motion frame as one VMC bundle over UDP.

    Args:
        host: receiver address (name or IP; IPv4 or IPv6).
        port: receiver UDP port (39539: Marionette; 39540: Performer's Assistant input).
        perfect_sync: also send the 52 ARKit blendshapes (VRM "Perfect Sync" models).
        perfect_sync_spelling: ``pascal`` (EyeBlinkLeft), ``camel`` (eyeBlinkLeft) or ``lr``
            (eyeBlink_L), to match the clip names of the model.
        vrm_presets: send the 16 VRM 0.x presets (turn off for pure Perfect Sync).
        head_bone: the Unity HumanBodyBones name for the head pose (``Head``).
        head_translation: put the head translation (m) in the bone's px py pz, else zeros.
        queue_size: frames buffered before the oldest is dropped.
    """

    consumes = frozenset({"motion"})

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        perfect_sync: bool = False,
        perfect_sync_spelling: str = "pascal",
        vrm_presets: bool = True,
        head_bone: str = "Head",
        head_translation: bool = True,
        queue_size: int = 8,
    ) -> None:
        super().__init__(queue_size=queue_size)
        if not 0 < int(port) < 65536:
            raise SinkConfigError(f"vmc: port must be 1..65535, got {port}")
        if perfect_sync_spelling not in ("pascal", "camel", "lr"):
            raise SinkConfigError(
                f"vmc: perfect_sync_spelling must be pascal, camel or lr, got {perfect_sync_spelling!r}"
            )
        if not (vrm_presets or perfect_sync):
            raise SinkConfigError("vmc: nothing to send: enable vrm_presets or perfect_sync")
        self.host = host
        self.port = int(port)
        self.perfect_sync = perfect_sync
        self.vrm_presets = vrm_presets
        self.head_bone = head_bone
        self.head_translation = head_translation
        self._arkit_names = {n: spell(n, perfect_sync_spelling) for n in ARKIT_BLENDSHAPES}  # type: ignore[arg-type]
        self._bundle_mod, self._message_mod = _import_osc()
        self._sock: socket.socket | None = None
        self._address: Any = None

    # -- building
    def _msg(self, address: str, *args: tuple[Any, str]) -> Any:
        builder = self._message_mod.OscMessageBuilder(address=address)
        for value, type_tag in args:
            builder.add_arg(value, type_tag)
        return builder.build()

    def build_bundle(self, frame: MotionFrame) -> bytes:
        """The datagram of one frame's bundle (see the module doc for its content and order)."""
        bundle = self._bundle_mod.OscBundleBuilder(self._bundle_mod.IMMEDIATELY)
        bundle.add_content(self._msg("/VMC/Ext/OK", (1, "i")))
        bundle.add_content(self._msg("/VMC/Ext/T", (float(frame.timestamp), "f")))
        (px, py, pz), (qx, qy, qz, qw) = head_pose_unity(frame.values, translation=self.head_translation)
        bundle.add_content(
            self._msg(
                "/VMC/Ext/Bone/Pos",
                (self.head_bone, "s"),
                *((float(x), "f") for x in (px, py, pz, qx, qy, qz, qw)),
            )
        )
        shapes: dict[str, float] = {}
        if self.vrm_presets:
            shapes.update(arkit_to_vrm0(frame.values))
        if self.perfect_sync:
            for name, value in arkit_blendshapes(frame.values).items():
                shapes[self._arkit_names[name]] = value
        for name, value in shapes.items():
            bundle.add_content(self._msg("/VMC/Ext/Blend/Val", (name, "s"), (float(value), "f")))
        bundle.add_content(self._msg("/VMC/Ext/Blend/Apply"))
        return bytes(bundle.build().dgram)

    # -- ThreadedSink
    def _open(self) -> None:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise SinkUnavailableError(f"vmc: cannot resolve host {self.host!r}: {exc}") from exc
        family, socktype, proto, _, address = infos[0]
        self._sock = socket.socket(family, socktype, proto)
        self._address = address
        log.info("vmc: sending to %s:%d (perfect sync %s)", self.host, self.port, self.perfect_sync)

    def _deliver(self, item: MotionFrame) -> None:
        assert self._sock is not None
        self._sock.sendto(self.build_bundle(item), self._address)

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
