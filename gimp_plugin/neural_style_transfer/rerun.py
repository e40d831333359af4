"""Non-destructive re-runs: the filter run on one of its own results updates that result in place.

Why: an artist who wants a stronger style or another style image on an earlier result should not have
to delete it and rebuild their layer stack (its position, mask, opacity, blend mode, visibility). A
result layer carries the settings parasite, which names its source layer (and, from this version on,
the source's tattoo); when that source is still in the image, the filter re-stylises the source and
writes the new pixels into the result layer (one undo step), keeping everything else about the layer.

The top half is pure logic (standard library, tested in tests/test_rerun.py); the bottom half is the
GIMP glue, which imports Gimp only when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nst_logic
import placement

UPDATE, NEW_LAYER, CANCEL = "update", "new", "cancel"


@dataclass(frozen=True)
class SourceRef:
    """How a result names its source layer: by tattoo (stable across renames) and by name."""

    name: str
    tattoo: int | None = None


def source_ref(record: Mapping[str, Any] | None) -> SourceRef | None:
    """The source a stored record names, None when the layer is not one of our results."""
    if not record or record.get("procedure") != nst_logic.PROC_NAME:
        return None
    name = record.get("source_layer")
    if not isinstance(name, str) or not name:
        return None
    tattoo = record.get("source_tattoo")
    return SourceRef(name, tattoo if isinstance(tattoo, int) and not isinstance(tattoo, bool) and tattoo > 0 else None)


def pick_source(ref: SourceRef, by_tattoo: Any, by_name: Any, result: Any) -> Any:
    """The source layer: the one with the stored tattoo if it still exists, else the one with the stored
    name; never the result itself (a result whose source was deleted is stylised as a layer of its own)."""
    for candidate in (by_tattoo, by_name):
        if candidate is not None and candidate != result:
            return candidate
    return None


def updated_name(current: str, old_record: Mapping[str, Any], source_name: str, style_paths: list[str],
                 notes: list[str] | None = None) -> str:
    """The result's name after the re-run: follows the new style and how it was painted (`notes`, e.g.
    "painted at 1184×789") only if the artist kept the generated name (e.g. "Photo (style: a)" ->
    "Photo (style: b)"); a name they gave it stays."""
    old_args = old_record.get("arguments") or {}
    old_styles = nst_logic.style_names(old_args)
    generated = nst_logic.layer_name(str(old_record.get("source_layer") or source_name), old_styles)
    if placement.is_named_from(current, generated):
        return placement.named(nst_logic.layer_name(source_name, style_paths), notes or [])
    return current


def question(result_name: str, source_name: str) -> tuple[str, str]:
    """The offer shown when the filter starts on a result layer: (headline, explanation)."""
    return (f"\u201c{result_name}\u201d is a Neural Style Transfer result of \u201c{source_name}\u201d.",
            f"Update it in place from \u201c{source_name}\u201d, keeping its position, mask, opacity, mode and "
            "visibility (the dialog starts from the settings it was made with; one Undo restores it), or "
            "stylise this layer itself into a new layer?")


def size_text(result_name: str, result_size: tuple[int, int], source_name: str,
              source_size: tuple[int, int]) -> str | None:
    """Why the result cannot be updated in place (its size no longer matches the source's), or None."""
    if result_size == source_size:
        return None
    return (f"The result layer \u201c{result_name}\u201d no longer has the size of its source "
            f"\u201c{source_name}\u201d, so it cannot be updated in place. The image was not changed. Select the "
            "source layer and run the filter for a new result.")


# --- GIMP glue -------------------------------------------------------------------------------------


def prepare(image: Any, layer: Any, interactive: bool) -> tuple[Any, Any]:
    """(result to update in place or None, layer to stylise); (None, None) when the artist cancelled.
    A result whose source is still in the image is updated in place (asked first when interactive)."""
    source = find_source(image, layer)
    if source is None:
        return None, layer
    if interactive:
        choice = ask(layer, source)
        if choice == CANCEL:
            return None, None
        if choice == NEW_LAYER:
            return None, layer
    return layer, source


def size_problem(result: Any, source: Any) -> str | None:
    return size_text(result.get_name(), (result.get_width(), result.get_height()), source.get_name(),
                     (source.get_width(), source.get_height()))


def rewrite(image: Any, result_layer: Any, source: Any, result: Any, alpha: bytes, args: nst_logic.PluginArgs,
            settings: dict[str, Any], content_format: str, notes: list[str] | None = None) -> Any:
    """The re-run's pixels (with the source's alpha) and settings into the existing result layer (returned)."""
    pixels = bytearray(result.data)
    nst_logic.put_alpha(pixels, alpha)
    record = nst_logic.settings_record(args, settings, source.get_name(), getattr(result, "message", None),
                                       content_format)
    record["source_tattoo"] = source.get_tattoo()
    update_in_place(image, result_layer, source, bytes(pixels), record, args.style_names(), notes)
    return result_layer


def find_source(image: Any, layer: Any) -> Any:
    """The source layer of `layer` if `layer` is a result whose source is still in `image`, else None."""
    parasite = layer.get_parasite(nst_logic.PARASITE_NAME)
    record = nst_logic.decode_parasite(list(parasite.get_data())) if parasite is not None else None
    ref = source_ref(record)
    if ref is None:
        return None
    by_tattoo = image.get_layer_by_tattoo(ref.tattoo) if ref.tattoo else None
    return pick_source(ref, by_tattoo, image.get_layer_by_name(ref.name), layer)


def ask(result: Any, source: Any) -> str:
    """Interactive: UPDATE, NEW_LAYER or CANCEL, from a question window transient for GIMP's window."""
    import gi

    gi.require_version("Gtk", "3.0")
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, Gtk

    GimpUi.init(nst_logic.PROC_NAME)
    headline, text = question(result.get_name(), source.get_name())
    dialog = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, text=headline, secondary_text=text,
                               title="Neural Style Transfer")
    dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
    dialog.add_button("_New layer", 2)
    update = dialog.add_button("_Update in place", Gtk.ResponseType.OK)
    dialog.set_default_response(Gtk.ResponseType.OK)
    dialog.set_focus(update)  # Return updates in place, whatever GTK would focus first
    GimpUi.window_set_transient(dialog)
    response = dialog.run()
    dialog.destroy()
    return {Gtk.ResponseType.OK: UPDATE, 2: NEW_LAYER}.get(response, CANCEL)


