"""End to end: the OBS overlay page in headless Chromium against a real server.

An in-process server runs the bundled trained model; the page (http://127.0.0.1:PORT/overlay)
watches whichever session drives the server (`session=*`); a driving client streams silence, then
speech, then silence. Screenshots (with Chromium's own background removed, so only the page's
pixels count) are taken every 0.3 s of the session clock as the page shows it
(`window.overlayState.t`) and sorted into speech and silence by the audio the server placed on that
clock (its `avatar_audio` echo), so a busy machine that delays or skips frames does not mislabel
them. Checked: the background (top corners, the sides beside the head) is fully transparent, the
avatar is a big opaque blob in the middle, its mouth area changes and opens while the speech plays
and stays still in the silences. Also: frames mode (server-rendered images), watching a session by
id, the 4004 close when it ends and the retries after it.

The speech is a clip of `models/samples/avatar.flac` (real speech): the trained model rightly
keeps the mouth nearly closed for the synthetic `tests.helpers.speech` signal.

Skipped when Chromium (/usr/bin/chromium) or the `playwright` package is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.bundle import DEFAULT_MODEL_PATH, AvatarForcingModel
from plugin_server.protocol import Audio, AvatarAudio, decode_pcm, encode_pcm
from plugin_server.server import AvatarServer, ServerConfig
from plugin_server.server.client import AvatarClient, load_audio, stream_audio

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE = Path(__file__).resolve().parents[2] / "models" / "samples" / "avatar.flac"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--mute-audio"]
SIZE = 256
RATE = 16000
FPS = 25
LEAD_S, SPEECH_S, TRAIL_S = 2.0, 2.5, 2.5  # the driving stream: silence, speech, silence
SESSION_CONFIG = {"seed": 0, "nfe": 5}  # fewer denoising steps: keeps up on a busy 2-core machine

try:
    from playwright.async_api import Page, async_playwright
    from playwright.async_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - the test extra is not installed
    async_playwright = None  # type: ignore[assignment]
    PlaywrightTimeout = TimeoutError  # type: ignore[assignment,misc]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (Debian: chromium)"
    ),
    pytest.mark.skipif(
        async_playwright is None, reason="needs the playwright package (pip install 'avatar-forcing[test]')"
    ),
]


# ----------------------------------------------------------------------------------- helpers
def decode_png(data: bytes) -> np.ndarray:
    """A PNG screenshot (8-bit RGB or RGBA, not interlaced) -> (H, W, 4) uint8; no imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 4 if color == 6 else 3
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) & 255
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride) & 255
        else:  # Average / Paeth: sequential
            row = np.zeros(stride, np.int32)
            for i in range(stride):
                a = int(row[i - bpp]) if i >= bpp else 0
                b = int(prev[i])
                if kind == 3:
                    pred = (a + b) // 2
                else:
                    c = int(prev[i - bpp]) if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (int(line[i]) + pred) & 255
        out[y] = row
        prev = row.astype(np.int32)
    image = out.reshape(height, width, bpp)
    if bpp == 3:
        image = np.concatenate([image, np.full((height, width, 1), 255, np.uint8)], axis=2)
    return image


def speech_clip(seconds: float) -> np.ndarray:
    """`seconds` of real speech (the sample conversation's avatar voice, from 2.2 s), float32 16 kHz."""
    audio, rate = load_audio(SAMPLE)
    assert rate == RATE
    start = int(2.2 * rate)
    return audio[start : start + int(seconds * rate), 0]


def driving_audio() -> np.ndarray:
    silence = np.zeros
    return np.concatenate(
        [
            silence(int(LEAD_S * RATE), np.float32),
            speech_clip(SPEECH_S),
            silence(int(TRAIL_S * RATE), np.float32),
        ]
    )


def speaking_frames(audio: list[AvatarAudio], threshold_db: float = -40.0) -> set[int]:
    """The session frames whose placed avatar audio is louder than `threshold_db` dBFS."""
    loud = set()
    for msg in audio:
        samples = decode_pcm(msg.data, msg.format, msg.channels)[:, 0]
        bounds = [
            (msg.frame + i) * msg.rate // FPS - msg.frame * msg.rate // FPS for i in range(msg.frames + 1)
        ]
        for i in range(msg.frames):
            chunk = samples[bounds[i] : bounds[i + 1]]
            if len(chunk) and 20 * np.log10(np.sqrt(np.mean(chunk**2)) + 1e-9) > threshold_db:
                loud.add(msg.frame + i)
    return loud


