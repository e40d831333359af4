"""The learned-style procedures' windows: choose a style by its thumbnail, and follow a learning job.

GTK 3 on the main thread. The learning window's Close leaves the job to the engine (it was submitted
with keep_running), which is why it is a window of our own and not GIMP's progress bar, whose
Cancel ends the plug-in.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
import learned_logic as L  # noqa: E402
import pixbufs  # noqa: E402
import progress_model as PM  # noqa: E402
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402

THUMBNAIL = 96
RESPONSE_CLOSE = 1
RESPONSE_STOP = 2


def _thumbnail(png_base64: str | None) -> GdkPixbuf.Pixbuf:
    """The style's thumbnail fitted in THUMBNAIL px, or a grey one where it has none (or a broken one)."""
    pixbuf = None
    if png_base64:
        try:
            pixbuf = pixbufs.from_png(base64.b64decode(png_base64, validate=True))
        except (binascii.Error, ValueError):
            pixbuf = None
    if pixbuf is None:
        return pixbufs.placeholder(THUMBNAIL, THUMBNAIL * 3 // 4)
    return pixbufs.over_checks(pixbufs.fit(pixbuf, THUMBNAIL, THUMBNAIL))


class StyleChooser:
    """Thumbnails of the usable styles and a strength slider; run() gives (name, strength) or None."""

    def __init__(self, styles: list[dict[str, Any]], current: str | None, strength: float,
                 steadiness: tuple[float, float, float, str] | None = None) -> None:
        """`steadiness` (its value, lowest, highest, its explanation): a second slider, for an animation's frames."""
        self.dialog = Gtk.Dialog(title="Apply Learned Style" if steadiness is None else "Learned Style (Animation)")
        self.dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        self._ok = self.dialog.add_button("_OK", Gtk.ResponseType.OK)
        self.dialog.set_default_response(Gtk.ResponseType.OK)
        box = self.dialog.get_content_area()
        box.set_spacing(8)
        box.set_border_width(12)
        self._store = Gtk.ListStore(GdkPixbuf.Pixbuf, str, str)
        selected = None
        for index, style in enumerate(styles):
            tip = f"{style['name']}: {style.get('width') or '?'} network, {style.get('steps') or '?'} steps"
            if style.get("style_image"):
                tip += f", from {style['style_image']}"
            self._store.append([_thumbnail(style.get("thumbnail_png")), style["name"], tip])
            if style["name"] == current:
                selected = index
        self._view = Gtk.IconView.new_with_model(self._store)
        self._view.set_pixbuf_column(0)
        self._view.set_text_column(1)
        self._view.set_tooltip_column(2)
        self._view.set_item_width(THUMBNAIL + 16)
        self._view.set_selection_mode(Gtk.SelectionMode.BROWSE)
        self._view.connect("item-activated", lambda *_: self.dialog.response(Gtk.ResponseType.OK))
        self._view.select_path(Gtk.TreePath.new_from_indices([selected or 0]))
        scroller = Gtk.ScrolledWindow()
        scroller.set_min_content_width(4 * (THUMBNAIL + 28))
        scroller.set_min_content_height(THUMBNAIL + 48 if len(styles) <= 4 else 2 * (THUMBNAIL + 48))
        scroller.add(self._view)
        box.pack_start(scroller, True, True, 0)
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=8)
        row.pack_start(Gtk.Label(label="Strength"), False, False, 0)
        self._strength = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, 0.0, 1.0, 0.05)
        self._strength.set_value(strength)
        self._strength.set_digits(2)
        self._strength.set_tooltip_text("0 = the layer unchanged, 1 = fully styled")
        row.pack_start(self._strength, True, True, 0)
        box.pack_start(row, False, False, 0)
        self._steadiness: Gtk.Scale | None = None
        if steadiness is not None:
            row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=8)
            row.pack_start(Gtk.Label(label="Steadiness"), False, False, 0)
            self._steadiness = Gtk.Scale.new_with_range(Gtk.Orientation.HORIZONTAL, steadiness[1], steadiness[2], 0.05)
            self._steadiness.set_value(steadiness[0])
            self._steadiness.set_digits(2)
            self._steadiness.set_tooltip_text(steadiness[3])
            row.pack_start(self._steadiness, True, True, 0)
            box.pack_start(row, False, False, 0)
        self.steadiness = steadiness[0] if steadiness is not None else None

    def run(self) -> tuple[str, float] | None:
        self.dialog.show_all()
        try:
            if self.dialog.run() != Gtk.ResponseType.OK:
                return None
            paths = self._view.get_selected_items()
            if not paths:
                return None
            if self._steadiness is not None:
                self.steadiness = float(self._steadiness.get_value())
            return self._store[paths[0]][1], float(self._strength.get_value())
        finally:
            self.dialog.destroy()


