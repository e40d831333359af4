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
