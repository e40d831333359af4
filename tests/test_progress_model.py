"""What the progress window says (issue 11 point 3), without GIMP: one overall fraction across scales
and tiles, elapsed and remaining time, no loss in the main text, the thumbnail and the preview's alpha."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402
import progress_model as PM  # noqa: E402

EVENT = {"type": "progress", "scale": 2, "scales": 3, "iteration": 120, "iterations": 300, "step": 220,
         "total_steps": 600, "losses": {"total": 813.3}, "size": [512, 384], "tile": 2, "tiles": 4}


def test_overall_fraction_prefers_the_engines_weighted_fraction():
    assert PM.overall_fraction({**EVENT, "fraction": 0.5}) == 0.5
    assert L.progress_fraction({**EVENT, "fraction": 0.5}) == 0.5  # GIMP's own bar follows the same number
    assert PM.overall_fraction(EVENT) == pytest.approx(220 / 600)  # an engine without `fraction`
    assert PM.overall_fraction({"type": "progress", "fraction": 1.7}) == 1.0
    assert PM.overall_fraction({"type": "queued"}) is None


def test_bar_text_is_a_percentage_without_loss_or_per_scale_counters():
    text = PM.bar_text({**EVENT, "fraction": 0.42})
    assert text == "Stylising \u2014 42 %"
    assert "loss" not in text.lower() and "813" not in text and "scale" not in text
    assert PM.bar_text({"type": "queued", "position": 2}) == "Waiting for the engine \u2014 2 jobs ahead"
    assert PM.bar_text({"type": "started"}) == "Preparing\u2026"


def test_details_keep_the_technical_numbers_for_a_tooltip():
    detail = PM.details(EVENT)
    assert detail.startswith("Scale 2 of 3") and "tile 2 of 4" in detail and "loss 813.3" in detail
    assert "tile" not in PM.details({**EVENT, "tiles": 1})


def test_durations_read_like_a_clock():
    assert PM.contract.clock_text(8.4) == "8 s"
    assert PM.contract.clock_text(65) == "1 min 05 s"
    assert PM.contract.clock_text(3720) == "1 h 02 min"


def test_clock_estimates_the_remaining_time_from_the_rate_then_from_the_engine():
    clock = PM.ProgressClock(started=100.0)
    assert clock.time_line(101.0) == "Elapsed 1 s"  # nothing known yet: no guess
    clock.update({"type": "started", "estimate_seconds": 60}, 102.0)
    assert clock.remaining(112.0) == pytest.approx(50.0)  # the engine's estimate, before a rate exists
    clock.update({"type": "progress", "fraction": 0.25}, 122.0)
    assert clock.remaining(122.0) == pytest.approx(60.0)  # 20 s for a quarter: 60 s more
    assert clock.time_line(122.0) == "Elapsed 22 s \u00b7 about 1 min 00 s left"
    clock.update({"type": "progress", "fraction": 0.1}, 123.0)  # never goes backwards
    assert clock.fraction == 0.25
    clock.update({"type": "progress", "fraction": 1.0}, 150.0)
    assert clock.time_line(150.0) == "Elapsed 50 s"


def _rgba(values: list[tuple[float, float, float, float]], fmt: str) -> bytes:
    code, top = {"u8": ("B", 255), "u16": ("H", 65535), "f32": ("f", 1.0)}[fmt]
    flat = [v * top if fmt == "f32" else round(v * top) for px in values for v in px]
    return struct.pack(f"<{len(flat)}{code}", *flat)


@pytest.mark.parametrize("fmt", ["u8", "u16", "f32"])
def test_thumbnail_of_the_layer_in_any_depth(fmt):
    pixels = [(1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 0.0)] * 2  # 2x2: red opaque, green transparent
    w, h, data = PM.thumbnail_rgba8(2, 2, fmt, _rgba(pixels, fmt), 320)
    assert (w, h) == (2, 2)  # never upscaled
    assert data[:8] == bytes([255, 0, 0, 255, 0, 255, 0, 0])


def test_thumbnail_fits_the_box():
    w, h, data = PM.thumbnail_rgba8(1000, 500, "u8", bytes(1000 * 500 * 4), 320)
    assert (w, h) == (320, 160) and len(data) == 320 * 160 * 4


def test_preview_gets_the_layers_alpha_for_the_checkerboard():
    alpha = struct.pack("<4f", 1.0, 0.0, 0.5, 1.0)  # 2x2 layer
    plane = PM.alpha_plane8(2, 2, alpha, 2, 2)
    assert plane == bytes([255, 0, 128, 255])
    rgb = bytes([10, 20, 30, 40, 50, 60, 0, 0]) + bytes([70, 80, 90, 1, 2, 3, 0, 0])  # rowstride 8
    out = PM.with_alpha(rgb, 2, 2, 3, 8, plane)
    assert out == bytes([10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 128, 1, 2, 3, 255])


# --- a steady time left and named last phases (issue 23, points 5 and 9) -------------------------------------


def _shown(sequence: list[tuple[float, float | None]], steady: PM.SteadyRemaining | None = None) -> list[float]:
    steady = steady or PM.SteadyRemaining()
    return [steady.update(raw, now) for now, raw in sequence]


def test_time_left_never_jumps_back_up_on_a_passing_wobble():
    """What an artist saw: 1:40 -> 2:02 -> 1:40 -> 0:24. Shown: a countdown that only goes down."""
    raw = [(0.0, 100.0), (2.0, 122.0), (4.0, 100.0), (6.0, 24.0), (8.0, 24.0), (30.0, 10.0)]
    shown = _shown(raw)
    assert shown[0] == 100.0
    assert all(b <= a for a, b in zip(shown, shown[1:], strict=False)), shown
    assert shown[1] == pytest.approx(98.0)  # counted down, the 122 ignored
    assert 24.0 < shown[3] < shown[2]  # eases towards a lower figure instead of dropping 76 s at once
    assert shown[-1] < 20.0  # ... and gets near it


def test_noisy_figures_count_down_steadily():
    """Rate figures that wobble ±30 % around the truth (a busy machine) at 10 updates a second: the time left
    goes up only where it says it was re-estimated (at most once, here, for a first figure 22 % short)."""
    import random

    rng = random.Random(1)
    steady = PM.SteadyRemaining()
    shown, said = [], []
    for t in range(0, 1000):
        now = t / 10
        shown.append(steady.update(max(0.0, (120 - now) * rng.uniform(0.7, 1.3)), now))
        said.append(steady.reestimated)
    rises = [i + 1 for i, (a, b) in enumerate(zip(shown, shown[1:], strict=False)) if b > a + 1e-9]
    assert len(rises) <= 1 and all(said[i] for i in rises), rises
    steps = [a - b for a, b in zip(shown, shown[1:], strict=False)]
    assert max(steps) < 3.0, "no visible jumps down either: at most a few seconds per tenth of a second"
    assert shown[-1] == pytest.approx(20.0, abs=12.0)  # and still near the truth at the end


def test_a_lasting_slowdown_is_taken_as_a_new_estimate_and_said():
    steady = PM.SteadyRemaining()
    assert steady.update(60.0, 0.0) == 60.0
    shown = [steady.update(150.0, t / 2) for t in range(1, 60)]  # the work needs far longer, for 30 s
    jumped = [i for i, (a, b) in enumerate(zip(shown, shown[1:], strict=False)) if b > a]
    assert len(jumped) == 1, shown  # once, not back and forth
    assert shown[jumped[0] + 1] > 120.0  # near the new figure (averaged over a few seconds)
    assert (jumped[0] + 2) / 2 >= steady.hold  # only after `hold` seconds of it


def test_clock_line_says_almost_done_and_re_estimated():
    clock = PM.ProgressClock(started=0.0)
    clock.update({"type": "started", "estimate_seconds": 10}, 0.0)
    assert clock.time_line(1.0).endswith("about 9 s left")
    clock.update({"type": "progress", "fraction": 0.5}, 5.0)  # on pace: 5 s more
    assert clock.time_line(5.0).endswith("about 5 s left")
    assert clock.time_line(12.0).endswith("almost done")  # the countdown ran out before the work
    assert clock.time_line(13.0).endswith("almost done")  # and does not climb back
    slow = PM.ProgressClock(started=0.0)
    slow.update({"type": "started", "estimate_seconds": 20}, 0.0)
    slow.update({"type": "progress", "fraction": 0.05}, 1.0)
    lines = [slow.time_line(t / 2) for t in range(2, 80)]  # 0.05 done in 1 s: 19 s left ... then no news
    assert any("re-estimated" in line for line in lines), lines[-5:]


def test_the_phases_after_the_last_iteration_are_named():
    assert PM.bar_text({"type": "progress", "fraction": 0.99}) == "Stylising \u2014 99 %"
    assert PM.bar_text({"type": "progress", "fraction": 1.0}) == PM.FINISHING
    assert PM.phase_detail({"type": "progress", "fraction": 1.0}) == PM.FINISHING_DETAIL
    assert PM.phase_detail({"type": "progress", "fraction": 0.5}) is None
    receiving = {"type": PM.RECEIVING_EVENT}
    assert PM.bar_text(receiving) == PM.RECEIVING and "Receiving" in PM.RECEIVING
    assert "on its way" in PM.phase_detail(receiving)
    assert L.progress_text(receiving) == PM.RECEIVING  # GIMP's own bar says the same
    assert "GIMP" in PM.WRITING
    clock = PM.ProgressClock(started=0.0)
    assert clock.phase_line(PM.FINISHING_DETAIL, 65.0) == PM.FINISHING_DETAIL + " Elapsed 1 min 05 s."
