"""The engine killed in the middle of a Paint-with-a-Style run, in the REAL GIMP 3 GUI (issue 21, point 4).

One GIMP GUI start under Xvfb (tests/gimp/drive_kill_gui.py): a run from the dialog (OK clicked with
xdotool) is under way when the test kills the engine with SIGKILL. The run must fail with a message
that says the engine stopped and what to do, and leave the image exactly as it was: the same layers and
pixels, no half-written layer, no undo step (GIMP's dirty count, which every undo step raises, stays
clean). Then the test starts a new engine and the driver presses Repeat (RUN_WITH_LAST_VALS): it must
paint with the killed run's values, although GIMP keeps only successful runs' values (repeat_values.py).

GIMP, the suites and the engine are those of tests/test_gimp_plugin.py; the engine is this test's own
(the others' is never killed), on the CPU with generated weights, behind an EventTap that tells when the
job shows progress. Runs on the GUI suites ($NST_GIMP_GUI_SUITES).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_gimp_plugin import GUI_EXTRA_SETTINGS, GUI_SUITES, gimp_root  # noqa: E402, F401, I001 - first: it
import gimp_checks as C  # noqa: E402, I001 - registers gimp_checks for assert rewriting
import gimp_harness as H  # noqa: E402
from event_tap import EventTap  # noqa: E402
from xsession import XSession  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(1200)]
DRIVER = "drive_kill_gui.py"


@pytest.fixture(scope="module")
def killed_run(gimp_root: H.GimpRoot) -> Iterator[dict[str, Any]]:  # noqa: F811
    if gimp_root.suite not in GUI_SUITES:
        pytest.skip(f"GUI tests run on {GUI_SUITES} ($NST_GIMP_GUI_SUITES), not {gimp_root.suite}")
    work = gimp_root.workdir("nst-gui-kill-")
    profile = work / "profile"
    engine = H.start_engine(work)
    tap = EventTap(engine.url)
    plugin = H.install_plugin(profile, {**H.engine_json_ok(engine), "url": tap.url})
    H.make_style_images(work)
    for name in ("driver_common.py", DRIVER):
        shutil.copy2(H.REPO / "tests" / "gimp" / name, work / name)
    params = {"results": gimp_root.inside(work) + "/results.json", "style": gimp_root.inside(work) + "/style.jpg"}
    (work / "params.json").write_text(json.dumps(params))
    session = XSession(gimp_root, profile, work, env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(GUI_EXTRA_SETTINGS)})
    steps: list[str] = []
    engines = [engine]
    try:
        session.start(work / DRIVER, work / "params.json")
        C.stop_when_running(session, tap, engine, work / "calling-first")
        steps.append("first")
        session.wait_file(work / "calling-killed", 300)
        seen = tap.progress_events
        C.click_window(session, "^Neural Style Transfer$", C.OK_FROM_CORNER)
        tap.wait_progress(seen, 300)  # the job runs and the plug-in shows its progress
        os.kill(engine.process.pid, signal.SIGKILL)
        engine.process.wait(30)
        steps.append("killed")
        session.wait_file(work / "restart-engine", 300)
        session.shot(work / "after-kill.png")
        engine = H.start_engine(work)  # the same engine home: the dead one's lock and state are its to recover
        engines.append(engine)
        parts = urlsplit(engine.url)
        tap.upstream = (parts.hostname or "127.0.0.1", int(parts.port or 80))  # the plug-in's URL stays
        (plugin / "engine.json").write_text(json.dumps({**H.engine_json_ok(engine), "url": tap.url}))
        (work / "engine-restarted").touch()
        steps.append("restarted")
        _stop_when_running(session, tap, engine, work, "repeat")
        steps.append("repeat")
        session.wait_file(work / "finished", 300)
    except Exception as exc:  # noqa: BLE001 - reported by the tests, with the GIMP log
        steps.append(f"harness error: {exc!r}")
    finally:
        session.close()
        tap.close()
        for each in engines:
            each.close()
    data = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {"cases": {}}
    data["_gimp"] = {"steps": steps, "tap_url": tap.url, "stderr": (work / "gimp-gui.log").read_text(errors="replace")
                     if (work / "gimp-gui.log").exists() else ""}
    keep = os.environ.get("NST_KEEP_GIMP_TEST_DIR")
    if keep and (work / "after-kill.png").exists():
        shutil.copy2(work / "after-kill.png", Path(keep) / f"gui-after-kill-{gimp_root.suite}.png")
    yield data
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


def _stop_when_running(session: XSession, tap: EventTap, engine: H.Engine, work: Path, name: str) -> None:
    """Stop the run `name` early once it shows progress; return at once if it ends without any (a Repeat
    without a style fails before it reaches the engine: the tests say so, without a 300-s wait)."""
    seen = tap.progress_events
    session.wait_file(work / f"calling-{name}", 300)
    results = work / "results.json"
    for _second in range(300):
        try:
            tap.wait_progress(seen, 1)
        except TimeoutError:
            session.check_alive()
            if results.exists() and "call" in json.loads(results.read_text())["cases"].get(name, {}):
                return
            continue
        assert tap.stop_last_job(engine.token) == 202
        return
    raise TimeoutError(f"the run {name} neither showed progress nor ended within 300 s")


def test_killed_engine_leaves_the_image_as_it_was(killed_run):
    assert killed_run["_gimp"]["steps"][:2] == ["first", "killed"], killed_run["_gimp"]
    entry = C.case(killed_run, "killed")
    assert entry["call"]["status"] == "execution-error", entry["call"]
    C.assert_untouched(entry, new_layers=0)  # same layers, names, pixels, offsets, masks; no half-written one
    assert entry["after"]["dirty"] is False, "no undo step: GIMP raises the dirty count with every one"
    assert entry["undo_enabled"] is True


def test_killed_engine_message_says_it_stopped_and_what_to_do(killed_run):
    message = C.case(killed_run, "killed")["call"]["message"]
    url = killed_run["_gimp"]["tap_url"]
    assert f"The engine at {url} stopped before the job ended" in message, message
    assert "crashed" in message and "The image was not changed." in message, message
    assert message.endswith("Start the engine at that address again, then run the filter again."), message
    assert "Errno" not in message and "Traceback" not in message and "Error(" not in message, message


def test_repeat_after_the_engine_restarted_paints_with_the_killed_runs_values(killed_run):
    assert "repeat" in killed_run["_gimp"]["steps"], killed_run["_gimp"]
    entry = C.case(killed_run, "repeat")
    new = C.assert_new_layer(entry, "style")
    assert re.search(r"\[stopped early\]( #\d+)?$", new["name"]), new["name"]
    args = new["parasite"]["arguments"]
    # The dialog offered the first run's values (stored on its result) and OK ran them; GIMP kept none
    # (the run failed): Repeat must still use them, not GIMP's defaults (no style at all).
    first = C.case(killed_run, "first")
    first_args = first["after"]["layers"][C.new_layer_index(first)]["parasite"]["arguments"]
    assert args == first_args, (args, first_args)
    assert args["seed"] == 7 and args["style_strength"] == 3.0 and args["style_file"].endswith("/style.jpg")
