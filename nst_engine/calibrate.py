"""The device's speed, measured by running the optimiser: the `Rate` that planning/timing.py's estimates use.

A short calibration runs a few L-BFGS iterations at a small size (two on a GPU) through
gatys/optimize.py, as jobs run, and fits the time of one iteration as a part proportional to its pixels
(plus, on a GPU, a fixed part) and the set-up of a scale in iterations. It is measured once and kept in
the engine's data folder (`NST_ENGINE_HOME` respected) per device, thread count, precision and weights
file, so that it is redone when any of them changes. It sits above the optimiser and the planning and
is called by api.py; the plan never imports it, it is handed the rate.

A rate is kept as the quiet machine's: a CPU calibrated beside other programs' work is credited with the
slowdown their runnable threads caused meanwhile (host_load.py). What a job is then expected to take now
(`expect`) is the plan's quiet estimate times the device's slowdown now, measured by a `probe` (two
iterations timed against the kept rate; the runnable threads' fair share where the device is busy with a
job), times the median of what recent jobs on this device took against theirs (`Expectation.record`),
with a range when those spread.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from nst_engine import contract, host_load
from nst_engine.device import device_name, precision_name
from nst_engine.gatys import optimize
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.layers import CONTENT_LAYER, STYLE_LAYERS
from nst_engine.pictures.images import resize_tensor, to_tensor
from nst_engine.pictures.reference import procedural_images
from nst_engine.planning.plan import Plan, Step
from nst_engine.planning.timing import Rate
from nst_engine.settings import Settings

CALIBRATION_VERSION = 2  # bump when the measurement changes: older rates are then measured again
TIMING_FILE_NAME = "timing.json"
# Sizes (square, px) and timed iterations of the calibration. A CPU's iteration is all arithmetic
# (its fixed part is negligible), so one small size gives its rate; a fit over two sizes would be at
# the mercy of other programs' load. GPUs have a real fixed part per iteration (kernel launches) and
# are left idle by small sizes: two larger sizes, fitted. The median of the timed iterations resists
# another program's burst of work.
_CALIBRATION: dict[str, tuple[tuple[int, ...], int]] = {"cpu": ((192,), 3), "mps": ((192, 384), 3),
                                                        "cuda": ((384, 768), 5)}

KEPT_RATIOS = 5  # recent jobs' actual/expected times per device, for the correction and the range
RATIO_BOUNDS = (0.5, 4.0)  # a correction outside these is a broken measurement, not a slow machine
WIDE_SPREAD = 1.35  # recent ratios spreading more than this (highest / lowest) give a range
# Jobs expected to be shorter than this teach nothing: their time is the fixed costs the estimate leaves out
# (the model to the device, the style's targets), so a dialog's 7-s preview would inflate a 10-min job's.
MIN_RECORDED = 15.0

PROBE_ITERATIONS = 2  # timed iterations of a probe (after a first): about a second on a 2-core CPU
PROBE_KEPT = 20.0  # seconds a probe's slowdown stands for the next estimates
PROBE_BOUNDS = (0.5, 20.0)

_lock = threading.Lock()  # guards _memo, _measuring and _probes, never held while measuring
_memo: dict[str, Rate] = {}
_measuring: dict[str, threading.Event] = {}  # memo keys being measured now, set when done
_probes: dict[str, tuple[float, float]] = {}  # memo key -> (monotonic time, slowdown measured then)


def timing_file() -> Path:
    return contract.data_dir() / TIMING_FILE_NAME


def rate_key(device: torch.device, dtype: torch.dtype, weights_sha256: str) -> str:
    return "|".join((f"v{CALIBRATION_VERSION}", device.type, device_name(device), precision_name(dtype),
                     weights_sha256))


def _stored() -> dict:
    try:
        data = json.loads(timing_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stored_rates() -> dict[str, Rate]:
    """The rates kept in the data folder; an unreadable or foreign file counts as none."""
    try:
        return {key: Rate(**value) for key, value in _stored()["rates"].items()}
    except (KeyError, TypeError, AttributeError):
        return {}


def stored_ratios() -> dict[str, list[float]]:
    """Recent jobs' actual/expected times, per rate key, oldest first; unreadable ones count as none."""
    ratios = _stored().get("ratios")
    if not isinstance(ratios, dict):
        return {}
    return {key: [float(r) for r in value if isinstance(r, (int, float)) and r > 0]
            for key, value in ratios.items() if isinstance(value, list)}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two engines, the CLI beside the service) on `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # retries for 10 s, then raises OSError
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _store(key: str, rate: Rate | None = None, ratio: float | None = None) -> None:
    """Add `rate` (or a job's `ratio`) to the file: read, changed and replaced under a lock, so that another
    process's, stored at the same moment, is kept too; a read-only data folder only costs a recalibration."""
    path = timing_file()
    try:
        with _file_lock(path.with_name(path.name + ".lock")):
            rates, ratios = stored_rates(), stored_ratios()
            if rate is not None:
                rates[key] = rate
            if ratio is not None:
                ratios[key] = [*ratios.get(key, []), ratio][-KEPT_RATIOS:]
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"rates": {k: asdict(v) for k, v in rates.items()}, "ratios": ratios},
                                      indent=1), encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        pass


def rate_for(cache: ModelCache, settings: Settings, device: torch.device, dtype: torch.dtype,
             calibrate: bool = True, notify: Callable[[str], None] | None = None) -> Rate | None:
    """This device's rate: remembered, else read from the data folder, else measured now (unless
    `calibrate` is false: then None). `notify` hears a sentence before a calibration starts.

    The measurement runs outside the lock: a caller that may not calibrate (a job's admission, a
    busy /plan) gets None at once while another thread measures, instead of waiting seconds for it.
    """
    weights = cache.weights()
    key = rate_key(device, dtype, weights.sha256)
    memo_key = f"{timing_file()}|{key}"  # another data folder (NST_ENGINE_HOME) is another store
    with _lock:
        if memo_key not in _memo:
            stored = stored_rates().get(key)
            if stored is not None:
                _memo[memo_key] = stored
        if memo_key in _memo or not calibrate:
            return _memo.get(memo_key)
        measuring = _measuring.get(memo_key)
        mine = measuring is None
        if mine:
            measuring = _measuring[memo_key] = threading.Event()
    assert measuring is not None
    if not mine:  # another thread is measuring this device: its result is this one's
        measuring.wait()
        with _lock:
            return _memo.get(memo_key)
    try:
        if notify is not None:
            notify(f"Measuring the speed of {device_name(device)} (once, a few seconds)\u2026")
        rate = _measure(cache, settings, device, dtype, weights.sha256)
        _store(key, rate=rate)
        with _lock:
            _memo[memo_key] = rate
        return rate
    finally:
        with _lock:
            _measuring.pop(memo_key, None)
        measuring.set()


def forget() -> None:
    """Drop the remembered rates and probes (tests; a changed data folder)."""
    with _lock:
        _memo.clear()
        _probes.clear()


def _measure(cache: ModelCache, settings: Settings, device: torch.device, dtype: torch.dtype,
             weights_sha256: str) -> Rate:
    """Time L-BFGS iterations at two sizes through optimize.run (as jobs run); fit seconds = fixed + pixels / rate."""
    started = time.perf_counter()
    sides, timed = _CALIBRATION.get(device.type, _CALIBRATION["cpu"])
    bench = _Bench(cache, settings, device, dtype, max(sides))
    with host_load.Sampler() as sampler:  # other programs' runnable threads while it measures
        points = [(side * side, *bench.time(side, timed)) for side in sides]
    points = quiet_points(points, _slowdown(device, sampler.mean))
    (p1, t1, _), (p2, t2, setup2) = points[0], points[-1]
    if len(points) > 1 and t2 > t1 * 1.05:
        per_pixel = (t2 - t1) / (p2 - p1)
        fixed = max(0.0, t1 - p1 * per_pixel)
    else:  # one size, or noise swamped the difference: all of it per pixel
        per_pixel, fixed = t2 / p2, 0.0
    return Rate(
        pixels_per_second=1.0 / per_pixel, seconds_per_iteration=fixed, setup_iterations=setup2 / t2,
        device=device.type, device_name=device_name(device), precision=precision_name(dtype),
        weights_sha256=weights_sha256, measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        calibration_seconds=round(time.perf_counter() - started, 3),
    )


class _Bench:
    """L-BFGS iterations on procedural pictures through optimize.run, as jobs run: the calibration's and the
    probe's one way of timing the device."""

    def __init__(self, cache: ModelCache, settings: Settings, device: torch.device, dtype: torch.dtype,
                 size: int) -> None:
        self.device, self.dtype = device, dtype
        self.channels_last = settings.channels_last if settings.channels_last is not None else device.type == "cuda"
        self.content_rgb, self.style_rgb = procedural_images(count=2, size=size, seed=1)
        # The standard network whatever the job's layers: the rate is the device's, kept for every job.
        self.settings = settings.replace(optimizer="lbfgs", init="content", scales=1, fit="stretch",
                                         style_scale=1.0, content_layer=CONTENT_LAYER,
                                         style_layers=dict(STYLE_LAYERS))
        self.model, _format = cache.get(self.settings, device, self.channels_last)

    def time(self, side: int, timed: int) -> tuple[float, float]:
        """(seconds of one iteration, the scale's set-up in seconds) at `side` px: the median of `timed`
        iterations after a first one. Each progress report marks the end of an iteration (reading its
        losses waits for the device); the time to the first is the set-up plus a first, warm-up iteration."""
        size = (side, side)
        content = resize_tensor(to_tensor(self.content_rgb, self.device), size)
        style = resize_tensor(to_tensor(self.style_rgb, self.device), size)
        marks: list[float] = []
        control = optimize.Control(progress=lambda _event: marks.append(time.perf_counter()))
        plan = Plan(size, [Step(size, timed + 1)], self.dtype.itemsize)
        _sync(self.device)
        run_started = time.perf_counter()
        optimize.run(self.model, content, [(style, 1.0)], self.settings, 1.0, plan, control, self.dtype,
                     self.channels_last)
        iteration = statistics.median(later - earlier for earlier, later in zip(marks, marks[1:], strict=False))
        return iteration, max(0.0, marks[0] - run_started - iteration)


def probe(cache: ModelCache, settings: Settings, device: torch.device, dtype: torch.dtype) -> float | None:
    """How many times slower the device runs now than its kept (quiet) rate says: two iterations at the
    calibration's smallest size, timed now. None without a rate. Kept for PROBE_KEPT seconds, so that a
    dialog asking again as the artist changes settings does not measure each time.

    A measurement, not a model: other programs' threads slow a multi-threaded job more than their fair
    share (its threads wait for each other at every layer), and a GPU's sharing can't be counted."""
    rate = rate_for(cache, settings, device, dtype, calibrate=False)
    if rate is None:
        return None
    key = f"{timing_file()}|{rate_key(device, dtype, rate.weights_sha256)}"
    with _lock:
        kept = _probes.get(key)
    if kept is not None and time.monotonic() - kept[0] < PROBE_KEPT:
        return kept[1]
    side = _CALIBRATION.get(device.type, _CALIBRATION["cpu"])[0][0]
    iteration, _setup = _Bench(cache, settings, device, dtype, side).time(side, PROBE_ITERATIONS)
    slowdown = min(max(iteration / rate.iteration_seconds(side * side), PROBE_BOUNDS[0]), PROBE_BOUNDS[1])
    with _lock:
        _probes[key] = (time.monotonic(), slowdown)
    return slowdown


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def quiet_points(points: list[tuple[int, float, float]], slowdown: float) -> list[tuple[int, float, float]]:
    """(pixels, iteration seconds, set-up seconds) measured `slowdown` times slower than a quiet machine
    would run them, as the quiet machine's: the rate kept is the device's, not the moment's load."""
    return [(pixels, iteration / slowdown, setup / slowdown) for pixels, iteration, setup in points]


def _slowdown(device: torch.device, other_threads: float) -> float:
    """How much other programs' runnable threads slow a job on `device` (1.0 off the CPU: a GPU's sharing
    isn't measured)."""
    if device.type != "cpu":
        return 1.0
    return host_load.slowdown(torch.get_num_threads(), other_threads, host_load.cores())


@dataclass(frozen=True)
class Expectation:
    """What a job is expected to take now, and how to learn from what it took."""

    seconds: float  # the quiet estimate x the current slowdown x the recent jobs' correction
    low: float | None  # a range, when recent jobs spread widely around their estimates
    high: float | None
    quiet_seconds: float  # the plan's estimate on the quiet device (timing.estimate_seconds)
    slowdown: float  # other programs' load now: 1.0 on a quiet machine
    key: str

    def record(self, actual_seconds: float) -> None:
        """Keep what the job took against what was expected of it under the load it started with."""
        if self.quiet_seconds >= MIN_RECORDED and actual_seconds > 0:
            _store(self.key, ratio=round(actual_seconds / (self.quiet_seconds * self.slowdown), 4))


def expect(quiet_seconds: float, cache: ModelCache, device: torch.device, dtype: torch.dtype,
           slowdown: float | None = None, other_threads: float | None = None) -> Expectation:
    """The plan's quiet estimate as this machine will likely run it now: times `slowdown` (a `probe`'s
    measurement), or where there is none, the slowdown other programs' runnable threads would cause by
    their fair share (`other_threads`, sampled for a moment when not given)."""
    key = rate_key(device, dtype, cache.weights().sha256)
    if slowdown is None:
        if other_threads is None:
            other_threads = host_load.other_threads() if device.type == "cpu" else 0.0
        slowdown = _slowdown(device, other_threads)
    recent = stored_ratios().get(key, [])
    low_bound, high_bound = RATIO_BOUNDS
    bounded = [min(max(r, low_bound), high_bound) for r in recent]
    correction = statistics.median(bounded) if bounded else 1.0
    base = quiet_seconds * slowdown
    wide = len(bounded) >= 2 and max(bounded) >= WIDE_SPREAD * min(bounded)
    return Expectation(
        seconds=base * correction, low=base * min(bounded) if wide else None,
        high=base * max(bounded) if wide else None, quiet_seconds=quiet_seconds, slowdown=slowdown, key=key,
    )  # fmt: skip

