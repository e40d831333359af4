"""Making a job's `Plan` (plan.py): the working size the settings ask for, fitted to memory (tiles
first, a smaller size only when even the smallest tiles don't fit) and, with the device's measured
rate, to the time budget. The rate is handed down by the caller (calibrate.py measures it); the plan never
runs the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nst_engine.contract import estimate_text
from nst_engine.errors import OutOfMemory
from nst_engine.pictures.images import scaled_size
from nst_engine.planning import memory, timing
from nst_engine.planning.plan import Plan, Size, Step, tiled_step
from nst_engine.planning.schedule import schedule
from nst_engine.settings import Settings

__all__ = ["make_plan", "target_size"]


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

    A scale too large for the memory available (the device's, capped by `memory_limit`) is tiled;
    only when even tiles of the smallest size would not fit is the size scaled down (or, with
    `on_oom` "refuse", refused). Then, with the device's `rate`, a size whose estimate (tiles
    included) exceeds `settings.time_budget` is capped to fit. `tile_size` forces tiles of at most
    that side.
    """
    size = target_size(content_size, settings)
    notes: list[str] = []
    if settings.max_pixels is not None and size[0] * size[1] > settings.max_pixels:
        side = int(max(size) * (settings.max_pixels / (size[0] * size[1])) ** 0.5)
        notes.append(f"Scaled down from {max(size)} px to {side} px (long side) to stay within max_pixels.")
        size = scaled_size(size, side)
    available = memory.available_bytes(device, settings.memory_limit)
    host_state = device.type != "cpu"  # a tiled scale's whole-image state: optimize.state_device

    def steps_for(candidate: Size) -> list[Step]:
        """The scales of a candidate size as they would run: tiled where memory says so."""
        return [_step(s, n, settings.tile_size, dtype_bytes, available, host_state)
                for s, n in schedule(candidate, settings)]

    where = _where(device, settings.memory_limit, available)
    size = _fit(size, settings, device, dtype_bytes, available, where, notes)  # first: what can run at all
    if rate is not None and settings.time_budget and settings.notebook_size is None:
        size = _fit_time_budget(size, settings, rate, dtype_bytes, steps_for, notes)
    plan = Plan(target=size, steps=steps_for(size), dtype_bytes=dtype_bytes, notes=notes)
    if plan.tiled:
        why = f"as tile_size {settings.tile_size} asks" if settings.tile_size else f"to fit {where}"
        notes.append(f"Tiled {why}.")  # which scales, and their tiles: api.result_message
    return plan


def _where(device: torch.device, limit: int | None, available: int | None) -> str:
    """The memory a plan is fitted to, in words: "the 1.0 GiB memory limit", "the 6.2 GiB available on cuda"."""
    gib = (available or 0) / 2**30
    if limit is not None and available == limit:
        return f"the {gib:.1f} GiB memory limit"
    return f"the {gib:.1f} GiB available on {device.type}"


def _fit(
    size: Size, settings: Settings, device: torch.device, dtype_bytes: int, available: int | None, where: str,
    notes: list[str],
) -> Size:  # fmt: skip
    """The size itself, unless not even tiles of the smallest size fit: then scaled down, or refused."""
    def workable(candidate: Size) -> bool:  # whole, or in tiles (whose whole-image state must fit too)
        return memory.fits(memory.estimate_bytes(*candidate, dtype_bytes=dtype_bytes), available) or (
            memory.tile_for(candidate, dtype_bytes, available, device.type != "cpu") is not None)  # type: ignore[arg-type]

    if workable(size):
        return size
    # The largest size that runs at all: tiled sizes count, not only those that fit whole.
    fitting = next((side for side in range(max(size) // 16 * 16, 15, -16) if workable(scaled_size(size, side))), 16)
    if settings.on_oom == "refuse":
        need = memory.estimate(size, device, dtype_bytes, settings.memory_limit)
        raise OutOfMemory(
            f"{max(size)} px would need {need.describe()} on {device.type}, too much even in tiles: "
            f"choose a size of at most {fitting} px.",
            suggested_size=fitting,
        )
    notes.append(f"Scaled down from {max(size)} px to {fitting} px (long side) to fit {where}, "
                 "too little even for tiles.")
    return scaled_size(size, fitting)


def _step(size: Size, iterations: int, tile_size: int | None, dtype_bytes: int, available: int | None,
          host_state: bool = False) -> Step:
    """One scale: whole if it fits (and no tile size is forced), else in the largest tiles that fit."""
    side = None
    if tile_size is not None and max(size) > tile_size:
        side = tile_size
    if available is not None and not memory.fits(memory.estimate_bytes(*size, dtype_bytes=dtype_bytes), available):
        fitting = memory.tile_for(size, dtype_bytes, available, host_state)
        side = fitting if side is None or fitting is None else min(side, fitting)
    return tiled_step(size, iterations, side)


def _fit_time_budget(size: Size, settings: Settings, rate: timing.Rate, dtype_bytes: int,
                     steps_for: Callable[[Size], list[Step]], notes: list[str]) -> Size:
    """The largest size (long side a multiple of 16) whose estimate fits the time budget; a note if capped.

    Each candidate is estimated as it would run, its tiles (halos, the Gram pass) included: a tiled
    job fitted on untiled steps overran its budget by about 1.8x.
    """

    def seconds(candidate: Size) -> float:
        return timing.estimate_seconds(Plan(candidate, steps_for(candidate), dtype_bytes), rate)

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
        f"{estimate_text(full)} on {rate.device_name}, over the time budget of "
        f"{estimate_text(settings.time_budget).removeprefix('about ')}. Ask for the size explicitly "
        "(Full size, or a Painting size, in GIMP's dialog; --time-budget 0 on the command line) to lift the cap."
    )
    return capped
