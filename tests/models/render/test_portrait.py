"""The portrait renderer: the bundled astronaut animated by ARKit frames (mesh warping with skia).

The pixels must change where they should: an open mouth changes the mouth (a dark cavity) and not
the eyes, a blink covers the eyes with lid skin and leaves the mouth alone, a head turn moves the
features sideways the right way and changes the face outline, a roll rotates the head; the neutral
frame is the photo itself. Custom photos need landmarks (a .npz, or MediaPipe, which the test
environment lacks).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skia")

from models.render import RendererError, RendererUnavailableError, create_renderer, make_config
from models.render.encode import encode_image
from models.render.landmarks import (
    FACE_MESH_TRIANGLES,
    load_landmarks,
    read_image_rgb,
    save_landmarks,
)
from models.render.portrait import (
    DEFAULT_IMAGE,
    DEFAULT_LANDMARKS,
    EYE_LEFT_LOWER,
    EYE_LEFT_UPPER,
    EYE_RIGHT_LOWER,
    EYE_RIGHT_UPPER,
    FACE_OVAL,
    PortraitConfig,
    PortraitRenderer,
)
from tests.models.render.helpers import Box, changed, crop, frame


@pytest.fixture(scope="module")
def portrait() -> PortraitRenderer:
    r = create_renderer("portrait")
    assert isinstance(r, PortraitRenderer)
    return r


@pytest.fixture(scope="module")
def neutral(portrait: PortraitRenderer) -> np.ndarray:
    return portrait.render(frame())


def luma(image: np.ndarray) -> np.ndarray:
    """(..., 3+) uint8 -> (...) float luma."""
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def grow(box: Box, by: int, size: tuple[int, int] = (512, 512)) -> Box:
    x0, y0, x1, y1 = box
    return (max(x0 - by, 0), max(y0 - by, 0), min(x1 + by, size[0]), min(y1 + by, size[1]))


def polygon_mask(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(P, 2) polygon in pixels -> (H, W) bool mask of the pixel centres inside it (even-odd rule)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = xs.ravel()[:, None] + 0.5, ys.ravel()[:, None] + 0.5
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crosses = ((y0 > y) != (y1 > y)) & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    return (crosses.sum(axis=1) % 2 == 1).reshape(shape)


def horizontal_shift(a: np.ndarray, b: np.ndarray, box: Box, max_shift: int = 40) -> int:
    """The shift (pixels, + = to the right) that best moves box's content in ``a`` onto ``b``."""
    x0, y0, x1, y1 = box
    ref = luma(a[y0:y1, x0:x1])
    best, best_err = 0, np.inf
    for dx in range(-max_shift, max_shift + 1):
        cand = luma(b[y0:y1, x0 + dx : x1 + dx])
        err = float(np.mean((cand - ref) ** 2))
        if err < best_err:
            best, best_err = dx, err
    return best


