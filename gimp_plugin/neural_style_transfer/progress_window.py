"""The interactive progress window: the layer's thumbnail then the live preview (over a checkerboard
where the layer is transparent), one overall progress bar, elapsed and remaining time, Cancel and
"Stop and keep".

Why our own window: GIMP's progress Cancel kills the plug-in outright, so a clean cancel (engine job
dropped, image untouched) and "finish early with the current result" need buttons of our own.
Everything here runs on the main thread inside a GTK main loop; the engine job runs in a worker
thread (engine_job.EngineJobRunner) and is polled with GLib.timeout_add. What the window says is
decided in progress_model.py (no GTK), so it is tested without GIMP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
import dialog_state  # noqa: E402
import nst_logic  # noqa: E402
import pixbufs  # noqa: E402
import progress_model as PM  # noqa: E402
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402

PREVIEW_SIZE = 320
RESPONSE_STOP = 1
CANCEL_GRACE_S = 15.0


class ProgressWindow:
    """Shows a running job; `run()` returns ("done", result) / ("error", exc) / ("cancelled", None).

    `content` (a RawImage) and `alpha` (its float32 alpha plane) give the thumbnail shown from the start
    and the transparency laid over the engine's (RGB) previews."""

    def __init__(self, title: str, runner: Any, on_progress: Callable[[dict[str, Any]], None],
                 content: Any = None, alpha: bytes | None = None, writing_detail: str = PM.WRITING_DETAIL) -> None:
        self._runner = runner
        self._writing_detail = writing_detail  # where the result goes: a new layer, or an animation's new group
        self._on_progress = on_progress
        self._outcome: tuple[str, Any] = ("cancelled", None)
        self._cancel_time: float | None = None
        self._loop = GLib.MainLoop()
        self._clock = PM.ProgressClock(started=time.monotonic())
        self._content = content
        self._alpha = alpha
        self._alpha_cache: dict[tuple[int, int], bytes] = {}
        self._thumb_size: tuple[int, int] | None = None
        self._phase: str | None = None  # the line under the bar after the last iteration (instead of the times)
        self._state_file = dialog_state.state_file()  # tests: what the bar said, in order
        self._said: list[str] = []

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
        self._caption = Gtk.Label(label="Your layer \u2014 the live preview replaces it after the first iterations.")
        self._caption.set_xalign(0.0)
        self._caption.set_line_wrap(True)
        self._caption.set_max_width_chars(44)
        self._caption.get_style_context().add_class("dim-label")
        box.pack_start(self._caption, False, False, 0)
        self._bar = Gtk.ProgressBar()
        self._bar.set_show_text(True)
        self._bar.set_text("Connecting to the engine\u2026")
        box.pack_start(self._bar, False, False, 0)
        self._time = Gtk.Label(label=self._clock.time_line(time.monotonic()))
        self._time.set_xalign(0.0)
        box.pack_start(self._time, False, False, 0)
        self.dialog.connect("response", self._on_response)
        self.dialog.connect("delete-event", self._on_delete)
        self._show_thumbnail()

    def run(self, hold_on_done: bool = False) -> tuple[str, Any]:
        """Until the job ends. With `hold_on_done`, a finished job leaves the window open saying that the result
        is being written into GIMP: the caller writes it, then calls close()."""
        self._make_transient()
        self.dialog.show_all()
        GLib.timeout_add(100, self._poll)
        self._loop.run()
        if hold_on_done and self._outcome[0] == "done":
            self._show_writing()
        else:
            self.close()
        return self._outcome

    def _report(self) -> None:
        """Tests only ($NST_PLUGIN_DIALOG_STATE): each text the bar has shown, in order, once."""
        text = self._bar.get_text() or ""
        if self._state_file and (not self._said or self._said[-1] != text):
            self._said.append(text)
            dialog_state.write(self._state_file, {"progress_window": {"bar_texts": self._said}}, self.dialog, {})

    def close(self) -> None:
        if self.dialog is not None:
            self.dialog.destroy()
            self.dialog = None

    def _show_writing(self) -> None:
        self._stop_button.set_sensitive(False)
        self._cancel_button.set_sensitive(False)
        self._bar.set_fraction(1.0)
        self._bar.set_text(PM.WRITING)
        self._time.set_text(self._writing_detail)
        self._report()
        deadline = time.monotonic() + 0.5  # drawn before GIMP's calls keep the main loop busy
        while Gtk.events_pending() and time.monotonic() < deadline:
            Gtk.main_iteration_do(False)

    def _make_transient(self) -> None:
        """Attach the window to the image window the filter was started from (GIMP's progress window)."""
        try:
            gi.require_version("GimpUi", "3.0")
            from gi.repository import GimpUi

            GimpUi.window_set_transient(self.dialog)
        except (ImportError, ValueError, TypeError, GLib.Error):
            self.dialog.set_position(Gtk.WindowPosition.CENTER)

    def _on_delete(self, *_args: Any) -> bool:
        self._cancel()
        return True  # keep the window until the engine confirms

    def _on_response(self, _dialog: Any, response: int) -> None:
        if response == RESPONSE_STOP:
            self._stop_button.set_sensitive(False)
            self._bar.set_text(PM.STOPPING)
            self._time.set_text(PM.STOPPING_DETAIL)
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
        outcome = self._runner.drain(self._show)
        if outcome is not None:
            self._outcome = ("cancelled", None) if self._cancel_time is not None else outcome
            self._loop.quit()
            return False
        if self._cancel_time is not None and time.monotonic() - self._cancel_time > CANCEL_GRACE_S:
            self._outcome = ("cancelled", None)  # the engine did not answer; the image stays as it was
            self._loop.quit()
            return False
        if self._cancel_time is None and self._stop_button.get_sensitive():  # after Stop and keep: its words stay
            now = time.monotonic()
            self._time.set_text(self._clock.phase_line(self._phase, now) if self._phase else self._clock.time_line(now))
        return True

    def _show(self, event: dict[str, Any]) -> None:
        if self._cancel_time is not None:  # cancelling: the bar says so until the engine confirms
            return
        self._clock.update(event, time.monotonic())
        if self._stop_button.get_sensitive():  # after "Stop and keep" the bar says so
            self._bar.set_text(PM.bar_text(event))
            self._phase = PM.phase_detail(event) or self._phase
            if self._phase is not None:
                self._time.set_text(self._clock.phase_line(self._phase, time.monotonic()))
        self._report()
        fraction = PM.overall_fraction(event) if event.get("type") == "progress" else None
        if fraction is not None:
            self._bar.set_fraction(max(fraction, self._clock.fraction))
        elif event.get("type") == PM.RECEIVING_EVENT:
            self._bar.set_fraction(1.0)
        elif event.get("type") != "progress":
            self._bar.pulse()
        detail = PM.details(event)
        if detail:
            self._bar.set_tooltip_text(detail)
            self._time.set_tooltip_text(detail)
        png = nst_logic.preview_png(event)
        if png:
            self._set_preview(png)
        self._on_progress(event)

    def _show_thumbnail(self) -> None:
        content = self._content
        if content is None:
            return
        try:
            w, h, rgba = PM.thumbnail_rgba8(content.width, content.height, content.sample_format, content.data,
                                           PREVIEW_SIZE)
        except (KeyError, ValueError, IndexError):
            return
        self._thumb_size = (w, h)
        self._image.set_from_pixbuf(pixbufs.over_checks(pixbufs.from_rgba(rgba, w, h)))

    def _set_preview(self, png: bytes) -> None:
        pixbuf = pixbufs.from_png(png)
        if pixbuf is None:
            return
        w, h = self._thumb_size or PM.fit(pixbuf.get_width(), pixbuf.get_height(), PREVIEW_SIZE)
        if (w, h) != (pixbuf.get_width(), pixbuf.get_height()):  # the thumbnail's size: the window holds still
            pixbuf = pixbuf.scale_simple(w, h, GdkPixbuf.InterpType.BILINEAR)
        alpha = self._alpha_at(w, h)
        if alpha is not None:
            rgba = PM.with_alpha(bytes(pixbuf.get_pixels()), w, h, pixbuf.get_n_channels(),
                                 pixbuf.get_rowstride(), alpha)
            pixbuf = pixbufs.from_rgba(rgba, w, h)
        self._image.set_from_pixbuf(pixbufs.over_checks(pixbuf))
        self._caption.set_text("Live preview of the work in progress")

    def _alpha_at(self, w: int, h: int) -> bytes | None:
        content, alpha = self._content, self._alpha
        if content is None or alpha is None or len(alpha) != content.width * content.height * 4:
            return None
        if (w, h) not in self._alpha_cache:
            self._alpha_cache = {(w, h): PM.alpha_plane8(content.width, content.height, alpha, w, h)}
        return self._alpha_cache[(w, h)]
