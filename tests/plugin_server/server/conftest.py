"""Real websocket servers (in-process, 127.0.0.1, a free port) around a small random model."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from models.bundle import AvatarForcingModel
from plugin_server.server import AvatarServer, ServerConfig
from tests.helpers import small_random_model, speech  # noqa: F401 (speech: for the tests here)


@pytest.fixture(scope="session")
def model() -> AvatarForcingModel:
    """A small random model (one generator layer) that moves visibly."""
    return small_random_model()


@contextlib.asynccontextmanager
async def serving(
    model: AvatarForcingModel, sinks: Any = (), local: Any = None, **config: Any
) -> AsyncIterator[AvatarServer]:
    """An `AvatarServer` listening on 127.0.0.1 on a free port, stopped on exit (`local`: its
    `LocalSessionSpec`)."""
    server = AvatarServer(model, ServerConfig(port=0, **config), sinks, local=local)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


ROOT = Path(__file__).resolve().parents[3]


def serve_command(
    model: AvatarForcingModel, tmp_path: Path, *extra: str, home: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """`python -m plugin_server serve` on `model` (saved under tmp_path), any free port, one
    thread, plus `extra` arguments; and its environment (no token from the caller's)."""
    path = tmp_path / "model.pt"
    model.save(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if home is not None:
        env["HOME"] = str(home)
    env.pop("AVATAR_FORCING_TOKEN", None)
    cmd = [sys.executable, "-m", "plugin_server", "serve", "--model", str(path), "--port", "0"]
    return [*cmd, "--threads", "1", *extra], env


def spawn_serve(cmd: list[str], env: dict[str, str], lines: int) -> tuple[Any, list[str], str]:
    """Start `serve` (see serve_command); read its first `lines` stdout lines. Returns the process,
    those lines and the websocket URL it printed."""
    import re
    import subprocess

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    out = [proc.stdout.readline() for _ in range(lines)]
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/", out[0])
    if not match:
        err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        proc.kill()
        raise AssertionError(f"serve printed no URL: {out} {err}")
    return proc, out, f"ws://127.0.0.1:{match.group(1)}/"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run a test coroutine in a fresh event loop, with a hard timeout."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.contextmanager
def server_thread(model: AvatarForcingModel, **config: Any) -> Iterator[AvatarServer]:
    """An `AvatarServer` on its own event loop in a background thread (for synchronous callers
    such as the CLI client, which runs its own loop)."""
    loop = asyncio.new_event_loop()
    server = AvatarServer(model, ServerConfig(port=0, **config))
    thread = threading.Thread(target=loop.run_forever, name="test-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
