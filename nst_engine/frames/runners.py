"""The two ways to style one frame of an animation, as sequence.py's `StyleFrame`: the optimisation, guided
by the frames before it, and a learned style, blended with them.

The engines are handed in (`api.stylize`, `learned.api.apply_style`) by the CLI and the service, so that
this package stands below both engines' entry points.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from nst_engine.frames.sequence import FrameResult, StyleFrame
from nst_engine.frames.temporal import Carried, Guide, Temporal, blend
from nst_engine.pictures.images import Picture, luminance_only
from nst_engine.settings import Settings

# (1-based frame index, the engine's own progress event)
FrameProgress = Callable[[int, Any], None]


def gatys_runner(
    stylize: Callable[..., Any],
    styles: Sequence[Picture],
    settings: Settings,
    temporal: Temporal,
    cache: Any = None,
    plan: Any = None,
    progress: FrameProgress | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
    preview_every: int = 0,
) -> StyleFrame:
    """Each frame by `stylize` (api.stylize) following a copy of `plan`, started from and held to what the
    earlier frames carry (temporal.Guide)."""

    def one(index: int, content: Picture, carried: list[Carried] | None) -> FrameResult:
        if carried and settings.preserve_colors:  # the optimisation runs on luminance: so does its guide
            carried = [Carried(luminance_only(c.target), c.mask) for c in carried]
        guide = Guide(carried, temporal.cost_weight) if carried else None
        result = stylize(
            content, styles, settings, progress=None if progress is None else (lambda event: progress(index, event)),
            cancel=cancel, stop=stop, preview_every=preview_every, cache=cache,
            plan=None if plan is None else copy.deepcopy(plan),  # a scale retried in tiles changes the plan
            shape_start=None if guide is None else guide.start, extra_cost=None if guide is None else guide.cost,
        )  # fmt: skip
        return FrameResult(result.picture, result.seconds, result.losses, result.message, result.stopped_early)

    return one


def learned_runner(
    apply_style: Callable[..., Any],
    name: str,
    strength: float,
    temporal: Temporal,
    progress: FrameProgress | None = None,
    cancel: threading.Event | None = None,
    sessions: Any = None,
) -> StyleFrame:
    """Each frame in the learned style `name` (learned.api.apply_style), then blended with what the earlier
    frames carry where it holds (temporal.blend)."""

    def one(index: int, content: Picture, carried: list[Carried] | None) -> FrameResult:
        applied = apply_style(name, content, strength, None if progress is None else (lambda e: progress(index, e)),
                              cancel, sessions=sessions)
        picture = applied.picture
        if carried:
            picture = Picture(blend(picture.rgb, carried, temporal.keep), picture.alpha, picture.bit_depth,
                              picture.grayscale)
        return FrameResult(picture, applied.seconds)

    return one
