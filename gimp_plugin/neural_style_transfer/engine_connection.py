"""The engine connection, for the plug-in: `engine.json` beside the plug-in, overridden by the environment.

Standard library only (GIMP's Python). The installer writes engine.json; a person pointing GIMP at an
engine on another machine sets `url` and `token` there, or NST_ENGINE_URL and NST_ENGINE_TOKEN.
Folders and file names come from `nst_contract`, the plug-in's copy of the engine's
`nst_engine/contract.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import nst_contract as contract
import plugin_messages as M

CONFIG_NAME = "engine.json"


class EngineConfigError(M.PluginError):
    """engine.json exists but cannot be used: told apart from a missing engine, so a typo is found."""


def default_state_file() -> Path:
    """Where the managed engine announces itself: the contract's rule, shared with the engine."""
    return contract.state_file()


@dataclass
class EngineConfig:
    """How to reach or start the engine."""

    python: str | None = None
    command: list[str] | None = None
    state_file: Path = field(default_factory=default_state_file)
    url: str | None = None
    token: str | None = None
    spawn_prefix: list[str] = field(default_factory=list)
    # SHA-256 of an https engine's certificate (its `serve` prints it): trusted for that engine instead of
    # a certificate authority, so a self-made certificate is safe to use.
    tls_fingerprint: str | None = None
    source: Path | None = None  # the engine.json read, for messages
    url_source: Path | str | None = None  # where `url` came from: engine.json's path or M.URL_ENV

    @property
    def local_installed(self) -> bool:
        """The installer set up an engine here that the plug-in could start (url aside)."""
        return bool(self.command)

    @property
    def log_file(self) -> Path:
        return self.state_file.with_name(contract.LOG_FILE_NAME)


def load_config(path: str | os.PathLike[str] | None = None) -> EngineConfig:
    """engine.json (next to this file, or NST_ENGINE_CONFIG, or `path`) plus environment overrides."""
    config_path = engine_json_path(path)
    values = _read_config(config_path)
    config = EngineConfig(
        python=values.get("python") or None,
        command=list(values["command"]) if values.get("command") else None,
        state_file=Path(values["state_file"]) if values.get("state_file") else default_state_file(),
        url=values.get("url") or None,
        token=values.get("token") or None,
        spawn_prefix=list(values.get("spawn_prefix") or []),
        tls_fingerprint=values.get("tls_fingerprint") or None,
        source=config_path if config_path.is_file() else None,
    )
    if config.url:
        config.url_source = config_path
    if os.environ.get("NST_ENGINE_STATE_FILE"):
        config.state_file = Path(os.environ["NST_ENGINE_STATE_FILE"])
    if os.environ.get(M.URL_ENV):
        config.url = os.environ[M.URL_ENV]
        config.url_source = M.URL_ENV
        config.token = os.environ.get(M.TOKEN_ENV) or config.token
        config.tls_fingerprint = os.environ.get(M.FINGERPRINT_ENV) or config.tls_fingerprint
    return config


def _read_config(config_path: Path) -> dict:
    """engine.json's values; {} when there is none; EngineConfigError (with line and column) when broken."""
    if not config_path.is_file():
        return {}
    try:
        values = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise EngineConfigError(*M.malformed_config(config_path, error)) from None
    except UnicodeDecodeError:
        raise EngineConfigError(*M.malformed_config(
            config_path, json.JSONDecodeError("not UTF-8 text", "", 0))) from None
    except OSError as error:
        raise EngineConfigError(*M.config_unreadable(config_path, error)) from None
    if not isinstance(values, dict):
        raise EngineConfigError(*M.config_not_an_object(config_path))
    return values


def engine_json_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The engine.json the plug-in reads (and the settings procedure writes)."""
    return Path(path or os.environ.get("NST_ENGINE_CONFIG") or Path(__file__).with_name(CONFIG_NAME))


def save_connection(url: str | None, token: str | None, path: str | os.PathLike[str] | None = None) -> Path:
    """Point the plug-in at the engine at `url` with `token`, or (url None) back at the local engine.

    Only "url" and "token" change: what the installer wrote (python, command, state_file, spawn_prefix)
    stays, so switching back to the local engine needs no reinstall. A pinned "tls_fingerprint" belongs
    to the engine it was pinned for: it goes when the address changes (it would refuse the new engine).
    Written to a temporary file and renamed, so GIMP never reads half a file; EngineConfigError if the
    existing file is broken (the artist's typo is reported, not silently overwritten)."""
    target = engine_json_path(path)
    values = _read_config(target)
    new_url = url.strip() if url and url.strip() else None
    if new_url != values.get("url"):
        values.pop("tls_fingerprint", None)
    values["url"] = new_url
    values["token"] = (token.strip() or None) if (token and values["url"]) else None
    temporary = target.with_name(target.name + ".tmp")
    # Owner-only from the first byte (the token is a password): os.open's mode, not a chmod afterwards.
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(values, indent=2) + "\n")
    os.replace(temporary, target)
    return target
