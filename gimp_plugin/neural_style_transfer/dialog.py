"""The filter's dialog: GIMP's procedure dialog with a layout of its own, thumbnails, recent styles,
a time estimate and a preview.

Why on top of GimpUi.ProcedureDialog: its widgets are bound to the procedure's config, so saved values,
Reset, Load/Save Settings, Re-Show and Repeat keep working; what is added (thumbnails, recent styles,
estimate, preview) only reads the config or sets its properties. Every Gimp.*/Gtk call stays on the main
thread; the engine is asked (plan, preview job) in worker threads that report back with GLib.idle_add or
through engine_job's queue. The preview column is dialog_preview.py; pure logic lives in dialog_logic.py
and recent_styles.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
import dialog_chooser  # noqa: E402
import dialog_logic as D  # noqa: E402
import dialog_regions  # noqa: E402
import dialog_state  # noqa: E402
import engine_client  # noqa: E402
import nst_logic  # noqa: E402
import pixbufs  # noqa: E402
import plugin_messages  # noqa: E402
import recent_styles  # noqa: E402
import style_layers  # noqa: E402
from dialog_preview import PreviewPane  # noqa: E402
from gi.repository import Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

THUMB = 96  # the style's thumbnail beside its chooser
RECENT_THUMB = 48
STATE_ENV = dialog_state.STATE_ENV


class _Engine:
    """One connection for the dialog's workers, made on first use (it may start the local engine)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client


