"""Whether a job's pictures can run at all, decided from their headers before anything is decoded: a
picture too small for VGG-19's deepest used layer at the working size is refused, with the smallest size
that works, instead of failing mid-job. (What a job may cost in memory: budgets.py.)
"""

from __future__ import annotations

import math

import torch

from nst_engine.errors import ServiceError
from nst_engine.gatys.layers import LAYER_INDEX
from nst_engine.gatys.optimize import style_size
from nst_engine.planning.planner import target_size
from nst_engine.planning.schedule import sizes_for
from nst_engine.settings import Settings


def _pooled_by(layers: list[str]) -> int:
    """How many poolings the deepest of `layers` sits behind (each halves the size, rounding down)."""
    deepest = max(LAYER_INDEX[name] for name in layers)
    return sum(1 for name, index in LAYER_INDEX.items() if name.startswith("pool") and index <= deepest)


def _deepest_name(layers: list[str]) -> str:
    return max(layers, key=lambda name: LAYER_INDEX[name])


def check_fits_network(content: tuple[int, int], styles: list[tuple[int, int]], settings: Settings) -> None:
    """422 when the content or a style would leave VGG-19's deepest used layer empty at some scale."""
    layers = [settings.content_layer, *settings.style_layers]
    need = 2 ** _pooled_by(layers)
    final = target_size(content, settings)
    sizes = sizes_for(final, settings)
    coarsest = sizes[0]
    layer = _deepest_name(layers)
    if min(coarsest) < need:
        raise ServiceError(422, _too_small("The content image", content, coarsest, need, layer))
    for index, style in enumerate(styles, start=1):
        shape = torch.empty((1, 3, style[1], style[0]), device="meta")
        worked = style_size(shape, coarsest, settings)
        if min(worked) < need:
            raise ServiceError(422, _too_small(f"Style image {index}", style, worked, need, layer))


def _too_small(what: str, size: tuple[int, int], worked: tuple[int, int], need: int, layer: str) -> str:
    width, height = size
    short, long = min(size), max(size)
    scale = max(worked) / long  # how the working size relates to the image's
    smallest = min(long, math.ceil((need - 0.5) / scale)) if scale > 0 else long
    while smallest < long and round(smallest * scale) < need:  # bounded: at most `long` steps
        smallest += 1
    advice = (f"make its short side at least {smallest} px (keeping the long side of {long} px)"
              if round(smallest * scale) >= need and smallest > short else
              f"make it at least {need} px on each side at the working size (a larger `size`)")
    return (f"{what} ({width}x{height}) would be {worked[0]}x{worked[1]} px at the working size, too small for "
            f"VGG-19's {layer}, which needs at least {need} px on each side: {advice}.")
