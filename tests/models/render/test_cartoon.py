"""The built-in stylised 2D avatar: the issue's acceptance checks (pixels change where they should),
transparency, options, sizes, input validation and clamping."""

from __future__ import annotations

import numpy as np
import pytest

from models.render import create_renderer, parse_renderer_spec
from models.render.base import RendererError, get_renderer_class
from models.render.cartoon import CartoonConfig, CartoonRenderer, cartoon_pose
from tests.models.render.helpers import alpha_centroid, changed, crop, frame

SIZE = 256  # small renders keep the tests fast; geometry scales with the size


@pytest.fixture(scope="module")
def renderer() -> CartoonRenderer:
    r = create_renderer("cartoon", width=SIZE, height=SIZE)
    assert isinstance(r, CartoonRenderer)
    return r


@pytest.fixture(scope="module")
def neutral(renderer: CartoonRenderer) -> np.ndarray:
    return renderer.render(frame())


def test_registered_under_its_name_and_aliases() -> None:
    assert get_renderer_class("cartoon") is CartoonRenderer
    assert get_renderer_class("2d") is CartoonRenderer
    assert CartoonRenderer.Config is CartoonConfig


def test_default_render_is_512_rgba(neutral: np.ndarray) -> None:
    image = create_renderer("cartoon").render(frame())
    assert image.shape == (512, 512, 4) and image.dtype == np.uint8
    assert neutral.shape == (SIZE, SIZE, 4)


def test_regions_are_inside_the_image_and_ordered(renderer: CartoonRenderer) -> None:
    boxes = renderer.regions()
    assert set(boxes) >= {"face", "mouth", "left_eye", "right_eye"}
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
    # the avatar's own left eye is on the viewer's right; both above the mouth, all inside the face
    assert boxes["left_eye"][0] > boxes["right_eye"][2]
    assert boxes["left_eye"][3] <= boxes["mouth"][1] and boxes["right_eye"][3] <= boxes["mouth"][1]
    fx0, fy0, fx1, fy1 = boxes["face"]
    for name in ("mouth", "left_eye", "right_eye"):
        x0, y0, x1, y1 = boxes[name]
        assert fx0 <= x0 and x1 <= fx1 and fy0 <= y0 and y1 <= fy1


def test_mouth_opening_changes_the_mouth_and_not_the_eyes(
    renderer: CartoonRenderer, neutral: np.ndarray
) -> None:
    boxes = renderer.regions()
    previous = neutral
    for amount in (0.3, 0.6, 0.9):  # a sequence opening the mouth: each step changes the mouth
        image = renderer.render(frame(JawOpen=amount, MouthLowerDownLeft=0.3, MouthLowerDownRight=0.3))
        assert changed(previous, image, boxes["mouth"]) > 0.03
        assert changed(neutral, image, boxes["left_eye"]) < 0.005
        assert changed(neutral, image, boxes["right_eye"]) < 0.005
        previous = image
    assert changed(neutral, previous, boxes["mouth"]) > 0.15
    # the open mouth is dark inside, the closed one is skin and a line
    dark = crop(previous, boxes["mouth"])[..., :3].sum(axis=-1) < 200
    assert dark.mean() > 0.05 > (crop(neutral, boxes["mouth"])[..., :3].sum(axis=-1) < 200).mean()


def test_blink_changes_the_eyes_and_not_the_mouth(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    boxes = renderer.regions()
    both = renderer.render(frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0))
    for eye in ("left_eye", "right_eye"):
        assert changed(neutral, both, boxes[eye]) > 0.15
    assert changed(neutral, both, boxes["mouth"]) < 0.005
    # a closed eye shows no white sclera; an open one does
    for eye in ("left_eye", "right_eye"):
        assert (crop(neutral, boxes[eye])[..., :3].min(axis=-1) > 245).mean() > 0.05
        assert (crop(both, boxes[eye])[..., :3].min(axis=-1) > 245).mean() < 0.005
    # one eye at a time: the avatar's left eye is the one on the viewer's right
    left = renderer.render(frame(EyeBlinkLeft=1.0))
    assert changed(neutral, left, boxes["left_eye"]) > 0.15
    assert changed(neutral, left, boxes["right_eye"]) < 0.005


