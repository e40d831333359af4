"""Regions: each part of the picture its own style, by guided Gram matrices (Gatys et al. 2017, "Controlling
Perceptual Factors in Neural Style Transfer", section 4).

K soft masks over the content (0..1, feathered edges welcome) each pick a style picture, the blend of all of
them, or "photo" (the content cost only: no style there); what no mask covers is the `rest`. Per style
layer, region r's Gram matrix is a mask-weighted mean of the feature products,

    G_r = sum_p m_r(p) F_p F_p^T / W_r,   W_r = sum_p m_r(p),

with m_r the mask at that layer's resolution, and its cost the seed's equation 2 against the style's
per-pixel Gram matrix, weighted by the region's weight and its share W_r / N of the layer's N cells. The
share keeps a pixel's style pressure what it is in a whole-picture run (one region covering everything is
exactly the unguided cost: tests/test_regions.py), so the calibrated style weight means the same; and the
weights m_r (the paper's F∘T_r with T_r = sqrt(m_r)) split a feathered pixel's pull linearly between its
regions, so that styles cross-fade over the feather.

How a mask reaches a layer: the paper offers the simple way, the guide down-sampled to each layer's size,
and "inside" guides, eroded so that only neurons whose receptive field lies wholly inside a region count.
Down-sampling is the paper's default, and the one chosen here (as an average over each cell, so a soft
mask stays soft and a cell on an edge counts by how much of it lies inside): erosion by conv5_1's receptive
field (over 200 px) empties every region narrower than that at the sizes the coarse scales run at, and
throws away a feathered edge. What down-sampling costs, the style reaching past its edge through the
receptive fields, is measured instead (README, tests/test_regions.py).

Cells are whole-image cells, so a tile's core picks its cells from the whole masks: guided Gram matrices
sum over tiles exactly like the global ones (tiled_objective.py calls `grams` and `cost`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nst_engine.errors import SettingsError
from nst_engine.gatys import tiling
from nst_engine.gatys.costs import unroll

PHOTO = "photo"
BLEND = "blend"
MAX_REGIONS = 8
StyleChoice = int | str  # a style picture's 0-based index, PHOTO or BLEND
Key = tuple[int, str]  # (channel, layer)


@dataclass(frozen=True)
class Region:
    """A soft mask (H, W, 0..1, any size: it is scaled to the content) and what it gets."""

    mask: np.ndarray
    style: StyleChoice
    weight: float = 1.0
    style_mask: np.ndarray | None = None  # where in the style picture to take its statistics (None: all of it)


@dataclass(frozen=True)
class Regions:
    """The regions of a job, and what no mask covers (`rest`, weight 1)."""

    regions: tuple[Region, ...]
    rest: StyleChoice = PHOTO

    def check(self, styles: int) -> None:
        """SettingsError naming the region whose choice or weight cannot run with `styles` style pictures."""
        if len(self.regions) > MAX_REGIONS:
            raise SettingsError(f"{len(self.regions)} regions: at most {MAX_REGIONS} per job.")
        for name, choice, weight in [*((f"region {i}", r.style, r.weight) for i, r in enumerate(self.regions, 1)),
                                     ("the rest", self.rest, 1.0)]:
            if isinstance(choice, int) and not 0 <= choice < styles:
                raise SettingsError(f"{name} asks for style {choice + 1}, but the job has {styles} style "
                                    f"picture(s): give a style number from 1 to {styles}, {PHOTO!r} or {BLEND!r}.")
            if isinstance(choice, str) and choice not in (PHOTO, BLEND):
                raise SettingsError(f"{name} asks for style {choice!r}: give a style number, {PHOTO!r} or {BLEND!r}.")
            if not (np.isfinite(weight) and weight >= 0):
                raise SettingsError(f"{name} has the weight {weight}: give a number of 0 or more.")


def style_choice(text: str | int, styles: int, name: str) -> StyleChoice:
    """A 1-based style number (or its text), PHOTO or BLEND, as CLI and service take it; the engine's choice."""
    if isinstance(text, str) and text.strip().lower() in (PHOTO, BLEND):
        return text.strip().lower()
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: {text!r} is no style: give a style number from 1 to {styles}, "
                            f"{PHOTO!r} or {BLEND!r}.") from None
    if isinstance(text, bool) or not 1 <= number <= styles:
        raise SettingsError(f"{name} asks for style {text}, but there are {styles} style picture(s): give a "
                            f"number from 1 to {styles}, {PHOTO!r} or {BLEND!r}.")
    return number - 1


