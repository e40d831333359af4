"""The engine's state as the settings window shows it, and starting or stopping the local engine.

Standard library only (GIMP's Python); no GIMP here, so it is tested against real engines without GIMP
(tests/test_engine_status.py). Why a module of its own: the settings procedure (settings_procedure.py)
is GTK glue; what it reports — local or remote, running, version, device, weights present and verified —
and the plain sentence when something is wrong are decided here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import plugin_messages as M
from engine_client import EngineClient, EngineClientError
from engine_connection import EngineConfig
from engine_readiness import installer_advice, local_readiness


@dataclass
class EngineStatus:
    """What the settings window shows; `problem` is a plain sentence (what happened, what to do)."""

    mode: str  # "remote": the configured url; "local": the engine installed on this computer
    url: str | None = None
    where: str = ""  # where the connection is configured (engine.json's path, or NST_ENGINE_URL)
    local_installed: bool = False
    running: bool = False
    problem: str | None = None
    version: str | None = None
    device: str | None = None
    device_name: str | None = None
    weights_present: bool | None = None
    weights_verified: bool | None = None
    weights_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) lines for the window, in words."""
        rows = [("Engine", f"at {self.url}" if self.mode == "remote" else "on this computer"
                 + ("" if self.local_installed else " (not installed)"))]
        if self.problem and self.mode == "local" and self.local_installed and not self.running:
            rows.append(("State", "cannot start (see below)"))
        elif self.problem:
            rows.append(("State", "not usable"))
        elif self.running:
            rows.append(("State", "running, answers"))
        else:
            rows.append(("State", "not running (the filter starts it when needed)" if self.local_installed
                         else "not running"))
        if self.version:
            rows.append(("Version", self.version))
        if self.device:
            rows.append(("Device", self.device + (f" ({self.device_name})" if self.device_name else "")))
        if self.weights_present is not None:
            if not self.weights_present:
                weights = "missing (run the installer, or `nst-engine fetch-weights`)"
            elif self.weights_verified is None:
                weights = "present"
            else:
                weights = "present, checksum verified" if self.weights_verified else "present, checksum not verified"
            rows.append(("VGG-19 weights", weights))
        rows.append(("Settings file", self.where))
        return rows


def _where(config: EngineConfig) -> str:
    if config.url_source is not None:
        return M.configured_where(config.url_source)
    return str(config.source) if config.source else M.configured_where(None)


def probe(config: EngineConfig, with_info: bool = True, info_timeout: float = 120.0,
          in_window: bool = False) -> EngineStatus:
    """Ask the configured engine (or the local one, if running) how it is; a local engine that is not
    running must be able to start (engine_readiness) before the state is clean; then, for a local install,
    also `nst-engine info --json` (device name, weights verified), which works while the engine is stopped.

    `in_window`: the settings window asks; its advice points at its own fields, not at itself by menu."""
    status = EngineStatus(mode="remote" if config.url else "local", url=config.url, where=_where(config),
                          local_installed=config.local_installed)
    client: EngineClient | None = None
    if config.url:
        try:
            client = EngineClient.configured(config)
        except EngineClientError as error:
            status.problem = _advised(error.what, error.advice, config, in_window)
            return status
    else:
        client = EngineClient.from_state_file(config.state_file)
    if client is not None:
        try:
            _fill_from_health(status, client.health())
            status.running = True
            status.url = client.url
            if config.url and status.device is None:  # /health says more only to a valid token
                status.problem = _advised(M.token_refused(client.url, ""), M.token_advice(config.url_source), config,
                                          in_window)
        except EngineClientError as error:
            status.problem = _advised(error.what, error.advice, config, in_window)
    if not config.url and not status.running and config.local_installed:
        readiness = local_readiness(config)
        if not readiness.ready:
            status.problem = readiness.message
            status.weights_present = readiness.weights_present
            status.weights_path = readiness.weights_path or status.weights_path
            return status
    if not config.url and with_info and config.local_installed:
        _fill_from_info(status, engine_info(config, info_timeout))
    return status


