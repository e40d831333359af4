"""Drives the filter's progress window (gimp_plugin/.../progress_window.py) in real GTK 3 under Xvfb.

Run with the GIMP root's python3 (GIMP's own Python and GI): `drive_progress_window.py PLUGIN_DIR OUT_DIR`.
An engine job is played by a runner whose events this script posts on a timeline: the work, with a rate
that wobbles (the time left it implies jumps up and down), the last iteration (100 %), the client's
"receiving", then the result; the window is run as the filter runs it (held open while the result is
written). Every 100 ms it records what the bar and the line under it say; screenshots at the last phases.
Writes OUT_DIR/progress.json.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

PLUGIN, OUT = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, PLUGIN)

import gi  # noqa: E402

gi.require_version("Gtk", "3.0")
import progress_window as PW  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402
from gi.repository import GLib, Gtk  # noqa: E402

# (seconds after the start, event): fractions whose pace changes, so that rate-based figures jump about
TIMELINE = [(0.2, {"type": "queued", "position": 0, "estimate_seconds": 12.0}),
            (0.4, {"type": "started", "estimate_seconds": 12.0})]
for i, (at, fraction) in enumerate([(1.0, 0.05), (1.5, 0.15), (2.0, 0.18), (2.5, 0.20), (3.5, 0.35), (4.0, 0.37),
                                    (5.0, 0.45), (5.5, 0.60), (6.5, 0.62), (7.0, 0.75), (8.0, 0.85), (8.5, 0.95),
                                    (9.0, 1.0)]):
    TIMELINE.append((at, {"type": "progress", "fraction": fraction, "iteration": i + 1, "iterations": 13}))
TIMELINE.append((11.0, {"type": "receiving", "stopped_early": False}))
RESULT_AT = 12.5


class PlayedRunner(EngineJobRunner):
    def __init__(self) -> None:
        super().__init__(lambda: None, None, [], {})
        self.started = time.monotonic()
        self.next = 0

    def drain(self, on_progress, timeout=0.0):  # noqa: ANN001, ANN201 - as EngineJobRunner.drain
        now = time.monotonic() - self.started
        while self.next < len(TIMELINE) and TIMELINE[self.next][0] <= now:
            on_progress(TIMELINE[self.next][1])
            self.next += 1
        return ("done", {"width": 1, "height": 1}) if now >= RESULT_AT else None


def shot(name: str, window: Gtk.Window) -> None:
    while Gtk.events_pending():
        Gtk.main_iteration()
    subprocess.run(["import", "-window", str(window.get_window().get_xid()), str(OUT / f"{name}.png")], check=False,
                   timeout=30)


runner = PlayedRunner()
window = PW.ProgressWindow("Neural Style Transfer \u2014 working", runner, lambda _event: None)
seen: list[dict] = []
shots: set[str] = set()


def record() -> bool:
    if window.dialog is None:
        return False
    bar, line = window._bar.get_text(), window._time.get_text()
    seen.append({"t": round(time.monotonic() - runner.started, 2), "bar": bar, "line": line,
                 "fraction": window._bar.get_fraction()})
    for key in ("Finishing", "Receiving"):
        if bar.startswith(key) and key not in shots:
            shots.add(key)
            shot(f"progress-{key.lower()}", window.dialog)
    return True


GLib.timeout_add(100, record)
outcome = window.run(hold_on_done=True)
record()  # the window held open: what it says while the result is written
shot("progress-writing", window.dialog)
held = window.dialog is not None
window.close()
(OUT / "progress.json").write_text(json.dumps({"outcome": outcome[0], "held": held, "seen": seen,
                                                "closed": window.dialog is None}, indent=1))
