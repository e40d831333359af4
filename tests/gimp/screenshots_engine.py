"""Screenshots of the progress window and the settings window from the real GIMP 3 GUI under Xvfb.

Run as `python tests/gimp/screenshots_engine.py OUT_DIR` (tests/gimp/screenshots.sh's companion; same
needs: root for the GIMP root, the project's venv for the engine): writes plugin-progress.png (a photo
with a transparent hole, some iterations in: thumbnail replaced by the live preview over GIMP's
checkerboard, one overall bar, elapsed and remaining time) and plugin-settings.png (the engine's
state and the connection). The engine uses generated test weights, so the style is weak.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gimp_harness as H  # noqa: E402
import screenshots as S  # noqa: E402
from xsession import XSession  # noqa: E402

OK_FROM_CORNER = (68, 42)  # the procedure dialog's OK button, from its bottom-right corner


def screenshots(out_dir: Path, iterations: int = 30) -> list[Path]:
    with S.rig("nst-shots-engine-") as r:
        gimp, work, tap = r.gimp, r.work, r.tap
        shutil.copy2(H.REPO / "tests" / "gimp" / "drive_screens_engine.py", work / "drive_screens_engine.py")
        params = {"photo": gimp.inside(work / "photo.jpg"), "style": gimp.inside(work / "style.jpg"),
                  "args": {"quality": "draft", "max-size": 256, "style-strength": 3.0, "seed": 1}}
        (work / "params.json").write_text(json.dumps(params))
        extra = {"iterations": iterations, "scales": 2}
        session = r.session = XSession(gimp, r.profile, work, env={"NST_PLUGIN_EXTRA_SETTINGS": json.dumps(extra)})
        session.start(work / "drive_screens_engine.py", work / "params.json")
        session.wait_file(work / "result-ready", 1500)
        dialog = session.wait_window("^Neural Style Transfer$")
        x, y, w, h = session.wait_settled(dialog)
        seen = tap.progress_events
        session.click(x + w - OK_FROM_CORNER[0], y + h - OK_FROM_CORNER[1])
        progress = session.wait_window("working")
        session.wait_settled(progress)
        session.shot(work / "progress-start.png", progress)  # the thumbnail, before any preview
        tap.wait_progress(seen + iterations * 2 // 3, 900)  # into the second scale: a preview and a time left
        time.sleep(1.5)
        session.shot(work / "progress.png", progress)
        session.wait_file(work / "interactive-done", 1200)
        settings = session.wait_window("Neural Style Transfer Settings")
        time.sleep(4)  # the window asks the engine in the background
        session.wait_settled(settings)
        session.shot(work / "settings.png", settings)
        session.key(settings, "Escape")
        session.wait_file(work / "finished", 120)
        return S.save(work, out_dir, ("progress", "settings", "progress-start"))

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: screenshots_engine.py OUT_DIR")
    for path in screenshots(Path(sys.argv[1])):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
