"""The animation procedure in the REAL GIMP 3 (3.0 and 3.2) GUI under Xvfb, against a real
`nst-engine serve --device cpu` (generated weights) behind an event tap: tests/gimp/driver_animation.py makes
small animations (a layer per frame) and calls plug-in-nst-animation; the test presses Ctrl+Z once after the
first run, and in the interactive run clicks a recent style, OK, then "Stop and keep" once a frame is done.

Checked: the frames are the layers bottom first, the styled frames go into one new layer group above them with
the frames' names, times and disposal tags, on the canvas (a smaller, moved frame keeps its transparency
around); one Ctrl+Z removes the whole group; Stop and keep leaves the frames finished; a selected layer group
gives its layers; a re-run does not take the first result as a frame; one layer alone is refused plainly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
pytest.register_assert_rewrite("gimp_checks")

import animation_logic as A  # noqa: E402
import dialog_driver as DD  # noqa: E402
import gimp_checks as C  # noqa: E402
import gimp_harness as H  # noqa: E402
import nst_logic  # noqa: E402
from event_tap import EventTap  # noqa: E402
from xsession import XSession  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(2400)]
DRIVERS = H.REPO / "tests" / "gimp"
GUI_SUITES = os.environ.get("NST_GIMP_GUI_SUITES", " ".join(H.SUITES)).split()
# Few iterations per frame at a tiny size: each frame takes seconds on 2 busy cores, long enough to click
# "Stop and keep" while the second frame is painted.
EXTRA_SETTINGS = {"iterations": 100, "scales": 1}
FRAMES = [f"Frame {i} ({100 * i}ms)" + (" (combine)" if i == 2 else " (replace)") for i in (1, 2, 3, 4)]
CANVAS = [48, 36]


@pytest.fixture(scope="module", params=H.suites(), ids=[H.suite_label(s) for s in H.suites()])
def gimp_root(request: pytest.FixtureRequest) -> H.GimpRoot:
    if request.param not in GUI_SUITES:
        pytest.skip(f"GUI tests run on {GUI_SUITES} ($NST_GIMP_GUI_SUITES), not {request.param}")
    try:
        return H.provision(request.param)
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def results(gimp_root: H.GimpRoot) -> Iterator[dict[str, Any]]:
    work = gimp_root.workdir("nst-animation-")
    engine = H.start_engine(work)
    tap = EventTap(engine.url)
    profile = work / "profile"
    steps: list[str] = []
    session = None
    try:
        H.install_plugin(profile, {**H.engine_json_ok(engine), "url": tap.url})
        H.make_style_images(work)
        DD.seed_recent(profile, [gimp_root.inside(work / "style.jpg")])
        for name in ("driver_common.py", "driver_animation.py"):
            shutil.copy2(DRIVERS / name, work / name)
        params = {"results": gimp_root.inside(work) + "/results.json", "style": gimp_root.inside(work) + "/style.jpg",
                  "gui": True}
        (work / "params.json").write_text(json.dumps(params))
        state = work / "dialog-state.json"
        session = XSession(gimp_root, profile, work, env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(EXTRA_SETTINGS),
                                                          DD.STATE_ENV: gimp_root.inside(state)})
        try:
            session.start(work / "driver_animation.py", work / "params.json")
            session.wait_file(work / "undo-now", 900)
            session.key(session.wait_window("Untitled"), "ctrl+z")
            steps.append("undo")
            session.wait_file(work / "calling-stop_keep", 300)
            dialog = session.wait_window(r"^Neural Style Transfer \(Animation\)$")
            ready = DD.wait_state(session, state, "the dialog did not report ready",
                                  lambda s: s.get("ready") and "recent_0" in s.get("widgets", {}), 300)
            DD.click_widget(session, dialog, ready, "recent_0")
            DD.wait_state(session, state, "the recent style was not chosen", lambda s: s.get("ok_sensitive"), 60)
            C.click_window(session, r"^Neural Style Transfer \(Animation\)$", C.OK_FROM_CORNER)
            DD.wait_state(session, state, "the progress window did not say the first frame was done",  # then stop
                          lambda s: "Frame 1 of 4 done" in s.get("progress_window", {}).get("bar_texts", []), 600)
            progress = C.click_window(session, "working", C.STOP_FROM_CORNER)
            session.wait_gone(progress, 300)
            steps.append("stop_keep")
            session.wait_file(work / "finished", 900)
            session.shot(work / "final.png")
        except Exception as exc:  # noqa: BLE001 - reported by the tests, with GIMP's log
            steps.append(f"harness error: {exc!r}")
        out = work / "results.json"
        data = json.loads(out.read_text()) if out.exists() else {"cases": {}}
        # what the interactive run's progress window said, in order (the later runs are scripted: no window)
        data["bar_texts"] = DD.read_state(state).get("progress_window", {}).get("bar_texts", [])
        log = work / "gimp-gui.log"
        data["_gimp"] = {"steps": steps, "stderr": log.read_text(errors="replace") if log.exists() else ""}
        keep = os.environ.get("NST_KEEP_GIMP_TEST_DIR")
        if keep and (work / "final.png").exists():
            shutil.copy2(work / "final.png", Path(keep) / f"animation-final-{gimp_root.suite}.png")
        yield data
    finally:
        if session is not None:
            session.close()
        tap.close()
        engine.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


def _styled(names: list[str]) -> list[str]:
    return [A.styled_frame_name(name) for name in names]


def _new_group(entry: dict[str, Any], level: list[str] | None = None) -> dict[str, Any]:
    """The one new item at the top of the frames' level; everything that was there is unchanged below it."""
    assert entry["call"]["status"] == "success", entry["call"]["message"]
    before, after = entry["before"], entry["after"]
    if level is not None:  # inside the group named level[0]
        assert [item["name"] for item in after] == [item["name"] for item in before] == level
        before, after = before[0]["children"], after[0]["children"]
    assert after[1:] == before, "the frames (and earlier results) unchanged, below the new group"
    group = after[0]
    assert group["group"] and group["record"]["procedure"] == A.ANIMATION_PROC
    return group