def update_in_place(image: Any, result: Any, source: Any, pixels: bytes, record: dict[str, Any],
                    style_paths: list[str], notes: list[str] | None = None) -> None:
    """Write the new pixels (float RGBA, the source's size, alpha already the source's) into `result`
    through its shadow buffer, with its new settings and name, as one undo step. Position in the stack,
    offsets, mask, opacity, mode and visibility are the result's own and are not touched."""
    from gi.repository import Gegl, Gimp

    w, h = result.get_width(), result.get_height()
    if len(pixels) != w * h * 16:
        raise ValueError(f"the result layer is {w}x{h} but the new image has {len(pixels) // 16} pixels")
    old = result.get_parasite(nst_logic.PARASITE_NAME)
    old_record = nst_logic.decode_parasite(list(old.get_data())) if old is not None else {}
    image.undo_group_start()
    try:
        shadow = result.get_shadow_buffer()
        shadow.set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A float", pixels)
        shadow.flush()
        result.merge_shadow(True)
        result.update(0, 0, w, h)
        name = updated_name(result.get_name(), old_record or {}, source.get_name(), style_paths, notes)
        if name != result.get_name():
            result.set_name(name)
        flags = int(Gimp.PARASITE_PERSISTENT) | int(Gimp.PARASITE_UNDOABLE)
        result.attach_parasite(Gimp.Parasite.new(nst_logic.PARASITE_NAME, flags,
                                                 list(nst_logic.encode_parasite(record))))
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
