"""Animations whose true motion is known, to measure steadiness by: a photograph panned and zoomed, and the
same with an object crossing it (which hides the scene and shows it again).

Each frame t shows the photograph at p = s_t x + b_t (x in the frame's pixels), so the true backward flow
from frame t to t-1 is exact arithmetic; the object is a disc of another picture's texture moving rigidly.
`mask[t]` is 1 where frame t-1 shows the same surface point (it is in view, not hidden by the disc, and
away from the disc's edge by EDGE pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nst_engine.pictures.images import Picture

EDGE = 2.0  # pixels next to the disc's edge left out of the mask (resampling blends both surfaces there)


@dataclass
class KnownMotion:
    frames: list[Picture]
    flows: list[np.ndarray | None]  # flows[t]: frame t -> t-1, backward, (H, W, 2); None for frame 0
    masks: list[np.ndarray | None]  # masks[t]: (H, W) float32, 1 where frame t-1 shows the same point
    # revealed[t]: (H, W) float32, 1 where frame t shows background the disc hid in frame t-1 (none: zeros)
    revealed: list[np.ndarray | None]


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = size
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def panned(
    photo: np.ndarray, count: int = 10, size: tuple[int, int] = (256, 192), pan: tuple[float, float] = (3.0, 1.5),
    zoom: float = 1.012, occluder: np.ndarray | None = None, disc_speed: tuple[float, float] = (-9.0, 2.0),
) -> KnownMotion:  # fmt: skip
    """`count` frames of `size` from `photo` (H, W, 3, 0..1): panning `pan` px a frame and zooming in by
    `zoom` a frame; with `occluder` (a picture), a disc of it crossing at `disc_speed` px a frame."""
    width, height = size
    ph, pw = photo.shape[:2]
    base = 0.8 * min(pw / width, ph / height)  # photo pixels per frame pixel at frame 0: room to pan
    xs, ys = _grid(size)
    scales = [base / zoom**t for t in range(count)]
    centres = [(pw / 2 + pan[0] * base * (t - count / 2), ph / 2 + pan[1] * base * (t - count / 2))
               for t in range(count)]
    offsets = [(cx - s * (width - 1) / 2, cy - s * (height - 1) / 2) for s, (cx, cy) in zip(scales, centres,
                                                                                            strict=True)]
    radius = 0.22 * min(size)
    discs = [(width * 0.85 + disc_speed[0] * t, height * 0.45 + disc_speed[1] * t) for t in range(count)]
    texture = None if occluder is None else cv2.resize(occluder.astype(np.float32), (int(4 * radius),) * 2,
                                                       interpolation=cv2.INTER_AREA)
    frames, flows, masks, revealed = [], [], [], []
    for t in range(count):
        s, (bx, by) = scales[t], offsets[t]
        matrix = np.float32([[s, 0, bx], [0, s, by]])
        rgb = cv2.warpAffine(photo.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
        inside_disc = np.zeros((height, width), bool)
        if texture is not None:
            dx, dy = xs - discs[t][0], ys - discs[t][1]
            inside_disc = dx * dx + dy * dy <= radius * radius
            tx = np.clip(dx + 2 * radius, 0, texture.shape[1] - 1).astype(np.float32)
            ty = np.clip(dy + 2 * radius, 0, texture.shape[0] - 1).astype(np.float32)
            rgb[inside_disc] = cv2.remap(texture, tx, ty, cv2.INTER_LINEAR)[inside_disc]
        frames.append(Picture(np.ascontiguousarray(np.clip(rgb, 0, 1), dtype=np.float32)))
        if t == 0:
            flows.append(None)
            masks.append(None)
            revealed.append(None)
            continue
        s0, (bx0, by0) = scales[t - 1], offsets[t - 1]
        src_x, src_y = (s * xs + bx - bx0) / s0, (s * ys + by - by0) / s0  # the background's point in t-1
        mask = (src_x >= 0) & (src_x <= width - 1) & (src_y >= 0) & (src_y <= height - 1)
        shown = np.zeros_like(mask)
        if texture is not None:
            move = (discs[t][0] - discs[t - 1][0], discs[t][1] - discs[t - 1][1])
            src_x = np.where(inside_disc, xs - move[0], src_x)
            src_y = np.where(inside_disc, ys - move[1], src_y)
            here = np.hypot(xs - discs[t][0], ys - discs[t][1])
            there = np.hypot(src_x - discs[t - 1][0], src_y - discs[t - 1][1])
            away = (np.abs(here - radius) > EDGE) & (np.abs(there - radius) > EDGE)
            shown = mask & away & ~inside_disc & (there <= radius)  # background the disc hid in t-1
            mask &= away & (inside_disc == (there <= radius))  # the same surface in both frames
        flows.append(np.dstack([src_x - xs, src_y - ys]).astype(np.float32))
        masks.append(mask.astype(np.float32))
        revealed.append(shown.astype(np.float32))
    return KnownMotion(frames, flows, masks, revealed)
