"""The plug-in folder as it stands in the repository is the plug-in (issue 18 point 4), in the REAL GIMP 3.0
and 3.2: copied alone into a fresh profile's plug-ins/ (no installer, no engine.json), it registers every
procedure and, pointed at an engine with its settings procedure, stylises a layer. With a file missing it
still registers the same menu entries, and running any of them fails with a message naming the file and
saying what to do (GIMP shows it in its error dialog). Driven headless by tests/gimp/driver_copy.py.
GIMP, the suites and the engine are those of tests/test_gimp_plugin.py ($NST_GIMP_SUITES).
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_gimp_plugin import EXTRA_SETTINGS, engine, gimp_root, workdir  # noqa: E402, F401, I001 - first: it
import gimp_harness as H  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(2400)]
ENTRY = H.PLUGIN_SRC / f"{H.PLUGIN_DIR_NAME}.py"
MISSING = "nst_contract.py"  # the file a plain copy lacked before (issue 18): it now travels with the folder


def _fallback_procedures() -> list[tuple[str, str, str]]:
    """The entry file's FALLBACK_PROCEDURES (tests/test_plugin_folder.py ties them to the modules)."""
    for node in ast.parse(ENTRY.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FALLBACK_PROCEDURES":
            return list(ast.literal_eval(node.value))
    raise AssertionError("FALLBACK_PROCEDURES not found in the entry file")


PROCEDURES = [name for name, _label, _kind in _fallback_procedures()]


def _run_copy(gimp: H.GimpRoot, work: Path, engine: H.Engine, missing: str | None) -> dict[str, Any]:  # noqa: F811
    """A fresh profile whose plug-ins/ gets the folder by a plain copy (minus `missing`), one GIMP start."""
    case = work / ("incomplete" if missing else "complete")
    case.mkdir()
    target = case / "profile" / "plug-ins" / H.PLUGIN_DIR_NAME
    shutil.copytree(H.PLUGIN_SRC, target, ignore=shutil.ignore_patterns("__pycache__", "engine.json"))
    if missing:
        (target / missing).unlink()
    H.make_style_images(case)
    shutil.copy2(H.REPO / "tests" / "gimp" / "driver_common.py", case / "driver_common.py")
    shutil.copy2(H.REPO / "tests" / "gimp" / "driver_copy.py", case / "driver_copy.py")
    params = {"results": gimp.inside(case) + "/results.json", "style": gimp.inside(case) + "/style.jpg",
              "procedures": PROCEDURES, "complete": missing is None,
              "engine_url": engine.url, "engine_token": engine.token}
    (case / "params.json").write_text(json.dumps(params))
    started = time.monotonic()
    proc = H.run_batch(gimp, case / "profile", case / "driver_copy.py", case / "params.json", case / "gimp.log",
                       {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(EXTRA_SETTINGS)})
    out = case / "results.json"
    if not out.exists():
        pytest.fail(f"GIMP ran {time.monotonic() - started:.0f} s, exit {proc.returncode}, no results:\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    data = json.loads(out.read_text())
    assert data.get("finished") and "driver_error" not in data, (data.get("driver_error"), proc.stderr[-3000:])
    data["_stderr"] = proc.stderr
    data["_engine_json"], data["_engine_url"] = target / "engine.json", engine.url
    return data


@pytest.fixture(scope="module")
def copies(gimp_root: H.GimpRoot, workdir: Path, engine: H.Engine) -> dict[str, dict[str, Any]]:  # noqa: F811
    return {"complete": _run_copy(gimp_root, workdir, engine, None),
            "incomplete": _run_copy(gimp_root, workdir, engine, MISSING)}


def test_plain_copy_registers_and_runs(copies: dict[str, dict[str, Any]]) -> None:
    complete = copies["complete"]
    for name, label, _kind in _fallback_procedures():
        info = complete["procedures"][name]
        assert info["found"], f"{name} is not registered:\n{complete['_stderr'][-3000:]}"
        assert (info["menu_label"], info["menu_paths"]) == (label, ["<Image>/Filters/Artistic/Neural Style Transfer"])
    assert complete["connect"]["status"] == "success", complete["connect"]
    assert json.loads(complete["_engine_json"].read_text())["url"] == complete["_engine_url"]
    stylise = complete["cases"]["stylise"]
    assert "driver_error" not in stylise, stylise.get("driver_error")
    assert stylise["call"]["status"] == "success", stylise["call"]
    before, after = stylise["before"]["layers"], stylise["after"]["layers"]
    assert len(after) == len(before) + 1
    assert after[0]["parasite"] and after[0]["parasite"]["procedure"] == PROCEDURES[0]
    assert after[0]["pixels"] != before[0]["pixels"]


def test_copy_with_a_file_missing_registers_and_says_what_is_missing(copies: dict[str, dict[str, Any]]) -> None:
    complete, incomplete = copies["complete"], copies["incomplete"]
    assert incomplete["procedures"] == complete["procedures"], "the menus must look the same"
    for name in PROCEDURES:
        call = incomplete["cases"][name]
        assert call["status"] == "execution-error", (name, call)
        assert f"{MISSING} is missing from the plug-in folder" in call["message"], call["message"]
        assert "Copy the whole folder gimp_plugin/neural_style_transfer" in call["message"], call["message"]
