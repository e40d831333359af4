"""Where the tiles of a scale too large for memory lie: pure geometry, with no network and no cost.

A tiled scale is still one optimisation of the whole image (tiled_objective.py): tiles only bound
the memory of running VGG-19. Every tile has a *core*, and the cores partition the image; the tile's
input region is its core plus a *halo* of context on each side (clipped at the image's edges), so
that the features of the core's positions are those of the whole image, up to what lies further
out than the halo. Cores and regions start on multiples of 16 (`align_for`): VGG-19 pools four
times, so each layer's feature grid of a region is then a window of the whole image's grid, and
the core's features are exactly the whole image's positions it owns.

The halo is HALO px, a trade of difference against time. `exact_halo` is where the zero padding at
a region's edge stops reaching the core's features: 48 px for conv4_2 (the content layer) and the
layers before it, 80 px for conv5_1. Measured (synthetic weights, CPU fp32, 2026-12-03):
- one evaluation (256x208, tiles of 192), the gradient's error relative to the untiled one: no halo
  0.59, 32 px 0.066, 48 px 0.0094, 64 px 0.0025, 80 px exact up to summation order (a test checks);
- pictures, mean |tiled - untiled| over mean |untiled - content| (the style's change, only 2.5
  levels of 255 at 256 px and 6.8 at 768 px with these weights): at 256 px, 6 iterations, tiles of
  192, 48 px 0.221, 64 px 0.147, 80 px 0.038, where the same untiled run on 1 thread against 2
  differs by 0.021: the difference is the halo's, not float noise. It comes from the gradient pass
  (a Gram pass with 80-px halos and a gradient pass with 48 left 0.221). At 768 px, 6 iterations,
  4 regions of 432-448: 48 px 0.147, 64 px 0.106 (0.71 levels); block tone spread 0.01 levels and
  worst edge 1.01-1.03 in every case (no grid).
- time, one evaluation of 1024x1024 over the untiled one (CPU time, 1 thread): 48-px halos in 16
  tiles of 384 1.88x, in 9 of 448-512 1.64-1.70x (regions 1.64x and 1.41x the area); 64-px halos in
  9 of 512 1.79-1.93x (1.56x), in 4 of 576 1.57x (1.27x). 2048x1365 in 6 tiles of 1024: 1.42x with
  48 px, 1.52x with 64; in 4 of 1088x752 (the same memory a region) 1.44x with 64. Time grows
  more slowly than area (tiles fit caches better than the whole).
64 px leaves only conv5_1 inexact, by 0.0025, and meets issue 17's 0.15 with room at 768 px; its
price in area falls as tiles grow, so the smallest tile is MIN_TILE (512 px) rather than 192: in
192-px tiles the halos were 3.5x the area of 768x768 (4.9x the work, by `evaluation_work`).
Smaller memory scales the picture down (or refuses, naming a size that fits) instead.
The Gram pass (forward only) needs 0.3 of the gradient pass's memory a pixel (measured 770-900 bytes
against 2600-3100), so a tile's memory is its gradient pass's (planning/memory.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from nst_engine.gatys.layers import LAYER_INDEX, LAYER_NAMES

Size = tuple[int, int]
Span = tuple[int, int]  # [start, end) along one axis

HALO = 64  # px of context on each side of a tile's core (a multiple of 16): see above
MIN_TILE = 512  # smaller tiles spend more on halos than on their cores: see above
ALIGN = 16  # VGG-19 pools four times before conv5: tiles start on multiples of 16
# A forward pass without gradients (the Gram pass) over a tile, in forward-and-backward passes of it:
# measured on the CPU (fp32): 0.38 and 0.42 at 192 and 320 px (2 threads), 0.41 at 1024 px (1 thread).
FORWARD_SHARE = 0.4


def downsampling(layer: str) -> int:
    """How much smaller than the input a VGG-19 layer's activations are (convB_Y: 2**(B-1), poolB: 2**B)."""
    block = int(layer[4] if layer.startswith(("conv", "relu", "pool")) else 1)
    return 2 ** (block if layer.startswith("pool") else block - 1)


def align_for(layers: Iterable[str]) -> int:
    """The multiple tiles start on so that every layer's feature grid lines up with the whole image's."""
    return max([ALIGN, *(downsampling(name) for name in layers)])


