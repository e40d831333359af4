"""Pictures for GTK: engine PNGs, raw RGBA and files to pixbufs, fitted, over GIMP's checkerboard.

The dialog's preview, the progress window and the learned-style chooser all show the engine's
pictures; one place decodes them and lays transparent parts over the checks GIMP's canvas shows.
"""

from __future__ import annotations

import gi

gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib  # noqa: E402

CHECK_SIZE = 8  # GIMP's "mid-tone checks", medium size
CHECK_LIGHT, CHECK_DARK = 0x999999, 0x666666


def from_png(data: bytes) -> GdkPixbuf.Pixbuf | None:
    """The PNG's pixbuf, or None if it is not a PNG GdkPixbuf can read."""
    try:
        loader = GdkPixbuf.PixbufLoader.new_with_type("png")
        loader.write(data)
        loader.close()
        return loader.get_pixbuf()
    except GLib.Error:
        return None


def from_rgba(rgba: bytes, width: int, height: int) -> GdkPixbuf.Pixbuf:
    """8-bit RGBA rows without padding."""
    return GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(rgba), GdkPixbuf.Colorspace.RGB, True, 8, width, height,
                                           width * 4)


def from_file(path: str | None, size: int) -> GdkPixbuf.Pixbuf | None:
    """A picture file fitted in size x size, or None if there is none or GdkPixbuf cannot read it."""
    if not path:
        return None
    try:
        return GdkPixbuf.Pixbuf.new_from_file_at_scale(path, size, size, True)
    except GLib.Error:
        return None


def fit(pixbuf: GdkPixbuf.Pixbuf, width: int, height: int) -> GdkPixbuf.Pixbuf:
    """Scaled to fit width x height, keeping its shape (unchanged when it is already that size)."""
    w, h = pixbuf.get_width(), pixbuf.get_height()
    scale = min(width / w, height / h)
    if abs(scale - 1.0) <= 0.01:
        return pixbuf
    return pixbuf.scale_simple(max(1, round(w * scale)), max(1, round(h * scale)), GdkPixbuf.InterpType.BILINEAR)


def placeholder(width: int, height: int) -> GdkPixbuf.Pixbuf:
    """A plain grey picture where there is none to show (a style without a thumbnail), keeping the layout."""
    pixbuf = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, False, 8, width, height)
    pixbuf.fill(0x808080FF)
    return pixbuf


def over_checks(pixbuf: GdkPixbuf.Pixbuf) -> GdkPixbuf.Pixbuf:
    """Transparent parts over GIMP's checkerboard, as on the canvas; opaque pictures are unchanged."""
    if not pixbuf.get_has_alpha():
        return pixbuf
    return pixbuf.composite_color_simple(pixbuf.get_width(), pixbuf.get_height(), GdkPixbuf.InterpType.NEAREST,
                                         255, CHECK_SIZE, CHECK_LIGHT, CHECK_DARK)
