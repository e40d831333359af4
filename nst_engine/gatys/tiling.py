"""Optimising a scale too large for memory in overlapping tiles, without visible seams.

A tiled scale keeps the whole image as a canvas (three channels: small) and optimises one tile at a
time, so memory follows the tile's size, not the image's. Each tile has the content target of its
own region and the style targets of the whole style at that scale: style Gram matrices are
normalised per pixel (costs.style_targets), so every tile aims at the global statistics, and a
tile's style cost is that of the whole canvas with the rest held fixed (canvas_style.py), so calm
regions need not carry the style's average texture. Tiles
start from the canvas (the upsampled previous scale, then the tiles already done), overlap by at
least an eighth of a tile and 64 px, and are written back with raised-cosine ramps facing the tiles
already written; the grid moves by half a tile between passes so that no seam stays in place. The
total-variation term of a tile sees a one-pixel frame of its neighbours, so smoothing reaches
across its borders.

The optimisation itself (objective, optimiser) is handed in by optimize.py: this module only knows
geometry, blending and the style statistics of large images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch

from nst_engine.gatys.costs import layer_style_gram

Size = tuple[int, int]
Span = tuple[int, int]  # [start, end) along one axis

MIN_OVERLAP = 64
MIN_PASS_ITERATIONS = 10
MIN_TILE = 192  # below this VGG-19's deepest layers see a handful of pixels per tile
_ALIGN = 16  # VGG-19 pools four times: tiles and style chunks start on multiples of 16 where they can


def overlap_for(tile: int) -> int:
    """The overlap of neighbouring tiles of this side: an eighth of it, and at least 64 px."""
    return max(MIN_OVERLAP, math.ceil(tile / 8))


def spans(length: int, tile: int, shifted: bool = False) -> list[Span]:
    """Tiles of at most `tile` covering [0, length), overlapping by at least `overlap_for(tile)`.

    The plain layout spreads n tiles evenly. The shifted one centres its tiles on the plain layout's
    overlaps (with shorter tiles at both ends), so the seams of one pass fall inside the tiles of
    the next.
    """
    if tile >= length:
        return [(0, length)]
    overlap = overlap_for(tile)
    count = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(i * (length - tile) / (count - 1)) for i in range(count)]
    plain = [(a, a + tile) for a in starts]
    if not shifted:
        return plain
    centres = [(plain[i + 1][0] + plain[i][1]) // 2 for i in range(count - 1)]
    inner = [(c - tile // 2, min(length, c - tile // 2 + tile)) for c in centres]
    edge = min(tile, 2 * overlap)  # the end tiles are shorter, but not slivers
    first = (0, min(tile, max(inner[0][0] + overlap, edge)))
    last = (max(0, min(inner[-1][1] - overlap, length - edge)), length)
    return [first, *inner, last]


@dataclass(frozen=True)
class Tile:
    """One tile of a pass: its region and the width of the ramps towards tiles written before it."""

    x: Span
    y: Span
    ramp_left: int
    ramp_top: int

    @property
    def size(self) -> Size:
        return self.x[1] - self.x[0], self.y[1] - self.y[0]

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def layout(size: Size, tile: Size, shifted: bool = False) -> list[Tile]:
    """The tiles of one pass in raster order (rows, then columns), each with its blend ramps."""
    xs, ys = spans(size[0], tile[0], shifted), spans(size[1], tile[1], shifted)

    def ramps(axis: list[Span]) -> list[int]:
        return [0] + [max(0, axis[i - 1][1] - axis[i][0]) for i in range(1, len(axis))]

    left, top = ramps(xs), ramps(ys)
    return [Tile(x, y, left[i], top[j]) for j, y in enumerate(ys) for i, x in enumerate(xs)]


def pass_iterations(iterations: int) -> list[int]:
    """Iterations per pass: two passes (the second on the shifted grid) of at least 10 iterations each.

    Each pass restarts every tile's optimiser, and L-BFGS's first step is a short one: with fewer
    iterations a second pass would cost more progress than its moved seams are worth (measured:
    3 + 3 iterations left the style cost 43% above that of 6 iterations on the whole image).
    """
    if iterations < 2 * MIN_PASS_ITERATIONS:
        return [iterations]
    return [iterations - iterations // 2, iterations // 2]


def passes(size: Size, tile: Size, iterations: int) -> list[tuple[list[Tile], int]]:
    """(tiles, iterations per tile) for each pass of a tiled scale."""
    return [(layout(size, tile, shifted=p % 2 == 1), n) for p, n in enumerate(pass_iterations(iterations)) if n]


def pixel_iterations(size: Size, tile: Size, iterations: int) -> int:
    """The work of a tiled scale: each tile's pixels times its iterations, overlaps counted."""
    return sum(n * sum(t.pixels for t in tiles) for tiles, n in passes(size, tile, iterations))


