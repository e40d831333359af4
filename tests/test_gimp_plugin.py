"""The plug-in in the REAL GIMP 3 (no mock), driven headless through python-fu-eval.

One GIMP start (tests/gimp/driver_cases.py) runs every case and writes what it saw as JSON; the tests
below assert on that JSON. The plug-in talks to a real `nst-engine serve` on loopback that uses
generated weights and tiny settings (2 iterations, 1 scale) so that a run takes seconds on a CPU.

GIMP 3 comes from tests/gimp/provision_gimp.sh (a Debian 13 chroot on Debian 12 hosts); the tests are
skipped, saying why, only when it cannot be provisioned (e.g. not root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))

import gimp_harness as H  # noqa: E402

pytestmark = pytest.mark.gimp

REPO = H.REPO
DRIVERS = REPO / "tests" / "gimp"
EXTRA_SETTINGS = {"iterations": 2, "scales": 1}
# Interactive runs need time to click Cancel / "Stop and keep" while the engine works.
# Long enough that Cancel and "Stop and keep" land mid-run (a 64 px job is quick on a bf16 CPU).
GUI_EXTRA_SETTINGS = {"iterations": 600, "scales": 1}

EXPECTED_ARGUMENTS = [
    ["run-mode", "GimpRunMode"],
    ["image", "GimpImage"],
    ["drawables", "GimpCoreObjectArray"],
    ["style-file", "GFile"],
    ["style-file-2", "GFile"],
    ["style-blend", "gdouble"],
    ["style-strength", "gdouble"],
    ["quality", "gchararray"],  # a GimpParamChoice (string) with draft / standard / high
    ["max-size", "gint"],
    ["preserve-colors", "gboolean"],
    ["style-scale", "gdouble"],
    ["seed", "gint"],
]


@pytest.fixture(scope="session")
def gimp_root() -> H.GimpRoot:
    try:
        return H.provision()
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def workdir(gimp_root: H.GimpRoot) -> Iterator[Path]:
    path = gimp_root.workdir("nst-test-")
    yield path
    if os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
        print(f"kept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(workdir: Path) -> Iterator[H.Engine]:
    eng = H.start_engine(workdir)
    yield eng
    eng.close()


def _copy_drivers(work: Path, *names: str) -> None:
    for name in ("driver_common.py", *names):
        shutil.copy2(DRIVERS / name, work / name)


@pytest.fixture(scope="module")
def results(gimp_root: H.GimpRoot, workdir: Path, engine: H.Engine) -> dict[str, Any]:
    """One headless GIMP start that runs every non-interactive case (driver_cases.py)."""
    inside = gimp_root.inside
    profile = workdir / "profile"
    ok = H.engine_json_ok(engine)
    plugin_dir = H.install_plugin(profile, ok)
    H.make_style_images(workdir)
    _copy_drivers(workdir, "driver_cases.py")
    missing_python = "/nonexistent/nst-engine/venv/bin/python"
    variants = {
        "ok": ok,
        "unreachable": {**ok, "url": f"http://127.0.0.1:{H.free_port()}"},
        "not_installed": {"python": missing_python,
                          "command": [missing_python, "-m", "nst_engine", "serve", "--port", "0"],
                          "state_file": inside(workdir) + "/no-server.json", "url": None, "token": None,
                          "spawn_prefix": []},
    }
    params = {
        "results": inside(workdir) + "/results.json",
        "style": inside(workdir) + "/style.jpg",
        "style2": inside(workdir) + "/style2.png",
        "missing_style": inside(workdir) + "/no-such-style.jpg",
        "corrupt_style": inside(workdir) + "/corrupt.png",
        "engine_json": inside(plugin_dir / "engine.json"),
        "engine_json_variants": variants,
    }
    (workdir / "params.json").write_text(json.dumps(params))
    started = time.monotonic()
    proc = H.run_batch(gimp_root, profile, workdir / "driver_cases.py", workdir / "params.json",
                       workdir / "gimp.log", {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(EXTRA_SETTINGS)})
    elapsed = time.monotonic() - started
    out_file = workdir / "results.json"
    if not out_file.exists():
        pytest.fail(f"GIMP ran {elapsed:.0f} s, exit {proc.returncode}, and wrote no results:\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    data = json.loads(out_file.read_text())
    pluginrc = profile / "pluginrc"
    data["_gimp"] = {"returncode": proc.returncode, "stderr": proc.stderr, "elapsed": elapsed,
                     "pluginrc": pluginrc.read_text(errors="replace") if pluginrc.exists() else ""}
    return data


def case(results: dict[str, Any], name: str) -> dict[str, Any]:
    entry = results["cases"].get(name)
    assert entry is not None, f"case {name} did not run; GIMP stderr:\n{results['_gimp']['stderr'][-3000:]}"
    assert "driver_error" not in entry, entry["driver_error"]
    return entry


def assert_untouched(entry: dict[str, Any], new_layers: int) -> None:
    """Everything that was in the image is exactly as it was (pixels, names, offsets, masks, selection)."""
    before, after = entry["before"], entry["after"]
    assert len(after["layers"]) == len(before["layers"]) + new_layers
    kept = list(after["layers"])
    if new_layers:
        del kept[entry["source_index"]]
    assert kept == before["layers"]
    for key in ("size", "precision", "base_type", "selection", "selection_digest"):
        assert after[key] == before[key], key


def assert_new_layer(entry: dict[str, Any], styles: str) -> dict[str, Any]:
    """One new layer directly above the source: same size and offsets, source's alpha, named, tagged."""
    assert entry["call"]["status"] == "success", entry["call"]["message"]
    assert_untouched(entry, new_layers=1)
    layers = entry["after"]["layers"]
    idx = entry["source_index"]
    new, source = layers[idx], layers[idx + 1]
    assert source["name"] == entry["source_name"]
    # GIMP keeps layer names unique: a second result from the same source gets " #1" appended.
    assert re.fullmatch(re.escape(f"{entry['source_name']} (style: {styles})") + r"( #\d+)?", new["name"]), new["name"]
    assert new["size"] == source["size"]
    assert new["offsets"] == source["offsets"]
    assert new["has_alpha"]
    assert new["alpha"] == source["alpha"], "the new layer must keep the source's alpha exactly"
    assert new["pixels"] != source["pixels"], "the engine's result should differ from the source"
    assert new["is_gray"] == source["is_gray"]
    assert new["visible"] and new["opacity"] == 100.0
    record = new["parasite"]
    assert record and record["procedure"] == "plug-in-neural-style-transfer"
    assert record["source_layer"] == entry["source_name"]
    assert entry["before"]["dirty"] is False and entry["after"]["dirty"] is True
    return new


