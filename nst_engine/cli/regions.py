"""`stylize --region MASK:STYLE[:WEIGHT] --rest STYLE`: each part of the picture its own style (gatys/guides.py).

A MASK is a picture (grey, or RGB read as luminance; alpha ignored) over the content, white inside; STYLE a
1-based number among the style files given, `photo` (the content there, no style) or `blend`; WEIGHT how much
the region's style counts (default 1). The MASK may itself hold colons (a Windows drive): the spec is read from
its end.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nst_engine.errors import SettingsError
from nst_engine.gatys.guides import BLEND, PHOTO, Region, Regions, style_choice
from nst_engine.pictures.images import load_picture, to_luminance


def add_region_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("regions", "each part of the picture its own style (guided Gram matrices)")
    group.add_argument("--region", action="append", default=[], metavar="MASK:STYLE[:WEIGHT]",
                       help="a mask picture (white: inside) and what it gets: a style's number (1 = the first "
                            f"STYLE file), {PHOTO} (the content, no style) or {BLEND}; WEIGHT default 1. Repeatable.")
    group.add_argument("--rest", default=None, metavar="STYLE",
                       help=f"what no --region covers: a style's number, {PHOTO} or {BLEND} (default {PHOTO}).")


def split_spec(spec: str) -> tuple[str, str, float]:
    """MASK:STYLE[:WEIGHT] → (mask path, style text, weight)."""
    head, _, last = spec.rpartition(":")
    if head:
        weight = _number(last)
        if weight is not None:
            mask, _, style = head.rpartition(":")
            if mask and _is_style(style):
                return mask, style, weight
        if _is_style(last):
            return head, last, 1.0
    raise SettingsError(f"--region {spec!r}: write MASK:STYLE or MASK:STYLE:WEIGHT, e.g. sky.png:2 or "
                        f"figure.png:{PHOTO}:0.5.")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_style(text: str) -> bool:
    return text.strip().lower() in (PHOTO, BLEND) or text.strip().isdigit()


def regions_from_args(args: argparse.Namespace, styles: int, content_size: tuple[int, int]) -> Regions | None:
    """The regions the options ask for (None: none); a mask of another size is scaled, with a note on stderr."""
    if not args.region:
        if args.rest is not None:
            raise SettingsError("--rest says what no --region covers: give at least one --region too.")
        return None
    regions = []
    for index, spec in enumerate(args.region, start=1):
        path, style, weight = split_spec(spec)
        if not (np.isfinite(weight) and weight >= 0):
            raise SettingsError(f"--region {spec!r}: the weight must be a number of 0 or more.")
        choice = style_choice(style, styles, f"--region {spec!r}")
        mask = np.clip(to_luminance(load_picture(path).rgb), 0, 1)
        if (mask.shape[1], mask.shape[0]) != content_size:
            print(f"nst-engine: region mask {index} ({path}) is {mask.shape[1]}x{mask.shape[0]}, the content "
                  f"{content_size[0]}x{content_size[1]}: it was scaled to the content.", file=sys.stderr)
        regions.append(Region(mask, choice, weight))
    rest = style_choice(args.rest, styles, "--rest") if args.rest is not None else PHOTO
    return Regions(tuple(regions), rest)
