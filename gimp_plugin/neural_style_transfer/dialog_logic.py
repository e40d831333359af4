"""What the dialog shows, computed without GTK or GIMP (unit-tested in tests/test_dialog_logic.py).

The size-and-time line (the layer's size, the size it is painted at and why, in plain words), the
one-click full size, whether OK can run, the size and settings of the in-dialog preview and the pixel
conversion of its result: kept here so that dialog.py is only widgets and signals.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from typing import Any

import nst_contract as contract
import nst_logic
import style_files

PREVIEW_LONG_SIDE = 320  # the preview's long side in pixels: a few seconds on a GPU
ESTIMATING = "Estimated time: asking the engine\u2026"
UNAVAILABLE = "Estimated time: unavailable"
PREVIEW_LABEL = "_Preview"
FULL_SIZE_LABEL = "_Full size"
DIALOG_BUTTONS = (PREVIEW_LABEL, FULL_SIZE_LABEL)  # the dialog's own buttons, beside the procedure's controls


BUSY_SLOWDOWN = 1.2  # from here on, the estimate line says that other programs slow the job


def _seconds(answer: Mapping[str, Any] | None) -> float | None:
    seconds = (answer or {}).get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return None
    return float(seconds)


def _duration(answer: Mapping[str, Any]) -> str:
    """'about 3 min', or 'about 2–4 min' where the engine's recent jobs spread widely around their estimates."""
    spread = answer.get("seconds_range")
    if isinstance(spread, (list, tuple)) and len(spread) == 2 and all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) for s in spread):
        return contract.estimate_range_text(float(spread[0]), float(spread[1]))
    return contract.estimate_text(_seconds(answer) or 0.0)


def _busy(answer: Mapping[str, Any]) -> str:
    """Words for a machine other programs keep busy now (the engine's `slowdown`), which the time includes."""
    slowdown = answer.get("slowdown")
    if isinstance(slowdown, (int, float)) and not isinstance(slowdown, bool) and slowdown >= BUSY_SLOWDOWN:
        return f", slower now as other programs are busy ({slowdown:.1f}×)"
    return ""


def planned_size(answer: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """The working size a `POST /plan` answer paints at, None when it does not say."""
    plan = (answer or {}).get("plan")
    size = plan.get("size") if isinstance(plan, Mapping) else None
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return int(size[0]), int(size[1])
    return None


def is_smaller(answer: Mapping[str, Any] | None, layer: tuple[int, int]) -> bool:
    """Whether the plan paints smaller than the layer (then the dialog offers full size)."""
    size = planned_size(answer)
    return size is not None and size[0] < layer[0]


def quality_word(quality: str) -> str:
    """'standard' -> 'Standard' (the quality control's words, without their explanation)."""
    label = next((label for nick, label, _help in nst_logic.QUALITY_CHOICES if nick == quality), quality)
    return label.split(" (")[0]


def estimate_text(answer: Mapping[str, Any] | None, layer: tuple[int, int] | None = None,
                  quality: str = "standard", max_size: int = 0) -> str:
    """The size-and-time line under the main controls, from the engine's `POST /plan` answer: the layer's
    size, the size it is painted at when smaller and why, and how long, e.g. "Your layer: 2048×1365.
    Standard paints it at 1184×789 to finish in about 10 min on CPU." (issue 23, point 1)."""
    if not answer:
        return UNAVAILABLE
    device = str(answer.get("device_name") or answer.get("device") or "the engine's device")
    when = (f"{_duration(answer)} on {device}{_busy(answer)}" if _seconds(answer) is not None
            else f"a time not known yet on {device} (the engine measures its speed on its first job)")
    size = planned_size(answer)
    if layer is None or size is None:
        at = f", painting at {size[0]}\u00d7{size[1]}" if size else ""
        return f"Estimated time: {when}{at}"
    yours = f"Your layer: {layer[0]}\u00d7{layer[1]}."
    at = f"{size[0]}\u00d7{size[1]}"
    if not is_smaller(answer, layer):
        return f"{yours} {quality_word(quality)} paints it at full size: {when}."
    if max_size:
        return f"{yours} Painted at {at}, the {nst_logic.SIZE_CONTROL.lower()} you set: {when}."
    if quality == "draft":
        return f"{yours} Draft paints it at {at} for a quick look: {when}."
    return f"{yours} {quality_word(quality)} paints it at {at} to finish in {when}."


def full_size_label(full_answer: Mapping[str, Any] | None) -> str:
    """The button that paints at the layer's size: '_Full size (about 41 min)'."""
    seconds = _seconds(full_answer)
    return FULL_SIZE_LABEL + (f" ({contract.estimate_text(seconds)})" if seconds is not None else "")


def full_size_settings(settings: Mapping[str, Any], layer: tuple[int, int]) -> dict[str, Any]:
    """The plan settings of the full-size choice: the layer's long side, without the time limit (what the
    Full size button sets: max-size = that long side, which nst_logic.engine_settings turns into these)."""
    return {**settings, "max_long_side": max(layer), "time_budget": 0}


def ok_state(style_path: str | None) -> tuple[bool, str]:
    """(OK can run, the hint beside it): OK waits for a style file that is a picture (issue 23, point 4)."""
    problem = style_files.problem(style_path)
    return problem is None, problem or ""


def thumbnail_words(style_path: str | None, shown: bool) -> str:
    """The words under the style's thumbnail (`shown`: GTK could draw it): none for a picture it shows."""
    if not style_path:
        return "No style yet"
    problem = style_files.problem(style_path)
    if problem is None:
        return "" if shown else "No thumbnail"  # a picture the engine reads, in a format GTK does not
    return style_files.NOT_A_PICTURE if "not a picture" in problem else "Cannot be read"


def preview_error(what: str, advice: str = "") -> str:
    """The preview's error: what happened and what to do; the image is not mentioned (the preview never
    touches it)."""
    return " ".join(part.strip() for part in ("No preview:", what, advice) if part and part.strip())


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
