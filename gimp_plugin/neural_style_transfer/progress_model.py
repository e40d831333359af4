"""What the progress window says, without GTK: one overall fraction, elapsed and remaining time, and
the small pictures it shows (the content's thumbnail, the preview with the layer's transparency).

Standard library only (GIMP's Python), so that it is unit-tested without GIMP (tests/test_progress_model.py).
Why one overall fraction: the engine works at several scales and, for large layers, in tiles; a counter
that restarts at each scale ("x/30, then x/60") tells an artist nothing about when the job ends. The
engine's `progress` event carries `fraction` (work done 0..1, weighted by each step's pixel-iterations);
an older engine gives only step/total_steps, which is the fallback.
Why a steady time left (SteadyRemaining): the rate-based figure jumps with every scale and with the machine's
load (1:40, 2:02, 1:40, 0:24 was seen, issue 23); the window counts down from what it said, and goes up
only when the work clearly needs longer, saying so. Why named phases: after the last iteration the bar sat
at 100 % for about 40 s without a word (the last pass, the result's transfer, writing it into GIMP).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import animation_logic
import nst_contract as contract
import nst_logic

# Below this much work done (or time seen), a rate-based remaining time is noise: say nothing instead.
MIN_FRACTION_FOR_RATE = 0.02
MIN_SECONDS_FOR_RATE = 3.0
# After "Stop and keep": the engine ends its current step, then sends the result (issue 23, point 5).
STOPPING = "Stopping: finishing the current step\u2026"
STOPPING_DETAIL = "The result so far is kept and placed on top in a few seconds."
# The phases after the last iteration, named in the window (bar, then the line under it).
FINISHING = "Finishing: the last pass and the result\u2019s final size\u2026"
FINISHING_DETAIL = "Every iteration is done; the engine is completing the result."
WRITING = "Writing the result into GIMP\u2026"
WRITING_DETAIL = "A new layer above yours, in one undo step."
DONE_FRACTION = 0.999  # the last iteration's event says 1.0; a rounded 0.9996 counts as done too
RECEIVING_EVENT = nst_logic.RECEIVING_EVENT  # posted by the plug-in's client while it fetches the result
RECEIVING = nst_logic.progress_text({"type": RECEIVING_EVENT})


def _number(event: Mapping[str, Any], key: str) -> float | None:
    value = event.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def overall_fraction(event: Mapping[str, Any]) -> float | None:
    """Work done over the whole job, 0..1: the event's `fraction`, else step/total_steps, else None."""
    fraction = _number(event, "fraction")
    if fraction is None:
        step, total = _number(event, "step"), _number(event, "total_steps")
        if step is None or not total:
            return None
        fraction = step / total
    return min(1.0, max(0.0, fraction))


@dataclass
class SteadyRemaining:
    """The time left as shown. The raw figures are averaged over `smooth` seconds (one iteration's rate wobbles
    with the machine's load); what is shown counts down from the last figure shown and eases towards a lower
    average, while a higher one is taken only once it has stayed clearly higher for `hold` seconds (then
    `reestimated` is set, for the window to say so). Pure: `now` is passed in (seconds, monotonic)."""

    hold: float = 15.0  # a higher figure must last this long to be believed
    tolerance: float = 1.25  # ... and be this many times the countdown, plus `slack` seconds
    slack: float = 5.0
    ease: float = 5.0  # seconds to move most of the way down to a lower figure
    smooth: float = 8.0  # the raw figures' averaging time
    shown: float | None = None
    mean: float | None = None
    at: float = 0.0
    higher_since: float | None = None
    reestimated: bool = False

    def update(self, raw: float | None, now: float) -> float | None:
        """The time left to show at `now`, given the latest raw figure (None: unknown)."""
        self.reestimated = False
        if self.shown is None:
            if raw is not None:
                self.shown = self.mean = max(0.0, raw)
                self.at = now
            return self.shown
        elapsed = max(0.0, now - self.at)
        countdown = max(0.0, self.shown - elapsed)
        if raw is not None:
            mean = countdown if self.mean is None else max(0.0, self.mean - elapsed)  # the average counts down too
            self.mean = mean + (raw - mean) * (1.0 - math.exp(-elapsed / self.smooth))
        target = countdown
        if self.mean is not None and self.mean < countdown:
            self.higher_since = None
            target = countdown + (self.mean - countdown) * min(1.0, elapsed / self.ease)
        elif self.mean is not None and self.mean > countdown * self.tolerance + self.slack:
            self.higher_since = now if self.higher_since is None else self.higher_since
            if now - self.higher_since >= self.hold:
                target, self.higher_since, self.reestimated = self.mean, None, True
        else:
            self.higher_since = None
        self.shown, self.at = target, now
        return target


