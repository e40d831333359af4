"""Where a new result goes in the layer stack, and what its name says about how it was painted.

Why: a new result placed directly above its source lands *under* an earlier result of the same source,
so the canvas does not change and the artist thinks nothing happened (issue 23, point 5). Every new
result, from the filter or from Apply Learned Style, stopped early or not, goes directly above the
topmost result of the same source among the source's siblings (a layer group holding such a result
counts as one), so it is the one seen. Standard library only: tested without GIMP (tests/test_placement.py);
layer_io.py feeds it the stored records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

RESULT_PROCEDURES = ("plug-in-neural-style-transfer", "plug-in-nst-apply-learned-style")


def record_from(data: bytes | bytearray | list[int] | None) -> dict[str, Any] | None:
    """A result's stored record (either procedure's) from parasite data; None when there is none."""
    value = parasite_json(data)
    return value if value is not None and value.get("procedure") in RESULT_PROCEDURES else None


def parasite_json(data: bytes | bytearray | list[int] | None) -> dict[str, Any] | None:
    """The JSON object in a parasite's data (GIMP hands it over as bytes or a list of ints), or None."""
    if data is None:
        return None
    try:
        raw = bytes(b & 0xFF for b in data) if isinstance(data, list) else bytes(data)
        value = json.loads(raw.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def is_result_of(record: Mapping[str, Any] | None, source_name: str, source_tattoo: int | None) -> bool:
    """Whether `record` says its layer was made from this source: by tattoo when it stored one (a renamed
    source is still the same layer), else by the source's name."""
    if not record or record.get("procedure") not in RESULT_PROCEDURES:
        return False
    tattoo = record.get("source_tattoo")
    if isinstance(tattoo, int) and not isinstance(tattoo, bool) and tattoo > 0 and source_tattoo:
        return tattoo == source_tattoo
    return record.get("source_layer") == source_name


def insert_position(siblings: Sequence[Sequence[Mapping[str, Any] | None]], source_index: int,
                    source_name: str, source_tattoo: int | None) -> int:
    """The position (0 = top of the parent) to insert the new result at, among the source's siblings listed
    top to bottom, each as the records of the layer (a group: of every layer inside it).

    Directly above the topmost sibling above the source that is (or holds) a result of this source;
    directly above the source when there is none.
    """
    if not 0 <= source_index < len(siblings):
        raise ValueError(f"source index {source_index} outside {len(siblings)} siblings")
    for index in range(source_index):
        if any(is_result_of(record, source_name, source_tattoo) for record in siblings[index]):
            return index
    return source_index


def painted_note(painted: tuple[int, int] | None, layer: tuple[int, int], stopped: bool) -> list[str]:
    """What a result's name adds about how it was painted: the size when smaller than the layer, and a stop."""
    notes = []
    if painted and tuple(painted) != tuple(layer) and painted[0] < layer[0]:
        notes.append(f"painted at {painted[0]}\u00d7{painted[1]}")
    if stopped:
        notes.append("stopped early")
    return notes


def named(base: str, notes: Sequence[str]) -> str:
    """'Photo (style: a)' + ['painted at 1184×789'] -> 'Photo (style: a) [painted at 1184×789]'."""
    return f"{base} [{', '.join(notes)}]" if notes else base


def is_named_from(current: str, base: str) -> bool:
    """Whether `current` is the generated name `base`, with or without notes or GIMP's ' #n' suffix."""
    return current == base or current.startswith(base + " [") or current.startswith(base + " #")


def after_message(layer_name: str, painted: tuple[int, int] | None, layer: tuple[int, int], stopped: bool,
                  size_control: str) -> str | None:
    """What GIMP says (non-modally) once a result is in place, when it is not a full-size, finished painting."""
    parts = []
    if stopped:
        parts.append(f"\u201c{layer_name}\u201d was stopped early: it shows the painting as it was when you "
                     "pressed Stop and keep.")
    if painted and tuple(painted) != tuple(layer) and painted[0] < layer[0]:
        parts.append(f"\u201c{layer_name}\u201d was painted at {painted[0]}\u00d7{painted[1]} and enlarged to the "
                     f"layer's {layer[0]}\u00d7{layer[1]}. For a full-size painting, run the filter again and "
                     f"press Full size (or set \u201c{size_control}\u201d to {max(layer)}); it takes longer.")
    return " ".join(parts) or None
