"""What a dialog shows, written for the real-GIMP tests: a JSON file they wait on instead of sleeping.

Only when $NST_PLUGIN_DIALOG_STATE names a file (the tests set it): the dialog's state (thumbnails,
estimate, hints...) and where its own widgets are inside the window, so a test clicks a button at the place
the dialog reports instead of at a position measured by hand. Shared by the filter's dialog and the Learn
window. Writing never fails the dialog.
"""

from __future__ import annotations

import json
import os
from typing import Any

STATE_ENV = "NST_PLUGIN_DIALOG_STATE"


def state_file() -> str | None:
    return os.environ.get(STATE_ENV) or None


def write(path: str | None, state: dict[str, Any], top: Any, widgets: dict[str, Any]) -> None:
    """`state` plus "widgets": {name: [x, y, width, height]} of the mapped `widgets`, relative to `top`."""
    if not path:
        return
    where: dict[str, list[int]] = {}
    for name, widget in widgets.items():
        if widget.get_mapped():
            pos = widget.translate_coordinates(top, 0, 0)
            alloc = widget.get_allocation()
            if pos:
                where[name] = [pos[0], pos[1], alloc.width, alloc.height]
    state["widgets"] = where
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1)
        os.replace(path + ".tmp", path)
    except OSError:
        pass