class StyleTransferDialog:
    """`run()` shows the dialog and returns True for OK; a preview still running is cancelled first.

    Subclasses (animation_dialog.py) add their procedure's own arguments to the main and advanced boxes."""

    TITLE = "Neural Style Transfer"
    MAIN_EXTRA: tuple[str, ...] = ()
    ADVANCED_EXTRA: tuple[str, ...] = ()
    REGIONS = True  # the "Where" section and the style-layer chooser (the procedure has their arguments)

    def __init__(self, procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, layer: Gimp.Layer,
                 connect: Callable[[], Any]) -> None:
        self.config = config
        self.layer = layer
        self.engine = _Engine(connect)
        self.recent_file = recent_styles.recent_file(Gimp.directory())
        self.state: dict[str, Any] = {"ready": False}
        self._state_file = dialog_state.state_file()
        self._estimate_generation = 0
        self._estimate_timer = 0
        self._widgets: dict[str, Gtk.Widget] = {}

        self.dialog = GimpUi.ProcedureDialog.new(procedure, config, self.TITLE)
        self.regions = (dialog_regions.RegionControls(self.dialog, config, layer, self.state, self._widgets)
                        if self.REGIONS else None)
        self._build()
        self._handlers = [config.connect("notify", self._on_notify)]

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        d = self.dialog
        d.get_label("nst-advanced-title", "Advanced", False, False)
        style_row = d.fill_box("nst-style-row", ["style-file"])
        style_row.set_orientation(Gtk.Orientation.HORIZONTAL)
        style_row.set_spacing(8)
        layer_row, where_box = self.regions.boxes() if self.regions is not None else ((), ())
        main = d.fill_box("nst-main", ["nst-style-row", *layer_row, "style-strength", "quality", "preserve-colors",
                                       *where_box, *self.MAIN_EXTRA])
        style2_row = d.fill_box("nst-style2-row", ["style-file-2"])
        style2_row.set_orientation(Gtk.Orientation.HORIZONTAL)
        style2_row.set_spacing(8)
        d.fill_box("nst-advanced-box", ["nst-style2-row", "style-blend", "max-size", "style-scale", "seed",
                                        *self.ADVANCED_EXTRA])
        expander = d.fill_expander("nst-advanced", "nst-advanced-title", False, "nst-advanced-box")
        if isinstance(expander, Gtk.Expander):
            expander.set_expanded(False)
            expander.connect("notify::expanded", self._on_expanded)
            self._widgets["advanced"] = expander
        d.fill(["nst-main", "nst-advanced"])

        self.thumb = Gtk.Image()
        self.thumb.set_size_request(THUMB, THUMB)
        self.thumb_words = Gtk.Label(label="")  # "Not a picture" where a thumbnail cannot be shown
        thumb_box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=0)
        thumb_box.pack_start(self.thumb, False, False, 0)
        thumb_box.pack_start(self.thumb_words, False, False, 0)
        style_row.pack_end(self._framed(thumb_box), False, False, 0)
        self.thumb2 = Gtk.Image()
        self.thumb2.set_size_request(THUMB // 2, THUMB // 2)
        style2_row.pack_start(self._framed(self.thumb2), False, False, 0)
        clear = Gtk.Button.new_from_icon_name("edit-clear", Gtk.IconSize.BUTTON)
        clear.set_tooltip_text("No second style")
        clear.connect("clicked", lambda _b: self.config.set_property("style-file-2", None))
        style2_row.pack_start(clear, False, False, 0)
        self._widgets["clear_style2"] = clear

        self.recent_box = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=4)
        recent_label = Gtk.Label(label="Recent styles:")
        recent_label.set_xalign(0.0)
        recent = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=2)
        recent.pack_start(recent_label, False, False, 0)
        recent.pack_start(self.recent_box, False, False, 0)
        main.pack_start(recent, False, False, 0)
        main.reorder_child(recent, 1)
        self._fill_recent()

        self.estimate = Gtk.Label(label="")
        self.estimate.set_xalign(0.0)
        self.estimate.set_line_wrap(True)
        self.estimate.set_max_width_chars(48)
        self.estimate.set_tooltip_text("For this layer at the chosen quality and painting size, on the engine's "
                                       "device. The result always has the layer's size.")
        main.pack_start(self.estimate, False, False, 4)
        self.full_size = Gtk.Button.new_with_mnemonic(D.FULL_SIZE_LABEL)
        self.full_size.set_tooltip_text("Paint at the layer's own size, however long it takes (sets "
                                        f"\u201c{nst_logic.SIZE_CONTROL}\u201d to the layer's long side)")
        self.full_size.set_halign(Gtk.Align.START)
        self.full_size.set_no_show_all(True)
        self.full_size.connect("clicked", self._on_full_size)
        main.pack_start(self.full_size, False, False, 0)
        self._widgets["full_size"] = self.full_size
        self.ok_hint = Gtk.Label(label="")  # why OK is off (no style, or a file that is not a picture)
        self.ok_hint.set_xalign(0.0)
        self.ok_hint.set_line_wrap(True)
        self.ok_hint.set_max_width_chars(48)
        main.pack_start(self.ok_hint, False, False, 0)

        # Two columns: the controls (GIMP's widgets, moved as they are) and the preview.
        content = d.get_content_area()
        left = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        for widget in (main, expander):
            if widget is not None and widget.get_parent() is not None:
                widget.get_parent().remove(widget)
                left.pack_start(widget, False, False, 0)
        columns = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
        columns.pack_start(left, True, True, 0)
        self.preview = PreviewPane(self.layer, self.engine.client, self.current_args, self.state, self._report)
        self._widgets["preview_button"] = self.preview.button
        if self.regions is not None:
            regions = self.regions
            self.preview.region_parts = lambda: regions.job_parts(D.PREVIEW_LONG_SIDE)
            self.preview.first_styles = self._layer_style
            regions.show_map = lambda plan: self.preview.show_regions(
                dialog_regions.map_pixbuf(self.layer, plan, D.PREVIEW_LONG_SIDE) if plan is not None else None)
            regions.finish()
        columns.pack_start(self.preview.widget, False, False, 0)
        content.pack_start(columns, True, True, 0)
        content.reorder_child(columns, 0)
        columns.show_all()

        for prop in ("style-file", "style-file-2"):
            chooser = dialog_chooser.decorate(self.dialog, prop)
            if chooser is not None:
                self.state.setdefault("choosers_decorated", []).append(prop)
                if prop == "style-file" and isinstance(chooser, Gtk.FileChooserButton):
                    self._widgets["style_chooser"] = chooser
        self.state["increments"] = dialog_chooser.apply_increments(self.dialog, nst_logic.INCREMENTS)
        self._update_style_thumbs()
        self._update_blend_sensitivity()
        self._update_ok()

    def _update_ok(self) -> None:
        """OK waits for a style image that is a picture; the hint says what is missing (never a calling error)."""
        has_layer = self._style_layer() is not None
        ok, hint = (True, "") if has_layer else D.ok_state(self._path("style-file"))
        if ok and self.regions is not None and self.regions.problem is not None:
            ok, hint = False, str(self.regions.problem)
        self.dialog.set_response_sensitive(Gtk.ResponseType.OK, ok)
        button = self.dialog.get_widget_for_response(Gtk.ResponseType.OK)
        if button is not None:
            self._widgets["ok"] = button
        cancel = self.dialog.get_widget_for_response(Gtk.ResponseType.CANCEL)
        if cancel is not None:
            self._widgets["cancel"] = cancel
        self.ok_hint.set_markup(f"<i>{GLib.markup_escape_text(hint)}</i>" if hint else "")
        self.state["ok_sensitive"], self.state["ok_hint"] = ok, hint

    def _style_layer(self) -> Gimp.Drawable | None:
        """The open layer chosen as the style (None: the style file; always None without the regions' controls)."""
        return self.config.get_property("style-layer") if self.REGIONS else None

    def _layer_style(self) -> list[bytes]:
        layer = self._style_layer()
        return [style_layers.read_png(layer)] if layer is not None else []

    def _on_full_size(self, _button: Gtk.Button) -> None:
        layer = (self.layer.get_width(), self.layer.get_height())
        self.config.set_property("max-size", max(layer))

    def _on_expanded(self, expander: Gtk.Expander, _pspec: Any) -> None:
        self.state["advanced_expanded"] = expander.get_expanded()
        GLib.timeout_add(200, lambda: self._report() and False)  # once GTK has placed the new widgets

    @staticmethod
    def _framed(widget: Gtk.Widget) -> Gtk.Frame:
        frame = Gtk.Frame()
        frame.set_shadow_type(Gtk.ShadowType.IN)
        frame.set_valign(Gtk.Align.CENTER)
        frame.add(widget)
        return frame

    # ------------------------------------------------------------------ values

    def _path(self, prop: str) -> str | None:
        value = self.config.get_property(prop)
        path = value.get_path() if value is not None else None
        return nst_logic.normalize_file_argument(path) if path else None

    def current_args(self) -> nst_logic.PluginArgs:
        values: dict[str, Any] = {}
        for name, kind, *_rest in nst_logic.ARGUMENTS if self.REGIONS else nst_logic.FRAME_ARGUMENTS:
            value = self.config.get_property(name)
            values[name] = self._path(name) if kind == "file" else (
                style_layers.ref_of(value) if kind == "drawable" else value)
        args = nst_logic.PluginArgs.from_values(values)
        try:
            args.extra = nst_logic.extra_settings_from_env()
        except ValueError:
            args.extra = {}
        return args

    def _on_notify(self, _config: Any, pspec: GObject.ParamSpec) -> None:
        name = pspec.name
        if self.regions is not None and name in dialog_regions.WATCHED:
            self.regions.update()
            self._update_ok()
        if name in ("style-file", "style-file-2", "style-layer"):
            self._update_style_thumbs()
            self._update_blend_sensitivity()
            self._update_ok()
        if D.watched_for_estimate(name):
            self._schedule_estimate()
        self.preview.mark_stale()
        self._report()

    def _update_style_thumbs(self) -> None:
        for prop, image, size, key in (("style-file", self.thumb, THUMB, "style"),
                                       ("style-file-2", self.thumb2, THUMB // 2, "style2")):
            self.state[key] = shown = dialog_chooser.show_thumbnail(image, self._path(prop), size)
            layer = self._style_layer() if key == "style" else None
            if layer is not None:  # an open layer is the style: its own thumbnail
                image.set_from_pixbuf(pixbufs.over_checks(dialog_regions.layer_pixbuf(layer, size)))
                image.set_tooltip_text(f"The layer \u201c{layer.get_name()}\u201d is the style")
                shown = self.state[key] = {"path": None, "layer": layer.get_name(), "words": ""}
            if key == "style":
                self.thumb_words.set_text(shown["words"])
                self.thumb_words.set_visible(bool(shown["words"]))

    def _update_blend_sensitivity(self) -> None:
        has_second = self._path("style-file-2") is not None
        blend = self.dialog.get_widget("style-blend", GObject.TYPE_NONE)
        if blend is not None:
            blend.set_sensitive(has_second)
        self._widgets["clear_style2"].set_sensitive(has_second)
        self.state["blend_sensitive"] = has_second

    # ------------------------------------------------------------------ recent styles

    def _fill_recent(self) -> None:
        for child in self.recent_box.get_children():
            self.recent_box.remove(child)
        paths = recent_styles.load(self.recent_file)
        for index, path in enumerate(paths):
            pixbuf = pixbufs.from_file(path, RECENT_THUMB)
            if pixbuf is None:
                continue
            button = Gtk.Button()
            button.set_image(Gtk.Image.new_from_pixbuf(pixbufs.over_checks(pixbuf)))
            button.set_relief(Gtk.ReliefStyle.NONE)
            button.set_tooltip_text(f"{nst_logic.style_label(path)}\n{path}")
            button.connect("clicked", self._on_recent, path)
            self.recent_box.pack_start(button, False, False, 0)
            self._widgets[f"recent_{index}"] = button
        if not paths:
            hint = Gtk.Label(label="(the styles you use appear here)")
            hint.set_sensitive(False)
            self.recent_box.pack_start(hint, False, False, 0)
        self.state["recent"] = paths

    def _on_recent(self, _button: Gtk.Button, path: str) -> None:
        from gi.repository import Gio

        self.config.set_property("style-file", Gio.File.new_for_path(path))

    # ------------------------------------------------------------------ estimate

    def _schedule_estimate(self) -> None:
        if self._estimate_timer:
            GLib.source_remove(self._estimate_timer)
        self._estimate_timer = GLib.timeout_add(300, self._start_estimate)

    def _start_estimate(self) -> bool:
        self._estimate_timer = 0
        self._estimate_generation += 1
        generation = self._estimate_generation
        try:
            settings = nst_logic.engine_settings(self.current_args())
        except ValueError:
            return False
        self._show_estimate(generation, D.ESTIMATING)
        size = (self.layer.get_width(), self.layer.get_height())
        args = self.current_args()
        threading.Thread(target=self._estimate_worker, args=(generation, size, settings, args.quality,
                                                             int(args.max_size)),
                         daemon=True, name="nst-estimate").start()
        return False

    def _estimate_worker(self, generation: int, size: tuple[int, int], settings: dict[str, Any], quality: str,
                         max_size: int) -> None:
        full = None
        try:
            client = self.engine.client()
            plan = getattr(client, "plan", None)
            if plan is None:
                text = D.UNAVAILABLE + " (the engine is older than this plug-in)"
            else:
                answer = plan(size[0], size[1], settings)
                text = D.estimate_text(answer, size, quality, max_size)
                if D.is_smaller(answer, size):  # what the one-click full size would take
                    full = D.full_size_label(plan(size[0], size[1], D.full_size_settings(settings, size)))
        except engine_client.EngineJobFailed:
            text = D.UNAVAILABLE + " (the engine does not estimate)"
        except plugin_messages.PluginError as exc:
            text = D.UNAVAILABLE + f": {exc.what} {exc.advice}".rstrip()
        except Exception:  # noqa: BLE001 - an estimate must never break the dialog
            text = D.UNAVAILABLE
        GLib.idle_add(self._show_estimate, generation, text, full)

    def _show_estimate(self, generation: int, text: str, full: str | None = None) -> bool:
        if generation == self._estimate_generation:
            self.estimate.set_text(text)
            self.state["estimate"] = text
            self.full_size.set_label(full or D.FULL_SIZE_LABEL)
            self.full_size.set_visible(full is not None)
            self.state["full_size"] = full
            self._report()
        return False

    # ------------------------------------------------------------------ running

    def _mark_ready(self) -> bool:
        if "closed" in self.state:
            return False
        self.state["ready"] = True
        self._start_estimate()
        self._report()
        return False

    def _report(self) -> None:
        """Tests only ($NST_PLUGIN_DIALOG_STATE): what the dialog shows, and where its buttons are."""
        if not self._state_file:
            return
        self.state["preview_stale"] = self.preview.stale
        self.state["style_file"] = self._path("style-file")
        self.state["style_layer"] = style_layers.ref_of(self._style_layer())
        dialog_state.write(self._state_file, self.state, self.dialog, self._widgets)

    def run(self) -> bool:
        self.dialog.show_all()
        GLib.timeout_add(500, self._mark_ready)
        ok = bool(self.dialog.run())
        self.preview.cancel()  # OK or Cancel during a preview: the engine drops it
        self._estimate_generation += 1  # answers still on their way are for a dialog that is gone
        if self._estimate_timer:
            GLib.source_remove(self._estimate_timer)
            self._estimate_timer = 0
        self.state["ready"] = False
        for handler in self._handlers:
            self.config.disconnect(handler)
        self.state["closed"] = "ok" if ok else "cancel"
        self._report()
        self.dialog.destroy()
        return ok


def show(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, layer: Gimp.Layer,
         connect: Callable[[], Any], told: list[str] | None = None) -> bool:
    """The dialog; True for OK. The caller records the styles in recent_styles after a good run."""
    window = StyleTransferDialog(procedure, config, layer, connect)
    dialog_regions.tell(window.dialog, window.state, told or [])
    return window.run()


def remember_styles(paths: list[str]) -> None:
    """After a successful run: the styles go to the front of the recent list."""
    recent_styles.remember(recent_styles.recent_file(Gimp.directory()), paths)