@dataclass
class ProgressClock:
    """Elapsed time since the window opened; remaining time from the work rate seen so far (or, before
    there is a rate, from the engine's own estimate in the `queued`/`started` event)."""

    started: float
    estimate: float | None = None  # the engine's estimate of the whole job, seconds
    work_started: float | None = None  # when the engine began this job (its first `started`/progress)
    fraction: float = 0.0
    steady: SteadyRemaining | None = None  # what time_line shows (made on first use)
    said_reestimated: float | None = None  # when the time left last went up (the line says so for a while)

    def update(self, event: Mapping[str, Any], now: float) -> None:
        kind = event.get("type")
        estimate = _number(event, "estimate_seconds")
        if estimate is not None and estimate > 0:
            self.estimate = estimate
        if kind in ("started", "progress") and self.work_started is None:
            self.work_started = now
        fraction = overall_fraction(event) if kind == "progress" else None
        if fraction is not None:
            self.fraction = max(self.fraction, fraction)

    def elapsed(self, now: float) -> float:
        return max(0.0, now - self.started)

    def remaining(self, now: float) -> float | None:
        """Seconds left, None while unknown."""
        if self.fraction >= 1.0:
            return 0.0
        if self.work_started is not None:
            working = now - self.work_started
            if self.fraction >= MIN_FRACTION_FOR_RATE and working >= MIN_SECONDS_FOR_RATE:
                return working * (1.0 - self.fraction) / self.fraction
            if self.estimate is not None:
                return max(0.0, self.estimate - working)
        return self.estimate

    def time_line(self, now: float) -> str:
        """'Elapsed 1 min 05 s \u00b7 about 40 s left' (or without the second part while unknown): the time left
        counts down steadily (SteadyRemaining); 'almost done' when the countdown has run out first."""
        text = f"Elapsed {contract.clock_text(self.elapsed(now))}"
        if self.fraction >= DONE_FRACTION:
            return text
        if self.steady is None:
            self.steady = SteadyRemaining()
        left = self.steady.update(self.remaining(now), now)
        if self.steady.reestimated:
            self.said_reestimated = now
        if left is None:
            return text
        if left < 1.0:
            return text + " \u00b7 almost done"
        text += f" \u00b7 about {contract.clock_text(left)} left"
        if self.said_reestimated is not None and now - self.said_reestimated < 10.0:
            text += " (re-estimated: slower than it looked)"
        return text

    def phase_line(self, phase: str, now: float) -> str:
        """The line under the bar after the last iteration: what is happening, and the time so far."""
        return f"{phase} Elapsed {contract.clock_text(self.elapsed(now))}."


def bar_text(event: Mapping[str, Any]) -> str:
    """The progress bar's text: what the engine is doing, as a percentage once it works, and the phases after
    the last iteration by name; in an animation's job, which frame first
    ('Frame 2 of 4 \u2014 Stylising \u2014 40 %')."""
    frame = animation_logic.frame_words(event)
    if frame is None:
        return _job_text(event)
    return f"{frame} done" if event.get("type") == "frame_done" else f"{frame} \u2014 {_job_text(event)}"


def _job_text(event: Mapping[str, Any]) -> str:
    kind = event.get("type")
    if kind == "queued":
        ahead = int(_number(event, "position") or 0)
        return "Waiting for the engine\u2026" if ahead == 0 else (
            f"Waiting for the engine \u2014 {ahead} job{'s' if ahead > 1 else ''} ahead")
    if kind == "started":
        return "Preparing\u2026"
    if kind == RECEIVING_EVENT:
        return RECEIVING
    fraction = overall_fraction(event)
    if fraction is not None and fraction >= DONE_FRACTION:
        return FINISHING
    return "Stylising\u2026" if fraction is None else f"Stylising \u2014 {int(fraction * 100)} %"


