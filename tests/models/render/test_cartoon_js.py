"""obs_integration/cartoon.js draws the same avatar as models/render/cartoon.py.

The script is loaded into a blank page in headless Chromium (the system /usr/bin/chromium driven by
playwright); frames are drawn on a canvas, read back as PNG and compared with the Python renderer at
the same size: the alpha masks overlap (IoU) and the colours inside them agree.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.motion.arkit import CHANNELS
from models.render import create_renderer
from models.render.encode import decode_image
from tests.models.render.helpers import frame, iou

CHROMIUM = "/usr/bin/chromium"
SCRIPT = Path(__file__).resolve().parents[3] / "obs_integration" / "cartoon.js"
SIZE = 256

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(f"no Chromium at {CHROMIUM} to run the browser port in", allow_module_level=True)

FRAMES: dict[str, np.ndarray] = {
    "neutral": frame(),
    "mouth_open": frame(JawOpen=0.7, MouthLowerDownLeft=0.4, MouthLowerDownRight=0.4, TongueOut=0.4),
    "blink": frame(EyeBlinkLeft=1.0, EyeBlinkRight=0.6, CheekSquintRight=0.8),
    "turned": frame(HeadYaw=-28.0, HeadPitch=8.0, HeadRoll=-10.0, EyeLookOutRight=0.6, HeadX=2.0),
    "smiling": frame(
        MouthSmileLeft=1.0, MouthSmileRight=0.6, CheekPuff=0.2, BrowInnerUp=0.5, MouthPucker=0.3
    ),
}


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                args=["--headless=new", "--no-sandbox", "--disable-gpu"],
            )
        except Exception as exc:  # pragma: no cover - a broken browser install
            pytest.skip(f"Chromium does not start here: {exc}")
        page = browser.new_page()
        page.set_content(f'<canvas id="c" width="{SIZE}" height="{SIZE}"></canvas>')
        page.add_script_tag(path=str(SCRIPT))
        yield page
        browser.close()


def draw_js(
    page: Any, values: np.ndarray | dict[str, float], options: dict[str, Any] | None = None
) -> np.ndarray:
    """Draw in the page (an array in CHANNELS order, or a {name: value} frame) -> (H, W, 4) uint8."""
    script = """([values, size, options]) => {
        const canvas = document.getElementById("c");
        const ctx = canvas.getContext("2d");
        if (Array.isArray(values)) AvatarCartoon.drawArray(ctx, values, size, size, options);
        else AvatarCartoon.draw(ctx, values, size, size, options);
        return canvas.toDataURL("image/png");
    }"""
    payload = [float(v) for v in values] if isinstance(values, np.ndarray) else values
    url = page.evaluate(script, [payload, SIZE, options or {}])
    return decode_image(base64.b64decode(url.split(",", 1)[1]))


def compare(js: np.ndarray, py: np.ndarray) -> tuple[float, float]:
    """(alpha-mask IoU, mean absolute RGB difference over the pixels opaque in both)."""
    mask_js, mask_py = js[..., 3] > 127, py[..., 3] > 127
    solid = (js[..., 3] == 255) & (py[..., 3] == 255)
    diff = np.abs(js[..., :3].astype(np.int16) - py[..., :3].astype(np.int16))[solid]
    return iou(mask_js, mask_py), float(diff.mean())


def test_channels_match_python(page: Any) -> None:
    assert page.evaluate("() => AvatarCartoon.CHANNELS") == list(CHANNELS)


@pytest.mark.parametrize("name", list(FRAMES))
def test_js_draws_the_python_avatar(page: Any, name: str) -> None:
    values = FRAMES[name]
    py = create_renderer("cartoon", width=SIZE, height=SIZE).render(values)
    js = draw_js(page, values)
    overlap, rgb = compare(js, py)
    assert overlap > 0.95, f"{name}: alpha IoU {overlap:.3f}"
    assert rgb < 6.0, f"{name}: mean RGB difference {rgb:.2f} levels"
    assert js[0, 0, 3] == 0  # transparent background


def test_named_frame_and_options_match(page: Any) -> None:
    options = {
        "hair": "#D07A3A",
        "eyes": "#6A4FB0",
        "shirt": "#2E8B57",
        "outline": 4,
        "background": "#F0F4FF",
    }
    values = FRAMES["smiling"]
    named = {name: float(v) for name, v in zip(CHANNELS, values, strict=True) if v != 0.0}
    js = draw_js(page, named, options)
    assert np.array_equal(js, draw_js(page, values, options))  # {name: value} == array in CHANNELS order
    py = create_renderer("cartoon", width=SIZE, height=SIZE, **options).render(values)
    assert (js[..., 3] == 255).all()
    assert np.abs(js[..., :3].astype(np.int16) - py[..., :3].astype(np.int16)).mean() < 3.0
    camel = draw_js(page, values, {**options, "outlineColor": "#000000"})
    assert not np.array_equal(camel, js)


def test_js_rejects_bad_options_and_ignores_bad_values(page: Any) -> None:
    error = page.evaluate(
        """() => { try { AvatarCartoon.draw(document.getElementById("c").getContext("2d"), {}, 64, 64,
                   {skin: "red"}); return ""; } catch (e) { return e.message; } }"""
    )
    assert "skin" in error
    wild = {"JawOpen": 1e9, "HeadYaw": -1e9, "EyeBlinkLeft": "oops", "NotAChannel": 3}
    clamped = {"JawOpen": 1.0, "HeadYaw": -45.0}
    assert np.array_equal(draw_js(page, wild), draw_js(page, clamped))