# --- the tests -------------------------------------------------------------------------------------


def test_gimp_run_finished(results):
    assert results.get("finished"), results["_gimp"]["stderr"][-3000:]
    assert results["_gimp"]["returncode"] == 0, results["_gimp"]["stderr"][-3000:]


def test_registration_as_listed_by_the_pdb(results):
    proc = results.get("procedure")
    assert proc, results.get("procedure_error")
    assert proc["found"]
    assert proc["arguments"] == EXPECTED_ARGUMENTS
    assert proc["menu_label"] == "Neural Style Transfer\u2026"
    assert proc["menu_paths"] == ["<Image>/Filters/Artistic"]
    assert proc["image_types"] == "RGB*, GRAY*"
    assert proc["quality_choices"] == ["draft", "standard", "high"]
    assert proc["blurb"] and len(proc["help"]) > 80
    assert proc["authors"] and proc["copyright"] and proc["date"]
    defaults = proc["defaults"]
    assert defaults["quality"] == "standard" and defaults["preserve-colors"] is False
    # The sensitivity mask is not visible through a PDB proxy; GIMP records it in pluginrc, the line
    # after the image types: 1 = GIMP_PROCEDURE_SENSITIVE_DRAWABLE (exactly one drawable).
    rc = results["_gimp"]["pluginrc"]
    m = re.search(r'\(proc-def "plug-in-neural-style-transfer".*?"RGB\*, GRAY\*"\s+(\d+)', rc, re.S)
    assert m, "procedure not found in pluginrc"
    assert int(m.group(1)) == proc["sensitivity_drawable"] == 1


