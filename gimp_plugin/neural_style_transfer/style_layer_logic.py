"""A layer of an open image as the style: how it is remembered, found again, named and sent.

Pure logic (standard library only, tests/test_style_layer.py). A GIMP layer object lives only as long as the
session, so a result remembers its style layer by reference: the image's file (or its name for an unsaved
image; an imported JPEG has no XCF file but the file it came from), the image's id in this session (two
unsaved images share the name "[Untitled]"), the layer's tattoo (stable across renames; tattoos repeat from image
to image) and its name. style_layers.py does the GIMP side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import nst_logic


def layer_ref(image_file: str | None, image_name: str, layer_name: str, tattoo: int, image_id: int = 0
              ) -> dict[str, Any]:
    """What a record stores about a style layer (JSON, ASCII-safe once encoded)."""
    return {"image_file": image_file or None, "image": image_name, "image_id": int(image_id), "layer": layer_name,
            "tattoo": int(tattoo)}


def is_ref(value: Any) -> bool:
    return (isinstance(value, Mapping) and isinstance(value.get("layer"), str) and isinstance(value.get("image"), str)
            and isinstance(value.get("tattoo"), int))


def pick(ref: Mapping[str, Any], candidates: Iterable[tuple[str | None, str, int, str, Any, int]]) -> Any:
    """The layer a reference names among the open images' layers, given as (image file, image name, tattoo,
    layer name, layer, image id); None when it is gone. The image must match by its file when it had one (else
    by name); among those, the layer whose image id, tattoo and name match most (tattoo or name at least; in an
    unsaved image, its name, or its tattoo in the very image of this session)."""
    best, best_score = None, 0
    for file, name, tattoo, layer_name, layer, image_id in candidates:
        if (file != ref.get("image_file")) if ref.get("image_file") else (file is not None or name != ref["image"]):
            continue
        same_image = bool(ref.get("image_id")) and image_id == ref["image_id"]
        score = 2 * (tattoo == ref["tattoo"]) + (layer_name == ref["layer"]) + 4 * same_image
        if not ref.get("image_file") and layer_name != ref["layer"] and not (same_image and tattoo == ref["tattoo"]):
            continue  # an unsaved image is known by a name many share: the layer's own name must match
        if score > best_score:
            best, best_score = layer, score
    return best


def gone_text(ref: Mapping[str, Any], fallback_file: str | None) -> str:
    """Said plainly when a re-run's style layer is no longer open."""
    instead = (f"the style image \u201c{nst_logic.style_label(fallback_file)}\u201d is used instead"
               if fallback_file else "choose a style again")
    return (f"The style layer \u201c{ref.get('layer')}\u201d of \u201c{ref.get('image')}\u201d is no longer open, so "
            f"{instead}. Open that image to use the layer again.")


def png_format(sample_format: str) -> tuple[str, str]:
    """(babl sample type to read the layer in, PNG sample format): 8-bit stays 8-bit; 16-bit, 32-bit and
    float layers go as 16-bit PNG (what a style file can hold; 16 bits are more than a style's statistics use)."""
    return ("u8", "u8") if sample_format == "u8" else ("u16", "u16")


def babl_format(has_alpha: bool, sample: str) -> str:
    """The babl format a style layer is read in: perceptual RGB, with alpha only when the layer has some."""
    return f"R'G'B'{'A' if has_alpha else ''} {sample}"
