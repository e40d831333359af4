"""How well a result in regions (gatys/guides.py) keeps each style to its region, measured on the pictures
(issue 20), for its tests and the benchmark that draws docs/images/regions.png.

- `style_ratio`: a part of the result's Gram statistics, their distance to its own style's over the distance
  to the other style's (below 1: nearer its own; the tests ask at most `MAX_STYLE_RATIO`);
- `leak`: how far past a region's feathered edge the style still changes the picture, in pixels: the last
  column beyond the edge whose change from the content is over `LEAK_SHARE` of the change inside the region
  (a photo region should be unchanged, so the share is of the inside's change, not of a background).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from nst_engine.gatys.costs import layer_style_gram

# Measured (tests/test_regions.py, 256x96, 12 iterations, synthetic weights): the two halves of a guided run
# 0.21 and 0.61; the content itself 1.18 and 1.01; the two styles blended over the whole picture 1.06 and 3.41.
MAX_STYLE_RATIO = 0.75
LEAK_SHARE = 0.1
Features = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]


def grams(features: Features, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Per layer, the per-pixel Gram matrix of `image` (1, 3, H, W)."""
    with torch.no_grad():
        activations = features(image)
    return {n: layer_style_gram(activations[n]) / (activations[n].shape[-2] * activations[n].shape[-1])
            for n in layers}


def gram_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Mean over layers of |a - b|^2 / |b|^2: each layer counts alike, whatever its scale."""
    return float(np.mean([float((a[n] - b[n]).pow(2).sum() / b[n].pow(2).sum()) for n in b]))


def style_ratio(part: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor],
                other: Mapping[str, torch.Tensor]) -> float:  # fmt: skip
    """distance(part, own style) / distance(part, other style)."""
    return gram_distance(part, own) / gram_distance(part, other)


def column_change(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Mean |result - content| of each column (H, W, 3 pictures, 0..1)."""
    return np.abs(result.astype(np.float64) - content.astype(np.float64)).mean(axis=(0, 2))


def leak(change: np.ndarray, inside: slice, edge: int, share: float = LEAK_SHARE) -> int:
    """Pixels past `edge` (the first column the region's mask is 0, going right) to the last column whose
    change is over `share` of the median change over the `inside` columns; 0: none."""
    level = share * float(np.median(change[inside]))
    above = np.nonzero(change[edge:] > level)[0]
    return 0 if above.size == 0 else int(above[-1]) + 1
