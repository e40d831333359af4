"""The device's speed (calibrate.py), measured once and kept per device, precision and weights, and the
estimate of a plan from it (planning/timing.py). Mostly structure (what is stored, when it is measured again,
how an estimate scales with a plan's work); one real calibration checks the estimate of a small run loosely."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from nst_engine import calibrate
from nst_engine.api import plan_job
from nst_engine.contract import estimate_number, estimate_text
from nst_engine.device import device_name, precision_name
from nst_engine.gatys import tiling
from nst_engine.gatys.cache import ModelCache
from nst_engine.pictures.images import load_picture
from nst_engine.planning import timing
from nst_engine.planning.plan import Plan, Step
from nst_engine.settings import Settings

CPU = torch.device("cpu")


def rate(pixels_per_second: float = 1e6, fixed: float = 0.0, setup: float = 0.0) -> timing.Rate:
    return timing.Rate(pixels_per_second, fixed, setup, "cpu", "test CPU", "fp32", "sha")


class WeightsOnly:
    """Just enough of a ModelCache for rate_for when the measurement itself is replaced."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256

    def weights(self) -> SimpleNamespace:
        return SimpleNamespace(sha256=self.sha256)


@pytest.fixture
def fake_measure(monkeypatch, engine_home):
    """Count measurements instead of making them; a fresh process's memory (forget) around the test."""
    measured: list[tuple[str, str]] = []

    def measure(cache, settings, device, dtype, sha256):
        measured.append((sha256, precision_name(dtype)))
        return timing.Rate(1e6, 0.001, 0.5, device.type, device_name(device), precision_name(dtype),
                           sha256)

    monkeypatch.setattr(calibrate, "_measure", measure)
    calibrate.forget()
    yield measured
    calibrate.forget()


def test_an_estimate_is_the_plans_work_at_the_rate():
    one = Plan((100, 100), [Step((100, 100), 10)], 4)
    assert timing.estimate_seconds(one, rate()) == pytest.approx((10 + timing.FINAL_EVALUATION) * 1e4 / 1e6)
    twice = Plan((100, 100), [Step((100, 100), 20)], 4)
    assert timing.estimate_seconds(twice, rate()) == pytest.approx(
        2 * timing.estimate_seconds(one, rate()) - timing.FINAL_EVALUATION * 1e4 / 1e6)
    # Coarse to fine: the sum of the steps; the fixed costs count per iteration, per tile, per set-up.
    plan = Plan((200, 200), [Step((100, 100), 10), Step((200, 200), 5)], 4)
    assert timing.estimate_seconds(plan, rate()) == pytest.approx((10 * 1e4 + 5 * 4e4 + 0.5 * 4e4) / 1e6)
    tiled = Plan((200, 200), [Step((200, 200), 5, tile=(120, 120), tiles=4)], 4)
    tiles = tiling.layout((200, 200), (120, 120))  # every tile's region (halos included), forward and backward,
    per_evaluation = sum(0.1 + t.pixels / 1e6 for t in tiles) + tiling.FORWARD_SHARE * sum(  # and the Gram pass
        0.1 + t.pixels / 1e6 for t in tiles[:-1])
    assert timing.estimate_seconds(tiled, rate(fixed=0.1, setup=1.0)) == pytest.approx(
        5 * per_evaluation + 1.0 * (0.1 + 4e4 / 1e6) + 0.5 * (0.1 + 4e4 / 1e6))
    assert tiled.pixel_iterations == round(5 * tiling.evaluation_work((200, 200), (120, 120))) > 200 * 200 * 5


def test_seconds_are_said_as_precisely_as_an_estimate_deserves():
    assert [estimate_text(s) for s in (0.2, 40.4, 90, 600, 3599, 4800, 7200)] == [
        "under a second", "about 40 s", "about 2 min", "about 10 min", "about 1 h", "about 1 h 20 min", "about 2 h"]


def test_a_tiny_jobs_estimate_is_never_reported_as_zero():
    """The service reports estimates to three significant figures: a fast CPU's 0.03 s is not 0."""
    assert [estimate_number(s) for s in (0.0312, 0.04, 1.2345, 61.87, 4321.9)] == [0.0312, 0.04, 1.23, 61.9, 4320.0]
    assert estimate_number(1e-4) > 0 and estimate_text(estimate_number(1e-4)) == "under a second"


