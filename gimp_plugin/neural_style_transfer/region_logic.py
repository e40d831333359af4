"""Where the style goes: the whole layer, inside the selection, or by the image's saved channels.

Pure logic (standard library only, tests/test_region_logic.py): which "Where" choices the image allows and
why not, how a script's "channel-styles" text reads, and what the engine is sent (the masks to read, one
region per mask with the style it gets, and what no mask covers). The GIMP glue (region_masks.py) only
reads the masks' pixels; the dialog (dialog_regions.py) only shows these choices.

Styles are numbered as the engine numbers the style parts: 1 = the style (image file or open layer),
2 = the second style file. "photo" is the untouched layer: content only, no style.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

WHOLE, SELECTION, CHANNELS = "whole", "selection", "channels"
WHERE_CHOICES: tuple[tuple[str, str, str], ...] = (
    (WHOLE, "Whole layer", "The style everywhere on the layer (a selection only masks the result)"),
    (SELECTION, "Inside the selection",
     "The style inside the selection (its feathering kept); outside, what \u201cOutside\u201d says"),
    (CHANNELS, "By channels", "Each saved channel of the image picks a style; what no channel covers gets "
     "what \u201cOutside\u201d says"),
)
WHERE = tuple(nick for nick, _label, _help in WHERE_CHOICES)

PHOTO, FIRST, SECOND = "photo", "first-style", "second-style"
OUTSIDE_CHOICES: tuple[tuple[str, str, str], ...] = (
    (PHOTO, "The untouched photo", "Left as the layer is (no style there)"),
    (SECOND, "The second style", "The second style image (under Advanced)"),
    (FIRST, "The style", "The same style as inside"),
)
OUTSIDE = tuple(nick for nick, _label, _help in OUTSIDE_CHOICES)
# What a channel can pick in "channel-styles": the style, the second style, the photo ("" = nothing).
PICKS: tuple[tuple[str, str], ...] = (("", "(nothing)"), ("1", "The style"), ("2", "The second style"),
                                      ("photo", "The untouched photo"))
PICK_VALUES = tuple(value for value, _label in PICKS)
MAX_REGIONS = 8  # the engine takes up to 8 masks

NO_SELECTION_HINT = "There is no selection: select the part to style first."
NO_CHANNELS_HINT = "The image has no saved channels: save a selection to a channel (Select \u2192 Save to Channel)."


class RegionProblem(ValueError):
    """Why these regions cannot be painted, and what to do: the dialog shows it, a script gets it."""

    def __init__(self, what: str, advice: str) -> None:
        super().__init__(f"{what} {advice}")
        self.what, self.advice = what, advice


@dataclass
class RegionPlan:
    """What the engine is sent: one mask per region (("selection", None) or ("channel", name)), the style
    each region gets, and what no mask covers."""

    masks: list[tuple[str, str | None]] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    rest: int | str = PHOTO

    def fields(self) -> list[tuple[str, str]]:
        """The plain form fields of POST /jobs besides the masks themselves (sent raw: u8, the layer's size)."""
        return [("mask_format", "raw"), ("regions", json.dumps(self.regions)), ("rest", str(self.rest))]

    def uses(self, style: int) -> bool:
        return style == self.rest or any(region["style"] == style for region in self.regions)


def parse_channel_styles(text: str | None) -> list[tuple[str, str]]:
    """'Sky=1; Figure=photo' -> [("Sky", "1"), ("Figure", "photo")]; ';' or new lines separate the pairs.

    A channel's name may hold '=' (the last one separates). RegionProblem for a pick that is not 1, 2 or photo."""
    pairs: list[tuple[str, str]] = []
    for item in (text or "").replace("\n", ";").split(";"):
        if not item.strip():
            continue
        name, eq, pick = item.rpartition("=")
        name, pick = name.strip(), pick.strip().lower()
        if not eq or not name:
            raise RegionProblem(f"\u201c{item.strip()}\u201d does not say which style a channel gets.",
                                "Write CHANNEL=STYLE pairs separated by ';', e.g. \u201cSky=1; Figure=photo\u201d.")
        if pick not in PICK_VALUES:
            raise RegionProblem(f"The channel \u201c{name}\u201d picks \u201c{pick}\u201d.",
                                "A channel picks 1 (the style), 2 (the second style) or photo.")
        pairs.append((name, pick))
    return pairs


def format_channel_styles(pairs: list[tuple[str, str]]) -> str:
    """The inverse of parse_channel_styles (channels that pick nothing are left out)."""
    return "; ".join(f"{name}={pick}" for name, pick in pairs if pick)


def _style(pick: str) -> int | str:
    return {"1": 1, "2": 2, FIRST: 1, SECOND: 2}.get(pick, PHOTO)


def where_states(has_selection: bool, channel_names: list[str]) -> dict[str, tuple[bool, str]]:
    """{where: (allowed, hint)}: the dialog greys a choice out and says why."""
    return {WHOLE: (True, ""), SELECTION: (has_selection, "" if has_selection else NO_SELECTION_HINT),
            CHANNELS: (bool(channel_names), "" if channel_names else NO_CHANNELS_HINT)}


def plan(where: str, outside: str, channel_styles: str | None, *, has_selection: bool, channel_names: list[str],
         has_second: bool) -> RegionPlan | None:
    """The regions to send; None for the whole layer. RegionProblem says why these choices cannot run."""
    if where not in WHERE:
        raise RegionProblem(f"Unknown \u201cWhere\u201d: {where!r}.", f"Choose one of {', '.join(WHERE)}.")
    if where == WHOLE:
        return None
    if outside not in OUTSIDE:
        raise RegionProblem(f"Unknown \u201cOutside\u201d: {outside!r}.", f"Choose one of {', '.join(OUTSIDE)}.")
    allowed, hint = where_states(has_selection, channel_names)[where]
    if not allowed:
        raise RegionProblem(hint, "Or choose \u201cWhole layer\u201d.")
    if where == SELECTION:
        if outside == FIRST:
            raise RegionProblem("Outside the selection is set to the same style as inside.",
                                "Choose the untouched photo or the second style outside, or \u201cWhole layer\u201d.")
        result = RegionPlan([("selection", None)], [{"style": 1, "weight": 1.0}], _style(outside))
    else:
        pairs = [(name, pick) for name, pick in parse_channel_styles(channel_styles) if pick]
        missing = [name for name, _pick in pairs if name not in channel_names]
        if missing:
            raise RegionProblem(f"The image has no channel \u201c{missing[0]}\u201d.",
                                "Choose the channels again (their names as in the Channels dialog).")
        if not pairs:
            raise RegionProblem("No channel picks a style.", "Pick a style for at least one channel.")
        if len(pairs) > MAX_REGIONS:
            raise RegionProblem(f"{len(pairs)} channels pick a style; the engine takes at most {MAX_REGIONS}.",
                                "Set the others to \u201c(nothing)\u201d.")
        result = RegionPlan([("channel", name) for name, _pick in pairs],
                            [{"style": _style(pick), "weight": 1.0} for _name, pick in pairs], _style(outside))
    if result.uses(2) and not has_second:
        raise RegionProblem("A region gets the second style, but none is chosen.",
                            "Choose a second style image under Advanced, or another style for that region.")
    return result


def settings_for(settings: dict[str, Any], region_plan: RegionPlan | None) -> dict[str, Any]:
    """The engine settings for a run with regions: each region names its style, so no blend of the two."""
    if region_plan is None:
        return settings
    return {key: value for key, value in settings.items() if key != "style_blend"}


def describe(region_plan: RegionPlan | None) -> str:
    """A line for the layer's name and messages: '' for the whole layer, else e.g. 'selection; outside: photo'."""
    if region_plan is None:
        return ""
    names = {1: "style", 2: "second style", PHOTO: "photo"}
    parts = [("selection" if kind == "selection" else f"\u201c{name}\u201d") + f": {names[region['style']]}"
             for (kind, name), region in zip(region_plan.masks, region_plan.regions, strict=True)]
    return "; ".join([*parts, f"elsewhere: {names[region_plan.rest]}"])