@dataclass
class Channel:
    """A region at one scale: its mask (1, 1, H, W) at the content's size, and what it gets."""

    mask: torch.Tensor
    style: StyleChoice
    weight: float
    style_mask: np.ndarray | None = None


def mask_tensor(mask: np.ndarray, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """A (H, W) mask as (1, 1, h, w) at `size` (w, h), 0..1: area-averaged down, bilinear up."""
    tensor = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None].to(device)
    width, height = size
    if tensor.shape[-2:] != (height, width):
        shrinking = height < tensor.shape[-2] or width < tensor.shape[-1]
        tensor = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False,
                               antialias=shrinking)
    return tensor.clamp(0, 1)


def channels(regions: Regions, size: tuple[int, int], device: torch.device) -> list[Channel]:
    """The regions at `size`, then the rest: 1 less their sum, where that is above 0."""
    out = [Channel(mask_tensor(r.mask, size, device), r.style, r.weight, r.style_mask) for r in regions.regions]
    covered = sum((c.mask for c in out), torch.zeros(1, 1, size[1], size[0], device=device))
    out.append(Channel((1 - covered).clamp(0, 1), regions.rest, 1.0))
    return out


def layer_mask(mask: torch.Tensor, layer: str) -> torch.Tensor:
    """The (1, 1, H, W) mask at a layer's cells (h, w): each cell's mean (VGG-19's pooling floors the same way)."""
    factor = tiling.downsampling(layer)
    return (F.avg_pool2d(mask, factor, factor) if factor > 1 else mask)[0, 0]


def photo_start(start: torch.Tensor, content: torch.Tensor, parts: Sequence[Channel]) -> torch.Tensor:
    """The first scale's start with the photo regions' pixels the content's: nothing pulls them elsewhere."""
    photo = sum((c.mask for c in parts if c.style == PHOTO), torch.zeros_like(content[:, :1]))
    photo = photo.clamp(0, 1)
    return photo * content + (1 - photo) * start


