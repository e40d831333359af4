"""The README screenshots (docs/images/plugin-*.png) from the real GIMP 3 GUI under Xvfb.

Run by tests/gimp/screenshots.sh: `python tests/gimp/screenshots.py OUT_DIR`. The plug-in's dialog (style
thumbnail, recent styles, estimate line, and a preview it has run), the same with Advanced opened, the
progress window with its live preview, and a photo from tests/data stylised and shown in GIMP.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dialog_driver as DD  # noqa: E402
import gimp_harness as H  # noqa: E402
from event_tap import EventTap  # noqa: E402
from xsession import XSession  # noqa: E402


@dataclass
class Rig:
    """What a screenshot run drives: GIMP's root, a work folder, an engine behind an event tap, a profile."""

    gimp: H.GimpRoot
    work: Path
    engine: H.Engine
    tap: EventTap
    profile: Path
    session: XSession | None = None


@contextmanager
def rig(prefix: str) -> Iterator[Rig]:
    """A Rig with the plug-in installed and photo.jpg (chelsea) and style.jpg (ihc, 256 px) in its folder."""
    from PIL import Image

    gimp = H.provision(os.environ.get("NST_GIMP_SUITE", "trixie"))
    work = gimp.workdir(prefix)
    engine = H.start_engine(work)
    tap = EventTap(engine.url)
    rig = Rig(gimp, work, engine, tap, work / "profile")
    try:
        H.install_plugin(rig.profile, {**H.engine_json_ok(engine), "url": tap.url})
        with Image.open(H.REPO / "tests" / "data" / "chelsea.jpg") as im:
            im.convert("RGB").save(work / "photo.jpg", quality=92)
        with Image.open(H.REPO / "tests" / "data" / "ihc.jpg") as im:  # a real picture as the style
            im.convert("RGB").resize((256, 256)).save(work / "style.jpg", quality=92)
        yield rig
    finally:
        if rig.session is not None:
            rig.session.close()
        tap.close()
        engine.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


def save(work: Path, out_dir: Path, names: Iterable[str]) -> list[Path]:
    """work/NAME.png as out_dir/plugin-NAME.png, in 256 colours (small enough to keep in git)."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    for name in names:
        target = out_dir / f"plugin-{name}.png"
        with Image.open(work / f"{name}.png") as im:
            im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        shots.append(target)
    return shots


def screenshots(out_dir: Path, iterations: int = 40) -> list[Path]:
    """Takes the pictures; the progress one once the plug-in has had a few iterations to show."""
    from PIL import Image

    with rig("nst-shots-") as r:
        gimp, work, tap, profile = r.gimp, r.work, r.tap, r.profile
        with Image.open(H.REPO / "tests" / "data" / "hubble.jpg") as im:  # a second one, for "Recent styles"
            im.convert("RGB").resize((256, 256)).save(work / "style2.jpg", quality=92)
        DD.seed_recent(profile, [gimp.inside(work / "style2.jpg"), gimp.inside(work / "style.jpg")])
        state = work / "dialog-state.json"
        shutil.copy2(H.REPO / "tests" / "gimp" / "drive_screens.py", work / "drive_screens.py")
        params = {"photo": gimp.inside(work / "photo.jpg"), "style": gimp.inside(work / "style.jpg"),
                  "args": {"quality": "draft", "max-size": 256, "style-strength": 3.0, "seed": 1}}
        (work / "params.json").write_text(json.dumps(params))
        env = {"NST_PLUGIN_EXTRA_SETTINGS": json.dumps({"iterations": iterations, "scales": 1}),
               DD.STATE_ENV: gimp.inside(state)}
        session = r.session = XSession(gimp, profile, work, env=env)
        session.start(work / "drive_screens.py", work / "params.json")
        session.wait_file(work / "result-ready", 600)
        dialog = session.wait_window("^Neural Style Transfer$")
        ready = DD.wait_state(session, state, "the dialog did not report ready", lambda s: s.get("ready"), 120)
        DD.click_widget(session, dialog, ready, "preview_button")
        DD.wait_state(session, state, "no preview", lambda s: s.get("preview") == "done", 600)
        DD.wait_state(session, state, "no estimate", lambda s: s.get("estimate") not in (None, "") and
                      "asking" not in s["estimate"], 120)
        session.wait_settled(dialog)
        session.shot(work / "dialog.png", dialog)
        DD.click_widget(session, dialog, DD.read_state(state), "advanced", left=8)  # the Advanced section, opened
        DD.wait_state(session, state, "Advanced did not open", lambda s: s.get("advanced_expanded"), 60)
        x, y, w, h = session.wait_settled(dialog)
        session.shot(work / "dialog-advanced.png", dialog)
        seen = tap.progress_events
        session.click(x + w - 68, y + h - 42)  # OK
        progress = session.wait_window("working")
        tap.wait_progress(seen + iterations // 4, 600)  # some iterations in: the preview shows a picture
        session.wait_settled(progress)
        session.shot(work / "progress.png", progress)
        session.wait_file(work / "interactive-done", 600)
        main = session.wait_window("GIMP$")
        session.wait_settled(main)
        session.shot(work / "result.png", main)
        return save(work, out_dir, ("dialog", "dialog-advanced", "progress", "result"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: screenshots.py OUT_DIR")
    # Fewer iterations on a slow or busy machine: NST_SCREENSHOT_ITERATIONS (the pictures only show the GUI).
    for path in screenshots(Path(sys.argv[1]), int(os.environ.get("NST_SCREENSHOT_ITERATIONS", "40"))):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
