"""How far a result made in tiles is from the whole-picture one, measured on the pictures (issue 17).

Costs average over the image and miss a patchwork of tiles (cost-based "seam ratios" of 1.00 while
whole tiles were paler than their neighbours), so both engines' tiles (the Gatys optimisation and
learned styles) are judged by these, in their tests and benchmarks.

Three numbers, each with the limit a tiled result must meet:
- `change_ratio`: mean |tiled - whole| over mean |whole - content|, the difference as a share of
  what the style changed (at most 0.15);
- `tone_spread`: the standard deviation, in 8-bit levels, of the mean of (tiled - whole) over
  `BLOCK`-pixel blocks: tiles that are paler or darker than their neighbours spread it (a few levels);
- `edge_ratio`: for every border between tiles, the mean |step| of (tiled - whole) across it over
  the mean |step| across the `BAND` lines on either side of it, inside the tiles; the worst border
  counts (at most 1.25). The lines beside a border, not the whole picture, are its reference: a
  textured difference varies from line to line with the picture, and would make the worst of many
  borders look like a seam where there is none. Steps are in levels plus `EDGE_FLOOR`, so that two
  results equal to rounding do not divide noise by noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

BLOCK = 96
BAND = 8  # lines on each side of a border that are its reference
EDGE_FLOOR = 0.1  # levels: a step this small cannot be seen
MAX_CHANGE_RATIO, MAX_TONE_SPREAD, MAX_EDGE_RATIO = 0.15, 3.0, 1.25


@dataclass
class Agreement:
    change_ratio: float
    tone_spread: float  # levels
    edge_ratio: float

    def holds(self) -> bool:
        return (self.change_ratio <= MAX_CHANGE_RATIO and self.tone_spread <= MAX_TONE_SPREAD
                and self.edge_ratio <= MAX_EDGE_RATIO)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"mean |tiled - whole| = {self.change_ratio:.3f} of the style's change (limit {MAX_CHANGE_RATIO}), "
                f"block tone spread {self.tone_spread:.2f} levels (limit {MAX_TONE_SPREAD:g}), "
                f"edge/inside gradient {self.edge_ratio:.2f} (limit {MAX_EDGE_RATIO})")


def block_tones(difference: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Mean of an (H, W, C) difference over each whole block, in levels: (rows, columns)."""
    rows, columns = difference.shape[0] // block, difference.shape[1] // block
    cut = difference[:rows * block, :columns * block].mean(axis=2)
    return 255.0 * cut.reshape(rows, block, columns, block).mean(axis=(1, 3))


def edge_ratio(difference: np.ndarray, xs: Sequence[int], ys: Sequence[int], band: int = BAND) -> float:
    """Worst border's mean |step| across it over that across the `band` lines beside it (xs: columns x
    with a border between x-1 and x; ys likewise rows)."""
    worst = 1.0
    for axis, borders in ((1, xs), (0, ys)):
        steps = 255.0 * np.abs(np.diff(difference, axis=axis)).mean(axis=(1 - axis, 2))  # steps[x-1]: x-1 to x
        for x in borders:
            beside = np.r_[steps[max(0, x - 1 - band):x - 1], steps[x:x + band]]
            worst = max(worst, float((steps[x - 1] + EDGE_FLOOR) / (beside.mean() + EDGE_FLOOR)))
    return worst


def agreement(tiled: np.ndarray, whole: np.ndarray, content: np.ndarray, xs: Sequence[int],
              ys: Sequence[int], block: int = BLOCK) -> Agreement:
    """The three measures for (H, W, 3) pictures in 0..1, with the tiles' borders at columns xs and rows ys."""
    difference = tiled.astype(np.float64) - whole
    change = float(np.abs(whole.astype(np.float64) - content).mean())
    tones = block_tones(difference, block)
    return Agreement(float(np.abs(difference).mean() / max(change, 1e-12)), float(tones.std()),
                     edge_ratio(difference, xs, ys))
