"""Drives the settings window (gimp_plugin/.../settings_window.py) in GIMP's own GTK 3 and Python under Xvfb.

Run with the GIMP root's python3: `drive_settings_window.py PLUGIN_DIR OUT_DIR CASES_JSON`. For each case
(a name and the engine.json to write) it opens the window as the settings procedure does, waits (polled,
with a deadline) until the window has said its word about the engine, records the message, the state rows
and, after Save, the line under the buttons; takes a screenshot (ImageMagick's import) for a person to see.
A case may first type an address and token (`set_remote`) and press Test connection before Save; when
Test or Save asks whether to send the token unencrypted, the question's words are recorded and it is
answered with the case's next answer (`answers`: go_back, or anyway).
Writes OUT_DIR/windows.json; the assertions are in tests/test_gimp_settings.py.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

PLUGIN, OUT, CASES = sys.argv[1], Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
sys.path.insert(0, PLUGIN)

import gi  # noqa: E402

gi.require_version("Gtk", "3.0")
import settings_window as W  # noqa: E402
from gi.repository import GLib, Gtk  # noqa: E402

DEADLINE_S = 90
RESULTS: dict = {"cases": {}}


def pump_until(what: str, ready, timeout: float = DEADLINE_S) -> bool:
    """Run GTK's loop until `ready()` (the background check hands its answer over through it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while Gtk.events_pending():
            Gtk.main_iteration_do(False)
        if ready():
            settle = time.monotonic() + 0.5  # let GTK paint what the answer changed, for the screenshot
            while time.monotonic() < settle:
                while Gtk.events_pending():
                    Gtk.main_iteration_do(False)
                time.sleep(0.05)
            return True
        time.sleep(0.05)
    RESULTS.setdefault("timeouts", []).append(what)
    return False


def rows(window: W.SettingsWindow) -> dict:
    labels = [child for child in window._grid.get_children() if isinstance(child, Gtk.Label)]
    by_place = {(window._grid.child_get_property(c, "left-attach"), window._grid.child_get_property(c, "top-attach")):
                c.get_text() for c in labels}
    return {by_place[(0, row)]: by_place.get((1, row)) for (col, row) in by_place if col == 0}


def run_case(case: dict) -> dict:
    (Path(PLUGIN) / "engine.json").write_text(json.dumps(case["engine_json"]))
    window = W.SettingsWindow("nst-settings-test")
    window._load()
    window.dialog.show_all()
    asking = window._message.get_text()
    pump_until(f"{case['name']}: the engine's state", lambda: not window._busy)
    entry = {"asking": asking, "message": window._message.get_text(), "rows": rows(window),
             "saved_before": window._saved.get_text()}
    subprocess.run(["import", "-window", "root", str(OUT / f"settings-{case['name']}.png")], check=False)
    entry["questions"] = []
    answers = list(case.get("answers", []))
    if case.get("set_remote"):
        window._remote.set_active(True)
        window._url.set_text(case["set_remote"]["url"])
        window._token.set_text(case["set_remote"]["token"])
        GLib.timeout_add(100, answer, window, case, entry, answers)  # inside the question's own loop, if asked
        window._test_connection()  # what the Test connection button runs
        pump_until(f"{case['name']}: after Test", lambda: not window._busy)
        entry["message_after_test"] = window._message.get_text()
    GLib.timeout_add(100, answer, window, case, entry, answers)
    window._save_connection()  # what the Save button's response runs
    pump_until(f"{case['name']}: after Save", lambda: not window._busy)
    entry.update(saved=window._saved.get_text(), message_after_save=window._message.get_text(),
                 engine_json_after_save=json.loads((Path(PLUGIN) / "engine.json").read_text()))
    subprocess.run(["import", "-window", "root", str(OUT / f"settings-{case['name']}-saved.png")], check=False)
    window.dialog.destroy()
    return entry


def answer(window: W.SettingsWindow, case: dict, entry: dict, answers: list) -> bool:
    """Once the clear-text question shows: record its words and buttons, take a picture, answer it."""
    question = window.question
    if question is None:  # it did not ask (the call has returned already): nothing to answer
        return False
    buttons = [child.get_label() for child in question.get_action_area().get_children()]
    entry["questions"].append({"title": question.get_property("text"), "buttons": buttons,
                               "text": question.get_property("secondary-text"), "mapped": question.get_mapped()})
    shot = OUT / f"settings-{case['name']}-question{len(entry['questions'])}.png"
    subprocess.run(["import", "-window", "root", str(shot)], check=False)
    reply = answers.pop(0) if answers else "go_back"
    question.response(Gtk.ResponseType.ACCEPT if reply == "anyway" else Gtk.ResponseType.CANCEL)
    return False


for case in CASES:
    RESULTS["cases"][case["name"]] = run_case(case)
    (OUT / "windows.json").write_text(json.dumps(RESULTS, indent=1))
RESULTS["finished"] = True
(OUT / "windows.json").write_text(json.dumps(RESULTS, indent=1))
