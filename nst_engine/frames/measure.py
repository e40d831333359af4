"""How much an animation's strokes flicker: temporal instability, Ruder et al.'s measure of a styled video.

instability = the mean over frames t >= 1 of mean |O_t - warp(O_{t-1})| over the pixels where frame t-1
shows the same point (and over channels), with the warp by the given (true, where known) backward flow.
Steady strokes that follow the content score near the resampling's own blur; strokes placed anew in each
frame score high.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from nst_engine.frames.flow import warp


def frame_differences(outputs: Sequence[np.ndarray], flows: Sequence[np.ndarray | None],
                      masks: Sequence[np.ndarray | None]) -> list[float]:  # fmt: skip
    """Per frame t >= 1: mean |O_t - warp(O_{t-1})| over masked pixels and channels (outputs (H, W, 3))."""
    out = []
    for t in range(1, len(outputs)):
        flow, mask = flows[t], masks[t]
        assert flow is not None and mask is not None
        carried = warp(np.ascontiguousarray(outputs[t - 1], dtype=np.float32), flow)
        difference = np.abs(outputs[t].astype(np.float32) - carried).mean(-1)
        out.append(float((difference * mask).sum() / max(mask.sum(), 1.0)))
    return out


def instability(outputs: Sequence[np.ndarray], flows: Sequence[np.ndarray | None],
                masks: Sequence[np.ndarray | None]) -> float:  # fmt: skip
    """The mean of `frame_differences`: one number for the animation."""
    return float(np.mean(frame_differences(outputs, flows, masks)))


# What the instability leaves out (issue 22's figure): the steady frames against the independent ones. A trail is
# an uncovered area that looks unlike a styled frame (flat, or the earlier frame's colours); drift is the whole
# frame growing softer or paler frame after frame. Both compare a run with the independent frames at each t.


def detail(rgb: np.ndarray) -> np.ndarray:
    """High-frequency energy per pixel (H, W): |Laplacian| of the picture, averaged over channels."""
    return np.abs(cv2.Laplacian(np.ascontiguousarray(rgb, dtype=np.float32), cv2.CV_32F)).mean(-1)


def _mean_over(values: np.ndarray, mask: np.ndarray) -> float:
    return float((values * mask).sum() / max(float(mask.sum()), 1.0))


def trail(outputs: Sequence[np.ndarray], independent: Sequence[np.ndarray],
          revealed: Sequence[np.ndarray | None]) -> tuple[float, float]:  # fmt: skip
    """(detail ratio, colour change) on the pixels each frame uncovers, worst frame: the uncovered pixels'
    high-frequency energy over the independent frame's there (1: as styled; a flat smear is far below), and
    their mean |O_t - I_t| (a smear of other colours is far above the rest of the frame's)."""
    ratios, changes = [], []
    for t in range(1, len(outputs)):
        mask = revealed[t]
        if mask is None or mask.sum() < 1:
            continue
        ratios.append(_mean_over(detail(outputs[t]), mask) / max(_mean_over(detail(independent[t]), mask), 1e-8))
        changes.append(_mean_over(np.abs(outputs[t] - independent[t]).mean(-1), mask))
    return min(ratios), max(changes)


def drift(outputs: Sequence[np.ndarray], independent: Sequence[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per frame: (high-frequency energy over the independent frame's, mean brightness minus the independent
    frame's). Drift shows as the first falling and the second climbing frame after frame."""
    sharp = [float(detail(o).mean() / max(detail(i).mean(), 1e-8)) for o, i in zip(outputs, independent, strict=True)]
    light = [float(o.mean() - i.mean()) for o, i in zip(outputs, independent, strict=True)]
    return sharp, light
