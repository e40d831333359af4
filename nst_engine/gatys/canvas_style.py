"""The whole image's style cost while one tile of it is optimised (tiling.py).

A tile that matches the style's statistics on its own gets the style's average texture, however
calm its region: a plain sky as much brushwork as a busy street, which shows as extra fine texture
(measured: total variation +57% over an untiled run). The untiled optimisation matches the
statistics of the whole image instead, so busy regions carry more texture than calm ones. This
keeps that: the canvas's Gram sums are known, and a tile's style cost is the whole canvas's with
the tile's own contribution swapped for its current one, the rest of the image held fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

from nst_engine.gatys.costs import layer_style_gram, style_cost_per_pixel
from nst_engine.gatys.tiling import gram_sums


class CanvasGrams:
    """Per style layer, the Gram matrix of the whole canvas, unnormalised, and its pixel count."""

    def __init__(self, sums: dict[str, torch.Tensor], counts: dict[str, int], pixels: int) -> None:
        self.sums, self.counts, self.pixels = sums, counts, pixels

    @classmethod
    def measure(
        cls, model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]], image: torch.Tensor,
        style_layers: Iterable[str], chunk: int, autocast: Callable[[], object],
    ) -> CanvasGrams:  # fmt: skip
        """The sums of (1, 3, H, W) `image`, run through the network in chunks of at most `chunk` px."""
        sums, counts = gram_sums(model, image, style_layers, chunk, autocast)
        return cls(sums, counts, image.shape[-2] * image.shape[-1])

    def cost(self, targets: Mapping[str, torch.Tensor], style_layers: Mapping[str, float]) -> torch.Tensor:
        """J_style of the canvas as it stands."""
        return style_cost_per_pixel(targets, {n: self.sums[n] / self.counts[n] for n in style_layers}, style_layers)

    def tile(self, pixels: int) -> TileStyle:
        return TileStyle(self, pixels)


class TileStyle:
    """One tile's part in the canvas's Gram matrices: as it started (`first`) and as last evaluated."""

    def __init__(self, canvas: CanvasGrams, pixels: int) -> None:
        self.canvas = canvas
        # A tile's content and TV costs are means over the tile; its share of the canvas's style cost
        # is scaled by canvas/tile pixels to keep the untiled run's balance of the three.
        self.scale = canvas.pixels / pixels
        self.first: dict[str, torch.Tensor] | None = None
        self.latest: dict[str, torch.Tensor] = {}

    def record(
        self, activations: Mapping[str, torch.Tensor], style_layers: Iterable[str]
    ) -> dict[str, torch.Tensor]:
        """The tile's Gram matrices from its activations now; the first recorded are its start's."""
        grams = {name: layer_style_gram(activations[name]) for name in style_layers}
        self.latest = {name: gram.detach() for name, gram in grams.items()}
        if self.first is None:
            self.first = self.latest
        return grams

    def cost(
        self, targets: Mapping[str, torch.Tensor], activations: Mapping[str, torch.Tensor],
        style_layers: Mapping[str, float],
    ) -> torch.Tensor:  # fmt: skip
        """J_style of the whole canvas with this tile's activations in place (the first call's are the start's)."""
        grams = self.record(activations, style_layers)
        assert self.first is not None
        canvas = self.canvas
        joint = {n: (canvas.sums[n] - self.first[n] + grams[n]) / canvas.counts[n] for n in style_layers}
        return style_cost_per_pixel(targets, joint, style_layers)

    def write_back(self) -> None:
        """The tile is in the canvas as last recorded: the canvas's sums take its Gram matrices."""
        if self.first is None:
            return
        for name, gram in self.latest.items():
            self.canvas.sums[name] = self.canvas.sums[name] - self.first[name] + gram
        self.first = None
