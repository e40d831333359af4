"""The animation procedures' rules without GIMP: frame order, names and timings, what is sent, the texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
sys.path.insert(0, str(PLUGIN))

import animation_logic as A  # noqa: E402
import progress_model as PM  # noqa: E402
from engine_client import RawImage  # noqa: E402


def test_frames_play_bottom_first_without_earlier_results() -> None:
    # as GIMP lists them: top first
    names = ["Animation (style: x)", "Frame 3 (100ms)", "Frame 2 (100ms)", "Frame 1 (100ms)"]
    frames = A.frames_in_play_order(names, [True, False, False, False])
    assert [f.name for f in frames] == ["Frame 1 (100ms)", "Frame 2 (100ms)", "Frame 3 (100ms)"]
    assert [f.index for f in frames] == [3, 2, 1]


def test_tags_are_read_as_gimps_playback_reads_them() -> None:
    assert A.frame_duration("Frame 3 (100ms)") == 100
    assert A.frame_duration("walk ( 40 MS ) (replace)") == 40
    assert A.frame_duration("Frame 3") is None and A.frame_duration("(ms)") is None
    assert A.frame_disposal("Frame 3 (100ms) (combine)") == "combine"
    assert A.frame_disposal("a (replace) b") == "replace" and A.frame_disposal("Frame (Combine)") is None


@pytest.mark.parametrize("name, styled", [
    ("Frame 3 (100ms)", "Frame 3 styled (100ms)"),
    ("Frame 3 (100ms) (combine)", "Frame 3 styled (100ms) (combine)"),
    ("Frame 1 (replace) (80ms)", "Frame 1 styled (replace) (80ms)"),
    ("Background", "Background styled"),
    ("(50ms)", "styled (50ms)"),
])
def test_styled_names_keep_time_and_disposal(name: str, styled: str) -> None:
    assert A.styled_frame_name(name) == styled
    assert A.frame_duration(styled) == A.frame_duration(name)
    assert A.frame_disposal(styled) == A.frame_disposal(name)


def test_too_few_frames_are_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="has 1 frame: an animation needs at least 2 layers.*layer group"):
        A.check_frames([A.Frame(0, "only")], "The image")
    A.check_frames([A.Frame(1, "a"), A.Frame(0, "b")], "The image")


def test_frames_source_words() -> None:
    assert A.frames_source(True, "Walk cycle", None) == "the layer group \u201cWalk cycle\u201d"
    assert A.frames_source(False, "Frame 1", None) == "the image"


def _raw(w: int = 3, h: int = 2, fill: int = 1) -> RawImage:
    return RawImage(w, h, 4, "u8", bytes([fill]) * (w * h * 4))


def test_fields_send_every_frame_in_order_with_one_header() -> None:
    frames = [_raw(fill=i) for i in (1, 2, 3)]
    fields = A.frames_fields(frames, {"preset": "draft"}, A.temporal_field(0.7, 2))
    plain = {name: value for name, value, filename in fields if filename is None}
    assert plain["content_format"] == "raw" and (plain["width"], plain["height"]) == ("3", "2")
    assert plain["sample_format"] == "u8" and plain["channels"] == "4"
    assert json.loads(plain["temporal"]) == {"strength": 0.7, "long_term": 2}
    assert json.loads(plain["settings"]) == {"preset": "draft"}
    parts = [(value, filename) for name, value, filename in fields if name == "frame"]
    assert [value[0] for value, _ in parts] == [1, 2, 3] and parts[0][1] == "frame1.raw"
    assert "learned_style" not in plain


def test_fields_for_a_learned_style_name_it_and_its_strength() -> None:
    fields = A.frames_fields([_raw(), _raw()], {}, A.temporal_field(9.0, 1), "dots", 0.5)
    plain = {name: value for name, value, filename in fields if filename is None}
    assert plain["learned_style"] == "dots" and plain["strength"] == "0.5"
    assert json.loads(plain["temporal"]) == {"strength": 4.0, "long_term": 0}  # clamped; 1 = the previous frame


def test_frames_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="Frame 2 is 4x2 u8, frame 1 3x2 u8"):
        A.frames_fields([_raw(), _raw(w=4)], {}, {})


def test_progress_names_the_frame() -> None:
    event = {"type": "progress", "fraction": 0.4, "frame": 2, "frames": 4}
    assert PM.bar_text(event) == "Frame 2 of 4 \u2014 Stylising \u2014 40 %"
    assert PM.bar_text({"type": "frame_done", "frame": 2, "frames": 4}) == "Frame 2 of 4 done"
    assert PM.bar_text({"type": "progress", "fraction": 0.4}) == "Stylising \u2014 40 %"  # a single picture's job
    assert PM.bar_text({"type": "progress", "fraction": 0.4, "frame": 5, "frames": 4}) == "Stylising \u2014 40 %"
    assert A.progress_text({**event, "scale": 1, "scales": 2, "iteration": 3, "iterations": 9}) == (
        "Frame 2 of 4 \u2014 Stylising \u2014 scale 1/2, iteration 3/9")


def test_group_name_and_message_say_when_it_was_stopped() -> None:
    assert A.group_name("starry", 4, 4, False) == "Animation (style: starry)"
    stopped = A.group_name("starry", 2, 4, True)
    assert stopped == "Animation (style: starry) \u2014 2 of 4 frames (stopped early)"
    assert A.after_message(4, 4, False, "g") is None
    assert "holds the 2 styled frames finished of 4" in A.after_message(2, 4, True, stopped)


def test_partial_frames_get_the_unoptimize_hint() -> None:
    assert A.partial_frames_hint([(0, 0, 8, 6), (0, 0, 8, 6)], (8, 6)) is None
    hint = A.partial_frames_hint([(0, 0, 8, 6), (2, 1, 3, 3)], (8, 6))
    assert hint is not None and "1 frame is not the size" in hint and "Unoptimize" in hint


def test_group_record_says_what_was_made() -> None:
    record = A.group_record(A.ANIMATION_PROC, {"files": ["/s.jpg"]}, {"preset": "draft"}, {"strength": 0.5},
                            ["Frame 1", "Frame 2"], 1, True)
    assert record["frames"] == ["Frame 1", "Frame 2"] and record["done"] == 1 and record["stopped_early"] is True