def window_advice(config: EngineConfig) -> dict[str, str]:
    """The plug-in's advice for a configured engine (which names this window by its menu, or engine.json),
    mapped to what to do inside the settings window itself."""
    if config.url_source == M.URL_ENV:  # the window cannot change the environment: the advice stands
        return {}
    remote = ('Start the engine at that address, or choose "Use the engine installed on this computer" above '
              "and press Save." if config.local_installed else
              "Start the engine at that address, or correct the address above and press Save.")
    return {
        M.remote_advice(config.url_source, config.local_installed): remote,
        M.token_advice(config.url_source): "Type the engine's token in Token above and press Save.",
        M.bad_url_advice(config.url_source): "Correct the address above and press Save.",
    }


def _advised(what: str, advice: str, config: EngineConfig, in_window: bool) -> str:
    if in_window:
        advice = window_advice(config).get(advice.strip(), advice)
    return " ".join(part for part in (what.strip(), advice.strip()) if part)


def problem_for_run(status: EngineStatus) -> str | None:
    """The error a non-interactive check returns: a configured engine must answer; a local one need not
    run (the filter starts it), but must be installed."""
    if status.problem:
        return status.problem
    if status.mode == "local" and not status.local_installed:
        return f"The style-transfer engine is not installed ({status.where}). {installer_advice()}"
    return None


def _fill_from_health(status: EngineStatus, health: dict[str, Any]) -> None:
    status.version = str(health.get("version") or "") or None
    status.device = str(health["device"]) if health.get("device") else None
    weights = health.get("weights")
    if isinstance(weights, dict):
        status.weights_present = bool(weights.get("present"))
        status.weights_path = weights.get("path")


def _fill_from_info(status: EngineStatus, info: dict[str, Any] | None) -> None:
    if not info:
        return
    status.version = status.version or info.get("version")
    status.device = status.device or info.get("device")
    status.device_name = info.get("device_name")
    status.weights_present = bool(info.get("weights_present"))
    status.weights_verified = bool(info.get("weights_verified")) if info.get("weights_present") else None
    status.weights_path = info.get("weights_path") or status.weights_path


def info_command(config: EngineConfig) -> list[str] | None:
    """`nst-engine info --json` for the installed engine: its serve command with `serve` replaced,
    keeping --weights and --device (which weights and device that engine would use)."""
    command = list(config.command or [])
    if "serve" not in command:
        return None
    at = command.index("serve")
    kept: list[str] = []
    rest = command[at + 1:]
    for flag in ("--weights", "--device"):
        if flag in rest and rest.index(flag) + 1 < len(rest):
            kept += [flag, rest[rest.index(flag) + 1]]
    return [*config.spawn_prefix, *command[:at], "info", "--json", *kept]


def engine_info(config: EngineConfig, timeout: float = 120.0) -> dict[str, Any] | None:
    """The installed engine's `info --json` (None when it cannot run: not installed, or it failed)."""
    command = info_command(config)
    if command is None:
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "GI_TYPELIB_PATH")}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, cwd=str(config.log_file.parent)
                              if config.log_file.parent.is_dir() else None)
        value = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return value if isinstance(value, dict) else None


def start_local(config: EngineConfig, timeout: float = 90.0) -> EngineStatus:
    """Start the installed engine (if it is not running) and report it; EngineClientError if it can't."""
    local = replace(config, url=None, token=None, url_source=None)
    if EngineClient.from_state_file(local.state_file) is None:
        readiness = local_readiness(local)
        if not readiness.ready:
            raise M.PluginError(readiness.what, readiness.advice)
    EngineClient.connect(local, start_if_needed=True, timeout=timeout)
    return probe(local, with_info=False)


def stop_local(config: EngineConfig, timeout: float = 15.0) -> bool:
    """Stop the local engine announced in the state file (SIGTERM to its pid); True once it is gone.
    False when none runs, or it runs where this process cannot signal it (e.g. outside a Flatpak)."""
    try:
        state = json.loads(Path(config.state_file).read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if EngineClient.from_state_file(config.state_file) is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if EngineClient.from_state_file(config.state_file) is None:
            return True
        time.sleep(0.25)
    return False

