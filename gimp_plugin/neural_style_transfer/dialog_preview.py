"""The dialog's preview column: a quick draft of the layer (or its selected part), run on the engine.

Why its own job: the artist sees the style on their picture before committing to the full run. The
layer is read small by GEGL itself (a scaled read, main thread); the job runs through the same worker
as the full run (engine_job.EngineJobRunner) and is polled with GLib.timeout_add, so the dialog never
blocks. Changing a setting washes the preview out ("out of date"); pressing Preview while it runs
cancels it; closing the dialog cancels it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
import dialog_logic as D  # noqa: E402
import engine_client  # noqa: E402
import nst_logic  # noqa: E402
import pixbufs  # noqa: E402
import plugin_messages  # noqa: E402
import region_map  # noqa: E402
import style_files  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402
from gi.repository import GdkPixbuf, Gegl, Gimp, GLib, Gtk  # noqa: E402


class PreviewPane:
    """The preview image, its progress bar and status line, and the Preview / Cancel preview button."""

    def __init__(self, layer: Gimp.Layer, client: Callable[[], Any], current_args: Callable[[], Any],
                 state: dict[str, Any], report: Callable[[], None]) -> None:
        self.layer = layer
        self._client = client
        self._current_args = current_args
        self.state = state
        self._report = report
        self._runner: EngineJobRunner | None = None
        self._has_preview = False
        self.stale = False
        self._masks: tuple[list[bytes], int, int] | None = None  # the last preview's regions, to outline them
        # Set by the dialog: the regions' job parts (None for the whole layer), a style layer's picture.
        self.region_parts: Callable[[], Any] = lambda: None
        self.first_styles: Callable[[], list[bytes]] = lambda: []

        self.widget = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        self.image = Gtk.Image()
        self.image.set_size_request(D.PREVIEW_LONG_SIDE, D.PREVIEW_LONG_SIDE * 3 // 4)
        self.image.set_from_icon_name("image-x-generic", Gtk.IconSize.DIALOG)
        self.image.set_opacity(0.4)
        frame = Gtk.Frame()
        frame.set_shadow_type(Gtk.ShadowType.IN)
        frame.add(self.image)
        self.widget.pack_start(frame, False, False, 0)
        self.bar = Gtk.ProgressBar()
        self.bar.set_no_show_all(True)
        self.widget.pack_start(self.bar, False, False, 0)
        self.label = Gtk.Label(label="Preview: a quick draft of the layer (or the selection).")
        self.label.set_xalign(0.0)
        self.label.set_line_wrap(True)
        self.label.set_max_width_chars(40)
        self.widget.pack_start(self.label, False, False, 0)
        self.button = Gtk.Button.new_with_mnemonic(D.PREVIEW_LABEL)
        self.button.set_tooltip_text("Run a quick, small draft with these settings (OK runs the full job)")
        self.button.connect("clicked", self._on_clicked)
        self.button.set_halign(Gtk.Align.START)
        self.widget.pack_start(self.button, False, False, 0)

    # ------------------------------------------------------------------ called by the dialog

    def mark_stale(self) -> None:
        """A setting changed: the preview no longer shows what OK would do."""
        if self._has_preview and not self.stale:
            self.stale = True
            pixbuf = self.image.get_pixbuf()
            if pixbuf is not None:  # washed out: widget opacity needs a compositor, often missing
                dim = pixbuf.copy()
                pixbuf.saturate_and_pixelate(dim, 0.15, False)
                self.image.set_from_pixbuf(dim)
            self.image.set_opacity(0.6)
            self._text("Preview out of date: a setting changed. Press Preview again.")

    def show_regions(self, shown: tuple[Any, str] | None) -> None:
        """The map of the regions (a pixbuf and its legend) until a preview is run; None: the whole layer."""
        if shown is None:
            if self.state.get("region_map"):  # the map of regions no longer applies
                self.image.set_from_icon_name("image-x-generic", Gtk.IconSize.DIALOG)
                self.image.set_opacity(0.4)
                self._text("Preview: a quick draft of the layer (or the selection).")
            self.state["region_map"] = None
            return
        pixbuf, legend = shown
        self.image.set_from_pixbuf(pixbufs.fit(pixbuf, D.PREVIEW_LONG_SIDE, D.PREVIEW_LONG_SIDE * 3 // 4))
        self.image.set_opacity(1.0)
        self._has_preview = False
        self._text(legend + " Press Preview to see the styles.")
        self.state["region_map"] = [pixbuf.get_width(), pixbuf.get_height()]

    def cancel(self) -> None:
        """The dialog closes: the engine drops a preview still running."""
        if self._runner is not None:
            self._runner.cancel()
            self._runner = None

    # ------------------------------------------------------------------ the job

    def _text(self, text: str) -> None:
        self.label.set_text(text)
        self.state["preview_text"] = text

    def _on_clicked(self, _button: Gtk.Button) -> None:
        if self._runner is not None:
            self._runner.cancel()
            self.button.set_sensitive(False)
            self._text("Cancelling the preview\u2026")
            return
        args = self._current_args()
        styles_chosen = ([] if args.style_layer else [args.style_file]) + ([args.style_file_2] if args.style_file_2
                                                                            else [])
        problem = next(filter(None, map(style_files.problem_parts, styles_chosen)), None)
        if problem:
            self._text(D.preview_error(*problem))
            return
        try:
            styles = self.first_styles() + [_read_file(p) for p in args.style_paths()]
            parts = self.region_parts()
            content = read_region(self.layer, D.PREVIEW_LONG_SIDE) if parts is None else parts[0]
            settings = D.preview_settings(nst_logic.engine_settings(args))
            if parts is not None:
                settings.pop("style_blend", None)
        except OSError as exc:
            self._text(D.preview_error(f"a file could not be read ({exc.strerror or 'no access'}).",
                                       "Choose the style image again."))
            return
        except ValueError as exc:
            self._text(D.preview_error(str(exc)))
            return
        self._runner = EngineJobRunner(self._client, content, styles, settings, preview=True,
                                       style_names=[style_files.file_name(p) for p in args.style_names()],
                                       regions=parts[1:] if parts is not None else None)
        self._masks = (parts[2], parts[0].width, parts[0].height) if parts is not None else None
        self._runner.start()
        self.button.set_label("Cancel preview")
        self.bar.set_fraction(0.0)
        self.bar.show()
        self._text("Preview: starting\u2026")
        self.state["preview"] = "running"
        self._report()
        GLib.timeout_add(100, self._poll)

    def _poll(self) -> bool:
        runner = self._runner
        if runner is None:
            return False
        outcome = runner.drain(self._show_progress)
        if outcome is None:
            return True
        self._finished(*outcome)
        return False

    def _show_progress(self, payload: Any) -> None:
        fraction = nst_logic.progress_fraction(payload)
        if fraction is not None:
            self.bar.set_fraction(fraction)
        else:
            self.bar.pulse()
        png = nst_logic.preview_png(payload)
        if png:
            self._show_png(png)
        self._text("Preview: " + nst_logic.progress_text(payload))

    def _finished(self, kind: str, payload: Any) -> None:
        self._runner = None
        self.bar.hide()
        self.button.set_label(D.PREVIEW_LABEL)
        self.button.set_sensitive(True)
        if kind == "done":
            try:
                data = D.rgba8_from_f32(payload.data, payload.width, payload.height)
                if self._masks is not None and self._masks[1:] == (payload.width, payload.height):
                    data = region_map.edges(data, payload.width, payload.height, self._masks[0])
                self._set(pixbufs.from_rgba(data, payload.width, payload.height))
                self._text(f"Preview ({payload.width}\u00d7{payload.height} draft). OK runs the full job.")
                self.state["preview"] = "done"
                self.state["preview_size"] = [payload.width, payload.height]
            except (ValueError, GLib.Error) as exc:
                self._text(f"The preview could not be shown ({exc}).")
                self.state["preview"] = "error"
        elif isinstance(payload, engine_client.JobCancelled):
            self._text("Preview cancelled.")
            self.state["preview"] = "cancelled"
        else:
            if isinstance(payload, plugin_messages.PluginError):
                text = D.preview_error(payload.what, payload.advice)
            else:
                text = D.preview_error(*plugin_messages.internal_error(payload))
            self._text(text)
            self.state["preview"] = "error"
        self._report()

    def _show_png(self, png: bytes) -> None:
        pixbuf = pixbufs.from_png(png)
        if pixbuf is not None:
            self._set(pixbuf)

    def _set(self, pixbuf: GdkPixbuf.Pixbuf) -> None:
        self.image.set_from_pixbuf(pixbufs.over_checks(pixbufs.fit(pixbuf, D.PREVIEW_LONG_SIDE,
                                                                   D.PREVIEW_LONG_SIDE * 3 // 4)))
        self.image.set_opacity(1.0)
        self._has_preview = True
        self.stale = False


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def read_region(layer: Gimp.Layer, long_side: int) -> engine_client.RawImage:
    """The layer's selected part (or all of it), read by GEGL at a scale that fits `long_side`."""
    ok, x, y, w, h = layer.mask_intersect()
    if not ok or w < 1 or h < 1:
        raise ValueError("the selection does not touch this layer")
    scale, (sx, sy, sw, sh) = D.preview_region((x, y, w, h), long_side)
    data = bytes(layer.get_buffer().get(Gegl.Rectangle.new(sx, sy, sw, sh), scale, "R'G'B'A u8",
                                        Gegl.AbyssPolicy.CLAMP))
    return engine_client.RawImage(width=sw, height=sh, channels=4, sample_format="u8", data=data)
