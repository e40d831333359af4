"""The GIMP side of an animation: find its frames, read each on the image's canvas, write the styled frames
into a new layer group. Main thread only (the PDB is not thread safe); the rules are animation_logic's.

Why on the canvas: the engine's frames job takes frames of one size, and GIMP's playback shows every frame
on the image's canvas; a layer smaller than the image or moved is read there, transparent around it.
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import animation_logic as A  # noqa: E402
import engine_client  # noqa: E402
import layer_io  # noqa: E402
import nst_logic  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402
from layer_io import PluginFailure  # noqa: E402


def find_frames(image: Gimp.Image, drawables: list[Gimp.Drawable]) -> tuple[Gimp.Item | None, list[Gimp.Layer]]:
    """(the group holding the frames or None for the image's top level, the frame layers in play order).

    A selected layer group gives its layers; otherwise the frames are the selected layer's level, the image's
    top-level layers when nothing is selected, as GIMP's playback plays them."""
    selected = drawables[0] if len(drawables) == 1 else None
    if isinstance(selected, Gimp.Layer) and selected.is_group():
        parent: Gimp.Item | None = selected
    else:
        parent = selected.get_parent() if isinstance(selected, Gimp.Layer) else None
    siblings = parent.get_children() if parent is not None else image.get_layers()
    names = [layer.get_name() for layer in siblings]
    results = [layer.get_parasite(A.PARASITE_NAME) is not None for layer in siblings]
    frames = A.frames_in_play_order(names, results)
    where = A.frames_source(parent is not None, parent.get_name() if parent is not None else None, None)
    try:
        A.check_frames(frames, where[0].upper() + where[1:])
    except ValueError as error:
        raise PluginFailure(str(error), Gimp.PDBStatusType.CALLING_ERROR) from None
    return parent, [siblings[frame.index] for frame in frames]


def read_frame(image: Gimp.Image, layer: Gimp.Layer) -> tuple[Any, bytes, tuple[int, int, int, int]]:
    """The frame on the image's canvas (image depth, RGBA), its alpha as float32, and where the layer lies."""
    width, height = image.get_width(), image.get_height()
    _ok, off_x, off_y = layer.get_offsets()
    babl_format, sample = nst_logic.pixel_format(image.get_precision().value_name)
    rect = Gegl.Rectangle.new(-off_x, -off_y, width, height)  # the canvas, in the layer's coordinates
    buffer = layer.get_buffer()
    data = bytes(buffer.get(rect, 1.0, babl_format, Gegl.AbyssPolicy.NONE))  # transparent beyond the layer
    alpha = bytes(buffer.get(rect, 1.0, "A float", Gegl.AbyssPolicy.NONE))
    expected = width * height * 4 * nst_logic.BYTES_PER_SAMPLE[sample]
    if len(data) != expected or len(alpha) != width * height * 4:
        raise PluginFailure(f"Reading the frame \u201c{layer.get_name()}\u201d gave {len(data)} bytes instead of "
                            f"{expected}.")
    frame = engine_client.RawImage(width=width, height=height, channels=4, sample_format=sample, data=data)
    return frame, alpha, (off_x, off_y, layer.get_width(), layer.get_height())


def write_group(image: Gimp.Image, parent: Gimp.Item | None, sources: list[Gimp.Layer], styled: list[Any],
                alphas: list[bytes], name: str, record: dict[str, Any]) -> Gimp.Layer:
    """One undo step: a new layer group above the frames (and above earlier results) holding the styled frames
    (the first `len(styled)` in play order), each named after its frame with its time and disposal tags, on the
    canvas with the frame's own transparency, stacked as the frames are (the first frame at the bottom)."""
    width, height = image.get_width(), image.get_height()
    for result in styled:
        if result.sample_format != "f32" or (result.width, result.height) != (width, height) or (
                len(result.data) != width * height * 16):
            raise PluginFailure(f"The engine returned an unusable {result.width}x{result.height} frame for a "
                                f"{width}x{height} image. Update the engine (run the installer again).")
    base = "RGB" if image.get_base_type() == Gimp.ImageBaseType.RGB else "GRAY"
    layer_type = getattr(Gimp.ImageType, nst_logic.result_layer_type(base, True))
    siblings = parent.get_children() if parent is not None else image.get_layers()
    earlier = [item for item in siblings if item.get_parasite(A.PARASITE_NAME) is not None]
    top = min(image.get_item_position(item) for item in [*sources, *earlier])  # above the frames and earlier results
    image.undo_group_start()
    try:
        group = Gimp.GroupLayer.new(image, name)
        image.insert_layer(group, parent, top)
        group.set_expanded(True)  # the frames in view in the Layers dock
        for source, result, alpha in zip(sources, styled, alphas, strict=False):  # bottom first: each on top
            layer = Gimp.Layer.new(image, A.styled_frame_name(source.get_name()), width, height, layer_type,
                                   100.0, Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, group, 0)
            pixels = bytearray(result.data)
            nst_logic.put_alpha(pixels, alpha)
            layer_io.set_pixels(layer, bytes(pixels))
            layer.set_offsets(0, 0)
        flags = int(Gimp.PARASITE_PERSISTENT) | int(Gimp.PARASITE_UNDOABLE)
        group.attach_parasite(Gimp.Parasite.new(A.PARASITE_NAME, flags, list(nst_logic.encode_parasite(record))))
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return group
