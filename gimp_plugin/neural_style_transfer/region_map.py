"""The regions drawn over a small picture of the layer: how the dialog's preview shows where each style goes.

Pure logic (standard library, tests/test_plugin_regions.py): before a preview runs, each region is tinted with
its style's colour; over a finished preview, only the regions' edges are drawn, so the painting stays visible.
"""

from __future__ import annotations

from typing import Any

# A tint per style of region_logic (1, 2, "photo"): warm, cool, grey; the edges in a bright magenta.
TINTS: dict[Any, tuple[int, int, int]] = {1: (255, 140, 0), 2: (0, 140, 255), "photo": (128, 128, 128)}
EDGE = (255, 0, 255)
TINT_STRENGTH = 0.45
LEGEND = {1: "orange: the style", 2: "blue: the second style", "photo": "grey: the untouched photo"}


def tint(rgba: bytes, masks: list[bytes], styles: list[Any], rest: Any) -> bytes:
    """8-bit RGBA with each pixel mixed towards the colour of the style it gets (masks: u8, one per region,
    in order; where they overlap the later one wins; `rest` where none covers it)."""
    out = bytearray(rgba)
    n = len(rgba) // 4
    for i in range(n):
        style, cover = rest, 255
        for mask, region_style in zip(masks, styles, strict=True):
            if mask[i] >= 128:
                style, cover = region_style, mask[i]
        colour = TINTS.get(style)
        if colour is None:
            continue
        k = TINT_STRENGTH * cover / 255
        for c in range(3):
            out[4 * i + c] = round(out[4 * i + c] * (1 - k) + colour[c] * k)
    return bytes(out)


def edges(rgba: bytes, width: int, height: int, masks: list[bytes]) -> bytes:
    """8-bit RGBA with the edge of every mask (where it crosses one half between neighbours) drawn in EDGE."""
    out = bytearray(rgba)
    for mask in masks:
        for y in range(height):
            row = y * width
            for x in range(width):
                inside = mask[row + x] >= 128
                right = x + 1 < width and (mask[row + x + 1] >= 128) != inside
                below = y + 1 < height and (mask[row + width + x] >= 128) != inside
                if right or below:
                    out[4 * (row + x):4 * (row + x) + 3] = bytes(EDGE)
    return bytes(out)


def legend(styles: list[Any], rest: Any) -> str:
    """The words under the map: which colour is which style (only those in use)."""
    used = list(dict.fromkeys([*styles, rest]))
    return "Regions \u2014 " + ", ".join(LEGEND[s] for s in used if s in LEGEND) + "."
