"""The "Learn a Style\u2026" window: GIMP's procedure dialog with the style's thumbnail, a folder path that can be
typed, each field explained in plain words, a time estimate and OK only when learning can start.

Why on top of GimpUi.ProcedureDialog (as dialog.py): its widgets are bound to the procedure's config, so saved
values and Reset keep working; what is added only reads the config or sets its properties. The estimate asks
the engine (POST /plan) in a worker thread that reports back with GLib.idle_add; what it means is decided in
learned_logic.py (no GTK). Main thread only.
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
import dialog_state  # noqa: E402
import learned_logic as L  # noqa: E402
import nst_logic  # noqa: E402
import plugin_messages  # noqa: E402
import recent_styles  # noqa: E402
import repeat_values  # noqa: E402
from gi.repository import Gimp, GimpUi, Gio, GLib, GObject, Gtk  # noqa: E402

THUMB = 96
EXPLAINED = ("steps", "training-size", "network", "style-strength", "replace", "keep-running")
ESTIMATED_FROM = ("steps", "training-size", "network")


class LearnDialog:
    """`run()` shows the window and returns True for OK."""

    def __init__(self, procedure: Gimp.Procedure, config: Gimp.ProcedureConfig,
                 connect: Callable[[], Any]) -> None:
        self.config = config
        self._connect = connect
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._iteration_s: dict[int, tuple[float | None, str]] = {}  # per training size: (seconds, device)
        self._generation = 0
        self._timer = 0
        self._typing = False
        self.state: dict[str, Any] = {"ready": False}
        self._state_file = dialog_state.state_file()
        self._widgets: dict[str, Gtk.Widget] = {}
        self.dialog = GimpUi.ProcedureDialog.new(procedure, config, "Learn a Style")
        self._offer_recent_style()
        self._build()
        self._handler = config.connect("notify", self._on_notify)

    def _offer_recent_style(self) -> None:
        """No style yet (GIMP keeps a window's values only after a good run): the one painted with last."""
        if self._path("style-file") is None:
            pending = repeat_values.pending(repeat_values.values_file(Gimp.directory())).get("style-file")
            last = recent_styles.last_style(recent_styles.recent_file(Gimp.directory()), pending)
            if last:
                self.config.set_property("style-file", Gio.File.new_for_path(last))
                self.state["style_from_recent"] = last

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        d = self.dialog
        style_row = d.fill_box("nst-learn-style-row", ["style-file"])
        style_row.set_orientation(Gtk.Orientation.HORIZONTAL)
        style_row.set_spacing(8)
        folder_box = d.fill_box("nst-learn-folder", ["photos-folder"])
        main = d.fill_box("nst-learn-main", ["nst-learn-style-row", "nst-learn-folder", "style-name", *EXPLAINED])
        d.fill(["nst-learn-main"])

        self.thumb = Gtk.Image()
        self.thumb.set_size_request(THUMB, THUMB)
        self.thumb_words = Gtk.Label(label="")
        thumb_box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=0)
        thumb_box.pack_start(self.thumb, False, False, 0)
        thumb_box.pack_start(self.thumb_words, False, False, 0)
        frame = Gtk.Frame()
        frame.set_shadow_type(Gtk.ShadowType.IN)
        frame.set_valign(Gtk.Align.CENTER)
        frame.add(thumb_box)
        style_row.pack_end(frame, False, False, 0)

        self.folder_entry = Gtk.Entry()
        self.folder_entry.set_placeholder_text("\u2026or type or paste the folder\u2019s path here")
        self.folder_entry.set_tooltip_text("Press Enter (or leave the field) to use the folder typed here")
        self.folder_entry.connect("changed", self._on_typed)
        self.folder_entry.connect("activate", self._on_typed_done)
        self.folder_entry.connect("focus-out-event", self._on_typed_done)
        self._widgets["folder_entry"] = self.folder_entry
        self.folder_hint = self._small("")
        folder_box.pack_start(self.folder_entry, False, False, 0)
        folder_box.pack_start(self.folder_hint, False, False, 0)

        for prop in EXPLAINED:
            self._explain(main, prop)
        self.estimate = Gtk.Label(label="")
        self.estimate.set_xalign(0.0)
        self.estimate.set_line_wrap(True)
        self.estimate.set_max_width_chars(52)
        self.estimate.set_tooltip_text("From the engine's measured speed on its device; learning on a busy "
                                       "computer takes longer")
        main.pack_start(self.estimate, False, False, 4)
        self.ok_hint = Gtk.Label(label="")
        self.ok_hint.set_xalign(0.0)
        self.ok_hint.set_line_wrap(True)
        self.ok_hint.set_max_width_chars(52)
        main.pack_start(self.ok_hint, False, False, 0)
        main.show_all()

        for prop in ("style-file",):
            dialog_chooser.decorate(self.dialog, prop)
        self.state["increments"] = dialog_chooser.apply_increments(self.dialog, L.INCREMENTS)
        for prop in L.INCREMENTS:  # where the numbers are typed (tests type into them)
            widget = self.dialog.get_widget(prop, GObject.TYPE_NONE)
            if widget is not None and hasattr(widget, "get_spin_button"):
                self._widgets[prop] = widget.get_spin_button()
        self._update_style()
        self._update_ok()

    @staticmethod
    def _small(text: str) -> Gtk.Label:
        label = Gtk.Label(label="")
        label.set_markup(f"<small>{GLib.markup_escape_text(text)}</small>")
        label.set_xalign(0.0)
        label.set_line_wrap(True)
        label.set_max_width_chars(60)
        label.get_style_context().add_class("dim-label")
        return label

    def _explain(self, main: Gtk.Box, prop: str) -> None:
        """A line in plain words under the field (its tooltip says the same)."""
        widget = self.dialog.get_widget(prop, GObject.TYPE_NONE)
        while widget is not None and widget.get_parent() is not main:
            widget = widget.get_parent()
        if widget is None:
            return
        label = self._small(L.FIELD_HELP[prop])
        label.set_margin_bottom(4)
        main.pack_start(label, False, False, 0)
        main.reorder_child(label, main.get_children().index(widget) + 1)
        self.state.setdefault("explained", []).append(prop)

    # ------------------------------------------------------------------ values

    def _path(self, prop: str) -> str | None:
        value = self.config.get_property(prop)
        path = value.get_path() if value is not None else None
        return nst_logic.normalize_file_argument(path) if path else None

    def _on_notify(self, _config: Any, pspec: GObject.ParamSpec) -> None:
        if pspec.name == "style-file":
            self._update_style()
        if pspec.name == "photos-folder" and not self._typing:  # chosen with the button: the typed hint is old
            self.folder_hint.set_text("")
        if pspec.name in ESTIMATED_FROM:
            self._schedule_estimate()
        self._update_ok()
        self._report()

    def _on_typed(self, entry: Gtk.Entry) -> None:
        """While typing: say whether it is a folder (a path typed letter by letter passes through other
        folders, so it is used on Enter or when the field is left, not at each letter)."""
        folder, hint = L.typed_folder(entry.get_text())
        if folder is not None and folder != self._path("photos-folder"):
            hint = "Press Enter to use this folder"
        self._typed_hint(hint)
        self.state["typed"] = {"text": entry.get_text(), "folder": folder, "hint": hint}
        self._report()

    def _on_typed_done(self, entry: Gtk.Entry, *_args: Any) -> bool:
        folder, hint = L.typed_folder(entry.get_text())
        if folder is not None:
            self._typing = True
            try:
                self.config.set_property("photos-folder", Gio.File.new_for_path(folder))
            finally:
                self._typing = False
        self._typed_hint(hint)
        self.state["typed"] = {"text": entry.get_text(), "folder": folder, "hint": hint, "used": folder is not None}
        self._update_ok()
        self._report()
        return False

    def _typed_hint(self, hint: str) -> None:
        self.folder_hint.set_markup(f"<small>{GLib.markup_escape_text(hint)}</small>")

    def _update_style(self) -> None:
        shown = dialog_chooser.show_thumbnail(self.thumb, self._path("style-file"), THUMB)
        self.thumb_words.set_text(shown["words"])
        self.thumb_words.set_visible(bool(shown["words"]))
        self.state["style"] = shown

    def _update_ok(self) -> None:
        folder = self._path("photos-folder")
        ok, hint = L.ok_state(self._path("style-file"), folder)
        self.dialog.set_response_sensitive(Gtk.ResponseType.OK, ok)
        self.ok_hint.set_markup(f"<i>{GLib.markup_escape_text(hint)}</i>" if hint else "")
        self.state.update(ok_sensitive=ok, ok_hint=hint, folder=folder,
                          values={p: self.config.get_property(p) for p in ESTIMATED_FROM})

    # ------------------------------------------------------------------ estimate

    def _schedule_estimate(self) -> None:
        if self._timer:
            GLib.source_remove(self._timer)
        self._timer = GLib.timeout_add(300, self._start_estimate)

    def _start_estimate(self) -> bool:
        self._timer = 0
        self._generation += 1
        size, steps = int(self.config.get_property("training-size")), int(self.config.get_property("steps"))
        width = str(self.config.get_property("network"))
        self._show_estimate(self._generation, "Learning time: asking the engine\u2026")
        threading.Thread(target=self._estimate_worker, args=(self._generation, size, steps, width), daemon=True,
                         name="nst-learn-estimate").start()
        return False

    def _client_now(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _estimate_worker(self, generation: int, size: int, steps: int, width: str) -> None:
        try:
            if size not in self._iteration_s:
                client = self._client_now()
                short, long = (client.plan(size, size, L.probe_settings(size, n)) for n in L.PROBE_ITERATIONS)
                device = str(long.get("device_name") or long.get("device") or "")
                self._iteration_s[size] = (L.iteration_seconds(short, long), device)
            iteration_s, device = self._iteration_s[size]
            seconds = L.learn_seconds(iteration_s, steps, width) if iteration_s is not None else None
            text = L.learn_estimate_text(seconds, device)
        except plugin_messages.PluginError as exc:
            text = f"Learning time: unavailable: {exc.what} {exc.advice}".rstrip()
        except Exception:  # noqa: BLE001 - an estimate must never break the window
            text = "Learning time: unavailable"
        GLib.idle_add(self._show_estimate, generation, text, {"steps": steps, "training-size": size, "network": width})

    def _show_estimate(self, generation: int, text: str, of: dict[str, Any] | None = None) -> bool:
        if generation == self._generation:
            self.estimate.set_text(text)
            self.state["estimate"], self.state["estimate_for"] = text, of
            self._report()
        return False

    # ------------------------------------------------------------------ running

    def _report(self) -> None:
        """Tests only ($NST_PLUGIN_DIALOG_STATE): what the window shows, and where its widgets are."""
        ok = self.dialog.get_widget_for_response(Gtk.ResponseType.OK)
        if ok is not None:
            self._widgets["ok"] = ok
        dialog_state.write(self._state_file, self.state, self.dialog, self._widgets)

    def _mark_ready(self) -> bool:
        if "closed" not in self.state:
            self.state["ready"] = True
            self._start_estimate()
            self._report()
        return False

    def run(self) -> bool:
        self.dialog.show_all()
        self.thumb_words.set_visible(bool(self.thumb_words.get_text()))
        GLib.timeout_add(500, self._mark_ready)
        ok = bool(self.dialog.run())
        self._generation += 1
        if self._timer:
            GLib.source_remove(self._timer)
            self._timer = 0
        self.config.disconnect(self._handler)
        self.state.update(ready=False, closed="ok" if ok else "cancel")
        self._report()
        self.dialog.destroy()
        return ok


def show_information(title: str, text: str) -> None:
    """A message that something went well: GTK's information icon (Gimp.message shows a warning triangle)."""
    message = Gtk.MessageDialog(message_type=Gtk.MessageType.INFO, buttons=Gtk.ButtonsType.OK, text=title)
    message.format_secondary_text(text)
    icon = Gtk.Image.new_from_icon_name("dialog-information", Gtk.IconSize.DIALOG)
    message.set_image(icon)  # GTK 3 shows no icon by default; GIMP's messages show a warning triangle
    icon.show()
    message.set_title(title)
    try:
        GimpUi.window_set_transient(message)
    except (TypeError, ValueError, GLib.Error):
        message.set_position(Gtk.WindowPosition.CENTER)
    path = dialog_state.state_file()
    if path:
        GLib.timeout_add(300, lambda: dialog_state.write(path, {"information": {"title": title, "text": text,
                                                                               "icon": "info"}}, message, {}) and False)
    message.run()
    message.destroy()

