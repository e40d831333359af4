"""The dialog's "Where" section (whole layer, inside the selection, by channels), the style-layer chooser, and
the map of the regions in the preview.

Why apart from dialog.py: the choices, the texts and what is sent are region_logic.py's (pure, tested); this
only shows them: it greys out what the image does not allow (no selection, no channels) and says why, turns
the per-channel pickers into the "channel-styles" text, and draws the regions over a small read of the layer.
Main thread only (GTK, GIMP).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
import dialog_logic as D  # noqa: E402
import engine_client  # noqa: E402
import pixbufs  # noqa: E402
import region_logic as R  # noqa: E402
import region_map  # noqa: E402
import style_layers  # noqa: E402
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

WATCHED = ("where", "outside", "channel-styles", "style-file-2", "style-layer")


class RegionControls:
    """Built in two steps around GIMP's own layout: `boxes()` before the dialog is filled, `finish()` after."""

    def __init__(self, dialog: GimpUi.ProcedureDialog, config: Gimp.ProcedureConfig, layer: Gimp.Layer,
                 state: dict[str, Any], widgets: dict[str, Gtk.Widget]) -> None:
        self.dialog, self.config, self.layer = dialog, config, layer
        self.image = layer.get_image()
        self.has_selection = not Gimp.Selection.is_empty(self.image)
        self.channels = style_layers.channel_names(self.image)
        self.state, self.widgets = state, widgets
        self.problem: R.RegionProblem | None = None
        self.plan: R.RegionPlan | None = None
        self._pickers: dict[str, Gtk.ComboBoxText] = {}
        self.show_map: Callable[[R.RegionPlan | None], None] = lambda _plan: None

    def boxes(self) -> tuple[str, str]:
        """The dialog's boxes for the style layer and for "Where" (names to place in the layout)."""
        d = self.dialog
        radio = d.get_widget("where", GimpUi.IntRadioFrame)  # radio buttons, not a drop-down
        states = R.where_states(self.has_selection, self.channels)
        choice = Gimp.param_spec_choice_get_choice(self.config.find_property("where"))
        for nick, (allowed, _hint) in states.items():
            choice.set_sensitive(nick, allowed)
        by_label = {label: states[nick] for nick, label, _help in R.WHERE_CHOICES}
        for button in _descendants(radio, Gtk.RadioButton):  # in case the frame does not follow the choice
            allowed, hint = by_label.get(button.get_label() or "", (True, ""))
            button.set_sensitive(allowed)
            if hint:
                button.set_tooltip_text(hint)
        self.state["where_allowed"] = {nick: allowed for nick, (allowed, _h) in states.items()}
        layer_row = d.fill_box("nst-style-layer-row", ["style-layer"])
        layer_row.set_orientation(Gtk.Orientation.HORIZONTAL)
        layer_row.set_spacing(8)
        clear = Gtk.Button.new_from_icon_name("edit-clear", Gtk.IconSize.BUTTON)
        clear.set_tooltip_text("No style layer: the style image file is the style")
        clear.connect("clicked", lambda _b: self.config.set_property("style-layer", None))
        layer_row.pack_end(clear, False, False, 0)
        self.widgets["clear_style_layer"] = clear
        chooser = d.get_widget("style-layer", GObject.TYPE_NONE)
        if chooser is not None:
            self.widgets["style_layer"] = chooser
            buttons = _descendants(chooser, Gtk.Button)  # GIMP's "Browse…", which opens its chooser of layers
            if buttons:
                self.widgets["style_layer_button"] = buttons[0]
        self.where_box = d.fill_box("nst-where-box", ["where", "outside"])
        return "nst-style-layer-row", "nst-where-box"

    def finish(self) -> None:
        """The per-channel pickers and the hint line, under "Where"; then the first update."""
        self.grid = Gtk.Grid(column_spacing=8, row_spacing=2)
        parsed = dict(_quiet_parse(self.config.get_property("channel-styles")))
        for row, name in enumerate(self.channels):
            label = Gtk.Label(label=name)
            label.set_xalign(0.0)
            picker = Gtk.ComboBoxText()
            for value, text in R.PICKS:
                picker.append(value or "none", text)
            picker.set_active_id(parsed.get(name) or "none")
            picker.connect("changed", self._on_pick)
            self.grid.attach(label, 0, row, 1, 1)
            self.grid.attach(picker, 1, row, 1, 1)
            self._pickers[name] = picker
        self.grid.set_no_show_all(True)
        self.where_box.pack_start(self.grid, False, False, 0)
        self.hint = Gtk.Label(label="")
        self.hint.set_xalign(0.0)
        self.hint.set_line_wrap(True)
        self.hint.set_max_width_chars(48)
        self.where_box.pack_start(self.hint, False, False, 0)
        outside = self.dialog.get_widget("outside", GObject.TYPE_NONE)
        if outside is not None:
            self.widgets["outside"] = outside
        where = self.dialog.get_widget("where", GObject.TYPE_NONE)
        if where is not None:
            self.widgets["where"] = where
        self.update()

    def _on_pick(self, _picker: Gtk.ComboBoxText) -> None:
        pairs = [(name, "" if p.get_active_id() == "none" else p.get_active_id()) for name, p in self._pickers.items()]
        self.config.set_property("channel-styles", R.format_channel_styles(pairs))

    def update(self) -> None:
        """After a change: which controls apply, the hints, the plan (or its problem), the map."""
        where = self.config.get_property("where")
        outside = self.dialog.get_widget("outside", GObject.TYPE_NONE)
        if outside is not None:
            outside.set_sensitive(where != R.WHOLE)
        self.grid.set_visible(where == R.CHANNELS)
        if where == R.CHANNELS:
            self.grid.show_all()
        greyed = [hint for allowed, hint in R.where_states(self.has_selection, self.channels).values() if not allowed]
        try:
            self.plan = R.plan(where, self.config.get_property("outside"), self.config.get_property("channel-styles"),
                               has_selection=self.has_selection, channel_names=self.channels,
                               has_second=self.config.get_property("style-file-2") is not None)
            self.problem = None
        except R.RegionProblem as problem:
            self.plan, self.problem = None, problem
        words = ([str(self.problem)] if self.problem else []) + greyed
        self.hint.set_markup("\n".join(f"<i>{GLib.markup_escape_text(w)}</i>" for w in words))
        self.hint.set_visible(bool(words))
        self.state.update(where=where, region_problem=str(self.problem) if self.problem else "",
                          regions=R.describe(self.plan), where_hints=greyed)
        self.show_map(self.plan)

    def job_parts(self, long_side: int) -> tuple[engine_client.RawImage, list[tuple[str, str]], list[bytes]] | None:
        """For the preview: the whole layer read small, with the regions' fields and masks at that size."""
        if self.plan is None:
            return None
        content, masks = read_small(self.layer, self.plan, long_side)
        return content, self.plan.fields(), masks


