"""Presets set effort, not size: the coarse-to-fine schedule up to the content's own size, its cost
against a 1024-px run, and the time budget that caps the size (plan.py, schedule.py)."""

from __future__ import annotations

import pytest
import torch

from nst_engine.pictures.images import scaled_size
from nst_engine.planning import memory, timing
from nst_engine.planning.plan import Plan, Step
from nst_engine.planning.planner import make_plan
from nst_engine.planning.schedule import MIN_DETAIL_ITERATIONS, schedule
from nst_engine.settings import Settings

CPU = torch.device("cpu")
PHOTO = (4000, 3000)  # a 12-megapixel photo


@pytest.fixture(autouse=True)
def unlimited_memory(monkeypatch):
    """Sizes here are about time and effort; memory's say is tested elsewhere (test_engine, tiling)."""
    monkeypatch.setattr(memory, "available_bytes", lambda device, limit=None: None)


def slow_rate(pixels_per_second: float = 1e5) -> timing.Rate:
    return timing.Rate(pixels_per_second, 0.01, 1.0, "cpu", "a slow CPU", "fp32", "sha")


def work(size, settings=None) -> int:
    return sum(size[0] * size[1] * n for size, n in schedule(size, settings or Settings()))


def test_up_to_1024_px_the_schedule_is_the_classic_one():
    assert schedule((512, 384), Settings()) == [((128, 96), 50), ((256, 192), 50), ((512, 384), 100)]
    assert schedule((1024, 768), Settings()) == [((256, 192), 50), ((512, 384), 50), ((1024, 768), 100)]
    assert schedule((1024, 768), Settings(scales=1)) == [((1024, 768), 100)]  # one scale means one


def test_above_1024_px_detail_scales_get_a_quarter_per_doubling():
    assert schedule((2048, 1536), Settings()) == [
        ((256, 192), 50), ((512, 384), 50), ((1024, 768), 100), ((2048, 1536), 25)]
    assert [n for _size, n in schedule((4096, 3072), Settings())] == [50, 50, 100, 25, 6]
    assert [n for _size, n in schedule((16384, 12288), Settings())][-2:] == [MIN_DETAIL_ITERATIONS] * 2
    assert [n for _size, n in schedule((4096, 3072), Settings(iterations=2))][-1] == 2  # never more than asked
    assert schedule((4096, 3072), Settings(scales=1)) == [((4096, 3072), 100)]


def test_full_resolution_costs_a_small_multiple_of_1024_px():
    base = work((1024, 768))
    assert work((2048, 1536)) <= 2.1 * base
    assert work((4096, 3072)) <= 3.2 * base
    assert work((8192, 6144)) <= 6 * base
    sides = [1024, 1100, 1536, 2048, 2100, 3072, 4096]
    costs = [work((side, side * 3 // 4)) for side in sides]
    assert costs == sorted(costs), "a larger size never costs less"


def test_presets_work_at_the_contents_size_except_draft():
    draft, standard, high = (Settings.from_dict({"preset": p}) for p in ("draft", "standard", "high"))
    assert make_plan(PHOTO, draft, CPU, 4).target == (512, 384)
    assert make_plan((300, 200), draft.replace(output="content"), CPU, 4).target == (300, 200)
    assert make_plan(PHOTO, standard, CPU, 4).target == PHOTO
    assert make_plan(PHOTO, high, CPU, 4).target == PHOTO
    assert make_plan(PHOTO, high, CPU, 4).pixel_iterations > make_plan(PHOTO, standard, CPU, 4).pixel_iterations
    assert make_plan(PHOTO, standard.replace(max_long_side=2000), CPU, 4).target == (2000, 1500)


def test_the_time_budget_caps_the_size_and_says_so():
    settings = Settings()  # standard: the content's size, 10 minutes
    rate = slow_rate()
    full = make_plan(PHOTO, settings, CPU, 4)
    assert timing.estimate_seconds(full, rate) > settings.time_budget
    capped = make_plan(PHOTO, settings, CPU, 4, rate=rate)
    assert max(capped.target) < max(PHOTO) and max(capped.target) % 16 == 0
    assert timing.estimate_seconds(capped, rate) <= settings.time_budget
    larger = scaled_size(PHOTO, max(capped.target) + 16)
    bigger = Plan(larger, [Step(s, n) for s, n in schedule(larger, settings)], 4)
    assert timing.estimate_seconds(bigger, rate) > settings.time_budget, "the cap is the largest size that fits"
    message = capped.message or ""
    assert f"capped at {capped.target[0]}x{capped.target[1]}" in message and "4000x3000" in message
    assert "a slow CPU" in message and "10 min" in message and "--time-budget 0" in message
    # Lifted: no budget, a longer one, or no measured rate.
    assert make_plan(PHOTO, settings.replace(time_budget=0), CPU, 4, rate=rate).target == PHOTO
    assert make_plan(PHOTO, settings.replace(time_budget=1e6), CPU, 4, rate=rate).target == PHOTO
    assert make_plan(PHOTO, settings, CPU, 4).target == PHOTO


def test_the_notebook_preset_stays_exact():
    settings = Settings.from_dict({"preset": "notebook"})
    made = make_plan(PHOTO, settings, CPU, 4, rate=slow_rate(10.0))
    assert [(step.size, step.iterations) for step in made.steps] == [((400, 300), 200)]
    assert made.notes == []