def test_rgba_layer_with_transparency_and_offsets(results):
    entry = case(results, "rgba_offsets")
    new = assert_new_layer(entry, "style + style2")
    assert [layer["name"] for layer in entry["after"]["layers"]] == [
        "Top", "Sprite (style: style + style2)", "Sprite", "Background"]
    assert new["offsets"] == [30, -5] and new["size"] == [40, 32]
    assert new["alpha_min_max"] == [0.0, 1.0]
    assert new["mask"] is None  # no selection, no mask
    record = new["parasite"]
    assert record["content_format"] == "u8"
    args = record["arguments"]
    assert args["style_blend"] == 0.25 and args["style_strength"] == 2.0
    assert args["preserve_colors"] is True and args["style_scale"] == 1.5 and args["quality"] == "draft"
    settings = record["engine_settings"]
    assert settings["style_blend"] == [0.75, 0.25] and settings["preset"] == "draft"
    assert settings["iterations"] == EXTRA_SETTINGS["iterations"]


def test_16bit_rgb_is_sent_as_16_bits(results):
    entry = case(results, "rgb16")
    new = assert_new_layer(entry, "style")
    assert entry["after"]["precision"] == "u16-non-linear"
    assert new["parasite"]["content_format"] == "u16"
    assert new["is_rgb"] and not new["is_gray"]


def test_float_rgb_is_sent_as_float(results):
    entry = case(results, "rgbfloat")
    new = assert_new_layer(entry, "style")
    assert entry["after"]["precision"] == "float-linear"
    assert new["parasite"]["content_format"] == "f32"


def test_grayscale_gives_grayscale(results):
    entry = case(results, "gray")
    new = assert_new_layer(entry, "style")
    assert new["is_gray"]
    entry = case(results, "gray_alpha16")
    new = assert_new_layer(entry, "style")
    assert new["is_gray"] and new["offsets"] == [7, 3] and new["alpha_min_max"] == [0.0, 1.0]
    assert new["parasite"]["content_format"] == "u16"


def test_selection_becomes_a_layer_mask(results):
    entry = case(results, "selection")
    new = assert_new_layer(entry, "style")
    assert entry["after"]["selection"][:1] == [True]
    mask = new["mask"]
    assert mask and mask["size"] == new["size"]
    assert mask["center"] == 1.0 and mask["corner"] == 0.0


def test_missing_style_file_is_refused_by_gimp(results):
    entry = case(results, "missing_style")
    assert entry["call"]["status"] == "calling-error"
    assert_untouched(entry, new_layers=0)
    assert entry["after"]["dirty"] is False


def test_corrupt_style_file_is_an_execution_error(results):
    entry = case(results, "corrupt_style")
    assert entry["call"]["status"] == "execution-error"
    assert "image" in entry["call"]["message"].lower()
    assert_untouched(entry, new_layers=0)
    assert entry["after"]["dirty"] is False


def test_unreachable_engine_is_an_execution_error(results):
    entry = case(results, "unreachable")
    assert entry["call"]["status"] == "execution-error"
    assert entry["call"]["message"]
    assert_untouched(entry, new_layers=0)
    assert entry["after"]["dirty"] is False


def test_engine_not_installed_names_the_installer(results):
    entry = case(results, "not_installed")
    assert entry["call"]["status"] == "execution-error"
    assert "install" in entry["call"]["message"]
    assert_untouched(entry, new_layers=0)
    assert entry["after"]["dirty"] is False


# --- interactive: the procedure dialog and the progress window in the real GIMP GUI (Xvfb) ------------

# Button centres measured from the windows' bottom-right corners (GIMP 3.0.4, default theme, no WM).
OK_FROM_CORNER = (68, 42)
CANCEL_FROM_CORNER = (92, 42)
STOP_FROM_CORNER = (233, 42)


def _click_window(session: H.XSession, pattern: str, offset: tuple[int, int], settle: float) -> str:
    """Find the window, wait for it to settle, click a button measured from its bottom-right corner.

    Without a window manager a window found by name can still be replaced while GTK maps it (seen as
    an X BadWindow error from xdotool on a busy machine): then look it up again."""
    for _attempt in range(5):
        window = session.wait_window(pattern)
        time.sleep(settle)
        try:
            x, y, w, h = session.geometry(window)
        except RuntimeError:
            continue
        session.click(x + w - offset[0], y + h - offset[1])
        return window
    raise RuntimeError(f"the window {pattern!r} kept disappearing")


