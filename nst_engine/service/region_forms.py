"""A job's regions from its request (docs/service.md, "Regions"): `region_mask` parts, `regions`, `rest`,
`mask_format`. Checked in the order app.py admits a job: the fields and counts first, then the masks'
headers (their pixels count in the request's budget), and only then decoded, with the styles.

Every refusal names the part in plain words ("region mask 2 (sky.png) ..."); a mask of another size than the
content's is scaled to it, with a warning the client can show.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nst_engine.errors import ImageError, ServiceError, SettingsError
from nst_engine.gatys.guides import MAX_REGIONS, PHOTO, Region, Regions, style_choice
from nst_engine.pictures.images import ImageTooLarge, decode_picture, probe_picture, to_luminance
from nst_engine.service.forms import text_field

MASK_PART = "region_mask"
__all__ = ["MAX_REGIONS", "decode_masks", "probe_masks", "read_region_form"]


@dataclass
class RegionForm:
    """The regions a request asks for, read and checked but not decoded."""

    data: list[bytes]
    names: list[str]  # "region mask 2 (sky.png)"
    choices: list[tuple[int | str, float]]
    rest: int | str
    raw: bool
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each mask, once probed
    warnings: list[str] = field(default_factory=list)

    @property
    def pixels(self) -> int:
        return sum(w * h for w, h in self.sizes)


def read_region_form(form: Any, styles: int) -> RegionForm | None:
    """The request's regions (None: it has none), its fields and counts checked; 400/422 naming the part."""
    parts = form.getlist(MASK_PART)
    regions_text = text_field(form, "regions", "")
    if not parts and not regions_text.strip():
        return None
    if len(parts) > MAX_REGIONS:
        raise ServiceError(400, f"The request has {len(parts)} `{MASK_PART}` parts: at most {MAX_REGIONS} regions "
                                "per job.")
    for index, part in enumerate(parts, start=1):
        if isinstance(part, str):
            raise ServiceError(400, f"Region mask {index} was sent as a plain form field: send it as a file part "
                                    f"named `{MASK_PART}`.")
    names = [f"region mask {i} ({part.filename or 'unnamed'})" for i, part in enumerate(parts, start=1)]
    entries = _regions_list(regions_text)
    if not entries and not parts:  # "regions": [] and no mask: a job without regions
        return None
    if len(entries) != len(parts):
        raise ServiceError(400, f"`regions` lists {len(entries)} region(s) but the request has {len(parts)} "
                                f"`{MASK_PART}` part(s): send one `regions` entry per mask, in the same order.")
    try:
        choices = [_choice(entry, styles, index) for index, entry in enumerate(entries, start=1)]
        rest = style_choice(_rest_value(text_field(form, "rest", PHOTO)), styles, "`rest`")
    except SettingsError as error:
        raise ServiceError(422, error.message) from None
    mask_format = text_field(form, "mask_format", "encoded")
    if mask_format not in ("encoded", "raw"):
        raise ServiceError(400, f"`mask_format` is {mask_format[:40]!r}: send \"encoded\" (image files, the default) "
                                "or \"raw\" (u8 bytes, one per content pixel).")
    data = [part.file.read() for part in parts]
    return RegionForm(data, names, choices, rest, mask_format == "raw")


def _regions_list(text: str) -> list[Any]:
    try:
        entries = json.loads(text or "[]")
    except (ValueError, RecursionError) as error:
        raise ServiceError(400, f"`regions` is not valid JSON ({error}): send a list such as "
                                "[{\"style\": 1}, {\"style\": \"photo\", \"weight\": 0.5}].") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ServiceError(400, "`regions` must be a JSON list of objects, one per mask: "
                                "[{\"style\": 1}, {\"style\": \"photo\"}].")
    return entries


def _choice(entry: dict[str, Any], styles: int, index: int) -> tuple[int | str, float]:
    extra = sorted(set(entry) - {"style", "weight"})
    if extra or "style" not in entry:
        what = f"has unknown keys {', '.join(extra)}" if extra else "has no \"style\""
        raise SettingsError(f"Region {index} in `regions` {what}: give {{\"style\": N | \"photo\" | \"blend\", "
                            "\"weight\": w}.")
    style = entry["style"]
    if not isinstance(style, (int, str)) or isinstance(style, bool):
        raise SettingsError(f"Region {index}'s style is {style!r}: give a style number, \"photo\" or \"blend\".")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise SettingsError(f"Region {index}'s weight is {weight!r}: give a number of 0 or more.")
    return style_choice(style, styles, f"Region {index}"), float(weight)


def _rest_value(text: str) -> int | str:
    """`rest` as sent: a number (also JSON-quoted) or a word."""
    text = text.strip().strip('"')
    return int(text) if text.lstrip("-").isdigit() else text


def probe_masks(regions: RegionForm, content_size: tuple[int, int], max_pixels: int) -> None:
    """Each mask's size from its header (raw: its byte count), before any pixel is decoded."""
    width, height = content_size
    for data, name in zip(regions.data, regions.names, strict=True):
        if regions.raw:
            if len(data) != width * height:
                raise ServiceError(400, f"{_capital(name)} has {len(data):,} bytes; a raw mask (mask_format=raw) "
                                        f"needs exactly {width * height:,}: one u8 byte per content pixel "
                                        f"({width}x{height}).")
            regions.sizes.append(content_size)
            continue
        try:
            info = probe_picture(data, name, max_pixels)
        except ImageTooLarge as error:
            raise ServiceError(413, _capital(error.message)) from None
        except ImageError as error:
            raise ServiceError(400, f"{_capital(error.message)} Send a PNG, TIFF, WebP or JPEG mask, or raw bytes "
                                    "with mask_format=raw.") from None
        regions.sizes.append((info.width, info.height))
        if (info.width, info.height) != content_size:
            regions.warnings.append(f"{_capital(name)} is {info.width}x{info.height}, the content {width}x{height}: "
                                    "it was scaled to the content.")


def decode_masks(regions: RegionForm, max_pixels: int) -> Regions:
    """The engine's regions: each mask as 0..1 luminance (alpha ignored), at its own size."""
    masks = []
    for data, name, size in zip(regions.data, regions.names, regions.sizes, strict=True):
        if regions.raw:
            masks.append(np.frombuffer(data, dtype=np.uint8).reshape(size[1], size[0]).astype(np.float32) / 255.0)
            continue
        try:
            masks.append(np.clip(to_luminance(decode_picture(data, max_pixels, name=name).rgb), 0, 1))
        except ImageError as error:
            raise ServiceError(400, error.message) from None
    regions.data = []
    return Regions(tuple(Region(mask, style, weight) for mask, (style, weight) in zip(masks, regions.choices,
                                                                                      strict=True)), regions.rest)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