def test_both_procedures_sit_in_filters_animation(results: dict[str, Any]) -> None:
    assert results.get("finished"), results["_gimp"]["stderr"][-3000:]
    procedures = results["procedures"]
    styles, learned = procedures[A.ANIMATION_PROC], procedures[A.LEARNED_ANIMATION_PROC]
    assert styles["menu_label"] == A.ANIMATION_LABEL and learned["menu_label"] == A.LEARNED_ANIMATION_LABEL
    assert styles["menu_paths"] == learned["menu_paths"] == [A.MENU_PATH]
    assert styles["arguments"][3:] == [*(row[0] for row in nst_logic.FRAME_ARGUMENTS), "steadiness", "long-term"]
    assert learned["arguments"][3:] == ["style-name", "strength", "steadiness", "long-term"]


def test_frames_are_styled_into_a_new_group_above_with_names_and_times(results: dict[str, Any]) -> None:
    entry = C.case(results, "all")
    group = _new_group(entry)
    assert group["name"] == "Animation (style: style)"
    children = group["children"]
    assert [c["name"] for c in children] == _styled(FRAMES)[::-1], "top first: the first frame at the bottom"
    assert [A.frame_duration(c["name"]) for c in children] == [400, 300, 200, 100]
    assert [A.frame_disposal(c["name"]) for c in children] == ["replace", "replace", "combine", "replace"]
    sources = {item["name"]: item for item in entry["before"]}
    for child, name in zip(children, FRAMES[::-1], strict=True):
        assert child["size"] == CANVAS and child["offsets"] == [0, 0]
        if sources[name]["size"] == CANVAS:
            assert child["pixels"] != sources[name]["pixels"], "styled"
            assert child["alpha"] == sources[name]["alpha"], "the frame's own transparency"
    small = children[1]  # frame 3: a 24x20 layer at (10, 8): styled on the canvas, transparent around
    assert small["mean"][3] == pytest.approx(24 * 20 / (48 * 36), abs=0.01)
    record = group["record"]
    assert record["frames"] == FRAMES and record["done"] == 4 and record["stopped_early"] is False
    assert record["temporal"] == {"strength": pytest.approx(0.6), "long_term": 3}
    assert record["engine_settings"]["iterations"] == EXTRA_SETTINGS["iterations"]
    assert entry["dirty"] is True


def test_one_undo_step_removes_the_whole_group(results: dict[str, Any]) -> None:
    assert "undo" in results["_gimp"]["steps"], results["_gimp"]["steps"]
    undo, first = C.case(results, "undo"), C.case(results, "all")
    assert undo["before"] == first["after"]
    assert undo["after"] == first["before"], "one Ctrl+Z must take the group and all its frames away"


def test_stop_and_keep_leaves_the_frames_finished(results: dict[str, Any]) -> None:
    assert "stop_keep" in results["_gimp"]["steps"], results["_gimp"]["steps"]
    entry = C.case(results, "stop_keep")
    group = _new_group(entry)
    kept = len(group["children"])
    assert 1 <= kept < len(FRAMES), group["name"]
    assert group["name"] == f"Animation (style: style) \u2014 {kept} of 4 frames (stopped early)"
    assert [c["name"] for c in group["children"]] == _styled(FRAMES[:kept])[::-1], "the first frames, in order"
    assert group["record"]["stopped_early"] is True and group["record"]["done"] == kept


def test_the_progress_window_names_the_frame(results: dict[str, Any]) -> None:
    texts = results["bar_texts"]
    assert any(text.startswith("Frame 1 of 4 \u2014 Stylising") for text in texts), texts
    assert "Frame 1 of 4 done" in texts, texts


def test_a_selected_group_gives_its_layers_and_a_rerun_skips_the_result(results: dict[str, Any]) -> None:
    group = _new_group(C.case(results, "group"), ["Walk"])
    assert [c["name"] for c in group["children"]] == _styled(FRAMES[:3])[::-1]
    again = C.case(results, "again")
    second = _new_group(again, ["Walk"])
    assert len(second["children"]) == 3, "the first result is not a frame"
    assert second["name"] != again["before"][0]["children"][0]["name"]  # GIMP keeps names unique


def test_a_learned_style_the_engine_lacks_is_an_error_and_changes_nothing(results: dict[str, Any]) -> None:
    """The learned-style procedure reaches the engine's frames job with the style's name: an unknown one is
    the engine's error, said by the plug-in, and the image stays as it was."""
    entry = C.case(results, "learned_unknown")
    assert entry["call"]["status"] == "execution-error", entry["call"]
    assert "no such style" in entry["call"]["message"]
    assert entry["after"] == entry["before"]


def test_one_layer_is_refused_plainly(results: dict[str, Any]) -> None:
    entry = C.case(results, "too_few")
    assert entry["call"]["status"] == "calling-error"
    assert re.search(r"has 1 frame: an animation needs at least 2 layers", entry["call"]["message"])
    assert entry["after"] == entry["before"]