def optimizer_steps(size: Size, tile: Size, iterations: int) -> int:
    """Optimiser steps of a tiled scale (tiles times iterations, over all passes)."""
    return sum(n * len(tiles) for tiles, n in passes(size, tile, iterations))


def _ramp(width: int, length: int, device: torch.device) -> torch.Tensor:
    """1 over `length`, rising along a raised cosine over its first `width` entries."""
    weights = torch.ones(length, device=device)
    if width > 0:
        k = torch.arange(min(width, length), device=device, dtype=torch.float32)
        weights[: len(k)] = 0.5 - 0.5 * torch.cos(math.pi * (k + 0.5) / width)
    return weights


def blend_mask(tile: Tile, device: torch.device) -> torch.Tensor:
    """(1, 1, h, w) weights of a tile written over the canvas: 0 at edges facing tiles written before."""
    width, height = tile.size
    return (_ramp(tile.ramp_top, height, device)[:, None] * _ramp(tile.ramp_left, width, device)[None, :])[None, None]


def crop(image: torch.Tensor, tile: Tile, margin: int = 0) -> tuple[torch.Tensor, int, int]:
    """The tile's region of (N, C, H, W) `image`, with up to `margin` px around it; (region, left, top) margins."""
    height, width = image.shape[-2:]
    x0, y0 = max(0, tile.x[0] - margin), max(0, tile.y[0] - margin)
    x1, y1 = min(width, tile.x[1] + margin), min(height, tile.y[1] + margin)
    return image[..., y0:y1, x0:x1], tile.x[0] - x0, tile.y[0] - y0


