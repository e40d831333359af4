"""Issue 20 in the REAL GIMP 3, headless: a layer of another open image as the style, a selection and a saved
channel driving regions (tests/gimp/driver_regions.py). As tests/test_gimp_plugin.py: one GIMP start per GIMP
version against a real `nst-engine serve --device cpu` with generated weights and a few iterations; the
tests assert on the JSON the driver writes."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
pytest.register_assert_rewrite("gimp_checks")

import dialog_driver as DD  # noqa: E402
import gimp_checks as C  # noqa: E402
import gimp_harness as H  # noqa: E402
from xsession import XSession  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(1800)]
DRIVERS = H.REPO / "tests" / "gimp"
EXTRA_SETTINGS = {"iterations": 8, "scales": 1}
# The engine's side of regions (issue 20's service part) is built apart from the plug-in's: until it is in
# this tree, the region cases cannot show regions in the pixels and are skipped, saying so.
ENGINE_HAS_REGIONS = "region_mask" in "".join(
    p.read_text(encoding="utf-8") for p in (H.REPO / "nst_engine" / "service").glob("*.py"))
needs_regions = pytest.mark.skipif(not ENGINE_HAS_REGIONS, reason="the engine in this tree takes no region masks yet")


@pytest.fixture(scope="module", params=H.suites(), ids=[H.suite_label(s) for s in H.suites()])
def gimp_root(request: pytest.FixtureRequest) -> H.GimpRoot:
    try:
        return H.provision(request.param)
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def results(gimp_root: H.GimpRoot) -> Iterator[dict[str, Any]]:
    work = gimp_root.workdir("nst-regions-")
    engine = H.start_engine(work)
    try:
        inside = gimp_root.inside
        profile = work / "profile"
        plugin_dir = H.install_plugin(profile, H.engine_json_ok(engine))
        H.make_style_images(work)
        for name in ("driver_common.py", "driver_regions.py"):
            shutil.copy2(DRIVERS / name, work / name)
        params = {"results": inside(work) + "/results.json", "style": inside(work) + "/style.jpg",
                  "style2": inside(work) + "/style2.png", "engine_json": inside(plugin_dir / "engine.json")}
        (work / "params.json").write_text(json.dumps(params))
        started = time.monotonic()
        proc = H.run_batch(gimp_root, profile, work / "driver_regions.py", work / "params.json", work / "gimp.log",
                           {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(EXTRA_SETTINGS)}, timeout=1200)
        out = work / "results.json"
        if not out.exists():
            pytest.fail(f"GIMP ran {time.monotonic() - started:.0f} s, exit {proc.returncode}, and wrote no results:\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        data = json.loads(out.read_text())
        data["_gimp"] = {"returncode": proc.returncode, "stderr": proc.stderr}
        yield data
    finally:
        engine.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def gui_results(gimp_root: H.GimpRoot) -> Iterator[dict[str, Any]]:
    """One GIMP GUI start (tests/gimp/drive_regions_gui.py): the dialog after a run inside the selection, OK,
    then Ctrl+Z in the image window."""
    work = gimp_root.workdir("nst-regions-gui-")
    engine = H.start_engine(work)
    state = work / "dialog-state.json"
    session = XSession(gimp_root, work / "profile", work, env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(EXTRA_SETTINGS),
                                                               DD.STATE_ENV: gimp_root.inside(state)})
    steps: list[str] = []
    shown: dict[str, Any] = {}
    try:
        H.install_plugin(work / "profile", H.engine_json_ok(engine))
        H.make_style_images(work)
        for name in ("driver_common.py", "drive_regions_gui.py"):
            shutil.copy2(DRIVERS / name, work / name)
        (work / "params.json").write_text(json.dumps({"results": gimp_root.inside(work) + "/results.json",
                                                      "style": gimp_root.inside(work) + "/style.jpg"}))
        session.start(work / "drive_regions_gui.py", work / "params.json")
        session.wait_file(work / "calling-dialog", 300)
        window = session.wait_window("^Neural Style Transfer$")
        shown["regions"] = DD.wait_state(session, state, "the dialog did not report its regions",
                                         lambda s: s.get("ready") and s.get("region_map"), 120)
        DD.click_widget(session, window, shown["regions"], "ok")
        steps.append("ok")
        session.wait_file(work / "undo-now", 300)
        session.key(session.wait_window("Untitled"), "ctrl+z")
        steps.append("undo")
        for name, ready in (("layer_kept", lambda s: s.get("ready") and (s.get("style") or {}).get("layer")),
                            ("layer_gone", lambda s: s.get("ready") and s.get("told"))):
            session.wait_file(work / f"calling-{name}", 300)
            window = session.wait_window("^Neural Style Transfer$")
            shown[name] = DD.wait_state(session, state, f"the dialog ({name}) did not report", ready, 120)
            DD.click_widget(session, window, shown[name], "cancel")
            session.wait_gone(window, 120)
            steps.append(name)
        session.wait_file(work / "finished", 300)
    except Exception as exc:  # noqa: BLE001 - reported by the tests, with the GIMP log
        steps.append(f"harness error: {exc!r}")
    finally:
        session.close()
        engine.close()
    data = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {"cases": {}}
    log = work / "gimp-gui.log"
    data["_gimp"] = {"steps": steps, "stderr": log.read_text(errors="replace") if log.exists() else ""}
    data["shown"] = shown
    yield data
    if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
        shutil.rmtree(work, ignore_errors=True)


def _rgb(entry: dict[str, Any], key: str) -> np.ndarray:
    size = entry["after"]["layers"][C.new_layer_index(entry)]["size"] if key == "new_floats" else None
    w, h = size or next(layer["size"] for layer in entry["after"]["layers"] if layer["name"] == entry["source_name"])
    return np.asarray(entry[key], np.float32).reshape(h, w, 4)[..., :3]


def test_the_run_finished_and_scripts_get_the_new_arguments(results) -> None:
    assert results.get("finished"), results["_gimp"]["stderr"][-3000:]
    assert results["arguments"][-4:] == [["where", "gchararray"], ["outside", "gchararray"],
                                         ["channel-styles", "gchararray"], ["style-layer", "GimpDrawable"]]


def test_a_layer_of_another_open_image_is_the_style_as_its_file_would_be(results) -> None:
    """The layer (16-bit, with alpha) gives the result its exported PNG gives; another style gives another."""
    assert results["exported"]
    from_file, from_layer = C.case(results, "style_file"), C.case(results, "style_layer")
    other = C.case(results, "style_other")
    C.assert_new_layer(from_file, "brushes")
    new = C.assert_new_layer(from_layer, "Brushes")
    ref = new["parasite"]["arguments"]["style_layer"]
    assert ref["layer"] == "Brushes" and ref["tattoo"] > 0 and ref["image"]  # what a re-run finds it by
    same = np.abs(_rgb(from_layer, "new_floats") - _rgb(from_file, "new_floats")).max()
    apart = np.abs(_rgb(other, "new_floats") - _rgb(from_file, "new_floats")).max()
    assert same <= 1e-3 < apart, (same, apart)
    both = C.case(results, "style_layer_and_file")  # the layer takes the file's place
    assert np.abs(_rgb(both, "new_floats") - _rgb(from_layer, "new_floats")).max() <= 1e-3
    none = C.case(results, "no_style")
    assert none["call"]["status"] == "calling-error" and "style" in none["call"]["message"].lower()
    C.assert_untouched(none, new_layers=0)


def test_region_choices_that_cannot_run_say_why(results) -> None:
    for name, words in (("no_selection", "no selection"), ("selection_no_second", "second style"),
                        ("channel_missing", "no channel \u201cSea\u201d")):
        entry = C.case(results, name)
        assert entry["call"]["status"] == "calling-error", entry["call"]
        assert words in entry["call"]["message"], entry["call"]["message"]
        C.assert_untouched(entry, new_layers=0)


# Columns of the 128x64 layers split at x = 64: inside, and outside beyond the edge's reach. Measured on two cores
# (8 iterations, generated weights, strength 5): a style's change fades over about 24 px past the edge (1.5 cells
# of conv4); inside, the mean change is 0.10-0.18, outside with the photo 0.003-0.012, and 0.05 where the whole
# layer is styled. The thresholds sit between these.
INSIDE, OUTSIDE, EDGE_REACH = slice(0, 40), slice(104, 128), slice(80, 96)


def _change(entry: dict[str, Any], cols: slice) -> float:
    return float(np.abs(_rgb(entry, "new_floats") - _rgb(entry, "source_floats"))[:, cols].mean())


@needs_regions
def test_a_selection_drives_two_regions(results) -> None:
    """Left half selected. With the photo outside, the far right stays the photo while the left is styled; with
    the second style outside, the right is styled too, as much as a whole-layer run styles it."""
    photo = C.case(results, "selection_photo")
    new = C.assert_new_layer(photo, "style")
    assert new["mask"] is None and not photo["new_has_mask"]  # both sides are in the result itself
    whole = C.case(results, "whole_1")
    inside, outside, whole_outside = _change(photo, INSIDE), _change(photo, OUTSIDE), _change(whole, OUTSIDE)
    assert outside < 0.02 and outside < 0.25 * whole_outside and inside > 4 * outside, (inside, outside, whole_outside)
    two = C.case(results, "selection_two")
    C.assert_new_layer(two, "style + style2")
    assert _change(two, OUTSIDE) > 4 * outside and _change(two, OUTSIDE) > 0.5 * whole_outside, (
        _change(two, OUTSIDE), outside, whole_outside)
    assert _change(two, INSIDE) > 4 * outside


@needs_regions
def test_a_channel_drives_a_region_under_an_offset_layer(results) -> None:
    """The channel covers the image's x < 96; the layer sits at x = 32, so its own x < 64 is styled (read at
    the layer's offsets: read from the image's corner, the styled part would reach x = 96)."""
    assert results["channels"] == ["Sky"]
    entry = C.case(results, "channel_photo")
    C.assert_new_layer(entry, "style")
    inside, reach, outside = _change(entry, INSIDE), _change(entry, EDGE_REACH), _change(entry, OUTSIDE)
    assert outside < 0.02 and inside > 4 * outside and reach < 0.25 * inside, (inside, reach, outside)


def test_the_dialog_starts_from_the_regions_of_the_last_result_and_ok_is_one_undo_step(gui_results) -> None:
    assert gui_results["_gimp"]["steps"][:2] == ["ok", "undo"], gui_results["_gimp"]
    shown = gui_results["shown"]["regions"]
    assert shown["where"] == "selection" and shown["regions"] == "selection: style; elsewhere: photo"
    assert shown["where_allowed"] == {"whole": True, "selection": True, "channels": False}
    assert shown["where_hints"] and "no saved channels" in shown["where_hints"][0]
    assert shown["region_map"] and shown["ok_sensitive"] and shown["preview_text"].startswith("Regions")
    C.assert_new_layer(C.case(gui_results, "first"), "style")
    dialog = C.case(gui_results, "dialog")
    new = C.assert_new_layer(dialog, "style")
    assert new["parasite"]["arguments"]["where"] == "selection" and new["mask"] is None
    undo = C.case(gui_results, "undo")
    assert undo["after"]["layers"] == dialog["before"]["layers"]  # one Ctrl+Z takes the whole run back


def test_a_rerun_offers_the_style_layer_again_and_says_plainly_when_it_is_gone(gui_results) -> None:
    assert gui_results["_gimp"]["steps"] == ["ok", "undo", "layer_kept", "layer_gone"], gui_results["_gimp"]
    C.assert_new_layer(C.case(gui_results, "with_layer"), "Painting")
    kept = gui_results["shown"]["layer_kept"]
    assert kept["style"]["layer"] == "Painting" and kept["ok_sensitive"] and not kept["told"]
    assert C.case(gui_results, "layer_kept")["call"]["status"] == "cancel"
    gone = gui_results["shown"]["layer_gone"]
    assert len(gone["told"]) == 1 and "\u201cPainting\u201d" in gone["told"][0], gone["told"]
    assert "no longer open" in gone["told"][0] and "Open that image" in gone["told"][0]
    # the style file the dialog has instead (GIMP's last values: the earlier interactive run's) is named
    assert "the style image \u201cstyle\u201d is used instead" in gone["told"][0], gone["told"]
    assert not (gone["style"] or {}).get("layer") and gone["style"]["path"].endswith("/style.jpg")
    entry = C.case(gui_results, "layer_gone")
    assert entry["call"]["status"] == "cancel"
    C.assert_untouched(entry, new_layers=0)
