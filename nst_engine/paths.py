"""Per-user directories of the engine, by platform; standard library only.

`NST_ENGINE_HOME` puts everything under one folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "nst-engine"


def _home_override() -> Path | None:
    value = os.environ.get("NST_ENGINE_HOME")
    return Path(value) if value else None


def cache_dir() -> Path:
    """Downloaded weights and the running service's state file live here."""
    if (home := _home_override()) is not None:
        return home / "cache"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / APP


def data_dir() -> Path:
    """The installer's virtual environment lives here."""
    if (home := _home_override()) is not None:
        return home / "data"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / APP


def weights_dir() -> Path:
    return cache_dir() / "weights"


def state_file() -> Path:
    """Where a serving engine announces its URL, token file and pid."""
    return cache_dir() / "server.json"