def exact_halo(layers: Iterable[str]) -> int:
    """The halo (a multiple of 16) beyond which a region's zero padding no longer reaches its core's features.

    Each 3x3 convolution carries the padding's effect one position further in (its downsampling in
    px); a pooling rounds it up to its window. conv4_2 (the content layer): 48 px; conv5_1: 80 px.
    """
    deepest = max(LAYER_INDEX[name] for name in layers)
    reach, factor = 0, 1
    for name in LAYER_NAMES:
        if name.startswith("relu"):
            continue
        if LAYER_INDEX[name] > deepest:
            break
        if name.startswith("conv"):
            reach += factor
        elif name.startswith("pool"):
            factor *= 2
            reach = math.ceil(reach / factor) * factor
    return math.ceil(reach / ALIGN) * ALIGN


def cores(length: int, tile: int, halo: int | None = None, align: int = ALIGN) -> list[Span]:
    """Cores partitioning [0, length): as few as tiles of `tile` (core plus halo both sides) allow, even sizes."""
    halo = HALO if halo is None else halo  # read at each call: benchmarks vary it
    if tile >= length:
        return [(0, length)]
    # The fewest cores whose regions fit: the first and last regions have a halo on one side only.
    spans: list[Span] = []
    for count in range(2, length // align + 2):
        step = math.ceil(length / count / align) * align
        spans = [(start, min(length, start + step)) for start in range(0, length, step)]
        if _widest(spans, length, halo) <= tile:
            break
    return spans


def _widest(spans: list[Span], length: int, halo: int) -> int:
    """The widest input region of these cores along an axis (no halo at the image's edges, none for one core)."""
    if len(spans) == 1:
        return length
    return max(b - a + halo * ((a > 0) + (b < length)) for a, b in spans)


def region_size(size: Size, tile: Size, halo: int | None = None) -> Size:
    """The largest input region of `layout(size, tile)` along each axis: what one tile's memory is for."""
    halo = HALO if halo is None else halo
    return (_widest(cores(size[0], tile[0], halo), size[0], halo),
            _widest(cores(size[1], tile[1], halo), size[1], halo))


@dataclass(frozen=True)
class Tile:
    """A core (the positions whose features this tile counts) and its input region (core plus halo)."""

    core_x: Span
    core_y: Span
    x: Span
    y: Span

    @property
    def size(self) -> Size:
        return self.x[1] - self.x[0], self.y[1] - self.y[0]

    @property
    def pixels(self) -> int:
        """Of the input region: what the network runs on."""
        return self.size[0] * self.size[1]

    def region(self, image: torch.Tensor) -> torch.Tensor:
        return image[..., self.y[0]:self.y[1], self.x[0]:self.x[1]]

    def core_features(self, activations: torch.Tensor, factor: int) -> torch.Tensor:
        """The core's part of a layer's activations of the region (`factor`: the layer's downsampling)."""
        rows = slice((self.core_y[0] - self.y[0]) // factor, (self.core_y[1] - self.y[0]) // factor)
        cols = slice((self.core_x[0] - self.x[0]) // factor, (self.core_x[1] - self.x[0]) // factor)
        return activations[..., rows, cols]


def layout(size: Size, tile: Size, halo: int | None = None, align: int = ALIGN) -> list[Tile]:
    """The tiles of a (width, height) image in regions of at most `tile`, in raster order."""
    halo = HALO if halo is None else halo
    width, height = size

    def axis(length: int, side: int) -> list[tuple[Span, Span]]:
        spans = cores(length, side, halo, align)
        margin = halo if len(spans) > 1 else 0
        return [((a, b), (max(0, a - margin), min(length, b + margin))) for a, b in spans]

    return [Tile(cx, cy, x, y) for cy, y in axis(height, tile[1]) for cx, x in axis(width, tile[0])]


def edges(length: int, tile: int, halo: int | None = None) -> list[int]:
    """Every line where a tile's core or region begins or ends inside [0, length): where seams would be."""
    halo = HALO if halo is None else halo
    found = {edge for a, b in cores(length, tile, halo) for edge in (a, b, a - halo, b + halo)}
    return sorted(edge for edge in found if 0 < edge < length) if tile < length else []


def evaluation_work(size: Size, tile: Size) -> float:
    """Pixels run through forward and backward per evaluation of a tiled scale, the Gram pass included.

    Every region runs forward without gradients (the Gram pass, FORWARD_SHARE of a forward and
    backward), then forward and backward; the last region of the Gram pass keeps its graph for the
    second pass, so it runs once.
    """
    tiles = layout(size, tile)
    return sum(t.pixels for t in tiles) * (1 + FORWARD_SHARE) - FORWARD_SHARE * tiles[-1].pixels