class TileObjective(Protocol):
    """What optimize.Objective offers a tile: J and its terms, TV measured on `tv_image`."""

    def __call__(
        self, image: torch.Tensor, tv_image: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def written(self, region: torch.Tensor) -> None:
        """The tile's region of the canvas once the tile is blended in."""


@dataclass
class TileEvent:
    """One optimiser step on a tile: which tile of which pass, and the tile's cost terms."""

    tile: int  # 1-based, within the pass
    tiles: int
    iteration: int  # of this tile at this scale, counting earlier passes
    pixels: int
    losses: dict[str, torch.Tensor]


def optimise(
    canvas: torch.Tensor,
    content: torch.Tensor,
    tile_size: Size,
    iterations: int,
    objective_for: Callable[[torch.Tensor], TileObjective],
    optimizer_for: Callable[[torch.Tensor], torch.optim.Optimizer],
    on_step: Callable[[TileEvent, torch.Tensor], None],
    stopping: Callable[[], bool],
) -> torch.Tensor:
    """Optimise `canvas` (1, 3, H, W, the scale's start) tile by tile; returns it, blended.

    `objective_for(content_crop)` makes a tile's objective, `optimizer_for(tile)` its optimiser;
    `on_step(event, canvas)` follows every step (it may raise Cancelled); `stopping()` ends the scale
    early with the canvas as it is, every tile written so far blended in.
    """
    canvas = canvas.detach().clone()
    size = (canvas.shape[-1], canvas.shape[-2])
    done = 0
    for tiles, n in passes(size, tile_size, iterations):
        for index, tile in enumerate(tiles, start=1):
            if stopping():
                return canvas
            region, _, _ = crop(canvas, tile)
            frame, left, top = crop(canvas, tile, margin=1)
            frame = frame.detach().clone()
            image = region.detach().clone().contiguous().requires_grad_(True)
            objective = objective_for(crop(content, tile)[0])
            optimizer = optimizer_for(image)
            losses: dict[str, torch.Tensor] = {}

            def closure(image=image, frame=frame, left=left, top=top, objective=objective,
                        optimizer=optimizer, losses=losses) -> torch.Tensor:
                optimizer.zero_grad(set_to_none=True)
                framed = frame.clone()
                framed[..., top:top + image.shape[-2], left:left + image.shape[-1]] = image
                J, parts = objective(image, tv_image=framed)
                losses.update(parts)
                J.backward()
                return J

            for iteration in range(1, n + 1):
                if stopping():
                    break
                optimizer.step(closure)
                on_step(TileEvent(index, len(tiles), done + iteration, tile.pixels, losses), canvas)
            mask = blend_mask(tile, canvas.device)
            region.mul_(1 - mask).add_(image.detach().to(canvas.dtype) * mask)
            objective.written(region)
            del objective, optimizer, image, losses
        done += n
    return canvas


def evaluate(
    image: torch.Tensor, content: torch.Tensor, tile_size: Size, objective_for: Callable[[torch.Tensor], TileObjective]
) -> dict[str, float]:
    """Cost terms of a whole image too large to evaluate at once: the pixel-weighted mean over tiles."""
    size = (image.shape[-1], image.shape[-2])
    sums: dict[str, float] = {}
    total = 0
    for tile in layout(size, tile_size):
        frame, left, top = crop(image, tile, margin=1)
        with torch.no_grad():
            _, parts = objective_for(crop(content, tile)[0])(crop(image, tile)[0], tv_image=frame)
        for name, value in parts.items():
            sums[name] = sums.get(name, 0.0) + float(value) * tile.pixels
        total += tile.pixels
    return {name: value / total for name, value in sums.items()}


def _downsampling(layer: str) -> int:
    """How much smaller than the input a VGG-19 layer's activations are (convB_Y: 2**(B-1), poolB: 2**B)."""
    block = int(layer[4] if layer.startswith(("conv", "relu", "pool")) else 1)
    return 2 ** (block if layer.startswith("pool") else block - 1)


def gram_sums(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
    image: torch.Tensor,
    style_layers: Iterable[str],
    chunk: int,
    autocast: Callable[[], object],
    margin: int = 32,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Per layer, the Gram matrix of an image too large for VGG-19 at once, unnormalised, and its pixel count.

    A Gram matrix is a sum over pixels, so it is summed over chunks of at most `chunk` px (plus a
    `margin` of context that is run but not counted). Chunk borders lie on multiples of 16, where
    VGG-19's pooling windows do.
    """
    layers = tuple(style_layers)
    height, width = image.shape[-2:]
    grams: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    step = max(_ALIGN, (chunk - 2 * margin) // _ALIGN * _ALIGN)
    for y in range(0, height, step):
        for x in range(0, width, step):
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(height, y + step + margin), min(width, x + step + margin)
            with torch.no_grad(), autocast():
                activations = model(image[..., y0:y1, x0:x1])
            for name in layers:
                f = _downsampling(name)
                a = activations[name]
                rows = slice((y - y0) // f, (min(height, y + step) - y0) // f)
                cols = slice((x - x0) // f, (min(width, x + step) - x0) // f)
                inner = a[..., rows, cols]
                if inner.numel() == 0:
                    continue
                gram = layer_style_gram(inner)
                grams[name] = grams[name] + gram if name in grams else gram
                counts[name] = counts.get(name, 0) + inner.shape[-2] * inner.shape[-1]
            del activations
    return grams, counts


def style_targets(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
    styles: Iterable[tuple[torch.Tensor, float]],
    style_layers: Iterable[str],
    chunk: int,
    autocast: Callable[[], object],
) -> dict[str, torch.Tensor]:
    """costs.style_targets for style images too large to run through VGG-19 at once (see `gram_sums`)."""
    layers = tuple(style_layers)
    targets: dict[str, torch.Tensor] = {}
    for style, weight in styles:
        grams, counts = gram_sums(model, style, layers, chunk, autocast)
        for name in layers:
            gram = grams[name] * (weight / counts[name])
            targets[name] = targets[name] + gram if name in targets else gram
    return targets