@pytest.fixture(scope="module")
def gui_results(gimp_root: H.GimpRoot, engine: H.Engine) -> Iterator[dict[str, Any]]:
    """One GIMP GUI start: Cancel, then "Stop and keep", then Ctrl+Z, clicked with xdotool."""
    work = gimp_root.workdir("nst-gui-")
    profile = work / "profile"
    H.install_plugin(profile, H.engine_json_ok(engine))
    H.make_style_images(work)
    _copy_drivers(work, "drive_interactive.py")
    params = {"results": gimp_root.inside(work) + "/results.json", "style": gimp_root.inside(work) + "/style.jpg"}
    (work / "params.json").write_text(json.dumps(params))
    session = H.XSession(gimp_root, profile, work,
                         env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(GUI_EXTRA_SETTINGS)})
    steps: list[str] = []
    try:
        session.start(work / "drive_interactive.py", work / "params.json")
        for name, button in (("cancel", CANCEL_FROM_CORNER), ("stop_keep", STOP_FROM_CORNER)):
            session.wait_file(work / f"calling-{name}", 180)
            _click_window(session, "^Neural Style Transfer$", OK_FROM_CORNER, settle=1.0)
            progress = _click_window(session, "working", button, settle=2.5)  # a few iterations first
            session.wait_gone(progress, 60)
            steps.append(name)
        session.wait_file(work / "undo-now", 60)
        image_window = session.wait_window("Untitled")
        session.key(image_window, "ctrl+z")
        steps.append("undo")
        (work / "undo-done").touch()
        session.wait_file(work / "finished", 180)
    except Exception as exc:  # noqa: BLE001 - reported by the tests, with the GIMP log
        steps.append(f"harness error: {exc!r}")
    finally:
        session.close()
    data = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {"cases": {}}
    data["_gimp"] = {"steps": steps, "stderr": (work / "gimp-gui.log").read_text(errors="replace")
                     if (work / "gimp-gui.log").exists() else ""}
    yield data
    if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
        shutil.rmtree(work, ignore_errors=True)


def test_interactive_cancel_leaves_the_image_as_it_was(gui_results):
    assert "cancel" in gui_results["_gimp"]["steps"], gui_results["_gimp"]
    entry = case(gui_results, "cancel")
    assert entry["call"]["status"] == "cancel", entry["call"]
    assert_untouched(entry, new_layers=0)
    assert entry["after"]["dirty"] is False


def test_interactive_stop_and_keep_gives_the_current_result(gui_results):
    assert "stop_keep" in gui_results["_gimp"]["steps"], gui_results["_gimp"]
    entry = case(gui_results, "stop_keep")
    new = assert_new_layer(entry, "style")
    # The dialog offered the values of the last (scratch) run: GIMP remembered them.
    assert new["parasite"]["arguments"]["seed"] == 1 and new["parasite"]["arguments"]["quality"] == "draft"


def test_one_undo_step_removes_the_whole_result(gui_results):
    assert "undo" in gui_results["_gimp"]["steps"], gui_results["_gimp"]
    undo = case(gui_results, "undo")
    stop_keep = case(gui_results, "stop_keep")
    assert len(undo["before"]["layers"]) == len(stop_keep["before"]["layers"]) + 1
    assert undo["after"]["layers"] == stop_keep["before"]["layers"], "one Ctrl+Z must undo the whole run"


def test_repeat_last_filter_uses_the_last_interactive_values(gui_results):
    entry = case(gui_results, "repeat")
    new = assert_new_layer(entry, "style")
    args = new["parasite"]["arguments"]
    stop_keep_args = case(gui_results, "stop_keep")["after"]["layers"][1]["parasite"]["arguments"]
    assert args == stop_keep_args
    assert args["seed"] == 1 and args["quality"] == "draft" and args["style_file"].endswith("/style.jpg")
