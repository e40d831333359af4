"""How busy the CPUs are with other programs' work right now, and what that costs a job: its slowdown.

An estimate made from a rate measured on a quiet machine was 1.3-4.4x short on a busy one (issue 23).
The kernel shares the cores between runnable threads, so what matters is how many threads of other
programs want to run: read from /proc/stat's `procs_running`, less this process's own running threads
(/proc/self/task), sampled over a short window. Not the load average, which lags a minute behind and counts
the engine's own last job; not busy cores, which stop at the number of cores however many threads wait.
Standard library only; where the counters can't be read (not Linux) the machine counts as quiet.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
PROC_TASKS = Path("/proc/self/task")
WINDOW = 0.4  # seconds of sampling: long enough to see a busy program, short enough for a dialog's estimate
EVERY = 0.05  # seconds between samples


def cores() -> int:
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def slowdown(threads: int, others: float, cores: int) -> float:
    """How many times longer a CPU job of `threads` threads runs beside `others` runnable threads of other
    programs than on a quiet machine: on a quiet one it has min(threads, cores) cores; beside other work the
    scheduler shares the cores by runnable thread, giving it cores * threads / (threads + others)."""
    threads, cores = max(1, threads), max(1, cores)
    others = max(0.0, others)
    if threads + others <= cores:
        return 1.0
    return min(threads, cores) * (threads + others) / (cores * threads)


def _running_threads(stat_text: str) -> int | None:
    for line in stat_text.splitlines():
        if line.startswith("procs_running "):
            return int(line.split()[1])
    return None


def _own_running(tasks: Path) -> int:
    """This process's threads that are running or runnable now (state R)."""
    count = 0
    try:
        entries = list(tasks.iterdir())
    except OSError:
        return 0
    for task in entries:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
        count += state == "R"
    return count


def others_now() -> float | None:
    """Other programs' runnable threads at this instant, or None where the counters can't be read."""
    try:
        running = _running_threads(PROC_STAT.read_text())
    except (OSError, ValueError):
        return None
    if running is None:
        return None
    # The reading thread itself is running in both counts; it cancels out.
    return float(max(0, running - _own_running(PROC_TASKS)))


def other_threads(window: float = WINDOW) -> float:
    """Other programs' runnable threads, averaged over the next `window` seconds (0.0 where unreadable)."""
    counts = []
    end = time.monotonic() + window
    while True:
        now = others_now()
        if now is None:
            return 0.0
        counts.append(now)
        if time.monotonic() >= end:
            return sum(counts) / len(counts)
        time.sleep(EVERY)


class Sampler:
    """Other programs' runnable threads averaged over a `with` block (e.g. a calibration), sampled on a
    thread of its own; `mean` is 0.0 where they can't be read."""

    def __init__(self, every: float = EVERY) -> None:
        self.every = every
        self.counts: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="nst-load-sampler", daemon=True)

    def _sample(self) -> None:
        while True:
            now = others_now()
            if now is not None:
                self.counts.append(now)
            if self._done.wait(self.every):
                return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.counts) / len(self.counts) if self.counts else 0.0
