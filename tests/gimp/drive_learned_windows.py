"""Drives the learned-style windows (gimp_plugin/.../learned_windows.py) in real GTK 3 under Xvfb.

Run with the GIMP root's python3 (GIMP's own Python and GI): `drive_learned_windows.py PLUGIN_DIR OUT_DIR`.
An engine job is played by a runner whose events the script posts; the artist's buttons are pressed
with the dialogs' own responses. Writes OUT_DIR/windows.json (what each window returned, what it
asked of the runner, what its bar said) and screenshots (ImageMagick's import) for a person to look at.
"""

import base64
import json
import subprocess
import sys
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


class PlayedRunner(EngineJobRunner):
    """An EngineJobRunner whose engine is this script: stop() and cancel() are answered as the engine would."""

    def __init__(self) -> None:
        super().__init__(lambda: None, None, [], {})
        self.asked: list[str] = []

    def stop(self) -> None:
        self.asked.append("stop")
        later(600, lambda: self.events.put(("done", {"type": "done", "stopped_early": True, "steps": 3,
                                                      "message": "Learned the style 'dots' in 3 steps of 2000"})))

    def cancel(self) -> None:
        self.asked.append("cancel")
        later(600, lambda: self.events.put(("error", engine_client.JobCancelled("cancelled"))))


def later(ms: int, call) -> None:
    GLib.timeout_add(ms, lambda: call() and False)


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
            window.dialog.response(response)
            record["bar_after"] = window._bar.get_text()
            later(200, lambda: runner.events.put(progress(3)))  # the engine's next step, before it ends

    runner.events.put(progress(1))
    runner.events.put(progress(2))
    later(900, press)
    kind, payload = window.run()
    record.update(outcome=kind, payload=payload if isinstance(payload, dict) else None, asked=runner.asked)
    RESULTS[case] = record


def chooser() -> None:
    with open(OUT / "thumb.png", "rb") as fh:  # the test wrote it
        thumb = base64.b64encode(fh.read()).decode()
    styles = [{"name": "dots", "width": "small", "steps": 2000, "style_image": "dots.jpg", "thumbnail_png": thumb},
              {"name": "waves", "width": "standard", "steps": 4000, "thumbnail_png": None}]
    window = W.StyleChooser(styles, "waves", 0.7)

    def press() -> None:
        shot("chooser", window.dialog)
        window.dialog.response(Gtk.ResponseType.OK)

    later(900, press)
    RESULTS["chooser"] = list(window.run() or ())


learning("stop", W.RESPONSE_STOP)
learning("cancel", Gtk.ResponseType.CANCEL)
learning("close", W.RESPONSE_CLOSE)
learning("finish", None, keep_running=False)
chooser()
(OUT / "windows.json").write_text(json.dumps(RESULTS, indent=1))
