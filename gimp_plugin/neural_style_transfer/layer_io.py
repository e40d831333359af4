"""Reading the source layer and writing the result layer: the GIMP side every procedure of the plug-in shares.

Why one module: the main filter and the learned-style procedures must follow the same rules for a
result (a new layer directly above the source, same size and offsets, the source's alpha exactly, a
mask from the selection, one undo step, a parasite recording how it was made), and
neural_style_transfer.py is GIMP's entry script, which cannot be imported. Main thread only: the
PDB is not thread safe.
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import engine_client  # noqa: E402
import nst_logic  # noqa: E402
import placement  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402


class PluginFailure(Exception):
    """A failure with a message for the user; the image is left unchanged."""

    def __init__(self, message: str, status: Gimp.PDBStatusType = Gimp.PDBStatusType.EXECUTION_ERROR):
        super().__init__(message)
        self.message = message
        self.status = status


def single_layer(drawables: list[Gimp.Drawable]) -> Gimp.Layer:
    if len(drawables) != 1:
        raise PluginFailure("Select exactly one layer to stylise.", Gimp.PDBStatusType.CALLING_ERROR)
    drawable = drawables[0]
    if not isinstance(drawable, Gimp.Layer) or isinstance(drawable, Gimp.LayerMask):
        raise PluginFailure("Select a layer (not a channel or a layer mask) to stylise.",
                            Gimp.PDBStatusType.CALLING_ERROR)
    return drawable


def read_layer(image: Gimp.Image, layer: Gimp.Layer) -> tuple[Any, bytes]:
    """The layer's pixels in the image's own depth (u8/u16/f32 RGBA) and its alpha as float32."""
    w, h = layer.get_width(), layer.get_height()
    babl_format, sample = nst_logic.pixel_format(image.get_precision().value_name)
    rect = Gegl.Rectangle.new(0, 0, w, h)
    buffer = layer.get_buffer()
    data = bytes(buffer.get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP))
    alpha = bytes(buffer.get(rect, 1.0, "A float", Gegl.AbyssPolicy.CLAMP))
    expected = w * h * 4 * nst_logic.BYTES_PER_SAMPLE[sample]
    if len(data) != expected or len(alpha) != w * h * 4:
        raise PluginFailure(f"Reading the layer gave {len(data)} bytes instead of {expected}.")
    return engine_client.RawImage(width=w, height=h, channels=4, sample_format=sample, data=data), alpha


def check_result(result: Any, source: Gimp.Layer) -> None:
    """The engine's answer must be float RGBA of the layer's size (the plug-in asks for exactly that)."""
    w, h = source.get_width(), source.get_height()
    if result.sample_format != "f32" or len(result.data) != result.width * result.height * 16:
        raise PluginFailure(f"The engine returned an unusable {result.width}x{result.height} {result.sample_format} "
                            f"image for a {w}x{h} layer. Update the engine (run the installer again).")
    if (result.width, result.height) != (w, h):
        raise PluginFailure(f"The engine answered with a {result.width}x{result.height} image for a {w}x{h} layer: "
                            "it is older than this plug-in; run the installer again to update it.")


def write_result_layer(image: Gimp.Image, source: Gimp.Layer, result: Any, alpha: bytes, name: str,
                       record: dict[str, Any], mask_from_selection: bool = True) -> Gimp.Layer:
    """One undo step: new layer directly above the source's topmost earlier result (placement.py), else
    directly above the source; same size/offsets/alpha, mask from the selection (not when the selection drove
    the regions: the result already holds both sides), `record` as the parasite.

    The layer has an alpha channel only when the source has one (its alpha is then copied exactly).
    """
    check_result(result, source)
    w, h = source.get_width(), source.get_height()
    base = "RGB" if image.get_base_type() == Gimp.ImageBaseType.RGB else "GRAY"
    layer_type = getattr(Gimp.ImageType, nst_logic.result_layer_type(base, source.has_alpha()))
    _ok, off_x, off_y = source.get_offsets()

    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(image, name, w, h, layer_type, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, source.get_parent(), result_position(image, source))
        pixels = bytearray(result.data)
        nst_logic.put_alpha(pixels, alpha)
        set_pixels(layer, bytes(pixels))
        layer.set_offsets(off_x, off_y)
        if mask_from_selection and not Gimp.Selection.is_empty(image):
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        flags = int(Gimp.PARASITE_PERSISTENT) | int(Gimp.PARASITE_UNDOABLE)
        layer.attach_parasite(Gimp.Parasite.new(nst_logic.PARASITE_NAME, flags,
                                                list(nst_logic.encode_parasite(record))))
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return layer


def result_position(image: Gimp.Image, source: Gimp.Layer) -> int:
    """Where a new result of `source` goes among its siblings (placement.insert_position)."""
    parent = source.get_parent()
    siblings = parent.get_children() if parent is not None else image.get_layers()
    records = [_records(item) for item in siblings]
    return placement.insert_position(records, image.get_item_position(source), source.get_name(),
                                     source.get_tattoo())


def _records(item: Gimp.Item) -> list[dict[str, Any] | None]:
    """The stored records of a layer, or of every layer inside a layer group."""
    if item.is_group():
        return [record for child in item.get_children() for record in _records(child)]
    parasite = item.get_parasite(nst_logic.PARASITE_NAME)
    return [placement.record_from(list(parasite.get_data())) if parasite is not None else None]


def set_pixels(layer: Gimp.Layer, data: bytes) -> None:
    w, h = layer.get_width(), layer.get_height()
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A float", data)
    buffer.flush()
    layer.update(0, 0, w, h)


def end_progress() -> None:
    try:
        Gimp.progress_end()
    except Exception:  # noqa: BLE001 - nothing to end
        pass
