"""Estimates that hold on a busy machine (issue 23): other programs' runnable threads read from the kernel
(host_load.py), a rate kept as the quiet machine's, and what a job is expected to take now (calibrate.expect):
the quiet estimate times the slowdown, corrected by recent jobs, with a range where they spread."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from nst_engine import calibrate, host_load
from nst_engine.device import device_name, precision_name
from nst_engine.planning import timing
from nst_engine.settings import Settings

CPU = torch.device("cpu")


class WeightsOnly:
    def weights(self) -> SimpleNamespace:
        return SimpleNamespace(sha256="sha-test")


def test_a_job_slows_by_its_fair_share_of_the_cores_only_when_they_are_short() -> None:
    assert host_load.slowdown(threads=2, others=0.0, cores=2) == 1.0
    assert host_load.slowdown(threads=1, others=1.0, cores=2) == 1.0  # room for both
    assert host_load.slowdown(threads=2, others=1.0, cores=2) == pytest.approx(1.5)
    assert host_load.slowdown(threads=2, others=2.0, cores=2) == pytest.approx(2.0)
    assert host_load.slowdown(threads=8, others=8.0, cores=16) == 1.0
    assert host_load.slowdown(threads=8, others=16.0, cores=16) == pytest.approx(1.5)
    # More threads than cores: a quiet machine gives it every core, a busy one a share of them.
    assert host_load.slowdown(threads=4, others=2.0, cores=2) == pytest.approx(1.5)


def test_other_programs_runnable_threads_are_the_kernels_count_less_this_processs_own(tmp_path, monkeypatch) -> None:
    stat, tasks = tmp_path / "stat", tmp_path / "task"
    monkeypatch.setattr(host_load, "PROC_STAT", stat)
    monkeypatch.setattr(host_load, "PROC_TASKS", tasks)
    stat.write_text("cpu  1 2 3 4\nctxt 99\nprocs_running 7\nprocs_blocked 1\n")
    for task, state in (("101", "R"), ("102", "S"), ("103", "R")):
        (tasks / task).mkdir(parents=True)
        (tasks / task / "stat").write_text(f"{task} (python (a) b) {state} 1 1 1 0 -1 0\n")
    assert host_load.others_now() == 5.0  # 7 running, 2 of them this process's threads
    assert host_load.other_threads(window=0.0) == 5.0
    stat.write_text("cpu  1 2 3 4\n")
    assert host_load.others_now() is None and host_load.other_threads(window=0.0) == 0.0  # unreadable: quiet


def test_this_machines_counters_are_readable_and_count_this_process_as_its_own() -> None:
    if host_load.others_now() is None:
        pytest.skip("no /proc here")
    assert host_load._own_running(host_load.PROC_TASKS) >= 1  # the thread reading is running


def test_a_sampler_averages_over_its_block(monkeypatch) -> None:
    counts = iter([2.0, 4.0, 6.0] + [6.0] * 1000)
    monkeypatch.setattr(host_load, "others_now", lambda: next(counts))
    with host_load.Sampler(every=0.001) as sampler:
        while len(sampler.counts) < 3:
            pass
    assert sampler.counts[:3] == [2.0, 4.0, 6.0] and 4.0 <= sampler.mean <= 6.0
    monkeypatch.setattr(host_load, "others_now", lambda: None)
    with host_load.Sampler(every=0.001) as quiet:
        pass
    assert quiet.mean == 0.0


def test_a_rate_measured_beside_other_work_is_kept_as_the_quiet_machines() -> None:
    measured = [(192 * 192, 0.8, 1.6), (384 * 384, 3.0, 6.0)]
    assert calibrate.quiet_points(measured, 2.0) == [(192 * 192, 0.4, 0.8), (384 * 384, 1.5, 3.0)]
    assert calibrate.quiet_points(measured, 1.0) == measured


def _key() -> str:
    return calibrate.rate_key(CPU, torch.float32, "sha-test")


def test_the_expectation_is_the_quiet_estimate_times_the_load_then_corrected_by_recent_jobs(engine_home) -> None:
    cache = WeightsOnly()
    threads, cores = torch.get_num_threads(), host_load.cores()
    quiet = calibrate.expect(100.0, cache, CPU, torch.float32, other_threads=0.0)
    assert (quiet.seconds, quiet.low, quiet.high, quiet.slowdown) == (100.0, None, None, 1.0)
    busy = calibrate.expect(100.0, cache, CPU, torch.float32, other_threads=float(cores + threads))
    assert busy.slowdown == pytest.approx(host_load.slowdown(threads, cores + threads, cores)) and busy.slowdown > 1
    assert busy.seconds == pytest.approx(100.0 * busy.slowdown)

    # Jobs that took 1.2x, 1.3x and 1.25x what was expected under their load: the median corrects.
    for took in (120.0, 130.0, 125.0):
        quiet.record(took)
    kept = json.loads(calibrate.timing_file().read_text())["ratios"][_key()]
    assert kept == [1.2, 1.3, 1.25]
    steady = calibrate.expect(100.0, cache, CPU, torch.float32, other_threads=0.0)
    assert steady.seconds == pytest.approx(125.0) and steady.low is None  # a narrow spread: one number

    # A job run under twice the load is judged against its own load, not today's.
    busy.record(100.0 * busy.slowdown * 1.25)
    assert json.loads(calibrate.timing_file().read_text())["ratios"][_key()][-1] == pytest.approx(1.25)

    # A wide spread gives a range around the median; only the last KEPT_RATIOS jobs count.
    for took in (300.0, 90.0, 250.0, 100.0):
        quiet.record(took)
    ratios = json.loads(calibrate.timing_file().read_text())["ratios"][_key()]
    assert ratios == [1.25, 3.0, 0.9, 2.5, 1.0] and len(ratios) == calibrate.KEPT_RATIOS
    spread = calibrate.expect(100.0, cache, CPU, torch.float32, other_threads=0.0)
    assert spread.seconds == pytest.approx(125.0) and (spread.low, spread.high) == pytest.approx((90.0, 300.0))


def test_a_broken_measurement_cannot_correct_an_estimate_beyond_its_bounds(engine_home) -> None:
    cache = WeightsOnly()
    first = calibrate.expect(20.0, cache, CPU, torch.float32, other_threads=0.0)
    for took in (2000.0, 2000.0, 2000.0):
        first.record(took)
    low, high = calibrate.RATIO_BOUNDS
    assert calibrate.expect(20.0, cache, CPU, torch.float32, other_threads=0.0).seconds == pytest.approx(20 * high)
    first.record(0.0)  # nothing to learn from a job that took no time
    assert len(calibrate.stored_ratios()[_key()]) == 3


def test_short_jobs_teach_nothing_about_long_ones(engine_home) -> None:
    """A preview's time is mostly fixed costs the estimate leaves out: it would inflate a long job's estimate."""
    short = calibrate.expect(calibrate.MIN_RECORDED / 3, WeightsOnly(), CPU, torch.float32, other_threads=0.0)
    short.record(calibrate.MIN_RECORDED * 2)
    assert calibrate.stored_ratios() == {}


def test_ratios_and_rates_share_the_timing_file_without_losing_each_other(engine_home) -> None:
    rate = timing.Rate(1e6, 0.0, 0.5, "cpu", device_name(CPU), precision_name(torch.float32), "sha-test")
    calibrate._store(_key(), rate=rate)
    calibrate.expect(100.0, WeightsOnly(), CPU, torch.float32, other_threads=0.0).record(200.0)
    calibrate._store("other", rate=rate)
    assert set(calibrate.stored_rates()) == {_key(), "other"} and calibrate.stored_ratios()[_key()] == [2.0]


def test_a_probe_times_the_device_now_against_its_kept_rate(engine_home, monkeypatch) -> None:
    """The fair-share model read 2x where a 2-thread job beside two busy programs ran 3x slower (its threads
    wait for each other): the estimate's slowdown is measured now, two iterations against the kept rate."""
    timed: list[tuple[int, int]] = []

    class Bench:  # the device's iterations, timed: here 0.3 s each
        def __init__(self, *args) -> None:
            pass

        def time(self, side: int, iterations: int) -> tuple[float, float]:
            timed.append((side, iterations))
            return 0.3, 0.0

    monkeypatch.setattr(calibrate, "_Bench", Bench)
    calibrate.forget()
    settings = Settings()
    assert calibrate.probe(WeightsOnly(), settings, CPU, torch.float32) is None  # no rate: nothing to compare
    side = calibrate._CALIBRATION["cpu"][0][0]
    quiet = timing.Rate(side * side / 0.1, 0.0, 0.5, "cpu", device_name(CPU), precision_name(torch.float32),
                        "sha-test")  # 0.1 s an iteration at the probe's size
    calibrate._store(_key(), rate=quiet)
    assert calibrate.probe(WeightsOnly(), settings, CPU, torch.float32) == pytest.approx(3.0)
    assert calibrate.probe(WeightsOnly(), settings, CPU, torch.float32) == pytest.approx(3.0)
    assert timed == [(side, calibrate.PROBE_ITERATIONS)], "a probe stands for PROBE_KEPT seconds"
    calibrate.forget()
    now = calibrate.expect(100.0, WeightsOnly(), CPU, torch.float32, slowdown=3.0)
    assert now.seconds == pytest.approx(300.0) and now.slowdown == 3.0