def test_gaze_moves_the_iris_inside_the_eye(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    boxes = renderer.regions()
    looking = renderer.render(
        frame(EyeLookOutLeft=1.0, EyeLookInRight=1.0)
    )  # both look to the viewer's right
    for eye in ("left_eye", "right_eye"):
        assert changed(neutral, looking, boxes[eye]) > 0.03
        before, after = crop(neutral, boxes[eye]), crop(looking, boxes[eye])
        dark_before = np.argwhere(before[..., :3].sum(axis=-1) < 250)[:, 1].mean()
        dark_after = np.argwhere(after[..., :3].sum(axis=-1) < 250)[:, 1].mean()
        assert dark_after > dark_before  # the pupil went to the viewer's right
    assert changed(neutral, looking, boxes["mouth"]) < 0.005


def test_head_turn_moves_the_outline(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    x0, y0, x1, y1 = renderer.regions()["face"]
    cx, _ = alpha_centroid(neutral)
    assert abs(cx - SIZE / 2) < 1.0  # the rest pose is symmetric
    right = renderer.render(frame(HeadYaw=30.0))  # +yaw: the face turns to the viewer's right
    left = renderer.render(frame(HeadYaw=-30.0))
    assert alpha_centroid(right)[0] > cx + 0.5
    assert alpha_centroid(left)[0] < cx - 0.5
    band = 6
    for turned in (right, left):  # pixels along both sides of the face box change
        assert changed(neutral, turned, (x0 - band, y0, x0 + band, y1)) > 0.05
        assert changed(neutral, turned, (x1 - band, y0, x1 + band, y1)) > 0.05
    # mirror-image turns give (nearly) mirror-image alpha masks: the drawing is symmetric
    mirrored = left[:, ::-1, 3].astype(int)
    assert np.abs(mirrored - right[..., 3].astype(int)).mean() < 2.0


def test_tilt_and_nod_move_the_head(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    tilted = renderer.render(frame(HeadRoll=20.0))  # toward its own left shoulder = the viewer's right
    assert alpha_centroid(tilted)[0] > alpha_centroid(neutral)[0] + 0.5
    boxes = renderer.regions()
    up = renderer.render(frame(HeadPitch=20.0))
    assert changed(neutral, up, boxes["mouth"]) > 0.02 and changed(neutral, up, boxes["left_eye"]) > 0.02


def test_expressions_draw_differently(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    mouth = renderer.regions()["mouth"]
    shapes = {
        "smile": frame(MouthSmileLeft=1.0, MouthSmileRight=1.0),
        "frown": frame(MouthFrownLeft=1.0, MouthFrownRight=1.0),
        "funnel": frame(MouthFunnel=1.0, JawOpen=0.2),
        "pucker": frame(MouthPucker=1.0),
        "stretch": frame(MouthStretchLeft=1.0, MouthStretchRight=1.0, JawOpen=0.3),
        "tongue": frame(JawOpen=0.3, TongueOut=1.0),
        "aside": frame(MouthLeft=1.0),
    }
    images = {name: renderer.render(f) for name, f in shapes.items()}
    for name, image in images.items():
        assert changed(neutral, image, mouth) > 0.01, name
    assert changed(images["smile"], images["frown"], mouth) > 0.01


def test_pose_parameters() -> None:
    rest = cartoon_pose(frame())
    assert rest.left_eye == rest.right_eye and rest.left_eye.lower > rest.left_eye.upper
    shut = cartoon_pose(frame(EyeBlinkLeft=1.0))
    assert shut.left_eye.upper == shut.left_eye.lower and shut.right_eye == rest.right_eye
    gaps = [cartoon_pose(frame(JawOpen=j)).mouth for j in (0.0, 0.5, 1.0)]
    assert [m.lower_y - m.upper_y for m in gaps] == sorted(m.lower_y - m.upper_y for m in gaps)
    assert gaps[0].lower_y == gaps[0].upper_y  # a closed mouth
    assert cartoon_pose(frame(JawOpen=1.0, MouthClose=1.0)).mouth.lower_y == rest.mouth.lower_y
    smile = cartoon_pose(frame(MouthSmileLeft=1.0)).mouth
    assert smile.left_y < rest.mouth.left_y and smile.right_y == rest.mouth.right_y  # asymmetric
    assert cartoon_pose(frame(MouthFunnel=1.0)).mouth.roundness > rest.mouth.roundness
    assert cartoon_pose(frame(HeadYaw=np.inf, HeadRoll=-1e9)).yaw == 45.0
    assert cartoon_pose(frame(HeadRoll=-1e9)).roll == -45.0
    assert cartoon_pose(frame(JawOpen=np.nan)) == rest  # NaN counts as 0 here (render rejects it)
    brows = cartoon_pose(frame(BrowInnerUp=1.0, BrowDownLeft=1.0))
    assert brows.right_brow.inner_y < rest.right_brow.inner_y < brows.left_brow.inner_y + 24.0


def test_transparent_background_with_antialiased_edges(neutral: np.ndarray) -> None:
    alpha = neutral[..., 3]
    for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert alpha[y, x] == 0
    assert (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.3
    edge = (alpha > 0) & (alpha < 255)
    assert edge.sum() > 100  # anti-aliased outline
    assert (neutral[..., :3][alpha == 0] == 0).all()  # clean transparent pixels


def test_background_colour_makes_it_opaque() -> None:
    r = create_renderer("cartoon", width=64, height=64, background="#102030")
    image = r.render(frame())
    assert (image[..., 3] == 255).all()
    assert tuple(image[0, 0, :3]) == (0x10, 0x20, 0x30)
    assert not r.transparent


def test_colour_options_change_the_drawing(neutral: np.ndarray, renderer: CartoonRenderer) -> None:
    green = create_renderer("cartoon", width=SIZE, height=SIZE, hair="#20C040").render(frame())
    assert changed(neutral, green) > 0.1
    x0, y0, x1, _ = renderer.regions()["face"]
    hair = green[max(0, y0 - 5), (x0 + x1) // 2, :3]  # the crown
    assert hair[1] > hair[0] and hair[1] > hair[2]
    thin = create_renderer("cartoon", width=SIZE, height=SIZE, outline=0.0, blush=0.0).render(frame())
    assert changed(neutral, thin) > 0.01


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"nope": 1}, "nope"),
        ({"skin": "red"}, "skin"),
        ({"hair": "#12345"}, "hair"),
        ({"eyes": 123}, "eyes"),
        ({"background": "blue"}, "background"),
        ({"outline": -1.0}, "outline"),
        ({"blush": 2.0}, "blush"),
        ({"width": 8}, "width"),
    ],
)
def test_bad_options_raise(options: dict[str, object], needle: str) -> None:
    with pytest.raises(RendererError, match=needle):
        create_renderer("cartoon", **options)


def test_options_from_a_cli_spec() -> None:
    name, options = parse_renderer_spec(
        "cartoon:width=96,height=64,outline=3,hair=#203040,background=#FFFFFF"
    )
    r = create_renderer(name, **options)
    assert r.size == (96, 64)
    assert r.render(frame()).shape == (64, 96, 4)


@pytest.mark.parametrize(("width", "height"), [(320, 200), (200, 320), (17, 40)])
def test_non_square_sizes_fit_the_head_centred(width: int, height: int) -> None:
    r = create_renderer("cartoon", width=width, height=height)
    image = r.render(frame())
    assert image.shape == (height, width, 4)
    x0, y0, x1, y1 = r.regions()["face"]
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert abs((x0 + x1) / 2 - width / 2) <= 1.0
    if min(width, height) >= 64:
        face = crop(image, r.regions()["face"])
        assert (face[..., 3] == 255).mean() > 0.6  # the head is drawn inside its box
        assert abs(alpha_centroid(image)[0] - width / 2) < 1.0


def test_bad_frames_are_rejected(renderer: CartoonRenderer) -> None:
    with pytest.raises(RendererError, match="NaN"):
        renderer.render(frame(JawOpen=float("nan")))
    with pytest.raises(RendererError, match="NaN"):
        renderer.render(frame(HeadYaw=float("inf")))
    with pytest.raises(RendererError, match="shape"):
        renderer.render(np.zeros(57, np.float32))
    with pytest.raises(RendererError):
        renderer.render(np.zeros((2, 58), np.float32))


def test_extreme_values_clamp(renderer: CartoonRenderer) -> None:
    wild = np.concatenate([np.full(52, 1e6), [1e6, -1e6, 1e6, 1e6, -1e6, 1e6]]).astype(np.float32)
    clamped = np.concatenate([np.ones(52), [45.0, -45.0, 45.0, 6.0, -6.0, 8.0]]).astype(np.float32)
    assert np.array_equal(renderer.render(wild), renderer.render(clamped))
    negative = np.full(58, -1e6, np.float32)
    negative[52:] = 0.0
    assert np.array_equal(renderer.render(negative), renderer.render(frame()))
    rng = np.random.default_rng(0)
    for _ in range(20):  # random garbage draws something sane: a head-sized opaque blob
        f = rng.normal(0.0, 50.0, 58).astype(np.float32)
        image = renderer.render(f)
        assert 0.2 < (image[..., 3] > 0).mean() < 0.9


def test_deterministic_and_stateless(renderer: CartoonRenderer, neutral: np.ndarray) -> None:
    talk = frame(JawOpen=0.5, HeadYaw=10.0, EyeBlinkLeft=0.5)
    first = renderer.render(talk)
    assert np.array_equal(renderer.render(frame()), neutral)  # whatever came before
    assert np.array_equal(renderer.render(talk), first)
    other = create_renderer("cartoon", width=SIZE, height=SIZE)
    assert np.array_equal(other.render(talk), first)
    frames = np.stack([frame(), talk])
    many = renderer.render_many(frames)
    assert np.array_equal(many[0], neutral) and np.array_equal(many[1], first)
    assert many[0] is not many[1] and not np.shares_memory(many[0], many[1])
