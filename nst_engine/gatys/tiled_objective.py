"""J and its gradient over the whole image, computed tile by tile: the untiled optimisation in bounded memory.

J_style needs only each style layer's Gram matrix of the whole image, and a Gram matrix is a sum
over positions; J_content is a sum over positions too, and total variation is cheap on the whole
image. So one evaluation runs two passes over the tiles (tiling.layout: cores with a halo):

1. every tile forward without gradients, summing each style layer's Gram matrix over the core's
   features: the whole image's Gram matrices, hence J_style and dJ/dG_l;
2. every tile forward and backward on a surrogate whose gradient is the true one:
   sum_l <stopgrad(dJ/dG_l), the core's Gram matrix> plus the content cost of the core's features.
   The gradient of the whole input region (core and halo) adds into a full-size buffer.

The style images' own Gram matrices are summed over tiles the same way (`style_targets`), for styles
too large to run through VGG-19 at once.

With regions (guides.py), `guided` replaces the style targets: its Gram matrices, one per region and layer,
are weighted by the regions' masks at the core's cells, and sum over tiles the same way.

The last tile of pass 1 keeps its graph and is the first of pass 2, so it runs once. Tiled and
untiled then differ only by halo truncation and summation order. The full-size image, its gradient
and the optimiser's history live on `state_device` (the host when the accelerator is small); only
tiles travel to the network's device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from nst_engine.gatys import tiling
from nst_engine.gatys.costs import layer_style_gram, style_cost_per_pixel, total_cost_with_tv, total_variation

Size = tuple[int, int]
Activations = Mapping[str, torch.Tensor]


class Interrupted(Exception):  # noqa: N818 (a signal, not an error)
    """An evaluation stopped between tiles (Stop): the image is left as the last finished iteration made it."""


class TiledObjective:
    """J(G) = alpha J_content + beta J_style + tv TV(G) of a whole image, evaluated in tiles of `tile`."""

    def __init__(
        self,
        model: Callable[[torch.Tensor], Activations],
        content: torch.Tensor,
        style_targets: Mapping[str, torch.Tensor],
        content_layer: str,
        style_layers: Mapping[str, float],
        weights: tuple[float, float, float],
        tile: Size,
        autocast: Callable[[], object],
        device: torch.device,
        memory_format: torch.memory_format = torch.contiguous_format,
        halo: int | None = None,
        guided: Any = None,
    ) -> None:
        """`content` (1, 3, H, W) on the state device; `device` runs the network; `weights` are (alpha, beta, tv);
        `guided`: a guides.GuidedStyle, for a picture in regions (its `grams` and `cost` replace the targets')."""
        self.model, self.autocast, self.device, self.memory_format = model, autocast, device, memory_format
        self.content_layer, self.style_layers = content_layer, dict(style_layers)
        self.alpha, self.beta, self.tv_weight = weights
        self.targets = {name: target.to(device) for name, target in style_targets.items()}
        self.guided = None if guided is None else guided.to(device)
        self.layers = tuple(dict.fromkeys([*self.style_layers, content_layer]))
        size = (content.shape[-1], content.shape[-2])
        self.tiles = tiling.layout(size, tile, halo, align=tiling.align_for(self.layers))
        # The content target: the content image's core features, tile by tile, kept where the image is.
        self.content_targets: list[torch.Tensor] = []
        factor = tiling.downsampling(content_layer)
        for t in self.tiles:
            with torch.no_grad():
                activations = self._forward(t.region(content))
            self.content_targets.append(t.core_features(activations[content_layer], factor).float().to(content.device))
        positions = sum(c.shape[-2] * c.shape[-1] for c in self.content_targets)
        self.content_norm = 4 * positions * self.content_targets[0].shape[1]  # equation 1's 4 n_H n_W n_C
        self.counts = self._counts()
        # Seconds spent per part of the evaluations (benchmarks report each pass's share).
        self.seconds = {"whole image": 0.0, "Gram pass": 0.0, "gradient pass": 0.0}

    def _forward(self, region: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.model(region.to(self.device).contiguous(memory_format=self.memory_format))

    def _core_grams(self, tile: tiling.Tile, activations: Activations) -> dict[Any, torch.Tensor]:
        if self.guided is not None:
            return self.guided.grams({n: tile.core_features(activations[n], tiling.downsampling(n))
                                      for n in self.style_layers}, (tile.core_x[0], tile.core_y[0]))
        return {name: layer_style_gram(tile.core_features(activations[name], tiling.downsampling(name)))
                for name in self.style_layers}

    def _content_sum(self, index: int, activations: Activations) -> torch.Tensor:
        tile = self.tiles[index]
        a_G = tile.core_features(activations[self.content_layer], tiling.downsampling(self.content_layer))
        return (self.content_targets[index].to(self.device) - a_G.float()).pow(2).sum()

    def _counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.style_layers, 0)
        for tile in self.tiles:
            for name in self.style_layers:
                f = tiling.downsampling(name)
                counts[name] += ((tile.core_x[1] - tile.x[0]) // f - (tile.core_x[0] - tile.x[0]) // f) * (
                    (tile.core_y[1] - tile.y[0]) // f - (tile.core_y[0] - tile.y[0]) // f)
        return counts

    def _clock(self, part: str | None = None, since: float = 0.0) -> float:
        """Now; with `part`, the time since `since` is added to it (waiting for the device first)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if part is not None:
            self.seconds[part] += now - since
        return now

    def losses(self, image: torch.Tensor) -> dict[str, float]:
        """The cost terms of `image` (no gradient): one forward pass over the tiles."""
        sums: dict[str, torch.Tensor] = {}
        content = torch.zeros((), device=self.device)
        for index, tile in enumerate(self.tiles):
            with torch.no_grad():
                activations = self._forward(tile.region(image))
                _add(sums, self._core_grams(tile, activations))
                content = content + self._content_sum(index, activations)
        with torch.no_grad():
            parts = self._terms(sums, content, image)
        return {name: float(value) for name, value in parts.items()}

    def _terms(self, sums: Mapping[str, torch.Tensor], content: torch.Tensor,
               image: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
        J_style = self._style_cost(sums)
        J_content = content / self.content_norm
        J_tv = total_variation(image).to(self.device)
        J = total_cost_with_tv(J_content, J_style, J_tv, self.alpha, self.beta, self.tv_weight)
        return {"content": J_content, "style": J_style, "tv": J_tv, "total": J}

    def _style_cost(self, sums: Mapping[Any, torch.Tensor]) -> torch.Tensor:
        if self.guided is not None:
            return self.guided.cost(sums, self.counts)
        return style_cost_per_pixel(self.targets, {n: sums[n] / self.counts[n] for n in self.style_layers},
                                    self.style_layers)

    def evaluate(
        self, image: torch.Tensor, check: Callable[[], None] = lambda: None,
        on_tile: Callable[[int, int, bool], None] = lambda done, tiles, second: None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        """J of `image` (a leaf on the state device) with its gradient in `image.grad`; the cost terms.

        `check()` runs between tiles (it may raise Cancelled or Interrupted); `on_tile(done, tiles,
        second_pass)` follows each tile.
        """
        mark = self._clock()
        grad = torch.zeros_like(image)
        # Total variation on the whole image: its gradient directly.
        pixels = image.detach().requires_grad_(True)
        J_tv = total_variation(pixels)
        (self.tv_weight * J_tv).backward()
        grad += pixels.grad  # type: ignore[operator]
        del pixels
        mark = self._clock("whole image", mark)
        # Pass 1: the whole image's Gram sums; the last tile keeps its graph for pass 2.
        sums: dict[str, torch.Tensor] = {}
        last = len(self.tiles) - 1
        kept: tuple[torch.Tensor, Activations, dict[str, torch.Tensor]] | None = None
        for index, tile in enumerate(self.tiles):
            check()
            if index < last:
                with torch.no_grad():
                    _add(sums, self._core_grams(tile, self._forward(tile.region(image.detach()))))
            else:
                region = tile.region(image.detach()).to(self.device).requires_grad_(True)
                activations = self._forward(region)
                grams = self._core_grams(tile, activations)
                _add(sums, {n: g.detach() for n, g in grams.items()})
                kept = (region, activations, grams)
            on_tile(index + 1, len(self.tiles), False)
        mark = self._clock("Gram pass", mark)
        leaves = {key: gram.requires_grad_(True) for key, gram in sums.items()}
        J_style = self._style_cost(leaves)
        weights = torch.autograd.grad(self.beta * J_style, list(leaves.values()), allow_unused=True) if leaves else ()
        dG = {key: w for key, w in zip(leaves, weights, strict=True) if w is not None}
        # Pass 2: each tile's surrogate, whose gradient is the tile's part of the true one.
        content = torch.zeros((), device=self.device)
        for step, index in enumerate([last, *range(last)], start=1):
            check()
            tile = self.tiles[index]
            if kept is not None:
                (region, activations, grams), kept = kept, None
            else:
                region = tile.region(image.detach()).to(self.device).requires_grad_(True)
                activations = self._forward(region)
                grams = self._core_grams(tile, activations)
            content_sum = self._content_sum(index, activations)
            surrogate = sum((dG[k] * grams[k]).sum() for k in dG) + (
                self.alpha / self.content_norm) * content_sum
            surrogate.backward()  # type: ignore[union-attr]
            tile.region(grad).add_(region.grad.to(grad.device, grad.dtype))  # type: ignore[union-attr]
            content = content + content_sum.detach()
            del region, activations, grams, surrogate
            on_tile(step, len(self.tiles), True)
        mark = self._clock("gradient pass", mark)
        image.grad = grad
        with torch.no_grad():
            parts = self._terms(sums, content, image.detach())
        self._clock("whole image", mark)
        return parts["total"], parts


def _add(sums: dict[Any, torch.Tensor], grams: Mapping[Any, torch.Tensor]) -> None:
    for name, gram in grams.items():
        sums[name] = sums[name] + gram if name in sums else gram


def cancelled_or(stopping: Callable[[], bool], check_cancel: Callable[[], None]) -> Callable[[], None]:
    """A between-tiles check: Cancelled when cancelled, Interrupted when asked to stop."""

    def check() -> None:
        check_cancel()
        if stopping():
            raise Interrupted()

    return check


def gram_sums(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
    image: torch.Tensor,
    style_layers: Iterable[str],
    chunk: int,
    autocast: Callable[[], object],
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Per layer, the Gram matrix of an image too large for VGG-19 at once, unnormalised, and its pixel count.

    A Gram matrix is a sum over positions: summed over the cores of tiles of at most `chunk` px.
    """
    layers = tuple(style_layers)
    height, width = image.shape[-2:]
    grams: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for tile in tiling.layout((width, height), (chunk, chunk), align=tiling.align_for(layers)):
        with torch.no_grad(), autocast():
            activations = model(tile.region(image))
        for name in layers:
            inner = tile.core_features(activations[name], tiling.downsampling(name))
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
