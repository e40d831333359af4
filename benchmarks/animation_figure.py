"""The README's animation figure: content | independent frames | steady frames, side by side, as an animated
WebP (each frame 200 ms, looping) and as a strip of every other frame (beside it: `-strip.webp`).

Made by benchmarks/bench_frames.py --figure (its crossing sequence's runs), so the figures and the numbers
printed under them come from one run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABELS = {"content": "content", "independent": "independent frames", "steady": "steady (flow + temporal cost)"}
BAR = 18  # label bar height, px
FRAME_MS = 200


def _u8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _panel(rgb: np.ndarray, label: str) -> Image.Image:
    image = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + BAR), "white")
    image.paste(Image.fromarray(_u8(rgb)), (0, BAR))
    ImageDraw.Draw(image).text((4, 3), label, fill="black")
    return image


def _row(panels: list[Image.Image], gap: int = 4) -> Image.Image:
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    row = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        row.paste(panel, (x, 0))
        x += panel.width + gap
    return row


def write_figure(runs: dict[str, list[np.ndarray]], path: Path, report: dict | None = None) -> list[Path]:
    """`runs`: name -> frames (H, W, 3); writes `path` (animated WebP) and `<stem>-strip.webp`."""
    names = [n for n in LABELS if n in runs]
    count = len(runs[names[0]])
    frames = [_row([_panel(runs[n][t], f"{LABELS[n]}  {t + 1}/{count}") for n in names]) for t in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0, quality=85)
    picked = list(range(0, count, 2))
    rows = [_row([_panel(runs[n][t], f"{n} {t + 1}") for t in picked]) for n in names]
    strip = Image.new("RGB", (rows[0].width, sum(r.height for r in rows) + 4 * (len(rows) - 1)), "white")
    y = 0
    for row in rows:
        strip.paste(row, (0, y))
        y += row.height + 4
    strip_path = path.with_name(path.stem + "-strip.webp")
    strip.save(strip_path, quality=85)
    return [path, strip_path]
