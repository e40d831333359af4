"""Keeping strokes on the moving content: what a frame takes from the frames styled before it.

`Carried` is an earlier result moved onto the frame (frames/flow.py) with the mask of where that holds.
For the optimisation (Gatys) a `Guide` starts every scale from the carried result where it holds and adds
Ruder et al.'s temporal cost, strength * TEMPORAL_WEIGHT * mean(c * (x - carried)^2): a cost on pixels,
like total variation, so in the same units whatever the weights file. A learned style's result is blended
with the carried one where it holds (`blend`).

Long-term consistency (frame t-k as well as t-1) uses t-k only where t-1 does not hold: where something
that hid the scene in t-1 has moved off, the strokes it hid come back as they were (Ruder et al.'s
c_long = max(c_{t-k} - c_{t-1}, 0)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from nst_engine.errors import SettingsError

# The temporal cost's weight at strength 1, in the units of the engine's total variation (a mean of squared
# pixel differences, 0..1). Measured (tests/test_frames_measured.py: 128x96, 6 frames of 10 iterations, an
# object crossing a panned and zoomed photograph): 2000 left 0.79 of the independent frames' flicker, 8000
# 0.61, 20000 0.46, each frame's style cost below the independent frame's in all three. Since the residual
# O - C is carried rather than the result, the content stays sharp and new in every frame: 20000 then left 0.53
# (bilinear warp), 40000 with a bicubic warp 0.46, each frame keeping at least 0.75 of the independent frame's
# fine detail (measure.drift; 0.48 by frame 6 when the result was carried).
TEMPORAL_WEIGHT = 40000.0
# How much of the carried result a learned style keeps at strength 1 (strength s keeps 1 - (1 - KEEP)^s).
# Measured as above with a small learned style: 0.6 left 0.53 of the independent frames' flicker, 0.7 0.46,
# 0.8 0.39 (long-term 2: 0.38).
LEARNED_KEEP = 0.8
MAX_STRENGTH = 10.0
MAX_LONG_TERM = 100


@dataclass(frozen=True)
class Temporal:
    """How steady an animation is kept: `strength` 0 styles each frame on its own; `long_term` k > 1 also
    keeps consistent with frame t-k (0: off)."""

    strength: float = 1.0
    long_term: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)) or not (
                math.isfinite(self.strength) and 0 <= self.strength <= MAX_STRENGTH):
            raise SettingsError(f"The temporal strength must be a number from 0 (independent frames) to "
                                f"{MAX_STRENGTH:g}, not {self.strength!r}: 1 is the default.")
        if isinstance(self.long_term, bool) or not isinstance(self.long_term, int) or not (
                self.long_term == 0 or 2 <= self.long_term <= MAX_LONG_TERM):
            raise SettingsError(f"long_term must be 0 (off) or a frame distance from 2 to {MAX_LONG_TERM}, "
                                f"not {self.long_term!r}.")

    @classmethod
    def from_dict(cls, values: object) -> Temporal:
        """From JSON such as {"strength": 1, "long_term": 0}; unknown keys are refused by name."""
        if not isinstance(values, dict):
            raise SettingsError('temporal must be a JSON object such as {"strength": 1.0, "long_term": 0}.')
        unknown = sorted(set(values) - {"strength", "long_term"})
        if unknown:
            raise SettingsError(f"Unknown temporal setting(s) {', '.join(map(repr, unknown))}: the known ones are "
                                "'strength' and 'long_term'.")
        return cls(**values)

    @property
    def on(self) -> bool:
        return self.strength > 0

    @property
    def cost_weight(self) -> float:
        """The Gatys temporal cost's weight."""
        return self.strength * TEMPORAL_WEIGHT

    @property
    def keep(self) -> float:
        """The share of the carried result a learned style keeps where it holds."""
        return 1.0 - (1.0 - LEARNED_KEEP) ** self.strength


@dataclass
class Carried:
    """An earlier frame's result moved onto this frame, and where it holds (both at the content's size)."""

    rgb: np.ndarray  # (H, W, 3) float32, 0..1
    mask: np.ndarray  # (H, W) float32, 0..1
    # The earlier result's style residual (O - C, moved) laid on this frame's content, 0..1: what the optimisation
    # starts from and is held to, so that the content stays sharp and new (None: `rgb`). A learned style blends `rgb`.
    restyled: np.ndarray | None = None

    @property
    def target(self) -> np.ndarray:
        return self.rgb if self.restyled is None else self.restyled


def exclusive(carried: list[Carried]) -> list[Carried]:
    """Each carried result's mask less where a nearer one (earlier in the list) holds: c_long of Ruder et al."""
    taken = np.zeros_like(carried[0].mask)
    out = []
    for item in carried:
        mask = np.clip(item.mask - taken, 0.0, 1.0)
        out.append(replace(item, mask=mask))
        taken = np.clip(taken + mask, 0.0, 1.0)
    return out


class Guide:
    """The optimisation's guide for one frame: `start` and `cost` at whatever size a scale runs."""

    def __init__(self, carried: list[Carried], weight: float) -> None:
        self.carried = exclusive(carried)
        self.weight = weight
        self._at: dict[tuple[tuple[int, int], str], tuple[torch.Tensor, torch.Tensor]] = {}

    def targets(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(carried results (n, 3, h, w), masks (n, 1, h, w)) at `like`'s size and device, made once per size."""
        size = (like.shape[-1], like.shape[-2])
        key = (size, str(like.device))
        if key not in self._at:
            rgb = torch.from_numpy(np.stack([c.target for c in self.carried])).permute(0, 3, 1, 2)
            mask = torch.from_numpy(np.stack([c.mask for c in self.carried]))[:, None]
            if (rgb.shape[-1], rgb.shape[-2]) != size:
                rgb = F.interpolate(rgb, size=(size[1], size[0]), mode="bilinear", align_corners=False, antialias=True)
                mask = F.interpolate(mask, size=(size[1], size[0]), mode="bilinear", align_corners=False,
                                     antialias=True).clamp(0, 1)
            self._at[key] = (rgb.to(like.device, torch.float32), mask.to(like.device, torch.float32))
        return self._at[key]

    def start(self, image: torch.Tensor) -> torch.Tensor:
        """A scale's start (1, 3, h, w): the carried results where they hold, `image` elsewhere."""
        rgb, mask = self.targets(image)
        rest = (1.0 - mask.sum(0, keepdim=True)).clamp(0, 1)
        return ((rgb * mask).sum(0, keepdim=True) + rest * image.float()).to(image.dtype)

    def cost(self, image: torch.Tensor) -> torch.Tensor:
        """weight * mean over pixels and channels of sum_j c_j (x - carried_j)^2 (Ruder et al.'s temporal cost)."""
        rgb, mask = self.targets(image)
        return self.weight * (mask * (image.float() - rgb).pow(2)).sum(0).mean()


def blend(rgb: np.ndarray, carried: list[Carried], keep: float) -> np.ndarray:
    """A learned style's frame (H, W, 3) with `keep` of the carried results where they hold."""
    out = rgb.astype(np.float32, copy=True)
    for item in exclusive(carried):
        share = (keep * item.mask)[..., None]
        out += share * (item.rgb - rgb)
    return np.clip(out, 0.0, 1.0)
