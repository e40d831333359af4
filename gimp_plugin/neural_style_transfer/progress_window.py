"""The interactive progress window: live preview, progress bar, Cancel and "Stop and keep".

Why our own window: GIMP's progress Cancel kills the plug-in outright, so a clean cancel (engine job
dropped, image untouched) and "finish early with the current result" need buttons of our own.
Everything here runs on the main thread inside a GTK main loop; the engine job runs in a worker
thread (engine_job.EngineJobRunner) and is polled with GLib.timeout_add.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
import nst_logic  # noqa: E402
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402

PREVIEW_SIZE = 320
RESPONSE_STOP = 1
CANCEL_GRACE_S = 15.0


class ProgressWindow:
    """Shows a running job; `run()` returns ("done", result) / ("error", exc) / ("cancelled", None)."""

    def __init__(self, title: str, runner: Any, on_progress: Callable[[dict[str, Any]], None]) -> None:
        self._runner = runner
        self._on_progress = on_progress
        self._outcome: tuple[str, Any] = ("cancelled", None)
        self._cancel_time: float | None = None
        self._loop = GLib.MainLoop()

        self.dialog = Gtk.Dialog(title=title)
        self.dialog.set_default_size(PREVIEW_SIZE + 40, -1)
        self.dialog.set_resizable(False)
        self._stop_button = self.dialog.add_button("_Stop and keep", RESPONSE_STOP)
        self._stop_button.set_tooltip_text("Finish now and keep the current result")
        self._cancel_button = self.dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        self._cancel_button.set_tooltip_text("Stop the engine and leave the image as it was")
        box = self.dialog.get_content_area()
        box.set_spacing(8)
        box.set_border_width(12)
        self._image = Gtk.Image()
        self._image.set_size_request(PREVIEW_SIZE, PREVIEW_SIZE * 3 // 4)
        frame = Gtk.Frame()
        frame.add(self._image)
        box.pack_start(frame, True, True, 0)
        self._bar = Gtk.ProgressBar()
        self._bar.set_show_text(True)
        self._bar.set_text("Connecting to the engine\u2026")
        box.pack_start(self._bar, False, False, 0)
        self._label = Gtk.Label(label="The preview appears after the first iterations.")
        self._label.set_xalign(0.0)
        box.pack_start(self._label, False, False, 0)
        self.dialog.connect("response", self._on_response)
        self.dialog.connect("delete-event", self._on_delete)

    def run(self) -> tuple[str, Any]:
        self.dialog.show_all()
        GLib.timeout_add(100, self._poll)
        self._loop.run()
        self.dialog.destroy()
        return self._outcome

    def _on_delete(self, *_args: Any) -> bool:
        self._cancel()
        return True  # keep the window until the engine confirms

    def _on_response(self, _dialog: Any, response: int) -> None:
        if response == RESPONSE_STOP:
            self._stop_button.set_sensitive(False)
            self._bar.set_text("Finishing with the current result\u2026")
            self._runner.stop()
        elif response in (Gtk.ResponseType.CANCEL, Gtk.ResponseType.DELETE_EVENT):
            self._cancel()

    def _cancel(self) -> None:
        if self._cancel_time is None:
            self._cancel_time = time.monotonic()
            self._stop_button.set_sensitive(False)
            self._cancel_button.set_sensitive(False)
            self._bar.set_text("Cancelling\u2026")
            self._runner.cancel()

    def _poll(self) -> bool:
        while True:
            try:
                kind, payload = self._runner.events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                if self._cancel_time is None:
                    self._show(payload)
                continue
            self._outcome = ("cancelled", None) if self._cancel_time is not None else (kind, payload)
            self._loop.quit()
            return False
        if self._cancel_time is not None and time.monotonic() - self._cancel_time > CANCEL_GRACE_S:
            self._outcome = ("cancelled", None)  # the engine did not answer; the image stays as it was
            self._loop.quit()
            return False
        return True

    def _show(self, event: dict[str, Any]) -> None:
        text = nst_logic.progress_text(event)
        fraction = nst_logic.progress_fraction(event)
        self._bar.set_text(text)
        if fraction is not None:
            self._bar.set_fraction(fraction)
        else:
            self._bar.pulse()
        losses = event.get("losses")
        if isinstance(losses, dict) and isinstance(losses.get("total"), (int, float)):
            self._label.set_text(f"Loss {losses['total']:.4g}")
        png = nst_logic.preview_png(event)
        if png:
            self._set_preview(png)
        self._on_progress(event)

    def _set_preview(self, png: bytes) -> None:
        try:
            loader = GdkPixbuf.PixbufLoader.new_with_type("png")
            loader.write(png)
            loader.close()
            pixbuf = loader.get_pixbuf()
        except GLib.Error:
            return
        if pixbuf is None:
            return
        w, h = pixbuf.get_width(), pixbuf.get_height()
        scale = min(PREVIEW_SIZE / w, PREVIEW_SIZE / h)
        if scale != 1.0:
            pixbuf = pixbuf.scale_simple(max(1, int(w * scale)), max(1, int(h * scale)),
                                         GdkPixbuf.InterpType.BILINEAR)
        self._image.set_from_pixbuf(pixbuf)