def mouth_box() -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the mouth at SIZE x SIZE: the Python cartoon renderer's rest-pose region
    (room for the open jaw below the lips; the page draws the same avatar), or the same box as
    constants when that renderer is not installed."""
    try:
        from models.render import create_renderer

        box: tuple[int, int, int, int] = create_renderer("cartoon", width=SIZE, height=SIZE).regions()[
            "mouth"
        ]
        return box
    except Exception:
        return 106, 153, 150, 180


@dataclass
class Shot:
    t: float  # the session time the page showed (mean of before and after the screenshot)
    spread: float  # how much it moved while the screenshot was taken
    frame: int | None
    image: np.ndarray  # (H, W, 4)

    def mouth(self) -> np.ndarray:
        x0, y0, x1, y1 = mouth_box()
        return self.image[y0:y1, x0:x1].astype(np.int32)

    def ink(self, skin: np.ndarray) -> int:
        """Opaque pixels of the mouth box that are not skin: lips, the inside of an open mouth, teeth."""
        mouth = self.mouth()
        return int(((np.abs(mouth[..., :3] - skin).sum(-1) > 60) & (mouth[..., 3] == 255)).sum())


def mouth_change(a: Shot, b: Shot) -> float:
    return float(np.abs(a.mouth() - b.mouth()).mean())


async def shoot(page: Page) -> Shot:
    before = await page.evaluate("[overlayState.t, overlayState.lastFrame]")
    png = await page.screenshot(omit_background=True)
    after = await page.evaluate("overlayState.t")
    t0 = before[0] if before[0] is not None else -1.0
    t1 = after if after is not None else -1.0
    return Shot((t0 + t1) / 2, abs(t1 - t0), before[1], decode_png(png))


async def shots_at(page: Page, targets: list[float], deadline: float) -> list[Shot]:
    """A screenshot as soon as the page shows each target time; a target the stream jumped past
    gives a later one, and the shots stop when the stream ended (nothing new for a while) or at the
    deadline."""
    out = []
    reached = "overlayState.t !== null && overlayState.t >= {}"
    for target in targets:
        try:
            await page.wait_for_function(
                f"({reached.format(target)}) || overlayState.idleMs > 1500",
                timeout=max(1.0, deadline - time.monotonic()) * 1000,
                polling=20,
            )
            if await page.evaluate("overlayState.idleMs > 1500"):  # nothing new for a while: ended?
                await page.wait_for_function(reached.format(target), timeout=3000, polling=20)
        except PlaywrightTimeout:
            break
        out.append(await shoot(page))
    return out


def check_transparent_with_avatar(shot: Shot) -> None:
    image = shot.image
    assert image.shape == (SIZE, SIZE, 4)
    # the background: the top corners and the sides beside the head (the bust's shirt reaches the
    # bottom edge, so the bottom corners are the avatar)
    c, h = 24, SIZE // 2
    background = [image[:c, :c], image[:c, -c:], image[:h, :8], image[:h, -8:]]
    assert all(int(p[..., 3].max()) == 0 for p in background), f"background not transparent at t={shot.t:.2f}"
    opaque = image[..., 3] == 255
    assert opaque.mean() > 0.2, f"no avatar at t={shot.t:.2f}: {opaque.mean():.3f} opaque"
    middle = opaque[SIZE // 4 : 3 * SIZE // 4, SIZE // 4 : 3 * SIZE // 4]
    assert middle.mean() > 0.9, f"the middle is not the avatar at t={shot.t:.2f}"


@pytest.fixture(scope="module")
def trained_model() -> AvatarForcingModel:
    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip(f"the bundled model is missing: {DEFAULT_MODEL_PATH}")
    return AvatarForcingModel.load(DEFAULT_MODEL_PATH)


@contextlib.asynccontextmanager
async def overlay_page(model: AvatarForcingModel, query: str) -> AsyncIterator[tuple[AvatarServer, Page]]:
    """A server on a free port and a headless Chromium page showing /overlay?<query> at SIZE x SIZE."""
    assert async_playwright is not None
    server = AvatarServer(model, ServerConfig(port=0))
    await server.start()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
            )
            try:
                page = await browser.new_page(viewport={"width": SIZE, "height": SIZE})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(f"http://127.0.0.1:{server.port}/overlay?{query}")
                await page.wait_for_function("window.overlayState && overlayState.connected", timeout=20000)
                yield server, page
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        await server.stop()


async def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("JSON.parse(JSON.stringify(overlayState))")
    return result


# ----------------------------------------------------------------------------------- tests
def test_overlay_shows_the_avatar_moving_with_speech_on_a_transparent_page(
    trained_model: AvatarForcingModel,
) -> None:
    async def main() -> None:
        async with overlay_page(trained_model, "session=*&debug=0") as (server, page):
            initial = await state(page)
            assert initial["mode"] == "motion" and initial["sessionId"] == "*" and initial["cartoon"], initial
            rest = await shoot(page)  # before any session: the avatar at rest, already visible
            check_transparent_with_avatar(rest)
            skin = np.array(
                [int((await page.evaluate("AvatarCartoon.DEFAULTS.skin"))[i : i + 2], 16) for i in (1, 3, 5)]
            )

            driver = asyncio.create_task(
                stream_audio(server.url, (driving_audio(), RATE), config=SESSION_CONFIG, tail_s=1.0)
            )
            total = LEAD_S + SPEECH_S + TRAIL_S
            shots = await shots_at(page, list(np.arange(0.4, total - 0.2, 0.3)), time.monotonic() + 60.0)
            info = await state(page)
            result = await driver

        # Which screenshots show speech and which silence, from the audio the server placed on the
        # session clock (it echoes it as avatar_audio): a busy machine may delay or skip, but the
        # audio and the motion stay on one clock.
        loud = speaking_frames(result.avatar_audio)
        assert loud, "no speech reached the session"
        first, last = min(loud), max(loud)

        def frames_of(shot: Shot, before: int, after: int) -> range:
            f = round(shot.t * FPS)
            return range(f - before, f + after + 1)

        def talking(shot: Shot) -> bool:
            near = frames_of(shot, 3, 1)  # the mouth follows the last few frames' audio
            return shot.spread <= 0.2 and sum(f in loud for f in near) >= 3

        def silent(shot: Shot) -> bool:  # quiet for 0.7 s before and 0.3 s after
            return shot.spread <= 0.2 and shot.t > 0.3 and not any(f in loud for f in frames_of(shot, 18, 8))

        lead = [s for s in shots if silent(s) and s.t * FPS < first]
        talk = [s for s in shots if talking(s)]
        trail = [s for s in shots if silent(s) and s.t * FPS > last]
        summary = (
            f"speech at frames {first}..{last}; lead {[round(s.t, 2) for s in lead]} talk "
            f"{[round(s.t, 2) for s in talk]} trail {[round(s.t, 2) for s in trail]}; "
            f"all {[round(s.t, 2) for s in shots]}; page {info}"
        )
        assert len(lead) >= 2 and len(talk) >= 4 and len(trail) >= 2, summary
        assert info["frames"] > 100 and info["connected"] and not info["errors"], info
        for shot in lead + talk + trail:
            check_transparent_with_avatar(shot)

        quiet = lead + trail
        still = [mouth_change(a, b) for group in (lead, trail) for a, b in itertools.pairwise(group)]
        moving = [mouth_change(a, b) for a, b in itertools.pairwise(talk)]
        ink_silent = [s.ink(skin) for s in quiet]
        ink_talk = [s.ink(skin) for s in talk]
        detail = (
            f"still {np.round(still, 2)} moving {np.round(moving, 2)} ink {ink_silent} {ink_talk}; {summary}"
        )
        # rests in silence: the mouth area hardly changes between screenshots
        assert max(still) < 3.0, detail
        # moves while the speech plays: successive screenshots differ in the mouth area...
        assert sum(m > max(3.0, 2 * max(still)) for m in moving) >= 2, detail
        # ...and the mouth opens wider than it ever is in silence
        assert max(ink_talk) > 1.5 * max(ink_silent) and np.mean(ink_talk) > np.mean(ink_silent), detail

    asyncio.run(main())


def test_overlay_frames_mode_draws_server_rendered_images(trained_model: AvatarForcingModel) -> None:
    try:
        from models.render import create_renderer

        create_renderer("cartoon", width=64, height=64)
    except Exception as e:
        pytest.skip(f"the server cannot render the cartoon: {e}")

    async def main() -> None:
        query = f"session=*&mode=frames&size={SIZE}&format=png"
        async with overlay_page(trained_model, query) as (server, page):
            await page.wait_for_function("overlayState.configured", timeout=20000)
            audio = np.concatenate(
                [np.zeros(int(1.5 * RATE), np.float32), speech_clip(2.0), np.zeros(RATE // 2, np.float32)]
            )
            driver = asyncio.create_task(
                stream_audio(server.url, (audio, RATE), config=SESSION_CONFIG, tail_s=0.5)
            )
            shots = await shots_at(page, list(np.arange(0.4, 3.8, 0.3)), time.monotonic() + 40.0)
            info = await state(page)
            result = await driver
            health = server.health()["watch"]
            assert await page.locator("#status").is_hidden()  # no text over the avatar by default
            # debug=1: a status line; the session is over, so it waits for the next one
            browser = page.context.browser
            assert browser is not None
            debug = await browser.new_page(viewport={"width": SIZE, "height": SIZE})
            await debug.goto(f"http://127.0.0.1:{server.port}/overlay?debug=1")
            await debug.wait_for_function("overlayState.status === 'waiting for a session'", timeout=20000)
            status = await debug.inner_text("#status")

        assert info["mode"] == "frames" and info["fallback"] is None and not info["errors"], info
        assert info["frames"] > 25 and info["drawn"] > 25, info
        assert health["frames_rendered"] >= info["frames"], health
        assert "waiting for a session" in status and "mode motion" in status, status
        assert len(shots) >= 4, [s.t for s in shots]
        for shot in shots:
            # the images carry their own transparency; the canvas keeps it
            check_transparent_with_avatar(shot)
        loud = speaking_frames(result.avatar_audio)
        rest = [s for s in shots if s.t > 0.3 and round(s.t * FPS) + 8 < min(loud)]
        talk = [s for s in shots if sum(round(s.t * FPS) + d in loud for d in range(-3, 2)) >= 3]
        assert rest and talk, ([s.t for s in shots], sorted(loud))
        # the server-rendered mouth moves with the speech
        assert max(mouth_change(rest[-1], s) for s in talk) > 3.0

    asyncio.run(main())


def test_overlay_watches_a_session_by_id_and_retries_after_it_ends() -> None:
    from tests.helpers import small_random_model

    async def main() -> None:
        model = small_random_model()
        server = AvatarServer(model, ServerConfig(port=0))
        await server.start()
        try:
            driver = AvatarClient(server.url)
            await driver.connect()
            silence = encode_pcm(np.zeros((RATE, 1), np.float32), "s16le")
            await driver.send(Audio(id=1, stream="avatar", seq=0, format="s16le", rate=RATE, data=silence))

            async def drain() -> None:  # a client reads what its session sends
                with contextlib.suppress(Exception):
                    while True:
                        await driver.recv()

            reader = asyncio.create_task(drain())
            async with async_playwright() as p:  # type: ignore[misc]
                browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 128, "height": 128})
                query = f"session={driver.session_id}&skin=zzz&hair=FF0000&delay=100"
                await page.goto(f"http://127.0.0.1:{server.port}/overlay?{query}")
                await page.wait_for_function("overlayState.frames >= 8", timeout=20000)
                info = await state(page)
                assert info["sessionId"] == driver.session_id and info["connected"], info
                # a bad colour is reported and dropped; a colour without its '#' is taken
                assert [e["code"] for e in info["errors"]] == ["options"], info["errors"]
                assert info["settings"]["cartoon"] == {"hair": "#FF0000"} and info["cartoon"], info
                await driver.bye()  # the watched session ends: the server closes with 4004
                await reader
                await page.wait_for_function("overlayState.closeCode === 4004", timeout=10000)
                # then it retries (1 s, 2 s, ...) and is told the session is unknown
                await page.wait_for_function(
                    "overlayState.errors.some((e) => e.code === 'unknown_session')", timeout=10000
                )
                info = await state(page)
                assert not info["connected"] and info["reconnects"] >= 1, info
                assert info["status"] == f"waiting for session {driver.session_id}", info
                await browser.close()
        finally:
            await server.stop()

    asyncio.run(main())
