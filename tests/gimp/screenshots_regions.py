"""The README's picture of the dialog's "Where" section (docs/images/plugin-dialog-regions.png), from the real
GIMP 3 GUI under Xvfb: a painting open as an image and used as the style layer, "Inside the selection" with the
untouched photo outside, and the regions drawn over the preview; and GIMP's chooser of the open images' layers
that "Style layer" opens (plugin-style-layer-chooser.png). Run: `python tests/gimp/screenshots_regions.py
OUT_DIR` (as root, like screenshots.sh)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dialog_driver as DD  # noqa: E402
import gimp_harness as H  # noqa: E402
from screenshots import rig, save  # noqa: E402
from xsession import XSession  # noqa: E402


def screenshot(out_dir: Path) -> Path:
    with rig("nst-shots-regions-") as r:
        gimp, work, profile = r.gimp, r.work, r.profile
        state = work / "dialog-state.json"
        shutil.copy2(H.REPO / "tests" / "gimp" / "drive_screens_regions.py", work / "drive.py")
        params = {"photo": gimp.inside(work / "photo.jpg"), "style": gimp.inside(work / "style.jpg"),
                  "args": {"quality": "draft", "max-size": 128, "seed": 1, "where": "selection",
                           "outside": "photo"}}
        (work / "params.json").write_text(json.dumps(params))
        env = {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps({"iterations": 4, "scales": 1}),
               DD.STATE_ENV: gimp.inside(state)}
        session = r.session = XSession(gimp, profile, work, env=env)
        session.start(work / "drive.py", work / "params.json")
        session.wait_file(work / "result-ready", 600)
        dialog = session.wait_window("^Neural Style Transfer$")
        shown = DD.wait_state(session, state, "the dialog did not report ready", lambda s: s.get("ready"), 120)
        (work / "shown.json").write_text(json.dumps(shown, indent=1))
        session.wait_settled(dialog)
        session.shot(work / "dialog-regions.png", dialog)
        DD.click_widget(session, dialog, shown, "style_layer_button")  # GIMP's chooser of the open images' layers
        time.sleep(3)  # a picture, not a test: the chooser pops up without a window of its own to wait for
        session.shot(work / "screen.png")  # the whole screen: a shot of the dialog's window leaves the chooser out
        from PIL import Image

        x, y, w, h = session.geometry(dialog)
        with Image.open(work / "screen.png") as screen:
            screen.crop((x, y, x + w, y + h)).save(work / "style-layer-chooser.png")
        print(json.dumps({k: shown.get(k) for k in ("where", "regions", "region_problem", "where_hints", "style",
                                                    "region_map", "where_allowed", "ok_sensitive", "ok_hint")}))
        print((work / "first-run.txt").read_text())
        return save(work, out_dir, ("dialog-regions", "style-layer-chooser"))[0]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: screenshots_regions.py OUT_DIR")
    print(screenshot(Path(sys.argv[1])))
