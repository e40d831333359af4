"""Pure logic of the learned-style procedures (no GIMP here, so it is tested without GIMP).

Names and menu places, which photographs of a folder are sent to learn from, progress texts, the new
layer's name and the record stored on it; the Learn window's explanations, its typed folder path and its
time estimate (derived from the engine's `POST /plan`, which knows only painting jobs: see learn_seconds).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import nst_contract as contract
import nst_logic
import style_files

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

# The Learn window's fields in plain words: each argument's tooltip, and the line shown under it.
FIELD_HELP = {
    "style-file": "The picture whose brushwork, textures and colours are learned",
    "photos-folder": "A folder of at least 8 ordinary photographs (a few dozen varied ones are best): the "
                     "style is practised on them so that it works on any picture later",
    "style-name": "The name it is listed under in Apply Learned Style (empty: the style picture's file name)",
    "steps": "How long it practises: 2000 is a good start; more gives finer results and takes longer",
    "training-size": "The size in pixels of the photo pieces it practises on: larger learns larger brush "
                     "strokes and takes longer (256 is a good start)",
    "network": "Small applies in seconds on a CPU; Standard keeps finer detail but learns and applies slower",
    "style-strength": "How strongly the style is learned: 1 is the engine's balance, above 1 more style, "
                      "below 1 more of the photographs' look",
    "replace": "Tick to overwrite a style you learned before under the same name (otherwise that name is refused)",
    "keep-running": "The engine goes on learning when this window is closed; the style then appears in Apply "
                    "Learned Style when it is done",
}
# "+" / "-" and Page Up / Down in the Learn window (GIMP's own steps for these ranges are 1 and 10).
INCREMENTS: dict[str, tuple[float, float]] = {"style-strength": (0.1, 1.0), "steps": (100, 1000),
                                              "training-size": (32, 128)}

# The time estimate. The engine estimates painting jobs only (POST /plan, from its measured speed); a learning
# step runs `LEARN_BATCH` crops of the training size through the same VGG-19 costs, forward and backward, plus
# the style network. So a step costs about LEARN_BATCH x one painting iteration at that size, times a factor
# for the network (and the content pass), measured with benchmarks/bench_learned.py against POST /plan on a
# 2-thread CPU in fp32: 1.20 (small), 1.79 (standard). At other training sizes it holds less well (small network,
# a busy 2-core CPU): the estimate was 0.6x the measured time at 128 px, 1.1x at 256 and 1.3x at 384 (per-step
# costs that do not grow with the pixels weigh more on small crops).
LEARN_BATCH = 4  # nst_engine.learned.options.LearnOptions.batch, which the plug-in does not change
LEARN_STEP_FACTOR = {"small": 1.2, "standard": 1.8}
PROBE_ITERATIONS = (20, 40)  # two single-scale plans: their difference is the time of the iterations alone


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


def typed_folder(text: str) -> tuple[str | None, str]:
    """A folder path the artist typed or pasted: (the folder, "") when it is one, else (None, why not)."""
    path = os.path.expanduser(text.strip().strip('"').strip("'"))
    if path.startswith("file://"):
        path = path[len("file://"):]
    if not path:
        return None, ""
    if not os.path.isabs(path):
        return None, "Type the whole path, starting with " + ("a drive letter" if os.name == "nt" else "/")
    if os.path.isdir(path):
        return os.path.normpath(path), ""
    if os.path.exists(path):
        return None, f"\u201c{style_files.file_name(path)}\u201d is a file, not a folder"
    return None, "No such folder"


def ok_state(style_path: str | None, folder: str | None) -> tuple[bool, str]:
    """(OK can run, the hint beside it): a style picture and a folder are needed."""
    problem = style_files.problem(style_path)
    if problem:
        return False, problem
    if not folder:
        return False, "Choose the folder of photographs to learn on (or type its path)."
    if not os.path.isdir(folder):
        return False, f"The photographs folder \u201c{style_files.file_name(folder)}\u201d is not there."
    return True, ""


def probe_settings(size: int, iterations: int) -> dict[str, Any]:
    """POST /plan settings for one painting scale of `size` x `size` px and `iterations` iterations."""
    return {"size": int(size), "max_long_side": int(size), "scales": 1, "iterations": int(iterations),
            "time_budget": 0, "output": "content"}


def _plan_seconds(answer: Mapping[str, Any] | None) -> tuple[float, int] | None:
    seconds = (answer or {}).get("seconds")
    plan = (answer or {}).get("plan")
    scales = plan.get("scales") if isinstance(plan, Mapping) else None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not scales:
        return None
    iterations = sum(int(scale.get("iterations", 0)) for scale in scales if isinstance(scale, Mapping))
    return float(seconds), iterations


def iteration_seconds(short: Mapping[str, Any] | None, long: Mapping[str, Any] | None) -> float | None:
    """Seconds of one painting iteration, from two /plan answers that differ only in their iterations (the
    set-up and the final pass cancel out). None when the engine has not measured its speed."""
    a, b = _plan_seconds(short), _plan_seconds(long)
    if a is None or b is None or b[1] <= a[1] or b[0] <= a[0]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def learn_seconds(iteration_s: float, steps: int, width: str, batch: int = LEARN_BATCH) -> float:
    """How long learning takes: steps x batch crops x one painting iteration x the network's factor."""
    return steps * batch * iteration_s * LEARN_STEP_FACTOR.get(width, max(LEARN_STEP_FACTOR.values()))


def learn_estimate_text(seconds: float | None, device: str = "") -> str:
    """'Learning takes about 25 min on CPU.' (or why it is not known)."""
    on = f" on {device}" if device else ""
    if seconds is None:
        return f"Learning time: not known yet{on} (the engine measures its speed on its first job)."
    return f"Learning takes {contract.estimate_text(seconds)}{on}; the engine goes on if you close its window."


def learn_options(steps: int, size: int, width: str, style_strength: float) -> dict[str, Any]:
    return {"steps": int(steps), "size": int(size), "width": width, "style_strength": float(style_strength)}


def progress_text(event: Mapping[str, Any], name: str, learning: bool) -> str:
    """'Learning "dots" \u2014 step 120/2000, about 4 min 10 s left' or 'Applying "dots" \u2014 tile 2/4'."""
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


def learning_outcome_title(kind: str, event: Mapping[str, Any] | None) -> str:
    """The information message's title after the learning window."""
    if kind == "closed":
        return "Learning goes on"
    return "Style learned (stopped early)" if (event or {}).get("stopped_early") else "Style learned"


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
