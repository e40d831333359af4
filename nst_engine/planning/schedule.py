"""The coarse-to-fine schedule: which sizes a job works at, and how many iterations each gets.

Up to 1024 px (FULL_EFFORT_SIDE) the schedule is the classic one: `scales` sizes halving down to
the final one, `coarse_iterations` at each coarse scale and `iterations` at the last. Above it the
layout is already settled, so the sizes keep doubling up to the final size as *detail* scales whose
iterations shrink with their pixels (a quarter per doubling of the long side, never below a few):
each detail scale costs about as much as the 1024-px scale, and a full-resolution result costs a
small multiple of a 1024-px one (2048 px about twice, 4096 px about three times) instead of growing
with the pixel count times the iterations.
"""

from __future__ import annotations

import math

from nst_engine.pictures.images import scaled_size
from nst_engine.settings import Settings

Size = tuple[int, int]

FULL_EFFORT_SIDE = 1024  # the largest long side optimised with the full `iterations`
MIN_DETAIL_ITERATIONS = 3  # L-BFGS needs a few steps at a new scale to sharpen the upsampled image


def scale_sizes(final_size: Size, scales: int, min_long_side: int) -> list[Size]:
    """Sizes of the coarse-to-fine schedule, halving from the final size, none below `min_long_side`."""
    long_side = max(final_size)
    sizes = [final_size]
    for level in range(1, scales):
        side = round(long_side / 2**level)
        if side < min(min_long_side, long_side):
            break
        sizes.insert(0, scaled_size(final_size, side))
    return sizes


def detail_scales(final_size: Size, full_effort_side: int = FULL_EFFORT_SIDE) -> int:
    """How many halvings of the final size stay above `full_effort_side` (0 up to it)."""
    long_side = max(final_size)
    return 0 if long_side <= full_effort_side else math.ceil(math.log2(long_side / full_effort_side))


def sizes_for(final_size: Size, settings: Settings, full_effort_side: int = FULL_EFFORT_SIDE) -> list[Size]:
    """The schedule's sizes: `settings.scales` up to the full-effort size, plus the detail scales."""
    if settings.scales == 1:  # one scale means one scale, whatever the size
        return [final_size]
    scales = settings.scales + detail_scales(final_size, full_effort_side)
    return scale_sizes(final_size, scales, settings.min_scale_size)


def iterations_for(sizes: list[Size], settings: Settings, full_effort_side: int = FULL_EFFORT_SIDE) -> list[int]:
    """Iterations per scale of `sizes` (coarse to fine): full effort up to `full_effort_side`, then less.

    The last scale at or below `full_effort_side` (the final one when no scale is larger) gets
    `iterations`, the scales below it `coarse_iterations`; a detail scale of long side L gets
    `iterations * (full_effort_side / L)**2`, at least MIN_DETAIL_ITERATIONS (or `iterations` if fewer).
    """
    full, coarse = settings.iterations, settings.coarse_iterations_or_default()
    counts = []
    for index, size in enumerate(sizes):
        long_side = max(size)
        finer = sizes[index + 1] if index + 1 < len(sizes) else None
        if long_side > full_effort_side:
            counts.append(max(min(full, MIN_DETAIL_ITERATIONS), round(full * (full_effort_side / long_side) ** 2)))
        elif finer is None or max(finer) > full_effort_side:
            counts.append(full)
        else:
            counts.append(coarse)
    return counts


def schedule(final_size: Size, settings: Settings, full_effort_side: int = FULL_EFFORT_SIDE) -> list[tuple[Size, int]]:
    """(size, iterations) per scale, coarse to fine, for a job whose working size is `final_size`."""
    if settings.scales == 1:  # a single scale gets all the iterations asked for, whatever its size
        return [(final_size, settings.iterations)]
    sizes = sizes_for(final_size, settings, full_effort_side)
    return list(zip(sizes, iterations_for(sizes, settings, full_effort_side), strict=True))
