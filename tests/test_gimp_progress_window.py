"""The filter's progress window in GIMP's own GTK and Python under Xvfb (issue 23, points 5 and 9): the time
left counts down steadily (never back up unless it says it was re-estimated), and after the last iteration
the window names each phase (the last pass, receiving the result, writing it into GIMP) instead of sitting
at 100 % without a word. tests/gimp/drive_progress_window.py plays the engine's events on a timeline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
import gimp_harness as H  # noqa: E402
import progress_model as PM  # noqa: E402
from xsession import XSession  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(600)]
GUI_SUITES = os.environ.get("NST_GIMP_GUI_SUITES", " ".join(H.SUITES)).split()
PICTURES = os.environ.get("NST_PROGRESS_WINDOW_PICTURES")


@pytest.fixture(scope="module", params=H.suites(), ids=[H.suite_label(s) for s in H.suites()])
def shown(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param not in GUI_SUITES:
        pytest.skip(f"GUI tests run on {GUI_SUITES} ($NST_GIMP_GUI_SUITES), not {request.param}")
    try:
        gimp_root = H.provision(request.param)
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))
    work = gimp_root.workdir("nst-progress-window-")
    session = XSession(gimp_root, work / "profile", work)
    try:
        plugin = H.install_plugin(work / "profile", {"url": "http://127.0.0.1:9", "token": "unused"})
        shutil.copy2(H.REPO / "tests" / "gimp" / "drive_progress_window.py", work / "drive.py")
        out = work / "out"
        out.mkdir()
        session.start_x()
        session.x("python3", gimp_root.inside(work / "drive.py"), gimp_root.inside(plugin), gimp_root.inside(out),
                  check=True)
        if PICTURES:
            Path(PICTURES).mkdir(parents=True, exist_ok=True)
            for picture in out.glob("*.png"):
                shutil.copy2(picture, Path(PICTURES) / f"{gimp_root.suite}-{picture.name}")
        return json.loads((out / "progress.json").read_text())
    finally:
        session.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


def _seconds_left(line: str) -> float | None:
    match = re.search(r"about (?:(\d+) min )?(\d+) s left", line)
    return None if match is None else int(match.group(1) or 0) * 60 + int(match.group(2))


def test_the_time_left_never_goes_back_up_unless_it_says_so(shown) -> None:
    lefts = [(s["t"], _seconds_left(s["line"]), "re-estimated" in s["line"]) for s in shown["seen"]]
    counted = [(t, left, said) for t, left, said in lefts if left is not None]
    assert len(counted) > 20, shown["seen"][:5]
    rises = [(a, b) for a, b in zip(counted, counted[1:], strict=False) if b[1] > a[1] and not b[2]]
    assert not rises, rises


def test_the_last_phases_are_named_in_order(shown) -> None:
    bars = [s["bar"] for s in shown["seen"]]
    phases = [bar for i, bar in enumerate(bars) if i == 0 or bar != bars[i - 1]]
    assert phases[-3:] == [PM.FINISHING, PM.RECEIVING, PM.WRITING], phases
    assert all("100 %" not in bar for bar in bars), "a bar at 100 % says what is happening instead"
    finishing = [s for s in shown["seen"] if s["bar"] == PM.FINISHING]
    assert finishing and all(s["line"].startswith(PM.FINISHING_DETAIL) and "Elapsed" in s["line"] for s in finishing)
    assert all(s["fraction"] == 1.0 for s in shown["seen"] if s["bar"] in (PM.RECEIVING, PM.WRITING))
    last = shown["seen"][-1]
    assert last["bar"] == PM.WRITING and last["line"] == PM.WRITING_DETAIL
    assert shown["outcome"] == "done" and shown["held"] is True and shown["closed"] is True