class LearningWindow:
    """A learning job's progress; run() gives ("done", event) / ("error", exc) / ("cancelled", None) /
    ("closed", None) when the artist closed the window and the engine goes on."""

    def __init__(self, name: str, photos: int, runner: Any, keep_running: bool) -> None:
        self._name, self._runner = name, runner
        self._outcome: tuple[str, Any] = ("closed", None)
        self._loop = GLib.MainLoop()
        self._cancelling = False
        self.dialog = Gtk.Dialog(title="Learn a Style")
        self.dialog.set_default_size(420, -1)
        if keep_running:
            button = self.dialog.add_button("C_lose (keeps learning)", RESPONSE_CLOSE)
            button.set_tooltip_text("The engine goes on; the style appears in Apply Learned Style when it is done")
        self._stop = self.dialog.add_button("_Stop and keep", RESPONSE_STOP)
        self._stop.set_tooltip_text("End learning now and keep what it has learned as the style")
        self._cancel = self.dialog.add_button("_Cancel learning", Gtk.ResponseType.CANCEL)
        box = self.dialog.get_content_area()
        box.set_spacing(8)
        box.set_border_width(12)
        self._bar = Gtk.ProgressBar()
        self._bar.set_show_text(True)
        self._bar.set_text(f"Sending the style and {photos} photographs\u2026")
        box.pack_start(self._bar, False, False, 0)
        self._label = Gtk.Label(label="")
        self._label.set_xalign(0.0)
        box.pack_start(self._label, False, False, 0)
        self.dialog.connect("response", self._on_response)
        self.dialog.connect("delete-event", self._on_delete)
        self._keep = keep_running
        self._steady = PM.SteadyRemaining()  # the engine's time left, counting down without jumps back

    def run(self) -> tuple[str, Any]:
        self.dialog.show_all()
        GLib.timeout_add(200, self._poll)
        self._loop.run()
        self.dialog.destroy()
        return self._outcome

    def _on_delete(self, *_args: Any) -> bool:
        self._on_response(self.dialog, RESPONSE_CLOSE if self._keep else Gtk.ResponseType.CANCEL)
        return True

    def _on_response(self, _dialog: Any, response: int) -> None:
        if response == RESPONSE_CLOSE:
            self._outcome = ("closed", None)
            self._loop.quit()
        elif response == RESPONSE_STOP and not self._cancelling:
            self._stop.set_sensitive(False)
            self._bar.set_text("Finishing: storing what it has learned\u2026")
            self._runner.stop()
        elif not self._cancelling:
            self._cancelling = True
            self._cancel.set_sensitive(False)
            self._stop.set_sensitive(False)
            self._bar.set_text("Cancelling (the last checkpoint is kept)\u2026")
            self._runner.cancel()

    def _poll(self) -> bool:
        outcome = self._runner.drain(self._show)
        if outcome is None:
            return True
        self._outcome = ("cancelled", None) if self._cancelling else outcome
        self._loop.quit()
        return False

    def _show(self, payload: dict[str, Any]) -> None:
        if self._cancelling or not self._stop.get_sensitive():  # the bar says what was asked until the end
            return
        remaining = payload.get("remaining")
        if isinstance(remaining, (int, float)) and not isinstance(remaining, bool):
            payload = {**payload, "remaining": self._steady.update(float(remaining), time.monotonic())}
        self._bar.set_text(L.progress_text(payload, self._name, learning=True))
        fraction = L.progress_fraction(payload)
        if fraction is not None:
            self._bar.set_fraction(fraction)
        losses = payload.get("losses")
        if isinstance(losses, dict) and isinstance(losses.get("total"), (int, float)):
            self._label.set_text(f"Loss {losses['total']:.4g}")
