"""Whether a job's pictures can run at all, decided from their headers before anything is decoded: a
picture too small for VGG-19's deepest used layer at the working size is refused, with the smallest size
that works, instead of failing mid-job. (What a job may cost in memory: budgets.py.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from nst_engine.errors import ServiceError
from nst_engine.gatys.layers import LAYER_INDEX
from nst_engine.gatys.optimize import style_size
from nst_engine.planning.planner import target_size
from nst_engine.planning.schedule import Size, sizes_for
from nst_engine.settings import MAX_SIDE, Settings


def _pooled_by(layers: list[str]) -> int:
    """How many poolings the deepest of `layers` sits behind (each halves the size, rounding down)."""
    deepest = max(LAYER_INDEX[name] for name in layers)
    return sum(1 for name, index in LAYER_INDEX.items() if name.startswith("pool") and index <= deepest)


def _deepest_name(layers: list[str]) -> str:
    return max(layers, key=lambda name: LAYER_INDEX[name])


def check_fits_network(content: Size, styles: list[Size], settings: Settings, max_pixels: int) -> None:
    """422 when the content or a style would leave VGG-19's deepest used layer empty at some scale.

    The advice names a size that works and that the engine accepts (at most `max_pixels`, sides at
    most MAX_SIDE): a taller picture where that fits, else a crop to a less elongated one.
    """
    layers = [settings.content_layer, *settings.style_layers]
    need = 2 ** _pooled_by(layers)
    layer = _deepest_name(layers)

    def content_worked(size: Size) -> Size:
        return sizes_for(target_size(size, settings), settings)[0]

    coarsest = content_worked(content)
    if min(coarsest) < need:
        raise ServiceError(422, _too_small("The content image", content, content_worked, need, layer, max_pixels))

    def style_worked(size: Size) -> Size:
        return style_size(torch.empty((1, 3, size[1], size[0]), device="meta"), coarsest, settings)

    for index, style in enumerate(styles, start=1):
        if min(style_worked(style)) < need:
            raise ServiceError(422, _too_small(f"Style image {index}", style, style_worked, need, layer, max_pixels))


def _too_small(what: str, size: Size, worked_of: Callable[[Size], Size], need: int, layer: str,
               max_pixels: int) -> str:
    width, height = size
    short, long = min(size), max(size)
    worked = worked_of(size)

    def shaped(long_side: int, short_side: int) -> Size:  # the picture's orientation kept
        return (long_side, short_side) if width >= height else (short_side, long_side)

    scale = max(worked) / long  # how the working size relates to the image's
    smallest = min(long, math.ceil((need - 0.5) / scale)) if scale > 0 else long
    while smallest < long and round(smallest * scale) < need:  # bounded: at most `long` steps
        smallest += 1
    accepted = smallest <= MAX_SIDE and smallest * long <= max_pixels
    if round(smallest * scale) >= need and smallest > short and accepted:
        advice = f"make its short side at least {smallest} px (keeping the long side of {long} px)"
    elif (crop := _longest_crop(shaped, short, long, worked_of, need)) is not None:
        cropped = shaped(crop, short)
        advice = (f"crop it to at most {cropped[0]}x{cropped[1]} px (a less elongated picture: a taller one that "
                  f"works would be over the engine's limit of {max_pixels:,} pixels)" if not accepted else
                  f"crop it to at most {cropped[0]}x{cropped[1]} px (a less elongated picture)")
    else:
        advice = f"make it at least {need} px on each side at the working size (a larger `size`)"
    return (f"{what} ({width}x{height}) would be {worked[0]}x{worked[1]} px at the working size, too small for "
            f"VGG-19's {layer}, which needs at least {need} px on each side: {advice}.")


def _longest_crop(shaped: Callable[[int, int], Size], short: int, long: int, worked_of: Callable[[Size], Size],
                  need: int) -> int | None:
    """The longest long side, keeping the short one, at which the picture works; None if none does."""
    if min(worked_of(shaped(short, short))) < need:
        return None
    low, high = short, long  # works at `low`, not at `long`
    while high - low > 1:
        middle = (low + high) // 2
        if min(worked_of(shaped(middle, short))) >= need:
            low = middle
        else:
            high = middle
    return low
