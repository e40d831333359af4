"""The plug-in folder reports a missing file instead of vanishing: what its entry file checks at start and
registers then must match the folder (read with `ast`: the entry file runs only inside GIMP).

The real-GIMP side (registration and the error in GIMP 3.0 and 3.2) is tests/test_gimp_plugin_copy.py.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
ENTRY = PLUGIN / "neural_style_transfer.py"
sys.path.insert(0, str(PLUGIN))

import learned_logic  # noqa: E402
import nst_logic  # noqa: E402


def _constants(path: Path) -> dict[str, object]:
    """Module-level NAME = literal assignments."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def _local_imports(path: Path) -> set[str]:
    """The folder's modules that `path` imports when it is loaded (not those imported inside functions)."""
    body = ast.parse(path.read_text()).body  # the entry file imports its modules inside a top-level try
    nodes = [node for stmt in body for node in (stmt.body if isinstance(stmt, ast.Try) else [stmt])]
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return {name for name in names if (PLUGIN / f"{name}.py").is_file()}


def test_every_file_is_imported_at_start_or_checked_at_start() -> None:
    """A module missing from WINDOW_MODULES would be found missing only when its window opens."""
    seen: set[str] = set()
    todo = sorted(_local_imports(ENTRY))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(_local_imports(PLUGIN / f"{name}.py"))
    windows = set(_constants(ENTRY)["WINDOW_MODULES"])  # type: ignore[arg-type]
    every = {p.stem for p in PLUGIN.glob("*.py")} - {ENTRY.stem}
    assert seen | windows == every, f"not checked at start: {sorted(every - seen - windows)}"
    assert not seen & windows, f"imported at start anyway, drop from WINDOW_MODULES: {sorted(seen & windows)}"


def test_fallback_registers_what_the_modules_register() -> None:
    entry = _constants(ENTRY)
    assert entry["FALLBACK_PROCEDURES"] == (
        (nst_logic.PROC_NAME, nst_logic.MENU_LABEL, "layer"),
        ("plug-in-neural-style-transfer-settings", "Engine Settings\u2026", "plain"),
        (learned_logic.APPLY_PROC, learned_logic.APPLY_LABEL, "layer"),
        (learned_logic.LEARN_PROC, learned_logic.LEARN_LABEL, "image"),
    )
    assert entry["FALLBACK_MENU_PATH"] == nst_logic.MENU_PATH == learned_logic.MENU_PATH


def test_the_settings_procedure_registers_as_its_fallback_does() -> None:
    """The four entries share one submenu (issue 23, point 7), Engine Settings… among them."""
    entry = _constants(ENTRY)
    settings = _constants(PLUGIN / "settings_procedure.py")
    assert (settings["PROC"], settings["MENU_LABEL"], "plain") in entry["FALLBACK_PROCEDURES"]
    assert settings["MENU_PATH"] == entry["FALLBACK_MENU_PATH"]


def test_entry_file_is_executable_as_checked_out() -> None:
    """GIMP starts only an executable file named like its folder: a copy of a clone keeps git's mode."""
    assert os.access(ENTRY, os.X_OK), f"git update-index --chmod=+x {ENTRY.relative_to(PLUGIN.parents[1])}"
