"""Where the engine is, for the plug-in: `engine.json` beside the plug-in, overridden by the environment.

Standard library only (GIMP's Python). The installer writes engine.json; a person pointing GIMP at an
engine on another machine sets `url` and `token` there, or NST_ENGINE_URL and NST_ENGINE_TOKEN.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_NAME = "engine.json"


def default_state_file() -> Path:
    """Same rule as nst_engine.paths.state_file() (the plug-in cannot import the engine)."""
    home = os.environ.get("NST_ENGINE_HOME")
    if home:
        return Path(home) / "cache" / "server.json"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "nst-engine" / "cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "nst-engine"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nst-engine"
    return base / "server.json"


@dataclass
class EngineConfig:
    """How to reach or start the engine."""

    python: str | None = None
    command: list[str] | None = None
    state_file: Path = field(default_factory=default_state_file)
    url: str | None = None
    token: str | None = None
    spawn_prefix: list[str] = field(default_factory=list)
    source: Path | None = None  # the engine.json read, for messages

    @property
    def log_file(self) -> Path:
        return self.state_file.with_name("engine.log")


def load_config(path: str | os.PathLike[str] | None = None) -> EngineConfig:
    """engine.json (next to this file, or NST_ENGINE_CONFIG, or `path`) plus environment overrides."""
    config_path = Path(path or os.environ.get("NST_ENGINE_CONFIG") or Path(__file__).with_name(CONFIG_NAME))
    values: dict = {}
    if config_path.is_file():
        try:
            values = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            values = {}
    config = EngineConfig(
        python=values.get("python") or None,
        command=list(values["command"]) if values.get("command") else None,
        state_file=Path(values["state_file"]) if values.get("state_file") else default_state_file(),
        url=values.get("url") or None,
        token=values.get("token") or None,
        spawn_prefix=list(values.get("spawn_prefix") or []),
        source=config_path if config_path.is_file() else None,
    )
    if os.environ.get("NST_ENGINE_STATE_FILE"):
        config.state_file = Path(os.environ["NST_ENGINE_STATE_FILE"])
    if os.environ.get("NST_ENGINE_URL"):
        config.url = os.environ["NST_ENGINE_URL"]
        config.token = os.environ.get("NST_ENGINE_TOKEN") or config.token
    return config
