"""What the settings procedure and its window both do: check an engine address, run slow work off GTK's
thread.

Why a module of its own: the procedure opens the window, and the window needs these two; here, below
both, neither imports the other's internals.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import plugin_messages as M
from gi.repository import GLib


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an engine's address (None when it can)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return M.bad_url(url.strip())
    return None


def in_background(task: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
    """Run `task` off GTK's thread (it talks to the network or waits for an engine) and hand its result
    to `done` on the main loop: PDB and GTK calls stay on the main thread."""

    def work() -> None:
        try:
            result, error = task(), None
        except BaseException as exc:  # noqa: BLE001 - reported in the window
            result, error = None, exc
        GLib.idle_add(lambda: done(result, error) and False)

    threading.Thread(target=work, name="nst-settings", daemon=True).start()
