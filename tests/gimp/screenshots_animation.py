"""The README's animation screenshot (docs/images/plugin-animation.png) from the real GIMP 3 GUI under Xvfb.

`python tests/gimp/screenshots_animation.py OUT_DIR`: a photo from tests/data panned over four frames (a layer
each), styled with plug-in-nst-animation by a real engine (generated weights, so the style is weak: the picture
shows the plug-in's result group, not what real VGG-19 weights paint), then GIMP's window with the Layers dock
showing the new group and its frames. Uses screenshots.py's rig (engine, event tap, profile).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gimp_harness as H  # noqa: E402
from screenshots import rig, save  # noqa: E402
from xsession import XSession  # noqa: E402


def screenshot(out_dir: Path, iterations: int = 40) -> Path:
    with rig("nst-shots-animation-") as r:
        gimp, work = r.gimp, r.work
        shutil.copy2(H.REPO / "tests" / "gimp" / "drive_screens_animation.py", work / "drive.py")
        params = {"photo": gimp.inside(work / "photo.jpg"), "style": gimp.inside(work / "style.jpg"),
                  "width": 240, "height": 240, "step": 12, "frames": 4,
                  "args": {"quality": "draft", "max-size": 240, "style-strength": 3.0, "seed": 1, "steadiness": 0.6}}
        (work / "params.json").write_text(json.dumps(params))
        env = {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps({"iterations": iterations, "scales": 1})}
        session = r.session = XSession(gimp, r.profile, work, env=env)
        session.start(work / "drive.py", work / "params.json")
        session.wait_file(work / "result-ready", 1800)
        outcome = (work / "result-ready").read_text()
        if not outcome.startswith("success"):
            raise RuntimeError(f"the animation procedure failed: {outcome}")
        main = session.wait_window("GIMP$")
        session.x("xdotool", "windowsize", main, "1000", "780", check=True)  # room for the group in the dock
        x, y, w, _h = session.wait_settled(main)
        # Widen the docks (drag the handle between the canvas and them to the left), so that the frames' names
        # show whole, then give the Layers dock the height (drag the handle above it up).
        _drag(session, (x + w - 235, y + 372), (-10, 0), 24)
        _drag(session, (x + w - 235, y + 360), (0, -10), 22)
        session.key(main, "shift+ctrl+j")  # zoom the image to fit its window
        session.wait_settled(main)
        session.shot(work / "animation.png", main)
        return save(work, out_dir, ["animation"])[0]


def _drag(session: XSession, start: tuple[int, int], step: tuple[int, int], steps: int) -> None:
    """A drag in small steps, as a hand makes it: GTK follows a drag by its motion events."""
    session.x("xdotool", "mousemove", "--sync", str(start[0]), str(start[1]), "mousedown", "1", check=True)
    for n in range(1, steps + 1):
        session.x("xdotool", "mousemove", "--sync", str(start[0] + step[0] * n), str(start[1] + step[1] * n),
                  check=True)
    session.x("xdotool", "mouseup", "1", check=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: screenshots_animation.py OUT_DIR")
    path = screenshot(Path(sys.argv[1]), int(os.environ.get("NST_SCREENSHOT_ITERATIONS", "40")))
    print(f"{path} ({path.stat().st_size // 1024} KB)")