def layer_pixbuf(drawable: Gimp.Drawable, size: int) -> Any:
    """A drawable fitted in size x size, read by GEGL (GIMP's own thumbnail is None for 16-bit and float images)."""
    w, h = drawable.get_width(), drawable.get_height()
    scale = min(1.0, size / max(w, h))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    data = bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, sw, sh), scale, "R'G'B'A u8",
                                           Gegl.AbyssPolicy.CLAMP))
    return pixbufs.from_rgba(data, sw, sh)


def tell(dialog: GimpUi.ProcedureDialog, state: dict[str, Any], texts: list[str]) -> None:
    """Say something about the settings offered (a re-run's style layer no longer open) at the top of the dialog."""
    state["told"] = texts
    if texts:
        label = Gtk.Label()
        label.set_markup("\n".join(f"<b>{GLib.markup_escape_text(t)}</b>" for t in texts))
        label.set_xalign(0.0)
        label.set_line_wrap(True)
        label.set_max_width_chars(70)
        content = dialog.get_content_area()
        content.pack_start(label, False, False, 6)
        content.reorder_child(label, 0)


def read_small(layer: Gimp.Layer, plan: R.RegionPlan, long_side: int) -> tuple[engine_client.RawImage, list[bytes]]:
    """The whole layer (not only the selected part: the regions need both sides) and each region's mask, read
    by GEGL at one scale that fits `long_side`."""
    w, h = layer.get_width(), layer.get_height()
    scale, (sx, sy, sw, sh) = D.preview_region((0, 0, w, h), long_side)
    data = bytes(layer.get_buffer().get(Gegl.Rectangle.new(sx, sy, sw, sh), scale, "R'G'B'A u8",
                                        Gegl.AbyssPolicy.CLAMP))
    _ok, off_x, off_y = layer.get_offsets()
    rect = Gegl.Rectangle.new(math.floor(off_x * scale), math.floor(off_y * scale), sw, sh)
    image = layer.get_image()
    channels = {c.get_name(): c for c in image.get_channels()}
    masks = [bytes((image.get_selection() if kind == "selection" else channels[name]).get_buffer().get(
        rect, scale, "Y u8", Gegl.AbyssPolicy.NONE)) for kind, name in plan.masks]
    return engine_client.RawImage(width=sw, height=sh, channels=4, sample_format="u8", data=data), masks


def map_pixbuf(layer: Gimp.Layer, plan: R.RegionPlan, long_side: int) -> tuple[Any, str]:
    """The layer, small, each region tinted with its style's colour; and the legend."""
    content, masks = read_small(layer, plan, long_side)
    styles = [region["style"] for region in plan.regions]
    rgba = region_map.tint(content.data, masks, styles, plan.rest)
    return pixbufs.from_rgba(rgba, content.width, content.height), region_map.legend(styles, plan.rest)


def _quiet_parse(text: str | None) -> list[tuple[str, str]]:
    try:
        return R.parse_channel_styles(text)
    except R.RegionProblem:
        return []


def _descendants(widget: Any, kind: type) -> list[Any]:
    if widget is None:
        return []
    found = [widget] if isinstance(widget, kind) else []
    if isinstance(widget, Gtk.Container):
        for child in widget.get_children():
            found += _descendants(child, kind)
    return found
