"""What the engine, the GIMP plug-in and the installer agree on, written down once.

Standard library only: the engine imports it as `nst_engine.contract`; GIMP's Python cannot import
the engine, so the plug-in folder holds a byte-identical copy, `nst_contract.py` (the folder works as
copied), which the installer also reads. This file is the source: tests/test_plugin_contract.py fails
until the copy is made again.

`NST_ENGINE_HOME` puts every per-user folder under one directory (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "nst-engine"

# Files in the cache folder.
STATE_FILE_NAME = "server.json"  # a serving engine's {"url", "token_file", "pid", "version"}
LOCK_SUFFIX = ".lock"  # beside the state file: the single-instance lock
TOKEN_FILE_NAME = "token"
LOG_FILE_NAME = "engine.log"  # the plug-in's log of an engine it started
WEIGHTS_DIR_NAME = "weights"

# VGG-19 weights files, by format, as they are named in the weights folder.
WEIGHTS_FILE_NAMES: dict[str, str] = {
    "torchvision": "vgg19-dcbb9e9d.pth",
    "caffe": "vgg19-d01eb7cb.pth",
    "matconvnet": "imagenet-vgg-verydeep-19.mat",
}
DEFAULT_WEIGHTS_FORMAT = "torchvision"

# Events of GET /jobs/{id}/events (docs/service.md), one JSON object a line.
EVENT_TYPES = ("queued", "started", "progress", "frame_done", "heartbeat", "done", "error", "cancelled")
TERMINAL_EVENTS = ("done", "error", "cancelled")
# Sample formats of raw pixels (content_format=raw) and of the received-input report.
SAMPLE_FORMATS = ("u8", "u16", "f32")


def _where(
    platform: str | None, env: Mapping[str, str] | None, home: Path | None
) -> tuple[str, Mapping[str, str], Path]:
    """This machine's platform, environment and home unless given (the installer's tests give them)."""
    return platform or sys.platform, os.environ if env is None else env, Path.home() if home is None else home


def cache_dir(platform: str | None = None, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Downloaded weights, the token and the running service's state file live here."""
    platform, env, home = _where(platform, env, home)
    if env.get("NST_ENGINE_HOME"):
        return Path(env["NST_ENGINE_HOME"]) / "cache"
    if platform == "win32":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP / "cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / APP
    return Path(env.get("XDG_CACHE_HOME") or home / ".cache") / APP


def data_dir(platform: str | None = None, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The installer's virtual environment lives here."""
    platform, env, home = _where(platform, env, home)
    if env.get("NST_ENGINE_HOME"):
        return Path(env["NST_ENGINE_HOME"]) / "data"
    if platform == "win32":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / APP


def weights_dir() -> Path:
    return cache_dir() / WEIGHTS_DIR_NAME


def state_file() -> Path:
    """Where a serving engine announces its URL, token file and pid."""
    return cache_dir() / STATE_FILE_NAME


def lock_file(state: Path) -> Path:
    """The single-instance lock that belongs to a state file."""
    return state.with_name(state.name + LOCK_SUFFIX)


def make_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by its owner only: tokens and job state live there."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sys.platform != "win32":
        os.chmod(path, 0o700)
    return path


# How the engine and the plug-in say a duration to a person.
def clock_text(seconds: float) -> str:
    """'8 s', '1 min 05 s', '1 h 02 min': a time passed or left, read like a clock."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def estimate_number(seconds: float) -> float:
    """An estimate in seconds as the engine reports it: three significant figures, so a tiny job's is never 0."""
    return float(f"{seconds:.3g}")


def estimate_range_text(low: float, high: float) -> str:
    """'about 2–4 min', '40 s to 2 min': an estimate where recent jobs spread widely around theirs."""
    first, last = (estimate_text(seconds).removeprefix("about ") for seconds in (low, high))
    if first == last:
        return estimate_text(low)
    if first.split()[1:] == last.split()[1:] and len(first.split()) == 2:  # the same unit: "2–4 min"
        return f"about {first.split()[0]}–{last}"
    return f"{first} to {last}"


def estimate_text(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min': an estimate, as precise as it deserves."""
    if seconds < 1:
        return "under a second"
    if seconds < 55:
        return f"about {max(1, round(seconds / 5) * 5 if seconds >= 10 else round(seconds))} s"
    minutes = seconds / 60
    if minutes < 59.5:
        return f"about {max(1, round(minutes))} min"
    hours, rest = divmod(round(minutes / 5) * 5, 60)
    return f"about {hours} h" + (f" {rest} min" if rest else "")
