import pytest

from models.bundle import AvatarForcingModel
from plugin_server.protocol import (
    ClientMessage,
    ServerMessage,
    decode,
    encode,
)
from plugin_server.session import Session
from plugin_server.session.frames import materialize
from tests.helpers import small_random_model, speech  # noqa: F401 (speech: for the tests here)


@pytest.fixture(scope="session")
def model() -> AvatarForcingModel:
    """A small random model (one generator layer) that moves visibly."""
    return small_random_model()


class Driver:
    """A scripted client: frames in (alternating msgpack / JSON), a fake clock, outputs kept."""

    def __init__(self, session: Session, now: float = 0.0) -> None:
        self.session = session
        self.now = now
        self.out: list[ServerMessage] = []
        self._binary = True

    def _keep(self, msgs: list[ServerMessage]) -> list[ServerMessage]:
        msgs = [materialize(m) for m in msgs]  # the `frames` output is drawn when sent, as the server does
        back = []
        for m in msgs:  # every output survives the codec in both framings
            self._binary = not self._binary
            back.append(decode(encode(m, self._binary), server=True))
        assert back == msgs
        self.out += back
        return back

    def send(self, msg: ClientMessage) -> list[ServerMessage]:
        self._binary = not self._binary
        return self._keep(self.session.handle_frame(encode(msg, self._binary), self.now))

    def tick(self) -> list[ServerMessage]:
        return self._keep(self.session.tick(self.now))

    def run(self, seconds: float, step: float = 0.04, each=None) -> list[ServerMessage]:
        """Advance the clock in steps, calling `each()` before every tick."""
        got: list[ServerMessage] = []
        for _ in range(round(seconds / step)):
            self.now += step
            if each is not None:
                each()
            got += self.tick()
        return got

    def of(self, kind: type, msgs: list[ServerMessage] | None = None) -> list:
        return [m for m in (self.out if msgs is None else msgs) if isinstance(m, kind)]
