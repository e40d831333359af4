"""What a job will do before it does it: the sizes of the coarse-to-fine schedule, their iterations,
which scales are tiled, and why the size changed. Memory (memory.py) and time (timing.py) are
judged on a `Plan`, the optimisation (optimize.py) follows one, and the service shows one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from nst_engine import memory, timing
from nst_engine.errors import OutOfMemory
from nst_engine.images import scaled_size
from nst_engine.schedule import scale_sizes, schedule
from nst_engine.settings import Settings

__all__ = ["Plan", "Step", "make_plan", "scale_sizes", "target_size"]

Size = tuple[int, int]


@dataclass(frozen=True)
class Step:
    """One scale: optimised whole (`tile` None) or in overlapping tiles of `tile` (width, height)."""

    size: Size
    iterations: int
    tile: Size | None = None
    tiles: int = 1  # tiles per pass over the image

    @property
    def pixel_iterations(self) -> int:
        """The step's work: pixels optimised times iterations (tiles count their overlaps)."""
        pixels = self.tiles * self.tile[0] * self.tile[1] if self.tile is not None else self.size[0] * self.size[1]
        return pixels * self.iterations

    def describe(self) -> str:
        text = f"{self.size[0]}x{self.size[1]}"
        if self.tile is not None:
            text += f" (in {self.tiles} tiles of {self.tile[0]}x{self.tile[1]})"
        return text


@dataclass
class Plan:
    target: Size  # the working size of the last scale
    steps: list[Step]
    dtype_bytes: int
    notes: list[str] = field(default_factory=list)  # sentences for the user: shrunk, capped, tiled

    @property
    def total_iterations(self) -> int:
        return sum(step.iterations for step in self.steps)

    @property
    def pixel_iterations(self) -> int:
        return sum(step.pixel_iterations for step in self.steps)

    @property
    def tiled(self) -> bool:
        return any(step.tile is not None for step in self.steps)

    @property
    def message(self) -> str | None:
        return " ".join(self.notes) or None

    def describe(self) -> str:
        """E.g. "ran at 512x341, 1024x683, 2048x1365 (in 6 tiles of 768x768)"."""
        return "ran at " + ", ".join(step.describe() for step in self.steps)

    def to_dict(self) -> dict:
        return {
            "size": list(self.target),
            "scales": [
                {"size": list(s.size), "iterations": s.iterations, "tile": list(s.tile) if s.tile else None,
                 "tiles": s.tiles}
                for s in self.steps
            ],
            "message": self.message,
        }


def target_size(content_size: Size, settings: Settings) -> Size:
    """The working size the settings ask for, before memory has its say."""
    if settings.notebook_size is not None:
        width, height = settings.notebook_size
        return int(width), int(height)
    size = content_size if settings.size == 0 else scaled_size(content_size, settings.size)
    if settings.max_long_side is not None and max(size) > settings.max_long_side:
        size = scaled_size(size, settings.max_long_side)
    if settings.output == "content" and max(size) > max(content_size):
        size = content_size  # the result is scaled back to the content: detail above it is wasted
    return size


def make_plan(content_size: Size, settings: Settings, device: torch.device, dtype_bytes: int,
              rate: timing.Rate | None = None) -> Plan:
    """The schedule for a content of `content_size`: sizes, iterations, tiles, and notes saying why.

    With the device's `rate`, a size whose estimate exceeds `settings.time_budget` is capped to fit.
    """
    size = target_size(content_size, settings)
    notes: list[str] = []
    if settings.max_pixels is not None and size[0] * size[1] > settings.max_pixels:
        side = int(max(size) * (settings.max_pixels / (size[0] * size[1])) ** 0.5)
        notes.append(f"Scaled down from {max(size)} px to {side} px (long side) to stay within max_pixels.")
        size = scaled_size(size, side)
    if rate is not None and settings.time_budget and settings.notebook_size is None:
        size = _fit_time_budget(size, settings, rate, dtype_bytes, notes)
    estimate = memory.estimate(size, device, dtype_bytes)
    if not estimate.fits:
        fitting = memory.largest_fitting_long_side(size, device, dtype_bytes) or 16
        if settings.on_oom == "refuse":
            raise OutOfMemory(
                f"{max(size)} px would need {estimate.describe()} on {device.type}: "
                f"choose a size of at most {fitting} px.",
                suggested_size=fitting,
            )
        available = (estimate.bytes_available or 0) / 2**30
        notes.append(
            f"Scaled down from {max(size)} px to {fitting} px (long side) to fit the {available:.1f} GiB "
            f"available on {device.type}."
        )
        size = scaled_size(size, fitting)
    steps = [Step(s, n) for s, n in schedule(size, settings)]
    return Plan(target=size, steps=steps, dtype_bytes=dtype_bytes, notes=notes)


def _fit_time_budget(size: Size, settings: Settings, rate: timing.Rate, dtype_bytes: int, notes: list[str]) -> Size:
    """The largest size (long side a multiple of 16) whose estimate fits the time budget; a note if capped."""

    def seconds(candidate: Size) -> float:
        steps = [Step(s, n) for s, n in schedule(candidate, settings)]
        return timing.estimate_seconds(Plan(candidate, steps, dtype_bytes), rate)

    full = seconds(size)
    if full <= settings.time_budget:
        return size
    smallest = min(max(size), settings.min_scale_size)
    side = max(size) // 16 * 16
    while side > smallest and seconds(scaled_size(size, side)) > settings.time_budget:
        side -= 16
    capped = scaled_size(size, max(side, smallest))
    notes.append(
        f"The working size is capped at {capped[0]}x{capped[1]}: the full {size[0]}x{size[1]} would take "
        f"{timing.describe_seconds(full)} on {rate.device_name}, over the time budget of "
        f"{timing.describe_seconds(settings.time_budget).removeprefix('about ')}. Ask for the size explicitly "
        "(a working resolution in GIMP, --time-budget 0 on the command line) to lift the cap."
    )
    return capped
