"""How busy the CPUs are with other programs' work right now, and what that costs a job: its slowdown.

An estimate made from a rate measured on a quiet machine was 1.3-4.4x short on a busy one (issue 23).
Other programs' busy cores are read over a short window from the kernel's counters (/proc/stat, less
this process's own time from /proc/self/stat), not from the load average, which lags a minute behind
and counts the engine's own last job. A job's `threads` then get their fair share of the cores.
Standard library only; where the counters can't be read (not Linux) the machine counts as quiet.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
PROC_SELF_STAT = Path("/proc/self/stat")
WINDOW = 0.4  # seconds of counting: long enough to see a busy program, short enough for a dialog's estimate


def cores() -> int:
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def slowdown(threads: int, busy_others: float, cores: int) -> float:
    """How many times longer a CPU job of `threads` threads runs beside `busy_others` busy cores of other
    work than on a quiet machine: on a quiet one it has min(threads, cores) cores; beside other work the
    scheduler shares the cores by runnable thread, giving it cores * threads / (threads + others)."""
    threads, cores = max(1, threads), max(1, cores)
    others = max(0.0, busy_others)
    if threads + others <= cores:
        return 1.0
    return min(threads, cores) * (threads + others) / (cores * threads)


Sample = tuple[float, int, int]  # (monotonic seconds, busy jiffies of all CPUs, this process's jiffies)


def sample() -> Sample | None:
    """The counters now, or None where they can't be read."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()
        own = PROC_SELF_STAT.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    values = [int(value) for value in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle and iowait
    # After the name, state is the first field; utime and stime (this process's own) the 12th and 13th.
    return time.monotonic(), sum(values[:8]) - idle, int(own[11]) + int(own[12])


def busy_between(before: Sample | None, after: Sample | None) -> float:
    """Cores kept busy by other programs between two samples (0.0 where either is missing)."""
    if before is None or after is None or after[0] <= before[0]:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others / ticks / (after[0] - before[0]))


def busy_others(window: float = WINDOW) -> float:
    """Cores kept busy by other programs over the next `window` seconds (0.0 where it can't be measured)."""
    before = sample()
    if before is None:
        return 0.0
    time.sleep(window)
    return busy_between(before, sample())
