"""The GIMP side of a style taken from an open layer, and of the masks that say where each style goes.

Why together: both read pixels the engine gets as extra parts of a job (a style picture, region masks),
the same way, on the main thread (the PDB is not thread safe). The decisions are made elsewhere:
style_layer_logic.py (references, formats, texts) and region_logic.py (which masks, which styles).
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import nst_logic  # noqa: E402
import png_encode  # noqa: E402
import region_logic  # noqa: E402
import style_layer_logic as S  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402


def ref_of(drawable: Any) -> dict[str, Any] | None:
    """The lasting reference to a style drawable (None for none)."""
    if drawable is None:
        return None
    image = drawable.get_image()
    return S.layer_ref(_file_of(image), image.get_name(), drawable.get_name(), drawable.get_tattoo(), image.get_id())


def _file_of(image: Any) -> str | None:
    """The image's XCF file, else the file it was imported from (a JPEG opened in GIMP has no XCF file)."""
    for getter in ("get_file", "get_imported_file"):
        file = getattr(image, getter)() if hasattr(image, getter) else None
        if file is not None and file.get_path():
            return file.get_path()
    return None


def find(ref: dict[str, Any] | None) -> Any:
    """The open layer a reference names, None when it is gone (or there is none)."""
    if not S.is_ref(ref):
        return None
    candidates = []
    for image in Gimp.get_images():
        path = _file_of(image)
        for layer in image.get_layers():
            candidates.append((path, image.get_name(), layer.get_tattoo(), layer.get_name(), layer, image.get_id()))
    return S.pick(ref, candidates)


def read_png(drawable: Any) -> bytes:
    """The drawable's pixels as a PNG file: its alpha (if any) and its depth (16-bit kept) as a file's would."""
    image = drawable.get_image()
    _babl, content_sample = nst_logic.pixel_format(image.get_precision().value_name)
    sample, png_sample = S.png_format(content_sample)
    has_alpha = bool(drawable.has_alpha())
    w, h = drawable.get_width(), drawable.get_height()
    data = bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, S.babl_format(has_alpha, sample),
                                           Gegl.AbyssPolicy.CLAMP))
    return png_encode.encode(w, h, 4 if has_alpha else 3, png_sample, data)


def read_masks(image: Any, layer: Any, plan: region_logic.RegionPlan) -> list[bytes]:
    """Each region's mask over the layer, one u8 per pixel at the layer's size: the selection's or a channel's
    soft values under the layer (it may be offset, or smaller than the image); outside the image, nothing."""
    _ok, off_x, off_y = layer.get_offsets()
    rect = Gegl.Rectangle.new(off_x, off_y, layer.get_width(), layer.get_height())
    channels = {channel.get_name(): channel for channel in image.get_channels()}
    masks = []
    for kind, name in plan.masks:
        source = image.get_selection() if kind == "selection" else channels[name]
        masks.append(bytes(source.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)))
    return masks


def channel_names(image: Any) -> list[str]:
    return [channel.get_name() for channel in image.get_channels()]


def plan_for(image: Any, args: nst_logic.PluginArgs) -> region_logic.RegionPlan | None:
    """The regions `args` ask for in `image` (RegionProblem when they cannot be painted)."""
    return region_logic.plan(args.where, args.outside, args.channel_styles,
                             has_selection=not Gimp.Selection.is_empty(image), channel_names=channel_names(image),
                             has_second=bool(args.style_file_2))
