"""Pure logic of the animation procedures: which layers are the frames and in what order, the names and
timings the styled frames keep, what is sent to the engine's frames job, and the texts the artist reads.

No GIMP here (tests/test_animation_logic.py). Why GIMP's order: GIMP's Playback (plug-ins/common/animation-play.c)
and the GIF/WebP export play an image's top-level layers from the bottom one up, reading each frame's time
from a "(100ms)" tag and its disposal from a "(combine)" or "(replace)" tag in the layer's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import learned_logic
import nst_logic

ANIMATION_PROC = "plug-in-nst-animation"
LEARNED_ANIMATION_PROC = "plug-in-nst-apply-learned-style-animation"
ANIMATION_LABEL = "Neural Style Transfer (Animation)\u2026"
LEARNED_ANIMATION_LABEL = "Neural Style Transfer, Learned Style (Animation)\u2026"
# Beside GIMP's own Playback, Optimize and Unoptimize: both animation entries, not in the Artistic submenu.
MENU_PATH = "<Image>/Filters/Animation"
MENU_WORDS = "Filters \u2192 Animation"
PARASITE_NAME = "neural-style-transfer-animation"  # on the result group: a re-run does not take it as a frame
MIN_FRAMES = 2
STYLED_WORD = "styled"

# The steadiness control (the engine's temporal strength) and the long-term link, as PDB arguments:
# (name, nick, blurb, min, max, default). Letters d and m are free among the main dialog's
# (tests/test_plugin_mnemonics.py).
STEADINESS = ("steadiness", "Stea_diness",
              "How much each frame keeps the strokes of the frame before, moved along with the picture: 0 = every "
              "frame painted on its own (it flickers); 1 = the engine's balance (the flicker at least halved, the "
              "style kept); more holds the strokes harder and may smear fast motion", 0.0, 4.0, 1.0)
LONG_TERM = ("long-term", "Long-term _memory (frames back, 0 = off)",
             "Also keep the strokes of the frame this many frames back where it shows again (helps when something "
             "passes in front and moves away); 0 or 1 = only the previous frame", 0, 20, 0)
STEADINESS_HELP = ("Steadiness: each frame starts from the one before, moved along with the picture, so the "
                   "strokes stay on what moves instead of flickering from frame to frame.")

WRITING_DETAIL = "A new layer group above the frames, in one undo step."  # the progress window's last words

_MS_TAG = re.compile(r"\(\s*(\d+)\s*ms\s*\)", re.IGNORECASE)
_DISPOSAL_TAG = re.compile(r"\((combine|replace)\)")


@dataclass(frozen=True)
class Frame:
    """One frame: its layer's index among the siblings (top first, as GIMP lists them) and its name."""

    index: int
    name: str

    @property
    def duration_ms(self) -> int | None:
        return frame_duration(self.name)

    @property
    def disposal(self) -> str | None:
        return frame_disposal(self.name)


def frame_duration(name: str) -> int | None:
    """'Frame 3 (100ms)' -> 100, as GIMP's playback reads it (the first tag; spaces allowed); None: the default."""
    match = _MS_TAG.search(name)
    return int(match.group(1)) if match else None


def frame_disposal(name: str) -> str | None:
    """'(combine)' or '(replace)' from the name, as GIMP's playback reads it; None: the player's default."""
    match = _DISPOSAL_TAG.search(name)
    return match.group(1) if match else None


def frames_in_play_order(names: Sequence[str], is_result: Sequence[bool]) -> list[Frame]:
    """The frames among sibling layers listed top first: bottom first (GIMP plays them so), earlier results
    of this procedure (marked by its parasite) left out."""
    return [Frame(i, names[i]) for i in range(len(names) - 1, -1, -1) if not is_result[i]]


def check_frames(frames: Sequence[Frame], where: str) -> None:
    """ValueError with what to do when there is no animation to style."""
    if len(frames) < MIN_FRAMES:
        raise ValueError(
            f"{where} has {len(frames)} frame{'s' if len(frames) != 1 else ''}: an animation needs at least "
            f"{MIN_FRAMES} layers, one per frame (bottom layer first, as GIMP plays them). Select a layer group "
            "to style the layers inside it, or use Paint with a Style for a single layer.")


def frames_source(selected_is_group: bool, selected_name: str | None, parent_name: str | None) -> str:
    """Which layers are the frames, in words: a selected group's layers, else the selected layer's level."""
    if selected_is_group and selected_name:
        return f"the layer group \u201c{selected_name}\u201d"
    return f"the layer group \u201c{parent_name}\u201d" if parent_name else "the image"


def styled_frame_name(name: str) -> str:
    """'Frame 3 (100ms) (combine)' -> 'Frame 3 styled (100ms) (combine)': the word goes before the first tag so
    that GIMP's playback and GIF export read the same time and disposal, and the names stay unique."""
    starts = [m.start() for m in (_MS_TAG.search(name), _DISPOSAL_TAG.search(name)) if m]
    if not starts:
        return f"{name} {STYLED_WORD}"
    cut = min(starts)
    head = name[:cut].rstrip()
    return f"{head} {STYLED_WORD} {name[cut:]}" if head else f"{STYLED_WORD} {name[cut:]}"