def rotate_about(image: np.ndarray, pivot: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` rotated clockwise on screen by ``degrees`` about ``pivot`` (nearest sampling)."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.radians(degrees)
    # inverse map: output pixel -> source pixel (rotate back)
    dx, dy = xs + 0.5 - pivot[0], ys + 0.5 - pivot[1]
    sx = np.cos(a) * dx + np.sin(a) * dy + pivot[0]
    sy = -np.sin(a) * dx + np.cos(a) * dy + pivot[1]
    sx = np.clip(np.floor(sx), 0, w - 1).astype(int)
    sy = np.clip(np.floor(sy), 0, h - 1).astype(int)
    return image[sy, sx]


# ----------------------------------------------------------------------------------------- basics
def test_output_is_an_opaque_rgba_image_and_regions_are_sane(
    portrait: PortraitRenderer, neutral: np.ndarray
) -> None:
    assert neutral.shape == (512, 512, 4) and neutral.dtype == np.uint8
    assert (neutral[..., 3] == 255).all()
    assert PortraitRenderer.transparent is False
    reg = portrait.regions()
    assert set(reg) >= {"face", "mouth", "left_eye", "right_eye"}
    for x0, y0, x1, y1 in reg.values():
        assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    face = reg["face"]
    for name in ("mouth", "left_eye", "right_eye"):
        x0, y0, x1, y1 = reg[name]
        assert face[0] <= x0 and x1 <= face[2] and face[1] <= y0 and y1 <= face[3], name
    # the avatar's own left eye is on the viewer's right; the mouth is below the eyes
    assert reg["left_eye"][0] > reg["right_eye"][2] - 5
    assert reg["mouth"][1] > max(reg["left_eye"][3], reg["right_eye"][3])


def test_neutral_frame_is_the_photo(neutral: np.ndarray) -> None:
    photo = read_image_rgb(DEFAULT_IMAGE)
    assert photo.shape == (512, 512, 3)
    assert float(np.abs(neutral[..., :3].astype(np.int16) - photo).mean()) < 1.0


def test_frames_render_the_same_whatever_came_before(portrait: PortraitRenderer) -> None:
    f = frame(JawOpen=0.4, EyeBlinkLeft=0.7, HeadYaw=10.0)
    first = portrait.render(f)
    portrait.render(frame(HeadRoll=-20.0, MouthSmileLeft=1.0))
    assert np.array_equal(first, portrait.render(f))
    images = portrait.render_many(np.stack([frame(), f]))
    assert np.array_equal(images[1], first)


def test_nan_and_bad_frames_are_rejected(portrait: PortraitRenderer) -> None:
    bad = frame(JawOpen=0.5)
    bad[3] = np.nan
    with pytest.raises(RendererError, match="NaN"):
        portrait.render(bad)
    with pytest.raises(RendererError, match="shape"):
        portrait.render(np.zeros(57, np.float32))


# ------------------------------------------------------------------------------------ expressions
def test_open_mouth_changes_the_mouth_not_the_eyes_and_shows_a_dark_cavity(
    portrait: PortraitRenderer, neutral: np.ndarray
) -> None:
    reg = portrait.regions()
    talk = portrait.render(frame(JawOpen=0.6))
    assert changed(neutral, talk, reg["mouth"]) > 0.2
    assert changed(neutral, talk, reg["left_eye"]) == 0.0
    assert changed(neutral, talk, reg["right_eye"]) == 0.0
    # the cavity: many dark pixels where the closed (smiling) lips showed hardly any
    closed_dark = float((luma(crop(neutral, reg["mouth"])) < 60).mean())
    open_dark = float((luma(crop(talk, reg["mouth"])) < 60).mean())
    assert closed_dark < 0.03 and open_dark > 0.1, (closed_dark, open_dark)
    # the chin drops: the lower face changes below the mouth too
    x0, _, x1, y1 = reg["mouth"]
    below = (x0, y1, x1, min(y1 + 30, 512))
    assert changed(neutral, talk, below) > 0.05
    # and opening more darkens more
    wide = portrait.render(frame(JawOpen=1.0))
    assert float((luma(crop(wide, grow(reg["mouth"], 10))) < 60).mean()) > open_dark * 0.9


def test_blink_covers_the_eyes_with_skin_and_leaves_the_mouth(
    portrait: PortraitRenderer, neutral: np.ndarray
) -> None:
    reg = portrait.regions()
    closed = portrait.render(frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0))
    assert changed(neutral, closed, reg["mouth"]) == 0.0
    for name in ("left_eye", "right_eye"):
        box = reg[name]
        assert changed(neutral, closed, box) > 0.2, name
        # the eye opening (inside the rest lid contour) turns skin-coloured: its mean colour nears the
        # cheek's just below the eye box, and no dark pupil is left
        x0, _, x1, y1 = box
        skin = crop(neutral, (x0, y1 + 4, x1, y1 + 14))[..., :3].reshape(-1, 3).mean(0)
        upper, lower = (
            (EYE_LEFT_UPPER, EYE_LEFT_LOWER) if name == "left_eye" else (EYE_RIGHT_UPPER, EYE_RIGHT_LOWER)
        )
        opening = polygon_mask(portrait.landmarks[list(upper + lower[-2:0:-1]), :2], neutral.shape[:2])
        assert opening.sum() > 50
        before = np.linalg.norm(neutral[opening][:, :3].mean(0) - skin)
        after = np.linalg.norm(closed[opening][:, :3].mean(0) - skin)
        assert after < 0.6 * before, (name, before, after)
        assert (luma(neutral[opening]) < 70).mean() > 0.2  # the open eye: a dark iris and pupil ...
        assert (luma(closed[opening]) < 70).mean() < 0.02  # ... the closed lid: none


def test_one_eye_blinks_alone(portrait: PortraitRenderer, neutral: np.ndarray) -> None:
    reg = portrait.regions()
    wink = portrait.render(frame(EyeBlinkLeft=1.0))  # the avatar's left eye: the viewer's right
    assert changed(neutral, wink, reg["left_eye"]) > 0.2
    assert changed(neutral, wink, reg["right_eye"]) == 0.0


def test_smile_and_brows_move_their_parts(portrait: PortraitRenderer, neutral: np.ndarray) -> None:
    reg = portrait.regions()
    smile = portrait.render(frame(MouthSmileLeft=1.0, MouthSmileRight=1.0))
    assert changed(neutral, smile, reg["mouth"]) > 0.1
    brows = portrait.render(frame(BrowInnerUp=1.0, BrowOuterUpLeft=1.0, BrowOuterUpRight=1.0))
    x0, _, x1, _ = reg["face"]
    brow_band = (x0, max(reg["right_eye"][1] - 30, 0), x1, reg["right_eye"][1])
    assert changed(neutral, brows, brow_band) > 0.05
    assert changed(neutral, brows, reg["mouth"]) == 0.0


# ------------------------------------------------------------------------------------------- head
@pytest.mark.parametrize("yaw", [20.0, -20.0])
def test_head_turn_moves_features_sideways_and_changes_the_outline(
    portrait: PortraitRenderer, neutral: np.ndarray, yaw: float
) -> None:
    reg = portrait.regions()
    turned = portrait.render(frame(HeadYaw=yaw))
    # +yaw turns the face to its own left = the viewer's right: the features move right
    x0 = reg["right_eye"][0]
    x1 = reg["left_eye"][2]
    eyes = (
        x0,
        min(reg["right_eye"][1], reg["left_eye"][1]),
        x1,
        max(reg["right_eye"][3], reg["left_eye"][3]),
    )
    shift = horizontal_shift(neutral, turned, eyes)
    assert np.sign(shift) == np.sign(yaw) and abs(shift) >= 8, shift
    nose = (reg["right_eye"][2], reg["right_eye"][3], reg["left_eye"][0], reg["mouth"][1])
    assert np.sign(horizontal_shift(neutral, turned, nose)) == np.sign(yaw)
    # the face outline changes: pixels around the face oval's landmarks
    oval = portrait.landmarks[list(FACE_OVAL), :2]
    hits = [changed(neutral, turned, grow((int(x), int(y), int(x) + 1, int(y) + 1), 4)) for x, y in oval]
    assert np.mean(hits) > 0.3
    # the background far from the head stays
    assert changed(neutral, turned, (0, 0, 40, 40)) == 0.0
    assert changed(neutral, turned, (472, 472, 512, 512)) == 0.0


def test_head_roll_rotates_the_head(portrait: PortraitRenderer, neutral: np.ndarray) -> None:
    reg = portrait.regions()
    rolled = portrait.render(frame(HeadRoll=20.0))
    box = grow(reg["face"], -10)
    x0, y0, x1, y1 = box
    pivot = portrait._roll_pivot  # the neck
    errors = {}
    for angle in np.arange(-30.0, 31.0, 5.0):
        candidate = rotate_about(neutral, pivot, angle)
        errors[float(angle)] = float(
            np.mean((luma(candidate[y0:y1, x0:x1]) - luma(rolled[y0:y1, x0:x1])) ** 2)
        )
    best = min(errors, key=errors.get)
    # +roll tilts the head toward its own left shoulder: clockwise on screen (the top to the viewer's right)
    assert best == 20.0, errors


def test_head_gain_zero_freezes_the_head(neutral: np.ndarray) -> None:
    still = create_renderer("portrait", head_gain=0.0)
    assert np.array_equal(still.render(frame(HeadYaw=25.0, HeadRoll=-10.0, HeadX=3.0)), neutral)


# ------------------------------------------------------------------------------------------ mesh
def test_mesh_covers_the_frame_once_and_face_topology_is_mediapipes(portrait: PortraitRenderer) -> None:
    assert FACE_MESH_TRIANGLES.shape == (852, 3)
    assert FACE_MESH_TRIANGLES.min() == 0 and FACE_MESH_TRIANGLES.max() == 467
    a, b, c = (portrait.rest[portrait.triangles[:, k]] for k in range(3))
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    assert abs(area.sum() - 512 * 512) < 0.005 * 512 * 512
    # no triangle joins the upper and the lower inner lip across the mouth except the opening's own rungs
    upper = {191, 80, 81, 82, 13, 312, 311, 310, 415}
    lower = {95, 88, 178, 87, 14, 317, 402, 318, 324}
    spans = [t for t in FACE_MESH_TRIANGLES.tolist() if set(t) & upper and set(t) & lower]
    assert spans == []


# --------------------------------------------------------------------------------- custom photos
def test_custom_photo_without_landmarks_needs_mediapipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = tmp_path / "me.jpg"
    shutil.copy(DEFAULT_IMAGE, photo)
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(RendererUnavailableError) as info:
        create_renderer("portrait", image=str(photo))
    message = str(info.value)
    assert "pip install 'avatar-forcing[webcam]'" in message
    assert "landmarks" in message and ".npz" in message


def test_landmarks_file_with_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, landmarks=np.zeros((100, 3), np.float32), image_size=np.array([512, 512]))
    with pytest.raises(RendererError, match=r"468 or 478"):
        create_renderer("portrait", landmarks=str(bad))
    with pytest.raises(RendererError, match=r"468 or 478"):
        save_landmarks(tmp_path / "x.npz", np.zeros((478, 2), np.float32), (512, 512))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(RendererError):
        load_landmarks(junk)
    with pytest.raises(RendererError, match="not found"):
        create_renderer("portrait", landmarks=str(tmp_path / "missing.npz"))
    lm, _ = load_landmarks(DEFAULT_LANDMARKS)
    odd = tmp_path / "odd.npz"
    save_landmarks(odd, lm, (640, 480))  # another aspect ratio than the photo's
    with pytest.raises(RendererError, match="640x480"):
        create_renderer("portrait", landmarks=str(odd))


def test_custom_photo_with_landmarks_file(tmp_path: Path) -> None:
    """Another photo: the astronaut at half size pasted into a wider grey picture, with its landmarks
    moved to match; rendered at another size and aspect ratio."""
    photo = read_image_rgb(DEFAULT_IMAGE)
    lm, _ = load_landmarks(DEFAULT_LANDMARKS)
    small = photo[::2, ::2]  # (256, 256, 3)
    canvas = np.full((300, 420, 3), 128, np.uint8)
    ox, oy = 120, 30
    canvas[oy : oy + 256, ox : ox + 256] = small
    moved = lm * np.array([0.5, 0.5, 0.5], np.float32) + np.array([ox, oy, 0], np.float32)
    image_path, lm_path = tmp_path / "pasted.png", tmp_path / "pasted.npz"
    image_path.write_bytes(encode_image(np.dstack([canvas, np.full((300, 420), 255, np.uint8)]), "png"))
    save_landmarks(lm_path, moved, (420, 300))
    r = create_renderer("portrait", image=str(image_path), landmarks=str(lm_path), width=320, height=256)
    still = r.render(frame())
    assert still.shape == (256, 320, 4) and (still[..., 3] == 255).all()
    reg = r.regions()
    face = reg["face"]
    # the face fills a good part of the frame and sits near its middle
    assert 0.25 * 256 < face[3] - face[1] < 0.6 * 256
    assert abs((face[0] + face[2]) / 2 - 160) < 20
    talk = r.render(frame(JawOpen=0.8))
    assert changed(still, talk, reg["mouth"]) > 0.15
    assert changed(still, talk, reg["left_eye"]) == 0.0
    blink = r.render(frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0))
    assert changed(still, blink, reg["left_eye"]) > 0.15
    # a landmarks file for a same-aspect image of another size is rescaled
    half = tmp_path / "half.npz"
    save_landmarks(half, moved * np.float32(0.5), (210, 150))
    r2 = create_renderer("portrait", image=str(image_path), landmarks=str(half), width=320, height=256)
    assert np.abs(r2.landmarks - r.landmarks).max() < 0.01


# ------------------------------------------------------------------------------------ config, speed
def test_config_options() -> None:
    cfg = make_config("photo", {"head_gain": "0.5", "image": "none", "width": "256", "height": "192"})
    assert isinstance(cfg, PortraitConfig)
    assert cfg.head_gain == 0.5 and cfg.image is None and (cfg.width, cfg.height) == (256, 192)
    with pytest.raises(RendererError, match="head_gain"):
        make_config("portrait", {"head_gain": -1})
    with pytest.raises(RendererError, match="image"):
        make_config("portrait", {"image": "  "})
    small = create_renderer("portrait", width=256, height=192)
    assert small.render(frame(JawOpen=0.5)).shape == (192, 256, 4)
    with pytest.raises(RendererError, match="not found"):
        create_renderer("portrait", image="/nonexistent/photo.jpg", landmarks=str(DEFAULT_LANDMARKS))


def test_fast_enough(portrait: PortraitRenderer) -> None:
    """At least 25 fps at 512x512 (the real-time rate); typically 100+ on one core."""
    t = np.arange(30) / 25.0
    frames = np.zeros((30, 58), np.float32)
    frames[:, 17] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # JawOpen
    frames[:, 52] = 15 * np.sin(2 * np.pi * 0.3 * t)  # HeadYaw
    portrait.render(frames[0])
    start = time.perf_counter()
    for f in frames:
        portrait.render(f)
    fps = len(frames) / (time.perf_counter() - start)
    assert fps > 25, fps
