"""pip, quietly: its whole output goes to the installer's log file; the screen gets what a person follows.

Why a module of its own: a good run used to print about fifty "Requirement already satisfied" lines, and a
package index that cannot be reached filled the screen with pip's retry lines (issue 23 point 8). Here pip
runs with its output piped: every line is written to the log, and the screen shows only the downloads with
their sizes, a count of what was already in place, what was installed, and, during a long silence (a big
download without pip's progress bars), a line every half minute saying it is still working.

Standard library only, readable by Python 3.7 (the installer's first lines run on whatever Python started it).
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HEARTBEAT_S = 30.0  # the longest the screen stays silent while pip works
TAIL_LINES = 200  # pip's last lines, kept to explain a failure
DOWNLOAD = re.compile(r"^\s*(Downloading|Using cached) (\S+)(?:\s+\(([^)]*)\))?\s*$")
INSTALLED = re.compile(r"^\s*Successfully installed (.+)$")
SATISFIED = "Requirement already satisfied"


@dataclass
class PipRun:
    """What one pip run did, as the screen summarises it."""

    code: int
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (file, size as pip wrote it)
    satisfied: int = 0
    installed: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def clock(seconds: float) -> str:
    """'45 s', '3 min'."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _note(line: str, run: PipRun, show: Callable[[str], None]) -> bool:
    """Count or show one of pip's lines; True when something went to the screen."""
    if line.lstrip().startswith(SATISFIED):
        run.satisfied += 1
        return False
    match = DOWNLOAD.match(line)
    if match:
        name = match.group(2).rstrip("/").rsplit("/", 1)[-1]
        size = match.group(3) or ""
        run.downloads.append((name, size))
        verb = "downloading" if match.group(1) == "Downloading" else "already downloaded earlier:"
        show(f"    {verb} {name}" + (f" ({size})" if size else ""))
        return True
    match = INSTALLED.match(line)
    if match:
        run.installed = match.group(1).split()
    return False


def run_logged(command: Sequence[str], log: Path, show: Callable[[str], None], env: Mapping[str, str] | None = None,
               cwd: str | None = None, heartbeat_s: float = HEARTBEAT_S) -> PipRun:
    """Run `command` (pip), appending its output to `log`; show the downloads and a sign of life on screen.

    OSError when the program cannot be started."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8", errors="replace") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None, cwd=cwd,
                                text=True, encoding="utf-8", errors="replace")  # fmt: skip
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        stream = proc.stdout

        def read() -> None:
            for text in stream:
                lines.put(text)
            lines.put(None)

        threading.Thread(target=read, name="pip-output", daemon=True).start()
        run = PipRun(code=0)
        started = shown_at = time.monotonic()
        while True:
            try:
                line = lines.get(timeout=max(0.5, heartbeat_s - (time.monotonic() - shown_at)))
            except queue.Empty:
                show(f"    still working ({clock(time.monotonic() - started)} so far)")
                shown_at = time.monotonic()
                continue
            if line is None:
                break
            out.write(line)
            run.tail = (run.tail + [line.rstrip()])[-TAIL_LINES:]
            if _note(line.replace("\r", ""), run, show):
                shown_at = time.monotonic()
        run.code = proc.wait()
        out.write(f"(exit status {run.code})\n")
    return run


def summary(run: PipRun) -> str | None:
    """One line after a good run: what was installed, what was already there."""
    parts = []
    if run.installed:
        names = [re.sub(r"-(\d[^-]*)$", r" \1", item) for item in run.installed]
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        parts.append(f"installed {', '.join(names[:6])}{more}")
    if run.satisfied:
        parts.append(f"{run.satisfied} package{'s' if run.satisfied != 1 else ''} already in place")
    return f"    {'; '.join(parts)}" if parts else None


def new_log(path: Path, header: str) -> Path:
    """Start this run's log (the last run's is replaced: it is what a person sends with a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header.rstrip() + "\n", encoding="utf-8")
    if os.name != "nt":
        path.chmod(0o600)  # pip's log can hold an index URL with a password in it
    return path
