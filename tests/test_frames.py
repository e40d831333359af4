"""Animations without the network: the optical flow and its occlusion mask against a sequence whose motion is
known, the instability measure against visible flicker, the temporal guide and blend, frames in and out of
files, and `nst-engine stylize-frames` end to end on a tiny GIF.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from nst_engine.cli.main import main
from nst_engine.errors import ImageError, SettingsError
from nst_engine.frames.files import read_frames, write_frames
from nst_engine.frames.flow import Motion
from nst_engine.frames.generated import panned
from nst_engine.frames.measure import drift, instability, trail
from nst_engine.frames.sequence import check_frames
from nst_engine.frames.temporal import Carried, Guide, Temporal, blend, exclusive
from nst_engine.pictures.images import Picture, load_picture

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def crossing():
    """A photograph panned and zoomed over 6 frames, with a disc of another photograph crossing it."""
    return panned(load_picture(DATA / "coffee.jpg").rgb, 6, (128, 96), occluder=load_picture(DATA / "chelsea.jpg").rgb)


def test_the_flow_follows_the_true_motion_and_the_mask_finds_what_was_hidden(crossing) -> None:
    for t in range(1, len(crossing.frames)):
        motion = Motion.between(crossing.frames[t].rgb, crossing.frames[t - 1].rgb)
        visible = crossing.masks[t] > 0
        error = np.linalg.norm(motion.flow - crossing.flows[t], axis=-1)
        assert error[visible].mean() < 0.6  # pixels
        hidden = ~visible
        assert hidden.mean() > 0.05  # the disc and the border hide a tenth of the frame
        trusted = motion.mask > 0
        assert (trusted & hidden).sum() < 0.35 * hidden.sum()  # most of what was hidden is found
        assert (trusted & visible).sum() > 0.85 * visible.sum()  # and most of the rest is kept


def test_the_measure_flags_flicker_and_not_steady_texture(crossing) -> None:
    """Noise placed anew in every frame flickers; the same noise carried with the scene does not."""
    rng = np.random.default_rng(1)

    def strokes(shape: tuple[int, ...]) -> np.ndarray:  # blotches a few pixels wide, as brush strokes are
        return cv2.GaussianBlur(rng.normal(0, 0.3, shape).astype(np.float32), (0, 0), 2.0)

    photo = load_picture(DATA / "coffee.jpg").rgb
    steady = panned(np.clip(photo + strokes(photo.shape), 0, 1), 6, (128, 96))  # strokes that move with the photo
    plain = panned(photo, 6, (128, 96))
    flicker = [np.clip(f.rgb + strokes(f.rgb.shape), 0, 1) for f in plain.frames]  # strokes placed anew
    steady_score = instability([f.rgb for f in steady.frames], steady.flows, steady.masks)
    flicker_score = instability(flicker, plain.flows, plain.masks)
    content_score = instability([f.rgb for f in plain.frames], plain.flows, plain.masks)
    assert flicker_score > 2.5 * steady_score
    assert steady_score < 2 * content_score + 0.01  # steady texture costs about the resampling's blur



def test_the_trail_and_drift_measures_flag_a_smear_and_a_blur_and_not_the_frames_themselves(crossing) -> None:
    """What the instability leaves out: an uncovered crescent left flat, and frames growing softer and paler."""
    rng = np.random.default_rng(2)
    styled = [np.clip(f.rgb + rng.normal(0, 0.08, f.rgb.shape), 0, 1).astype(np.float32) for f in crossing.frames]
    assert trail(styled, styled, crossing.revealed) == (1.0, 0.0)
    smeared = [s.copy() for s in styled]
    for t in range(1, len(smeared)):  # the uncovered pixels left as the plain content, a flat smear
        shown = crossing.revealed[t] > 0
        assert shown.sum() > 20
        smeared[t][shown] = crossing.frames[t].rgb[shown]
    detail, change = trail(smeared, styled, crossing.revealed)
    assert detail < 0.5 and change > 0.03
    softer = [cv2.GaussianBlur(s, (0, 0), 0.4 + 0.2 * t) + 0.01 * t for t, s in enumerate(styled)]
    sharp, light = drift(softer, styled)
    assert all(b < a for a, b in zip(sharp, sharp[1:], strict=False)) and sharp[-1] < 0.5
    assert light[-1] > 0.04 and drift(styled, styled) == ([1.0] * 6, [0.0] * 6)


def _carried(value: float, mask: np.ndarray) -> Carried:
    return Carried(np.full(mask.shape + (3,), value, np.float32), mask.astype(np.float32))


def test_the_guide_starts_from_the_carried_result_and_holds_only_where_it_is_reliable() -> None:
    mask = np.zeros((8, 8), np.float32)
    mask[:, :4] = 1
    guide = Guide([_carried(0.9, mask)], weight=10.0)
    image = torch.full((1, 3, 8, 8), 0.2)
    start = guide.start(image)
    assert torch.allclose(start[..., :4], torch.tensor(0.9)) and torch.allclose(start[..., 4:], torch.tensor(0.2))
    assert float(guide.cost(start)) == pytest.approx(0.0, abs=1e-9)
    pixels = image.clone().requires_grad_(True)
    guide.cost(pixels).backward()
    assert (pixels.grad[..., :4] != 0).all() and (pixels.grad[..., 4:] == 0).all()
    assert guide.start(torch.full((1, 3, 4, 4), 0.2)).shape == (1, 3, 4, 4)  # a coarser scale


def test_long_term_fills_only_what_the_previous_frame_could_not() -> None:
    near = np.zeros((4, 4), np.float32)
    near[:, :2] = 1
    far = np.ones((4, 4), np.float32)
    short, long = exclusive([_carried(0.1, near), _carried(0.7, far)])
    assert np.array_equal(short.mask, near) and np.array_equal(long.mask, 1 - near)
    out = blend(np.full((4, 4, 3), 0.5, np.float32), [_carried(0.1, near), _carried(0.7, far)], keep=1.0)
    assert np.allclose(out[:, :2], 0.1) and np.allclose(out[:, 2:], 0.7)
    half = blend(np.full((4, 4, 3), 0.5, np.float32), [_carried(0.1, near)], keep=0.5)
    assert np.allclose(half[:, :2], 0.3) and np.allclose(half[:, 2:], 0.5)


def test_temporal_settings_are_checked_with_clear_messages() -> None:
    assert Temporal().on and not Temporal(strength=0).on
    assert Temporal(strength=1).keep == pytest.approx(0.8) and Temporal(strength=0).keep == 0
    with pytest.raises(SettingsError, match="from 0"):
        Temporal(strength=-1)
    with pytest.raises(SettingsError, match="long_term"):
        Temporal(long_term=1)
    with pytest.raises(SettingsError, match="'speed'"):
        Temporal.from_dict({"speed": 2})


def _gif(path: Path, count: int, durations: list[int]) -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((40, 48 + 3 * count, 3)) * 255).astype(np.uint8)
    images = [Image.fromarray(np.ascontiguousarray(base[:, 3 * i:3 * i + 48])) for i in range(count)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


def test_frames_come_from_an_animation_or_a_folder_and_go_out_with_their_durations(tmp_path: Path) -> None:
    _gif(tmp_path / "in.gif", 3, [80, 120, 200])
    frames = read_frames([tmp_path / "in.gif"])
    assert len(frames.pictures) == 3 and frames.durations == [80, 120, 200]
    write_frames(frames.pictures, frames.durations, tmp_path / "out.webp")
    with Image.open(tmp_path / "out.webp") as image:
        assert image.n_frames == 3
    folder = tmp_path / "frames"
    written = write_frames(frames.pictures, frames.durations, folder)
    for index, path in enumerate(written):  # frame10 after frame2: natural order
        path.rename(folder / f"frame{[2, 10, 1][index]}.png")
    again = read_frames([folder])
    assert again.names == ["frame1.png", "frame2.png", "frame10.png"]
    assert np.allclose(again.pictures[1].rgb, frames.pictures[0].rgb, atol=1 / 255)
    with pytest.raises(SettingsError, match="Frame 2 is"):
        check_frames([Picture(np.zeros((4, 4, 3), np.float32)), Picture(np.zeros((4, 5, 3), np.float32))])
    with pytest.raises(ImageError, match="holds no pictures"):
        read_frames([tmp_path / "empty"]) if (tmp_path / "empty").mkdir() is None else None


def test_stylize_frames_writes_an_animation_with_the_sources_durations(tmp_path: Path, synthetic_weights_file: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _gif(tmp_path / "in.gif", 3, [70, 90, 110])
    out = tmp_path / "out.gif"
    code = main(["stylize-frames", str(tmp_path / "in.gif"), str(DATA / "ihc.jpg"), "-o", str(out), "--weights",
                 str(synthetic_weights_file), "--size", "48", "--iterations", "2", "--scales", "1", "--device", "cpu",
                 "--long-term", "2"])
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as image:
        assert image.n_frames == 3 and image.size == (48, 40)
        assert [(image.seek(i), image.info["duration"])[1] for i in range(3)] == [70, 90, 110]
    assert "Wrote 3 of 3 frames" in capsys.readouterr().err
    assert main(["stylize-frames", str(tmp_path / "in.gif"), str(DATA / "ihc.jpg"), "-o", str(tmp_path / "x.png"),
                 "--weights", str(synthetic_weights_file)]) == 2
    assert "use a .gif or .webp name, or a folder" in capsys.readouterr().err


def test_the_frame_store_drops_the_oldest_finished_animation_first_never_the_running_one() -> None:
    from nst_engine.service.frames_jobs import FrameStore

    picture = Picture(np.random.default_rng(0).random((32, 32, 3)).astype(np.float32))
    store = FrameStore(max_bytes=1)  # smaller than one frame
    store.open("old", 2)
    store.add("old", 1, picture)
    store.add("old", 2, picture)
    assert not store.get("old").dropped  # running: kept whatever the budget
    store.finish("old")
    store.open("new", 1)
    store.add("new", 1, picture)
    assert store.get("old").dropped and store.picture("old", 1) is None
    assert np.allclose(store.picture("new", 1).rgb, picture.rgb, atol=1 / 65535)  # 16 bits kept
    store.forget({"new"})
    assert store.get("old") is None


def test_a_tiled_scale_adds_the_guides_cost_and_its_gradient_on_the_whole_image() -> None:
    from nst_engine.gatys.extra_cost import add_extra_cost, with_extra_cost

    image = torch.rand(1, 3, 6, 6, requires_grad=True)
    image.grad = torch.ones_like(image)  # what the tiles' pass left there
    target = torch.zeros(1, 3, 6, 6)

    def extra(x: torch.Tensor) -> torch.Tensor:
        return (x - target).pow(2).sum()

    J, parts = add_extra_cost(image, extra, torch.tensor(2.0), {"total": torch.tensor(2.0)})
    assert torch.allclose(image.grad, 1 + 2 * image.detach())
    assert float(J) == pytest.approx(2.0 + float(extra(image.detach()))) and float(parts["total"]) == float(J)
    whole = with_extra_cost(lambda x: (x.sum(), {"total": x.sum()}), extra)
    J_whole, parts_whole = whole(image.detach())
    assert float(parts_whole["guide"]) == pytest.approx(float(extra(image.detach())))
