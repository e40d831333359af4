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


def test_estimate_line_names_time_and_device():
    answer = {"plan": {"size": [2048, 1365], "scales": [], "message": ""}, "seconds": 41.0, "device": "cuda",
              "device_name": "NVIDIA GeForce RTX 3060", "calibrated": True}
    assert D.estimate_text(answer) == "Estimated time: about 40 s on NVIDIA GeForce RTX 3060, working at 2048\u00d71365"


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
