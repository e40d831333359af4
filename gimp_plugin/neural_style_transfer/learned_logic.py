"""Pure logic of the learned-style procedures (no GIMP here, so it is tested without GIMP).

Names and menu places, which photographs of a folder are sent to learn from, progress texts, the new
layer's name and the record stored on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import nst_contract as contract
import nst_logic

APPLY_PROC = "plug-in-nst-apply-learned-style"
LEARN_PROC = "plug-in-nst-learn-style"
APPLY_LABEL = "Apply Learned Style\u2026"
LEARN_LABEL = "Learn a Style\u2026"
MENU_PATH = nst_logic.MENU_PATH  # in the main filter's submenu
MENU_WORDS = nst_logic.MENU_WORDS
WIDTH_CHOICES = (("small", "Small (fast on a CPU)", "A narrow network: applies in seconds on a CPU"),
                 ("standard", "Standard", "Johnson et al.'s width: finer detail, slower to learn and apply"))
MIN_PHOTOS = 8  # the engine's minimum (nst_engine/learned/train.py)
MAX_PHOTOS = 64  # spread evenly over a larger folder: more add little to a style and much to the upload
MAX_PHOTO_BYTES = 40 * 2**20  # one file; larger ones are skipped (a photo this big is rarely a photo)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


def pick_photos(folder: str, max_count: int = MAX_PHOTOS, max_total: int = 400 * 2**20) -> tuple[list[str], int]:
    """(photographs to send, how many usable ones the folder has): recursive, evenly spread, within `max_total`
    bytes. Hidden files and folders and files of other kinds are left out."""
    found: list[tuple[str, int]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(PHOTO_SUFFIXES):
                continue
            path = os.path.join(root, name)
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            if 0 < size <= MAX_PHOTO_BYTES:
                found.append((path, size))
    usable = len(found)
    if usable > max_count:
        found = [found[i * usable // max_count] for i in range(max_count)]
    chosen, total = [], 0
    for path, size in found:
        if total + size > max_total:
            continue
        chosen.append(path)
        total += size
    return chosen, usable


def default_style_name(style_path: str) -> str:
    """'/x/Starry night.jpg' -> 'Starry night': a name the engine accepts (letters, digits, ' _.+-')."""
    stem = nst_logic.style_label(style_path)
    name = "".join(c if c.isascii() and (c.isalnum() or c in " _.+-") else "-" for c in stem).strip(" .-_+")
    return name[:64] or "style"


def learn_options(steps: int, size: int, width: str, style_strength: float) -> dict[str, Any]:
    return {"steps": int(steps), "size": int(size), "width": width, "style_strength": float(style_strength)}


def progress_text(event: Mapping[str, Any], name: str, learning: bool) -> str:
    """'Learning "dots" — step 120/2000, about 4 min 10 s left' or 'Applying "dots" — tile 2/4'."""
    kind = event.get("type")
    if kind in ("queued", "started") or "step" not in event:
        text = nst_logic.progress_text(event)
        return text.replace("Stylising", "Learning" if learning else "Applying")
    step, total = event.get("step"), event.get("total_steps")
    if learning:
        remaining = event.get("remaining")
        left = f", about {contract.clock_text(remaining)} left" if isinstance(remaining, (int, float)) else ""
        return f"Learning \u201c{name}\u201d \u2014 step {step}/{total}{left}"
    return f"Applying \u201c{name}\u201d \u2014 tile {step}/{total}"


def progress_fraction(event: Mapping[str, Any]) -> float | None:
    fraction = event.get("fraction")
    if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
        return min(1.0, max(0.0, float(fraction)))
    return nst_logic.progress_fraction(event)


def learning_outcome_text(kind: str, event: Mapping[str, Any] | None, name: str) -> str:
    """What the artist is told when the learning window closes: ("done", the engine's done event) or ("closed")."""
    where = f"{MENU_WORDS} \u2192 {APPLY_LABEL}"
    if kind == "closed":
        return f"The engine goes on learning \u201c{name}\u201d: it appears in {where} when it is stored."
    message = str((event or {}).get("message") or f"Learned the style \u201c{name}\u201d.")
    return f"{message} Apply it with {where}"


def layer_name(source_name: str, style_name: str) -> str:
    return f"{source_name} (learned style: {style_name})"


def apply_record(style_name: str, strength: float, source: str, content_format: str) -> dict[str, Any]:
    """What is stored on the new layer (the main filter's parasite; `procedure` tells the two apart)."""
    return {"version": 1, "procedure": APPLY_PROC, "arguments": {"style_name": style_name, "strength": strength},
            "source_layer": source, "content_format": content_format}


def usable_styles(listing: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The styles of GET /styles that can be applied, by name."""
    return sorted((s for s in listing.get("styles", []) if not s.get("problem")), key=lambda s: s["name"].lower())
