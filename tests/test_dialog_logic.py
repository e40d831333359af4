"""dialog_logic: the dialog's estimate line, preview geometry and settings (pure logic, no GIMP)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import dialog_logic as D  # noqa: E402


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "under a second"), (3.2, "about 3 s"), (38, "about 40 s"), (54, "about 55 s"),
    (61, "about 1 min"), (200, "about 3 min"), (3600, "about 1 h"), (4790, "about 1 h 20 min"),
])
def test_durations_read_as_a_clock(seconds, text):
    assert D.contract.estimate_text(seconds) == text


def plan(size, seconds, device_name="CPU"):
    return {"plan": {"size": list(size), "scales": [], "message": ""}, "seconds": seconds, "device": "cpu",
            "device_name": device_name, "calibrated": True}


def test_estimate_line_names_time_and_device():
    answer = plan((2048, 1365), 41.0, "NVIDIA GeForce RTX 3060")
    assert D.estimate_text(answer) == (
        "Estimated time: about 40 s on NVIDIA GeForce RTX 3060, painting at 2048\u00d71365")
    assert D.estimate_text(answer, (2048, 1365), "high") == (
        "Your layer: 2048\u00d71365. High paints it at full size: about 40 s on NVIDIA GeForce RTX 3060.")


def test_a_smaller_painting_says_the_layers_size_its_own_and_why():
    """Issue 23, point 1: the size was silent; now the line says both sizes and the reason."""
    answer = plan((1184, 789), 600.0)
    layer = (2048, 1365)
    assert D.estimate_text(answer, layer, "standard") == (
        "Your layer: 2048\u00d71365. Standard paints it at 1184\u00d7789 to finish in about 10 min on CPU.")
    assert "for a quick look" in D.estimate_text(plan((512, 341), 20.0), layer, "draft")
    assert "the painting size you set" in D.estimate_text(answer, layer, "standard", max_size=1184)
    assert D.is_smaller(answer, layer) and not D.is_smaller(plan(layer, 9.0), layer)
    assert D.full_size_label(plan(layer, 41 * 60.0)) == "_Full size (about 41 min)"
    assert D.full_size_label({"seconds": None}) == "_Full size"


def test_full_size_plans_the_layers_long_side_without_the_time_limit():
    settings = D.full_size_settings({"preset": "standard", "seed": 3}, (2048, 1365))
    assert settings == {"preset": "standard", "seed": 3, "max_long_side": 2048, "time_budget": 0}
    # the same as what the button sets: max-size = the long side
    same = D.nst_logic.engine_settings(D.nst_logic.PluginArgs(style_file="/s.png", max_size=2048))
    assert {k: same[k] for k in ("max_long_side", "time_budget")} == {"max_long_side": 2048, "time_budget": 0}


def test_ok_waits_for_a_style_that_is_a_picture(tmp_path):
    ok, hint = D.ok_state(None)
    assert not ok and hint.startswith("No style image is chosen")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    ok, hint = D.ok_state(str(text))
    assert not ok and "\u201cnotes.png\u201d is not a picture" in hint
    assert D.thumbnail_words(str(text), False) == "Not a picture" and D.thumbnail_words(None, False)
    png = tmp_path / "real.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    assert D.ok_state(str(png)) == (True, "") and D.thumbnail_words(str(png), True) == ""


def test_preview_errors_do_not_talk_about_the_image():
    text = D.preview_error("The engine does not answer.", "Run the filter again.")
    assert text == "No preview: The engine does not answer. Run the filter again."
    assert "not changed" not in text


def test_the_estimate_says_a_range_and_a_busy_machine_in_words():
    """Issue 23, point 2: estimates were 1.3-4.4x short on a busy machine; the engine now counts the load and
    recent jobs, and says a range where those spread. The line shows both as the engine sends them."""
    layer = (2048, 1365)
    ranged = {**plan((1184, 789), 180.0), "seconds_range": [120.0, 240.0], "slowdown": 1.0}
    assert D.estimate_text(ranged, layer, "standard").endswith("to finish in about 2–4 min on CPU.")
    busy = {**plan(layer, 100.0), "seconds_range": None, "slowdown": 2.0}
    assert D.estimate_text(busy, layer, "high") == (
        "Your layer: 2048×1365. High paints it at full size: about 2 min on CPU, slower now as other "
        "programs are busy (2.0×).")
    quiet = {**plan(layer, 100.0), "slowdown": 1.05, "seconds_range": ["x", None]}  # odd fields: ignored
    assert D.estimate_text(quiet, layer, "high").endswith("full size: about 2 min on CPU.")


def test_estimate_line_without_seconds_or_answer():
    assert "not known yet on cpu" in D.estimate_text({"seconds": None, "device": "cpu"})
    assert D.estimate_text(None) == D.UNAVAILABLE
    assert D.estimate_text({}) == D.UNAVAILABLE


def test_preview_region_is_scaled_to_the_long_side_and_never_enlarged():
    scale, rect = D.preview_region((100, 50, 2000, 1000), 320)
    assert scale == pytest.approx(0.16) and rect == (16, 8, 320, 160)
    assert D.preview_region((0, 0, 64, 48), 320) == (1.0, (0, 0, 64, 48))
    with pytest.raises(ValueError):
        D.preview_region((0, 0, 0, 10))


def test_preview_settings_are_a_draft_of_the_artists_settings():
    settings = {"preset": "high", "size": 0, "style_strength": 2.0, "seed": 4, "iterations": 7, "output": "content"}
    got = D.preview_settings(settings, 256)
    assert got == {"preset": "draft", "max_long_side": 256, "style_strength": 2.0, "seed": 4, "iterations": 7,
                   "output": "content"}
    assert settings["preset"] == "high"  # not changed in place


def test_rgba8_from_f32_clamps_and_rounds():
    data = struct.pack("8f", 0.0, 0.5, 1.0, 1.0, -1.0, 2.0, 0.2, 0.0)
    assert D.rgba8_from_f32(data, 2, 1) == bytes([0, 128, 255, 255, 0, 255, 51, 0])
    with pytest.raises(ValueError):
        D.rgba8_from_f32(data, 3, 1)


def test_plus_and_page_change_numbers_by_small_steps_of_their_range():
    """"+" on Style strength went from 1.00 to 2.00 (GIMP's step for a 0..10 range): every number with a
    fractional range has a step of its own, a small part of its range, and a page of a few steps."""
    import nst_logic

    doubles = {name: extra for name, kind, _n, _b, extra in nst_logic.ARGUMENTS if kind == "double"}
    assert set(nst_logic.INCREMENTS) == set(doubles)
    for name, (step, page) in nst_logic.INCREMENTS.items():
        span = doubles[name]["max"] - doubles[name]["min"]
        assert 0 < step <= span / 20 and step < page <= span / 2, name
        assert step <= 0.1 * max(1.0, doubles[name]["default"]), name
    assert nst_logic.INCREMENTS["style-strength"] == (0.1, 1.0)
