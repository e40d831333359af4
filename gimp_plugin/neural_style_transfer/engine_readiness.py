"""Can the engine installed on this computer start? Checked, never assumed, before anything says "Ready".

Standard library only (GIMP's Python). Why a module of its own: the settings window (through
engine_status.py) and the filter's dialog both ask it, and neither should have to know how. The engine's
own Python answers (a short script run with it, bounded by a timeout), so the answer is what the engine
would meet: its Python exists and runs, the engine package imports with it, its packages are there, and
the VGG-19 weights it would load exist. When something is missing, the fix names the installer's file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from engine_connection import EngineConfig
from nst_logic import installer_file

READY_TIMEOUT_S = 30.0  # the engine's Python imports the package (not torch): a second or two, more when busy

# Run by the engine's own Python: the package imports, its packages are there (found, not imported: importing
# torch takes seconds), and the weights the engine would use exist. One JSON line on stdout.
READY_CHECK = """
import importlib.util, json, sys
from pathlib import Path
out = {"python": sys.executable}
try:
    import nst_engine
    from nst_engine import contract
except Exception as error:
    out["package_error"] = type(error).__name__ + ": " + str(error)
else:
    out["version"] = nst_engine.__version__
    needed = ("torch", "torchvision", "numpy", "PIL")
    out["missing_modules"] = [m for m in needed if importlib.util.find_spec(m) is None]
    given = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    folder = contract.weights_dir()
    paths = [Path(given)] if given else [folder / name for name in contract.WEIGHTS_FILE_NAMES.values()]
    found = next((p for p in paths if p.is_file()), None)
    out["weights_present"] = found is not None
    out["weights_path"] = str(found or paths[0])
print(json.dumps(out))
"""


def installer_advice(platform: str | None = None, repair: bool = False) -> str:
    """What to do when the local engine is missing or broken: the installer, named by its file."""
    platform = platform or sys.platform
    file = installer_file(platform)
    what = "To repair it, run the installer again" if repair else "To install the engine, run the installer"
    if platform.startswith("win") or platform == "darwin":
        return f"{what}: double-click {file} in the plug-in's download (it keeps what is already in place)."
    return (f"{what}: {file} in the plug-in's download (double-click it, or run `sh {file}` in a terminal; it "
            "keeps what is already in place).")


@dataclass
class Readiness:
    """Whether the local engine can start: `what` is missing (a plain sentence), `advice` the fix."""

    ready: bool
    what: str = ""
    advice: str = ""
    weights_present: bool | None = None
    weights_path: str | None = None

    @property
    def message(self) -> str:
        return " ".join(part for part in (self.what, self.advice) if part)


def _engine_python(config: EngineConfig) -> str | None:
    """The Python the engine's command runs (engine.json's `command`, else `python`)."""
    command = list(config.command or [])
    return command[0] if command else config.python


def _weights_flag(config: EngineConfig) -> str:
    command = list(config.command or [])
    if "--weights" in command and command.index("--weights") + 1 < len(command):
        return command[command.index("--weights") + 1]
    return ""


def local_readiness(config: EngineConfig, timeout: float = READY_TIMEOUT_S,
                    platform: str | None = None) -> Readiness:
    """Can the engine installed on this computer start? Its Python exists and runs, the engine package
    imports with it (torch and the others are found), and its VGG-19 weights are there.

    Asks the engine's own Python (a short script, bounded by `timeout`), so it is what the engine would
    see; blocks for up to `timeout` seconds: call it off GTK's thread. Never says ready on a doubt."""
    advice = installer_advice(platform, repair=True)
    python = _engine_python(config)
    if not config.command or not python:
        return Readiness(False, "The style-transfer engine is not installed on this computer.",
                         installer_advice(platform))
    sandboxed = bool(config.spawn_prefix)  # flatpak-spawn --host: the Python lives outside GIMP's sandbox
    if not sandboxed and os.path.isabs(python) and not os.path.isfile(python):
        return Readiness(False, f"The engine cannot start: its Python ({python}) is missing (it was moved or "
                         "deleted).", advice)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "GI_TYPELIB_PATH")}
    command = [*config.spawn_prefix, python, "-c", READY_CHECK, _weights_flag(config)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return Readiness(False, f"The engine's Python ({python}) did not answer within {timeout:.0f} s (the "
                         "computer may be very busy).", f"Try again in a moment. If it repeats: {advice}")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return Readiness(False, f"The engine cannot start: its Python ({python}) does not run ({reason.lower()}).",
                         advice)
    try:
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        found = None
    if proc.returncode != 0 or not isinstance(found, dict):
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return Readiness(False, f"The engine cannot start: its Python ({python}) failed ({last.strip()}).", advice)
    if found.get("package_error"):
        return Readiness(False, f"The engine cannot start: its package is not installed in its Python ({python}).",
                         advice)
    if found.get("missing_modules"):
        names = ", ".join("Pillow" if m == "PIL" else m for m in found["missing_modules"])
        return Readiness(False, f"The engine cannot start: {names} {'is' if ',' not in names else 'are'} missing "
                         f"from its Python ({python}).", advice)
    weights_path = found.get("weights_path")
    if not found.get("weights_present"):
        return Readiness(False, f"The engine cannot paint: its VGG-19 weights are missing ({weights_path}).", advice,
                         weights_present=False, weights_path=weights_path)
    return Readiness(True, weights_present=True, weights_path=weights_path)
