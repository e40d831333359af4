"""The learned-style procedures' pure logic (learned_logic.py) and client pieces, tested without GIMP."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import learned_logic as L  # noqa: E402
from engine_client import _ascii_name  # noqa: E402


def test_photos_are_picked_recursively_evenly_and_within_the_byte_budget(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for index in range(10):
        (tmp_path / f"p{index:02d}.jpg").write_bytes(b"x" * 100)
    (tmp_path / "sub" / "deep.PNG").write_bytes(b"x" * 100)
    (tmp_path / ".hidden" / "secret.jpg").write_bytes(b"x" * 100)
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "empty.jpg").write_bytes(b"")
    chosen, usable = L.pick_photos(str(tmp_path))
    assert usable == 11 and len(chosen) == 11 and chosen[-1].endswith("deep.PNG")
    chosen, usable = L.pick_photos(str(tmp_path), max_count=4)
    assert usable == 11 and [Path(p).name for p in chosen] == ["p00.jpg", "p02.jpg", "p05.jpg", "p08.jpg"]
    chosen, _ = L.pick_photos(str(tmp_path), max_total=350)
    assert len(chosen) == 3


def test_default_names_are_names_the_engine_accepts() -> None:
    assert L.default_style_name("/x/Starry night.jpg") == "Starry night"
    assert L.default_style_name("/x/Nuit étoilée (2).png") == "Nuit -toil-e -2"
    assert L.default_style_name("/x/???.png") == "style"
    assert _ascii_name("C:\\photos\\été \"1\".jpg") == "_t_ _1_.jpg"


def test_progress_texts_and_fractions() -> None:
    learning = {"type": "progress", "step": 120, "total_steps": 2000, "fraction": 0.06, "remaining": 250.0}
    expected = "Learning \u201cdots\u201d \u2014 step 120/2000, about 4 min 10 s left"
    assert L.progress_text(learning, "dots", True) == expected
    assert L.progress_fraction(learning) == 0.06
    applying = {"type": "progress", "step": 2, "total_steps": 4, "fraction": 0.5}
    assert L.progress_text(applying, "dots", False) == "Applying \u201cdots\u201d \u2014 tile 2/4"
    assert L.progress_text({"type": "started"}, "dots", True) == "Learning: preparing\u2026"
    assert L.progress_fraction({"type": "queued", "position": 1}) is None


def test_record_and_listing() -> None:
    record = L.apply_record("dots", 0.5, "Background", "u16")
    assert record["procedure"] == L.APPLY_PROC and record["arguments"] == {"style_name": "dots", "strength": 0.5}
    listing = {"styles": [{"name": "b"}, {"name": "A"}, {"name": "broken", "problem": "damaged"}]}
    assert [s["name"] for s in L.usable_styles(listing)] == ["A", "b"]
    assert L.layer_name("Background", "dots") == "Background (learned style: dots)"


def test_the_artist_is_told_where_a_learned_style_is_found() -> None:
    done = L.learning_outcome_text("done", {"type": "done", "message": "Learned the style 'dots' in 3 steps of 2000 "
                                            "(stopped early: learn it again for a stronger style)."}, "dots")
    assert done.startswith("Learned the style 'dots' in 3 steps of 2000") and done.endswith(
        "Apply it with Filters \u2192 Artistic \u2192 Neural Style Transfer \u2192 Apply Learned Style\u2026")
    closed = L.learning_outcome_text("closed", None, "dots")
    assert "goes on learning \u201cdots\u201d" in closed and "Apply Learned Style" in closed
    assert L.learning_outcome_text("done", {}, "dots").startswith("Learned the style \u201cdots\u201d.")


# --- the Learn window (issue 23, point 6) ------------------------------------------------------------------


def test_typed_folder_paths_are_accepted_when_they_are_folders(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert L.typed_folder(f"  {tmp_path}/photos/ ") == (str(tmp_path / "photos"), "")
    assert L.typed_folder(f'"{tmp_path}/photos"')[0] == str(tmp_path / "photos")  # pasted with quotes
    assert L.typed_folder(f"file://{tmp_path}/photos")[0] == str(tmp_path / "photos")
    assert L.typed_folder("") == (None, "")
    assert L.typed_folder(f"{tmp_path}/nothing") == (None, "No such folder")
    folder, hint = L.typed_folder(f"{tmp_path}/a.jpg")
    assert folder is None and "a.jpg" in hint and "not a folder" in hint
    folder, hint = L.typed_folder("photos")
    assert folder is None and "whole path" in hint


def test_ok_waits_for_a_style_picture_and_a_folder(tmp_path: Path, photos: dict[str, Path]) -> None:
    picture = str(next(iter(photos.values())))
    (tmp_path / "photos").mkdir()
    (tmp_path / "fake.png").write_text("not a picture")
    assert L.ok_state(picture, str(tmp_path / "photos")) == (True, "")
    ok, hint = L.ok_state(None, str(tmp_path / "photos"))
    assert not ok and hint.startswith("No style image")
    ok, hint = L.ok_state(str(tmp_path / "fake.png"), str(tmp_path / "photos"))
    assert not ok and "fake.png" in hint and "not a picture" in hint
    ok, hint = L.ok_state(picture, None)
    assert not ok and "folder of photographs" in hint
    ok, hint = L.ok_state(picture, str(tmp_path / "gone"))
    assert not ok and "gone" in hint


def _plan_answer(seconds: float | None, iterations: int) -> dict:
    return {"seconds": seconds, "device_name": "CPU",
            "plan": {"size": [256, 256], "scales": [{"size": [256, 256], "iterations": iterations}]}}


def test_one_iterations_time_comes_from_two_plans_without_their_fixed_costs() -> None:
    # 5 s of set-up and final pass plus 0.5 s an iteration: 15 s for 20 iterations, 25 s for 40
    assert L.iteration_seconds(_plan_answer(15.0, 20), _plan_answer(25.0, 40)) == 0.5
    assert L.iteration_seconds(_plan_answer(None, 20), _plan_answer(25.0, 40)) is None  # not measured yet
    assert L.iteration_seconds(_plan_answer(15.0, 20), _plan_answer(15.0, 20)) is None
    assert L.iteration_seconds({}, None) is None
    probe = L.probe_settings(256, 20)
    assert probe["scales"] == 1 and probe["iterations"] == 20 and probe["max_long_side"] == 256
    assert probe["time_budget"] == 0  # the engine must not shrink the probe to fit its time limit


def test_learning_time_grows_with_steps_and_network_width() -> None:
    small = L.learn_seconds(0.5, 2000, "small")
    assert small == 2000 * L.LEARN_BATCH * 0.5 * L.LEARN_STEP_FACTOR["small"]
    assert L.learn_seconds(0.5, 4000, "small") == 2 * small
    assert L.learn_seconds(0.5, 2000, "standard") > small
    assert L.learn_seconds(0.5, 2000, "unknown") >= L.learn_seconds(0.5, 2000, "standard")  # never optimistic
    text = L.learn_estimate_text(small, "CPU")
    assert text.startswith("Learning takes about 1 h 20 min")  # 4800 s and "on CPU" in text, text
    assert "not known yet" in L.learn_estimate_text(None, "CPU")


def test_every_learn_field_is_explained_in_plain_words() -> None:
    fields = ("style-file", "photos-folder", "style-name", "steps", "training-size", "network", "style-strength",
              "replace", "keep-running")
    assert set(L.FIELD_HELP) == set(fields)
    for name, text in L.FIELD_HELP.items():
        assert len(text.split()) >= 8, f"{name}: {text!r} explains too little"
        assert not any(word in text.lower() for word in ("crop", "calibrated", "weight", "argument")), text
    assert "overwrite" in L.FIELD_HELP["replace"] and "pixels" in L.FIELD_HELP["training-size"]


def test_learn_increments_are_small_steps_of_their_ranges() -> None:
    ranges = {"style-strength": (0.05, 20.0, 1.0), "steps": (1, 1_000_000, 2000), "training-size": (64, 1024, 256)}
    assert set(L.INCREMENTS) == set(ranges)
    for name, (step, page) in L.INCREMENTS.items():
        low, high, default = ranges[name]
        assert 0 < step < page <= (high - low) / 2 and step <= default / 2, name


def test_success_is_told_as_information_with_a_title() -> None:
    assert L.learning_outcome_title("done", {"type": "done"}) == "Style learned"
    assert "stopped early" in L.learning_outcome_title("done", {"type": "done", "stopped_early": True})
    assert L.learning_outcome_title("closed", None) == "Learning goes on"
