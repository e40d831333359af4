"""What the dialog shows, computed without GTK or GIMP (unit-tested in tests/test_dialog_logic.py).

The time estimate line, the size and settings of the in-dialog preview, and the pixel conversion of
its result: kept here so that dialog.py is only widgets and signals.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from typing import Any

import nst_contract as contract

PREVIEW_LONG_SIDE = 320  # the preview's long side in pixels: a few seconds on a GPU
ESTIMATING = "Estimated time: asking the engine\u2026"
UNAVAILABLE = "Estimated time: unavailable"
PREVIEW_LABEL = "_Preview"
FULL_SIZE_LABEL = "_Full size"
DIALOG_BUTTONS = (PREVIEW_LABEL, FULL_SIZE_LABEL)  # the dialog's own buttons, beside the procedure's controls


def estimate_text(answer: Mapping[str, Any] | None) -> str:
    """The line under the main controls, from the engine's `POST /plan` answer (PLAN.md's keys)."""
    if not answer:
        return UNAVAILABLE
    device = str(answer.get("device_name") or answer.get("device") or "the engine's device")
    seconds = answer.get("seconds")
    size = ""
    plan = answer.get("plan")
    if isinstance(plan, Mapping) and isinstance(plan.get("size"), (list, tuple)) and len(plan["size"]) == 2:
        w, h = plan["size"]
        size = f", working at {w}\u00d7{h}"
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return f"Estimated time: not known yet on {device}{size} (the engine measures its speed on its first job)"
    return f"Estimated time: {contract.estimate_text(float(seconds))} on {device}{size}"


def preview_region(bounds: tuple[int, int, int, int], long_side: int = PREVIEW_LONG_SIDE
                   ) -> tuple[float, tuple[int, int, int, int]]:
    """(scale, rectangle in scaled coordinates) to read the layer's region (x, y, w, h) with GEGL at
    `scale`, the long side at most `long_side` (never enlarged)."""
    x, y, w, h = bounds
    if w < 1 or h < 1:
        raise ValueError(f"empty region {bounds}")
    scale = min(1.0, long_side / max(w, h))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    return scale, (math.floor(x * scale), math.floor(y * scale), sw, sh)


def preview_settings(settings: Mapping[str, Any], long_side: int = PREVIEW_LONG_SIDE) -> dict[str, Any]:
    """The job settings of the preview: the artist's settings, as a draft, on the small content."""
    out = {k: v for k, v in settings.items() if k != "size"}
    out["preset"] = "draft"
    out["max_long_side"] = long_side
    out["output"] = "content"
    return out


def rgba8_from_f32(data: bytes, width: int, height: int) -> bytes:
    """Float32 RGBA (the engine's raw result) as 8-bit RGBA for a GdkPixbuf, clamped to 0..1."""
    values = array("f")
    values.frombytes(data)
    if len(values) != width * height * 4:
        raise ValueError(f"{len(values)} samples for a {width}x{height} RGBA image")
    return bytes(0 if v <= 0.0 else 255 if v >= 1.0 else int(v * 255.0 + 0.5) for v in values)


def watched_for_estimate(name: str) -> bool:
    """Config properties whose change changes the plan (and so the estimate)."""
    return name in ("quality", "max-size", "style-scale")
