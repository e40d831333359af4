"""The style choosers of the filter's dialog: images only, with a preview pane of the file under the cursor.

Why apart from dialog.py: it reaches inside GIMP's file widget (a GimpFileChooser holding a
GtkFileChooserButton), whose insides differ between GIMP versions; a failure here leaves the plain
chooser and nothing else. Main thread only (GTK).
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
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
