"""How far a picture made in tiles is from the same picture made whole: measures on pictures, not on costs.

Costs average over the image and miss a patchwork of tiles (issue 17: cost-based "seam ratios" of
1.00 while whole tiles were paler than their neighbours). These look at d = tiled - untiled itself:
- `relative_difference`: mean |d| over what the style changed (mean |untiled - content|);
- `block_tone_spread`: the std of d's block means, in levels of 0..255 (a paler tile is a block tone);
- `edge_ratios`: per tile edge, the mean |step of d| across it over that inside the tiles (a seam is a step).
Pictures are (H, W, C) arrays in 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def relative_difference(tiled: np.ndarray, untiled: np.ndarray, content: np.ndarray) -> float:
    """Mean |tiled - untiled| over mean |untiled - content|."""
    return float(np.abs(tiled - untiled).mean() / max(np.abs(untiled - content).mean(), 1e-12))


def block_tone_spread(tiled: np.ndarray, untiled: np.ndarray, block: int) -> float:
    """Std (levels of 0..255) of the mean of (tiled - untiled) over blocks of `block` px (whole blocks only)."""
    d = (tiled - untiled).mean(axis=2)
    rows, cols = d.shape[0] // block, d.shape[1] // block
    means = d[: rows * block, : cols * block].reshape(rows, block, cols, block).mean(axis=(1, 3))
    return float(means.std() * 255)


def edge_ratios(tiled: np.ndarray, untiled: np.ndarray, xs: Sequence[int], ys: Sequence[int],
                keep_off: int = 3) -> dict[str, list[float]]:  # fmt: skip
    """Per edge (x: a column where a tile begins or ends, y: a row), |step of d| across it over that inside.

    The step across edge e is between pixels e-1 and e; "inside" is every step at least `keep_off`
    px from all edges of that axis.
    """
    d = tiled - untiled
    ratios: dict[str, list[float]] = {}
    for axis, name, edges in ((1, "x", xs), (0, "y", ys)):
        steps = np.abs(np.diff(d, axis=axis)).mean(axis=(1 - axis, 2))  # steps[i]: between i and i+1
        inside = [i for i in range(len(steps)) if all(abs(i + 1 - e) >= keep_off for e in edges)]
        typical = max(float(steps[inside].mean()), 1e-12)
        ratios[name] = [float(steps[e - 1]) / typical for e in edges]
    return ratios


def worst_edge(ratios: dict[str, list[float]]) -> float:
    return max([0.0, *ratios["x"], *ratios["y"]])
