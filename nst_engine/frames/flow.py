"""Optical flow between two content frames, the warp it defines, and where it can be trusted.

Flows are (H, W, 2) float32 arrays in pixels, *backward*: `flow[y, x] = (dx, dy)` says that pixel (x, y)
of the later frame shows what (x + dx, y + dy) of the earlier one showed. Warping the earlier frame's
result by it lines it up with the later frame.

Where the flow cannot be trusted (something came into view, or an edge of a moving object) is found as
Ruder, Dosovitskiy and Brox (2016, "Artistic style transfer for videos") do: the forward flow, followed
from where the backward flow leads, must bring the pixel back where it started, and no motion boundary
may cross it. OpenCV's DIS flow (its "medium" preset) is the estimator: fast on a CPU and accurate
enough for steady strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Ruder et al.'s thresholds (their section 3.2), for flows in pixels.
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def gray8(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) 0..1 picture as the 8-bit gray image OpenCV's flow estimators take."""
    luminance = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(luminance * 255.0 + 0.5, 0, 255).astype(np.uint8)


def estimate_flow(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """The backward flow from `later` to `earlier` (both (H, W, 3), 0..1): where each pixel of `later` came from."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(gray8(later), gray8(earlier), None)
    return np.ascontiguousarray(flow, dtype=np.float32)


def sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) coordinates each pixel reads from under `flow`, as cv2.remap takes them."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` (H, W[, C]) of the earlier frame moved onto the later frame by the backward `flow`.

    Points that fall outside the earlier frame take the nearest edge pixel; `inside` says which they are.
    """
    map_x, map_y = sample_points(flow)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def inside(flow: np.ndarray) -> np.ndarray:
    """Pixels whose source under `flow` lies within the earlier frame (bool (H, W))."""
    height, width = flow.shape[:2]
    map_x, map_y = sample_points(flow)
    return (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the backward flow can be trusted (float32 (H, W), 1 or 0): the forward–backward check.

    `backward` maps the later frame to the earlier one, `forward` the earlier to the later. A pixel is
    occluded (0) where the forward flow at its source does not undo the backward flow, on a motion
    boundary of the backward flow, or where its source lies outside the earlier frame.
    """
    forward_there = warp(forward, backward)  # the forward flow at each pixel's source
    undone = forward_there + backward
    consistent = (undone**2).sum(-1) <= CONSISTENCY_RELATIVE * ((forward_there**2).sum(-1) + (backward**2).sum(-1)) \
        + CONSISTENCY_ABSOLUTE
    dx_u, dy_u = np.gradient(backward[..., 0], axis=1), np.gradient(backward[..., 0], axis=0)
    dx_v, dy_v = np.gradient(backward[..., 1], axis=1), np.gradient(backward[..., 1], axis=0)
    boundary = dx_u**2 + dy_u**2 + dx_v**2 + dy_v**2 > BOUNDARY_RELATIVE * (backward**2).sum(-1) + BOUNDARY_ABSOLUTE
    return (consistent & ~boundary & inside(backward)).astype(np.float32)


@dataclass
class Motion:
    """How a later content frame relates to an earlier one: the backward flow and where it holds."""

    flow: np.ndarray  # (H, W, 2) backward, later -> earlier
    mask: np.ndarray  # (H, W) float32, 1 where the earlier frame's result may be carried over

    @classmethod
    def between(cls, later: np.ndarray, earlier: np.ndarray) -> Motion:
        """Estimated from the two content frames ((H, W, 3), 0..1) both ways."""
        backward = estimate_flow(later, earlier)
        forward = estimate_flow(earlier, later)
        return cls(backward, reliable(backward, forward))

    def carry(self, earlier_result: np.ndarray) -> np.ndarray:
        """The earlier frame's result (H, W, C), moved onto the later frame (bicubic: carried frame after frame,
        bilinear resampling would blur the strokes a little more each time)."""
        return warp(np.ascontiguousarray(earlier_result, dtype=np.float32), self.flow, cv2.INTER_CUBIC)
