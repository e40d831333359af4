"""Host-side helpers to drive the plug-in's own dialog (gimp_plugin/.../dialog.py) in the real GIMP GUI.

The dialog keeps $NST_PLUGIN_DIALOG_STATE (a JSON file) up to date with what it shows: the style
thumbnails, the recent styles, the estimate line, the preview's state, and where its own buttons are
inside the window. The tests wait on that file instead of sleeping, and click a button at the place
the dialog itself reports instead of at a position measured once by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xsession import XSession

STATE_ENV = "NST_PLUGIN_DIALOG_STATE"
RECENT = Path("neural-style-transfer") / "recent-styles.json"  # inside GIMP's profile (recent_styles.py)


def seed_recent(profile: Path, paths: list[str]) -> None:
    """The recent-styles list the dialog will offer (paths as GIMP sees them)."""
    target = profile / RECENT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"styles": paths}))


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def wait_state(session: XSession, path: Path, what: str, ready: Callable[[dict[str, Any]], bool],
               timeout: float = 120) -> dict[str, Any]:
    """The dialog's state once `ready(state)` holds (TimeoutError names `what` and the last state)."""
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        nonlocal last
        last = read_state(path)
        return last if last and ready(last) else None
    try:
        return session.poll(what, check, timeout, 0.3)  # type: ignore[return-value]
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the dialog's last state: {json.dumps(last)[:1500]}") from None


def click_widget(session: XSession, window: str, state: dict[str, Any], name: str, left: int | None = None) -> None:
    """Click one of the dialog's own widgets where the dialog says it is: its middle, or `left` pixels
    from its left edge (an expander toggles only on its arrow and title)."""
    x, y, _w, _h = session.wait_settled(window)
    wx, wy, ww, wh = state["widgets"][name]
    session.click(x + wx + (ww // 2 if left is None else left), y + wy + wh // 2)  # callers wait on what it does