def test_the_calibration_is_stored_reused_and_redone_when_weights_or_precision_change(fake_measure, engine_home):
    settings = Settings.from_dict({"device": "cpu"})
    first = calibrate.rate_for(WeightsOnly("a" * 64), settings, CPU, torch.float32)
    assert fake_measure == [("a" * 64, "fp32")]
    stored = json.loads((engine_home / "data" / calibrate.TIMING_FILE_NAME).read_text())
    (key,) = stored["rates"]
    assert "cpu" in key and "fp32" in key and "a" * 64 in key and f"{torch.get_num_threads()} threads" in key
    calibrate.forget()  # as a new process would: read from the file, not measured again
    assert calibrate.rate_for(WeightsOnly("a" * 64), settings, CPU, torch.float32) == first
    assert len(fake_measure) == 1
    calibrate.rate_for(WeightsOnly("b" * 64), settings, CPU, torch.float32)  # other weights
    calibrate.rate_for(WeightsOnly("a" * 64), settings, CPU, torch.bfloat16)  # other precision
    assert fake_measure[1:] == [("b" * 64, "fp32"), ("a" * 64, "bf16")]
    assert len(json.loads((engine_home / "data" / calibrate.TIMING_FILE_NAME).read_text())["rates"]) == 3
    assert calibrate.rate_for(WeightsOnly("c" * 64), settings, CPU, torch.float32, calibrate=False) is None


def test_an_unreadable_timing_file_means_measuring_again(fake_measure, engine_home):
    (engine_home / "data").mkdir(parents=True)
    (engine_home / "data" / calibrate.TIMING_FILE_NAME).write_text("{broken")
    assert calibrate.rate_for(WeightsOnly("a" * 64), Settings(), CPU, torch.float32) is not None
    assert len(fake_measure) == 1
    assert json.loads((engine_home / "data" / calibrate.TIMING_FILE_NAME).read_text())["rates"]


def test_small_jobs_are_not_worth_measuring_for(fake_measure, synthetic_weights_file):
    cache = ModelCache(synthetic_weights_file)
    tiny = Settings.from_dict({"device": "cpu", "size": 64, "iterations": 4})
    plan, seconds = plan_job((451, 300), tiny, cache)
    assert seconds is None and plan.target == (64, 43) and fake_measure == []
    assert plan_job((451, 300), tiny, cache, calibrate="never")[1] is None and fake_measure == []
    plan, seconds = plan_job((451, 300), tiny, cache, calibrate="always")
    assert seconds is not None and seconds > 0 and len(fake_measure) == 1
    assert plan_job((451, 300), tiny, cache, calibrate="never")[1] == seconds  # kept now


def test_a_real_calibration_gives_an_estimate_that_grows_with_the_work(engine_home, synthetic_weights_file, photos):
    """The real measurement on this CPU: the rate's parts are plausible and the estimate follows the plan's work.

    How close an estimate comes to the run's time is the bench's to say (benchmarks/bench.py prints both):
    a test cannot, since a machine twice as busy during the run as during the measurement would break it.
    """
    calibrate.forget()
    cache = ModelCache(synthetic_weights_file)
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32", "size": 256, "iterations": 8, "scales": 2,
                                   "min_scale_size": 96, "time_budget": 0})
    measured = calibrate.rate_for(cache, settings, CPU, torch.float32)
    assert measured is not None and measured.pixels_per_second > 0 and measured.seconds_per_iteration >= 0
    assert measured.setup_iterations >= 0 and measured.calibration_seconds > 0
    assert measured.device_name == device_name(CPU) and measured.precision == "fp32"
    cat = load_picture(photos["chelsea"])
    plan, estimate = plan_job(cat.size, settings, cache)
    longer, longer_estimate = plan_job(cat.size, settings.replace(iterations=16), cache)
    print(f"estimate {estimate:.2f} s (x2 iterations: {longer_estimate:.2f} s), rate {measured}")
    assert estimate is not None and estimate > 0
    assert longer.pixel_iterations > plan.pixel_iterations and longer_estimate > estimate
    assert timing.estimate_seconds(longer, measured) == pytest.approx(longer_estimate)
    calibrate.forget()


def test_a_failed_measurement_costs_the_estimate_not_the_job(monkeypatch, engine_home, synthetic_weights_file):
    def broken(*args):
        raise RuntimeError("out of memory while measuring")

    monkeypatch.setattr(calibrate, "_measure", broken)
    calibrate.forget()
    plan, seconds = plan_job((451, 300), Settings.from_dict({"device": "cpu"}), ModelCache(synthetic_weights_file),
                             calibrate="always")
    assert seconds is None and plan.target == (451, 300) and not plan.notes
    calibrate.forget()
