"""The values of an OK whose run has not succeeded (repeat_values.py), without GIMP: kept for Repeat, the
dialog and the Learn window, since GIMP stores only successful runs' values (issue 21, point 4: Repeat after
the engine died; issue 23: the style forgotten after a failed OK)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402
import pytest  # noqa: E402
import repeat_values as R  # noqa: E402

TRIED = {"style-file": "/art/starry.jpg", "style-file-2": None, "style-blend": 0.25, "style-strength": 2.0,
         "quality": "draft", "max-size": 256, "preserve-colors": True, "style-scale": 1.5, "seed": 7,
         "where": "channels", "outside": "second-style", "channel-styles": "Sky=1", "style-layer": None}


@pytest.fixture(autouse=True)
def starry(tmp_path, monkeypatch):
    """TRIED's style picture exists (a vanished one is not offered)."""
    real = tmp_path / "starry.jpg"
    real.write_bytes(b"x")
    TRIED["style-file"] = str(real)
    yield real


def test_a_failed_runs_values_come_back_whole(tmp_path):
    file = R.values_file(tmp_path)
    assert R.pending(file) == {}
    R.remember(file, TRIED)
    assert R.pending(file) == TRIED and set(TRIED) == set(L.ARGUMENT_NAMES)
    R.forget(file)
    assert R.pending(file) == {} and not file.exists()
    R.forget(file)  # nothing to forget: no error


def test_each_profile_has_its_own(tmp_path):
    assert R.values_file(tmp_path / "a") != R.values_file(tmp_path / "b")
    assert R.values_file(tmp_path).is_relative_to(tmp_path)


def test_scripts_and_runs_without_a_style_keep_nothing(tmp_path):
    file = R.values_file(tmp_path)
    R.remember(None, TRIED)  # a script's run: no file given
    R.remember(file, {**TRIED, "style-file": None})
    R.remember(file, None)
    assert not file.exists()


def test_a_damaged_or_foreign_file_offers_only_plausible_values(tmp_path):
    file = R.values_file(tmp_path)
    file.parent.mkdir(parents=True)
    file.write_text("{not json")
    assert R.pending(file) == {}
    file.write_text('["style_file"]')
    assert R.pending(file) == {}
    file.write_text('{"arguments": {"seed": "seven", "quality": "high", "unknown": 1}}')
    assert R.pending(file) == {}, "no style: nothing to repeat"
    file.write_text(json.dumps({"arguments": {"style_file": TRIED["style-file"], "seed": "seven",
                                              "quality": "high", "unknown": 1}}))
    assert R.pending(file) == {"style-file": TRIED["style-file"], "quality": "high"}


def test_a_style_picture_gone_since_is_not_offered(tmp_path, starry):
    file = R.values_file(tmp_path)
    second = tmp_path / "second.png"
    second.write_bytes(b"x")
    R.remember(file, {**TRIED, "style-file-2": str(second)})
    assert R.pending(file)["style-file-2"] == str(second)
    second.unlink()
    assert R.pending(file)["style-file-2"] is None and R.pending(file)["style-file"] == str(starry)
    starry.unlink()
    assert R.pending(file) == {}


def test_an_unwritable_folder_costs_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    R.remember(R.values_file(blocker), TRIED)  # its folder cannot be made: no error, nothing kept
    assert R.pending(R.values_file(blocker)) == {}


def test_a_run_with_a_style_layer_and_no_file_is_remembered(tmp_path) -> None:
    """Issue 20: the style can be an open layer (a reference, style_layer_logic.layer_ref) with no style file."""
    file = tmp_path / "repeat.json"
    ref = {"image_file": None, "image": "[Untitled]", "image_id": 2, "layer": "Painting", "tattoo": 2}
    R.remember(file, {"style-file": None, "style-layer": ref, "where": "selection", "outside": "photo"})
    got = R.pending(file)
    assert got["style-layer"] == ref and got["where"] == "selection" and got["outside"] == "photo"
    R.remember(file, {"style-file": None, "style-layer": None, "where": "whole"})  # no style at all: not kept
    assert R.pending(file)["where"] == "selection"
