"""Drives the learned-style windows (gimp_plugin/.../learned_windows.py) in real GTK 3 under Xvfb.

Run with the GIMP root's python3 (GIMP's own Python and GI): `drive_learned_windows.py PLUGIN_DIR OUT_DIR`.
An engine job is played by a runner whose events the script posts; the artist's buttons are pressed
with the dialogs' own responses. Each step waits for what it needs on the window (shown, its bar at the
step posted, the events drained), polled with a deadline, never for a fixed time.
Writes OUT_DIR/windows.json (what each window returned, what it
asked of the runner, what its bar said) and screenshots (ImageMagick's import) for a person to look at.
"""

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

PLUGIN, OUT = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, PLUGIN)

import gi  # noqa: E402

gi.require_version("Gtk", "3.0")
import engine_client  # noqa: E402
import learned_windows as W  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402
from gi.repository import GLib, Gtk  # noqa: E402

RESULTS: dict = {}


DEADLINE_S = 60  # for any one wait below; a miss is recorded in RESULTS["timeouts"] and fails the test


class PlayedRunner(EngineJobRunner):
    """An EngineJobRunner whose engine is this script: stop() and cancel() are answered as the engine would,
    after one more progress step (the engine's next step, before it ends), once the window has taken it."""

    def __init__(self) -> None:
        super().__init__(lambda: None, None, [], {})
        self.asked: list[str] = []
        self.before_outcome = lambda: None  # called once the window has taken the step after the click

    def stop(self) -> None:
        self.asked.append("stop")
        self._answer(("done", {"type": "done", "stopped_early": True, "steps": 3,
                               "message": "Learned the style 'dots' in 3 steps of 2000"}))

    def cancel(self) -> None:
        self.asked.append("cancel")
        self._answer(("error", engine_client.JobCancelled("cancelled")))

    def _answer(self, outcome: tuple) -> None:
        self.events.put(progress(3))
        when(self.events.empty, lambda: (self.before_outcome(), self.events.put(outcome)),
             "the window to take the step after the click")


def when(condition, then, what: str, on_timeout=None) -> None:
    """Call `then` once `condition()` holds, checked every 20 ms on GTK's main loop; after DEADLINE_S record
    `what` as missed and call `on_timeout` (so that the window still closes and the script ends)."""
    deadline = time.monotonic() + DEADLINE_S

    def check() -> bool:
        if condition():
            then()
            return False
        if time.monotonic() > deadline:
            RESULTS.setdefault("timeouts", []).append(what)
            if on_timeout is not None:
                on_timeout()
            return False
        return True

    GLib.timeout_add(20, check)


def shot(name: str, window: Gtk.Window) -> None:
    while Gtk.events_pending():
        Gtk.main_iteration()
    xid = window.get_window().get_xid()
    subprocess.run(["import", "-window", str(xid), str(OUT / f"{name}.png")], check=False, timeout=30)


def progress(step: int, total: int = 2000) -> tuple:
    return ("progress", {"type": "progress", "step": step, "total_steps": total, "fraction": step / total,
                         "remaining": 250.0, "losses": {"total": 12.5 - step}})


def learning(case: str, response: int | None, keep_running: bool = True) -> None:
    """One learning window: two progress events, then the artist's `response` (None: the job finishes)."""
    runner = PlayedRunner()
    window = W.LearningWindow("dots", 10, runner, keep_running)
    record: dict = {}

    def press() -> None:
        record["bar_before"] = window._bar.get_text()
        record["buttons"] = [b.get_label() for b in window.dialog.get_action_area().get_children()]
        shot(f"learning-{case}", window.dialog)
        if response is None:
            runner.events.put(("done", {"type": "done", "steps": 2000, "message": "Learned"}))
        else:
            # the step after the click must not overwrite what the bar says was asked
            runner.before_outcome = lambda: record.update(bar_after_step=window._bar.get_text())
            window.dialog.response(response)
            record["bar_after"] = window._bar.get_text()

    runner.events.put(progress(1))
    runner.events.put(progress(2))
    when(lambda: window.dialog.get_mapped() and "step 2/" in (window._bar.get_text() or ""), press,
         f"{case}: the window to show the second step", lambda: window.dialog.response(W.RESPONSE_CLOSE))
    kind, payload = window.run()
    record.update(outcome=kind, payload=payload if isinstance(payload, dict) else None, asked=runner.asked)
    RESULTS[case] = record


def chooser() -> None:
    with open(OUT / "thumb.png", "rb") as fh:  # the test wrote it
        thumb = base64.b64encode(fh.read()).decode()
    styles = [{"name": "dots", "width": "small", "steps": 2000, "style_image": "dots.jpg", "thumbnail_png": thumb},
              {"name": "waves", "width": "standard", "steps": 4000, "thumbnail_png": None}]
    window = W.StyleChooser(styles, "waves", 0.7)
    view = next(w for w in _descendants(window.dialog) if isinstance(w, Gtk.IconView))
    scale = next(w for w in _descendants(window.dialog) if isinstance(w, Gtk.Scale))

    def selected() -> list[str]:
        return [view.get_model()[path][1] for path in view.get_selected_items()]

    def press() -> None:
        RESULTS["chooser_preselected"] = selected()
        shot("chooser", window.dialog)
        view.select_path(Gtk.TreePath.new_from_indices([0]))  # the artist picks another style, and strength
        scale.set_value(0.35)
        RESULTS["chooser_selected"] = selected()
        window.dialog.response(Gtk.ResponseType.OK)

    when(window.dialog.get_mapped, press, "the chooser to show",
         lambda: window.dialog.response(Gtk.ResponseType.CANCEL))
    RESULTS["chooser"] = list(window.run() or ())


def _descendants(widget: Gtk.Widget) -> list:
    """Every widget inside `widget`, found as an artist sees them, not by the window's private names."""
    children = widget.get_children() if isinstance(widget, Gtk.Container) else []
    return [widget, *(w for child in children for w in _descendants(child))]


learning("stop", W.RESPONSE_STOP)
learning("cancel", Gtk.ResponseType.CANCEL)
learning("close", W.RESPONSE_CLOSE)
learning("finish", None, keep_running=False)
chooser()
(OUT / "windows.json").write_text(json.dumps(RESULTS, indent=1))
