"""The style choosers of the plug-in's dialogs: images only, with a preview pane of the file under the cursor,
and the thumbnail beside them (the filter's dialog and the Learn window show a style the same way); and
the steps of GIMP's number widgets.

Why apart from dialog.py: it reaches inside GIMP's file widget (a GimpFileChooser holding a
GtkFileChooserButton), whose insides differ between GIMP versions; a failure here leaves the plain
chooser and nothing else. Main thread only (GTK).
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
import dialog_logic as D  # noqa: E402
import pixbufs  # noqa: E402
from gi.repository import GimpUi, GObject, Gtk  # noqa: E402

CHOOSER_PREVIEW = 180


def decorate(dialog: GimpUi.ProcedureDialog, prop: str) -> Gtk.FileChooser | None:
    """Images only, with a preview pane: the chooser inside GIMP's file widget for `prop`, where reachable
    (returned, None otherwise). The widget is made wide and centred beside its thumbnail."""
    outer = dialog.get_widget(prop, GObject.TYPE_NONE)
    try:
        chooser = find_file_chooser(outer)
    except Exception:  # noqa: BLE001 - the widget's insides differ between GIMP versions
        chooser = None
    if outer is not None:  # beside a thumbnail: wide, and centred instead of stretched to its height
        outer.set_hexpand(True)
        outer.set_valign(Gtk.Align.CENTER)
    if chooser is None:
        return None
    if isinstance(chooser, Gtk.FileChooserButton):
        chooser.set_width_chars(22)
    images = Gtk.FileFilter()
    images.set_name("Images")
    images.add_pixbuf_formats()
    everything = Gtk.FileFilter()
    everything.set_name("All files")
    everything.add_pattern("*")
    chooser.add_filter(images)
    chooser.add_filter(everything)
    chooser.set_filter(images)
    pane = Gtk.Image()
    pane.set_size_request(CHOOSER_PREVIEW, CHOOSER_PREVIEW)
    chooser.set_preview_widget(pane)
    chooser.set_use_preview_label(False)

    def update(widget: Any) -> None:
        pixbuf = pixbufs.from_file(widget.get_preview_filename(), CHOOSER_PREVIEW)
        pane.set_from_pixbuf(pixbuf)
        widget.set_preview_widget_active(pixbuf is not None)

    chooser.connect("update-preview", update)
    return chooser


def find_file_chooser(widget: Gtk.Widget | None) -> Gtk.FileChooser | None:
    """The Gtk.FileChooser (a GtkFileChooserButton) inside GIMP's GimpFileChooser widget."""
    if widget is None:
        return None
    if isinstance(widget, Gtk.FileChooser):
        return widget
    if isinstance(widget, Gtk.Container):
        for child in widget.get_children():
            found = find_file_chooser(child)
            if found is not None:
                return found
    return None


def show_thumbnail(image: Gtk.Image, path: str | None, size: int) -> dict[str, Any]:
    """The style picture at `path` fitted in `size` px in `image` (an icon where it cannot be shown, its
    path as the tooltip); returns what is shown: {"path", "thumbnail": [w, h] or None, "words"}, where
    "words" go under the thumbnail ("Not a picture", "No style yet", or none for a picture shown)."""
    pixbuf = pixbufs.from_file(path, size)
    if pixbuf is None:
        image.set_from_icon_name("image-missing" if path else "image-x-generic", Gtk.IconSize.DIALOG)
    else:
        image.set_from_pixbuf(pixbufs.over_checks(pixbuf))
    image.set_tooltip_text(path or "No style image chosen")
    return {"path": path, "thumbnail": [pixbuf.get_width(), pixbuf.get_height()] if pixbuf is not None else None,
            "words": D.thumbnail_words(path, pixbuf is not None)}


def apply_increments(dialog: GimpUi.ProcedureDialog, increments: dict[str, tuple[float, float]]
                     ) -> dict[str, list[float]]:
    """What "+"/"-" and Page Up/Down change each number by (GIMP derives it from the range: 1.00 -> 2.00 on
    Style strength); returns the increments the widgets now have, by property (tests read them)."""
    done: dict[str, list[float]] = {}
    for prop, (step, page) in increments.items():
        widget = dialog.get_widget(prop, GObject.TYPE_NONE)
        if widget is None or not hasattr(widget, "set_increments"):  # GimpLabelSpin / GimpScaleEntry
            continue
        widget.set_increments(step, page)
        spin = widget.get_spin_button() if hasattr(widget, "get_spin_button") else None
        done[prop] = list(spin.get_increments()) if spin is not None else [step, page]
    return done
