"""How much memory this process may use: the machine's, or its container's where that is smaller.

In a container the kernel kills a process that passes the cgroup's limit, long before the machine's
memory runs out, so the budgets and the plans must start from the cgroup's numbers, or the
out-of-memory retry never gets a chance to run. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED_V1 = 1 << 60  # cgroup v1 reports "no limit" as a huge page-rounded number


def _read_number(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _UNLIMITED_V1 else value


def _memory_folders(root: Path, proc_cgroup: Path) -> list[tuple[Path, Path, str]]:
    """(folder, top, version) of this process's memory cgroup, from /proc/self/cgroup.

    v2 lines read "0::/path" (mounted at `root`, or at root/unified on hybrid systems); v1 lines name
    their controllers, "4:memory:/path", mounted at root/memory.
    """
    found = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            tops = [(root, "v2"), (root / "unified", "v2")]
        elif "memory" in controllers.split(","):
            tops = [(root / "memory", "v1")]
        else:
            continue
        for top, version in tops:
            folder = top / path.lstrip("/")
            if folder.is_dir():
                found.append((folder, top, version))
    return found


_FILES = {"v2": ("memory.max", "memory.current", "inactive_file"),
          "v1": ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")}


def _reclaimable(folder: Path, key: str) -> int:
    """Page cache the kernel drops before it kills anyone (counted in the usage)."""
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cgroup_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int, int] | None:
    """(limit, in use) of the tightest memory cgroup this process is in, or None where none limits it.

    Every folder from the process's own up to the hierarchy's top may set a limit (v2 memory.max, v1
    memory.limit_in_bytes); "in use" leaves out the page cache the kernel can reclaim.
    """
    tightest: tuple[int, int] | None = None
    for folder, top, version in _memory_folders(root, proc_cgroup):
        limit_file, usage_file, cache_key = _FILES[version]
        while True:
            limit = _read_number(folder / limit_file)
            if limit is not None and (tightest is None or limit < tightest[0]):
                used = (_read_number(folder / usage_file) or 0) - _reclaimable(folder, cache_key)
                tightest = (limit, max(0, used))
            if folder == top or top not in folder.parents:
                break
            folder = folder.parent
    return tightest


def total_memory(fallback: int) -> int:
    """Physical memory, capped by the cgroup's limit; `fallback` where the OS does not tell."""
    try:
        physical = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        physical = fallback
    limited = cgroup_limit()
    return physical if limited is None else min(physical, limited[0])


def available_memory() -> int | None:
    """Memory free for new allocations: MemAvailable, capped by what the cgroup has left."""
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    limited = cgroup_limit()
    if limited is None:
        return available
    left = max(0, limited[0] - limited[1])
    return left if available is None else min(available, left)