def phase_detail(event: Mapping[str, Any]) -> str | None:
    """The line under the bar in the phases after the last iteration (None: the time line)."""
    if event.get("type") == RECEIVING_EVENT:
        return "The engine has finished; the result is on its way."
    fraction = overall_fraction(event) if event.get("type") == "progress" else None
    return FINISHING_DETAIL if fraction is not None and fraction >= DONE_FRACTION else None


def details(event: Mapping[str, Any]) -> str:
    """The technical detail for a tooltip: scale, iteration, tile and loss (not for the main text)."""
    parts = []
    scale, scales = _number(event, "scale"), _number(event, "scales")
    if scale is not None and scales:
        parts.append(f"scale {int(scale)} of {int(scales)}")
    it, its = _number(event, "iteration"), _number(event, "iterations")
    if it is not None and its:
        parts.append(f"iteration {int(it)} of {int(its)}")
    tile, tiles = _number(event, "tile"), _number(event, "tiles")
    if tile is not None and tiles and tiles > 1:
        parts.append(f"tile {int(tile)} of {int(tiles)}")
    size = event.get("size")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        parts.append(f"working at {size[0]}\u00d7{size[1]} px")
    losses = event.get("losses")
    if isinstance(losses, Mapping) and isinstance(losses.get("total"), (int, float)):
        parts.append(f"loss {losses['total']:.4g}")
    return ", ".join(parts).capitalize()


# --- pictures: RGBA 8-bit rows, what GdkPixbuf takes ------------------------------------------------------


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The size that fits `box` x `box`, keeping the aspect ratio; never upscaled, never 0."""
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


_SAMPLE = {"u8": (1, "B", 255.0), "u16": (2, "H", 65535.0), "f32": (4, "f", 1.0)}


def thumbnail_rgba8(width: int, height: int, sample_format: str, data: bytes, box: int) -> tuple[int, int, bytes]:
    """A small RGBA 8-bit copy of interleaved RGBA pixels (u8/u16/f32), nearest neighbour: shown in the
    progress window from the start, so the artist sees their layer before the first preview arrives."""
    size, code, top = _SAMPLE[sample_format]
    tw, th = fit(width, height, box)
    out = bytearray(tw * th * 4)
    row_bytes = width * 4 * size
    for ty in range(th):
        y = min(height - 1, ty * height // th)
        row = data[y * row_bytes:(y + 1) * row_bytes]
        for tx in range(tw):
            x = min(width - 1, tx * width // tw)
            values = struct.unpack_from(f"<4{code}", row, x * 4 * size)
            base = (ty * tw + tx) * 4
            for c in range(4):
                out[base + c] = min(255, max(0, round(values[c] / top * 255)))
    return tw, th, bytes(out)


def alpha_plane8(width: int, height: int, alpha_f32: bytes, tw: int, th: int) -> bytes:
    """The layer's alpha (float32 plane) at `tw` x `th`, 8-bit, nearest neighbour."""
    out = bytearray(tw * th)
    for ty in range(th):
        y = min(height - 1, ty * height // th)
        for tx in range(tw):
            x = min(width - 1, tx * width // tw)
            (a,) = struct.unpack_from("<f", alpha_f32, (y * width + x) * 4)
            out[ty * tw + tx] = min(255, max(0, round(a * 255)))
    return bytes(out)


def with_alpha(pixels: bytes, width: int, height: int, channels: int, rowstride: int, alpha8: bytes) -> bytes:
    """RGB(A) 8-bit rows (a decoded preview; rows may be padded to `rowstride`) with the given alpha:
    the engine's previews are RGB, the layer's transparency comes from the plug-in's own copy."""
    out = bytearray(width * height * 4)
    for y in range(height):
        row = pixels[y * rowstride:y * rowstride + width * channels]
        rgba = bytearray(width * 4)
        for c in range(3):
            rgba[c::4] = row[c::channels]
        rgba[3::4] = alpha8[y * width:(y + 1) * width]
        out[y * width * 4:(y + 1) * width * 4] = rgba
    return bytes(out)
