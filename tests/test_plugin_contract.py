"""The plug-in folder's `nst_contract.py` is the engine's `nst_engine/contract.py`, byte for byte.

Why two files: GIMP's Python cannot import the engine (no torch there) and the plug-in folder must work
when copied alone into GIMP's plug-ins folder, so it carries its own copy; the engine, installed as a
package without the plug-in, keeps the source. This test is what makes them one fact.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "nst_engine" / "contract.py"
PLUGIN = REPO / "gimp_plugin" / "neural_style_transfer"
COPY = PLUGIN / "nst_contract.py"


def test_plugin_copy_is_the_engine_contract() -> None:
    assert COPY.read_bytes() == SOURCE.read_bytes(), (
        f"{COPY.relative_to(REPO)} differs from {SOURCE.relative_to(REPO)}, its source: "
        f"cp {SOURCE.relative_to(REPO)} {COPY.relative_to(REPO)}")


def test_contract_needs_only_the_standard_library() -> None:
    """GIMP's Python has no third-party packages: an import beyond the standard library breaks the plug-in."""
    imported = set()
    for node in ast.walk(ast.parse(SOURCE.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_every_plugin_import_is_in_the_folder_or_the_standard_library() -> None:
    """The folder as it stands is the plug-in: nothing it imports may come from elsewhere in the repository
    (GIMP's gi aside), so a plain copy of the folder registers."""
    local = {p.stem for p in PLUGIN.glob("*.py")}
    outside: dict[str, set[str]] = {}
    for path in PLUGIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names and top not in ("gi", "__future__"):
                    outside.setdefault(path.name, set()).add(top)
    assert outside == {}

