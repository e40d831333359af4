"""How much an animation's strokes flicker: temporal instability, Ruder et al.'s measure of a styled video.

instability = the mean over frames t >= 1 of mean |O_t - warp(O_{t-1})| over the pixels where frame t-1
shows the same point (and over channels), with the warp by the given (true, where known) backward flow.
Steady strokes that follow the content score near the resampling's own blur; strokes placed anew in each
frame score high.
"""

from __future__ import annotations

from collections.abc import Sequence

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