class GuidedStyle:
    """J_style of a picture in regions, from its guided Gram matrices summed over the whole or over tiles."""

    def __init__(self, parts: Sequence[Channel], targets: Sequence[Mapping[str, torch.Tensor]],
                 style_layers: Mapping[str, float]) -> None:  # fmt: skip
        """`targets[i]`: the per-pixel Gram matrices of channel i's style (ignored for photo channels)."""
        self.style_layers = dict(style_layers)
        styled = [(i, c) for i, c in enumerate(parts) if c.style != PHOTO and c.weight > 0]
        self.masks: dict[Key, torch.Tensor] = {}
        self.weight_sums: dict[Key, float] = {}
        self.targets: dict[Key, torch.Tensor] = {}
        self.weights: dict[int, float] = {}
        for i, channel in styled:
            for name in self.style_layers:
                cells = layer_mask(channel.mask, name)
                total = float(cells.sum())
                if total <= 1e-6:
                    continue
                self.masks[i, name], self.weight_sums[i, name] = cells, total
                self.targets[i, name] = targets[i][name]
                self.weights[i] = channel.weight

    def to(self, device: torch.device) -> GuidedStyle:
        self.masks = {k: m.to(device) for k, m in self.masks.items()}
        self.targets = {k: t.to(device) for k, t in self.targets.items()}
        return self

    def grams(self, features: Mapping[str, torch.Tensor], origin: tuple[int, int] = (0, 0)) -> dict[Key, torch.Tensor]:
        """Per (channel, layer), sum_p m(p) F_p F_p^T over the cells of `features` (1, C, h, w) per layer,
        whose top-left pixel in the whole picture is `origin` (x, y): a tile's core, or (0, 0) for the whole."""
        out: dict[Key, torch.Tensor] = {}
        for name in self.style_layers:
            a = features[name]
            factor = tiling.downsampling(name)
            row, col = origin[1] // factor, origin[0] // factor
            flat = unroll(a)
            for (i, layer), mask in self.masks.items():
                if layer != name:
                    continue
                cells = mask[row:row + a.shape[-2], col:col + a.shape[-1]]
                assert cells.shape == a.shape[-2:], (name, cells.shape, a.shape)
                out[i, name] = _weighted_gram(flat, cells.reshape(-1).float())
        return out

    def cost(self, sums: Mapping[Key, torch.Tensor], counts: Mapping[str, int]) -> torch.Tensor:
        """sum_r weight_r sum_l coeff_l (W_r/N) |T_r - G_r/W_r|^2 / (4 n_C^2), from the summed `grams`."""
        device = next(iter(self.targets.values())).device if self.targets else torch.device("cpu")
        J = torch.zeros((), device=device)
        for (i, name), W in self.weight_sums.items():
            G = sums[i, name] / W
            n_C = G.shape[-1]
            share = W / counts[name]
            J = J + self.weights[i] * self.style_layers[name] * share * (
                self.targets[i, name] - G).pow(2).sum() / (4 * n_C**2)
        return J

    def cost_whole(self, activations: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """J_style of a picture run whole."""
        counts = {n: activations[n].shape[-2] * activations[n].shape[-1] for n in self.style_layers}
        return self.cost(self.grams(activations), counts)


def _weighted_gram(flat: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_p w(p) F_p F_p^T over the cells where w > 0 only: regions that share a picture cost about one Gram
    matrix together, not one each (benchmarks/regions.py --timing)."""
    inside = weights > 0
    if not bool(inside.all()):
        flat, weights = flat[:, inside], weights[inside]
    return (flat * weights[None]) @ flat.transpose(0, 1)


def masked_targets(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]], image: torch.Tensor, mask: np.ndarray | None,
    style_layers: Sequence[str], chunk: int, autocast: Callable[[], object],
) -> dict[str, torch.Tensor]:  # fmt: skip
    """A style picture's per-pixel Gram matrices over `mask` (None: all of it), in chunks of at most `chunk` px."""
    height, width = image.shape[-2:]
    weights = None if mask is None else mask_tensor(mask, (width, height), image.device)
    layers = tuple(style_layers)
    grams: dict[str, torch.Tensor] = {}
    totals = dict.fromkeys(layers, 0.0)
    for tile in tiling.layout((width, height), (chunk, chunk), align=tiling.align_for(layers)):
        with torch.no_grad(), autocast():
            activations = model(tile.region(image))
        for name in layers:
            factor = tiling.downsampling(name)
            inner = tile.core_features(activations[name], factor)
            if inner.numel() == 0:
                continue
            flat = unroll(inner)
            if weights is None:
                cells = torch.ones(flat.shape[1], device=flat.device)
            else:
                row, col = tile.core_y[0] // factor, tile.core_x[0] // factor
                cells = layer_mask(weights, name)[row:row + inner.shape[-2], col:col + inner.shape[-1]].reshape(-1)
            gram = _weighted_gram(flat, cells.float())
            grams[name] = grams[name] + gram if name in grams else gram
            totals[name] += float(cells.sum())
        del activations
    if min(totals.values()) <= 1e-6:
        raise SettingsError("A style mask selects nothing of its style picture: select part of it, or send none.")
    return {name: grams[name] / totals[name] for name in layers}


def guided_style(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]], parts: Sequence[Channel],
    styles: Sequence[tuple[torch.Tensor, float]], style_layers: Mapping[str, float], chunk: int,
    autocast: Callable[[], object],
) -> GuidedStyle:  # fmt: skip
    """The regions' J_style at one scale: each styled channel's targets, each style picture's computed once."""
    layers = tuple(style_layers)
    whole: dict[int, dict[str, torch.Tensor]] = {}

    def of_style(index: int) -> dict[str, torch.Tensor]:
        if index not in whole:
            whole[index] = masked_targets(model, styles[index][0], None, layers, chunk, autocast)
        return whole[index]

    targets: list[dict[str, torch.Tensor]] = []
    for channel in parts:
        if channel.style == PHOTO or channel.weight <= 0 or float(channel.mask.sum()) <= 1e-6:
            targets.append({})
        elif channel.style == BLEND:
            targets.append({n: sum(of_style(i)[n] * w for i, (_, w) in enumerate(styles)) for n in layers})
        elif channel.style_mask is not None:
            targets.append(masked_targets(model, styles[int(channel.style)][0], channel.style_mask, layers, chunk,
                                          autocast))
        else:
            targets.append(of_style(int(channel.style)))
    return GuidedStyle(parts, targets, style_layers)