def group_name(style_words: str, done: int, total: int, stopped: bool) -> str:
    """The result group's name: the style, and how many frames it holds when it was stopped early."""
    name = f"Animation (style: {style_words})"
    if stopped or done < total:
        name += f" \u2014 {done} of {total} frames (stopped early)"
    return name


def style_words_for_files(style_paths: Sequence[str]) -> str:
    return " + ".join(nst_logic.style_label(p) for p in style_paths) or "?"


def temporal_field(steadiness: float, long_term: int) -> dict[str, Any]:
    """The `temporal` JSON of POST /frames: the strength (the engine's, within the control's range) and the
    long-term link, a frame distance of at least 2 or 0 (off): 1 is the previous frame, always held to."""
    strength = min(STEADINESS[4], max(STEADINESS[3], float(steadiness)))
    return {"strength": strength, "long_term": int(long_term) if int(long_term) >= 2 else 0}


def frames_fields(frames: Sequence[Any], settings: Mapping[str, Any], temporal: Mapping[str, Any],
                  learned_style: str | None = None, strength: float | None = None
                  ) -> list[tuple[str, str | bytes, str | None]]:
    """The multipart fields of POST /frames, before the style files: the frames as raw pixels in play order
    (one `frame` part each, same size and format), the settings, the temporal JSON and, for a learned style,
    its name and strength. `frames` are RawImage-like (width, height, channels, sample_format, data)."""
    import json

    if not frames:
        raise ValueError("No frames to send.")
    first = frames[0]
    for index, frame in enumerate(frames, start=1):
        if (frame.width, frame.height, frame.channels, frame.sample_format) != (
                first.width, first.height, first.channels, first.sample_format):
            raise ValueError(f"Frame {index} is {frame.width}x{frame.height} {frame.sample_format}, frame 1 "
                             f"{first.width}x{first.height} {first.sample_format}: every frame must match.")
    fields: list[tuple[str, str | bytes, str | None]] = [
        ("settings", json.dumps(dict(settings)), None), ("temporal", json.dumps(dict(temporal)), None),
        ("content_format", "raw", None), ("width", str(first.width), None), ("height", str(first.height), None),
        ("channels", str(first.channels), None), ("sample_format", first.sample_format, None),
    ]
    if learned_style is not None:
        fields.append(("learned_style", learned_style, None))
        if strength is not None:
            fields.append(("strength", repr(float(strength)), None))
    fields += [("frame", frame.data, f"frame{index}.raw") for index, frame in enumerate(frames, start=1)]
    return fields


def frame_of(event: Mapping[str, Any]) -> tuple[int, int] | None:
    """(i, n) from an engine event that names its frame (1-based), else None."""
    i, n = event.get("frame"), event.get("frames")
    if isinstance(i, int) and isinstance(n, int) and not isinstance(i, bool) and 1 <= i <= n:
        return i, n
    return None


def frame_words(event: Mapping[str, Any]) -> str | None:
    """'Frame 2 of 4' for an event that names its frame."""
    found = frame_of(event)
    return f"Frame {found[0]} of {found[1]}" if found else None


def progress_text(event: Mapping[str, Any]) -> str:
    """GIMP's status-bar text (non-interactive runs): the frame, then what the engine does in it."""
    words = frame_words(event)
    if event.get("type") == "frame_done" and words:
        return f"{words} done"
    text = nst_logic.progress_text(event)
    return f"{words} \u2014 {text}" if words else text


def after_message(done: int, total: int, stopped: bool, group: str) -> str | None:
    """What GIMP says after a run that kept fewer frames than the animation has (None: all of them)."""
    if done >= total and not stopped:
        return None
    return (f"The animation was stopped early: the layer group \u201c{group}\u201d holds the {done} styled "
            f"frame{'s' if done != 1 else ''} finished of {total}. Run the filter again for all of them.")


def partial_frames_hint(sizes: Sequence[tuple[int, int, int, int]], canvas: tuple[int, int]) -> str | None:
    """Frames smaller than the canvas (an optimised GIF's 'combine' frames hold only what changed): each is
    styled on its own, so the hint suggests GIMP's Filters → Animation → Unoptimize first. `sizes`: (x, y, w, h)."""
    smaller = sum(1 for x, y, w, h in sizes if (x, y, w, h) != (0, 0, canvas[0], canvas[1]))
    if not smaller:
        return None
    return (f"{smaller} frame{'s are' if smaller != 1 else ' is'} not the size of the image: "
            f"{'they were' if smaller != 1 else 'it was'} styled on the image's canvas, transparent around. For an "
            f"optimised GIF, run {MENU_WORDS} \u2192 Unoptimize first, so that every frame is whole.")


def group_record(procedure: str, style: Mapping[str, Any], settings: Mapping[str, Any],
                 temporal: Mapping[str, Any], frame_names: Sequence[str], done: int, stopped: bool) -> dict[str, Any]:
    """What is stored on the result group: how it was made, and which frames it holds."""
    return {"version": 1, "procedure": procedure, "style": dict(style), "engine_settings": dict(settings),
            "temporal": dict(temporal), "frames": list(frame_names), "done": done, "stopped_early": stopped}


LEARNED_MENU_WORDS = f"{learned_logic.MENU_WORDS} \u2192 {learned_logic.LEARN_LABEL}"
