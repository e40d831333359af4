"""`stylize()`: the one call the CLI and the service share.

It resolves the device and precision, plans a size that fits in memory (and, with the device's measured
rate from calibrate.py, in time), keeps the model warm in a `ModelCache` (gatys/cache.py), runs the
optimisation and hands back a `Picture` with the content's alpha and depth: settings → plan → run → result.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nst_engine.calibrate import Expectation, expect, rate_for
from nst_engine.calibrate import probe as measure_slowdown
from nst_engine.device import resolve_device, resolve_precision
from nst_engine.errors import EngineError, OutOfMemory, SettingsError
from nst_engine.gatys import guides, optimize
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.model import checked_between_layers
from nst_engine.gatys.optimize import Progress
from nst_engine.pictures.images import (
    Picture,
    combine_luminance,
    from_tensor,
    luminance_only,
    match_luminance,
    resize_tensor,
    to_tensor,
)
from nst_engine.planning import memory, planner, timing
from nst_engine.planning import plan as plan_module
from nst_engine.settings import Settings

# Pixel-iterations below which a job is over before a calibration of the device would be (a 512 px
# draft on a slow CPU is several times more): such a job is not worth measuring the device for.
SMALL_WORK = 2_000_000

__all__ = ["Progress", "StylizeResult", "plan_job", "stylize"]


@dataclass
class StylizeResult:
    picture: Picture
    size: tuple[int, int]  # the size the optimisation ran at
    losses: dict[str, float]
    device: str
    seconds: float
    stopped_early: bool
    message: str | None = None  # the size computed at, and why it was reduced if it was
    plan: plan_module.Plan | None = None  # the schedule that ran
    estimate_seconds: float | None = None  # what the plan was expected to take (None: not calibrated)


def target_size(content: Picture, settings: Settings) -> tuple[int, int]:
    """The working size the settings ask for (planner.target_size, for a Picture)."""
    return planner.target_size(content.size, settings)


def plan_job(
    content_size: tuple[int, int],
    settings: Settings,
    cache: ModelCache,
    calibrate: Literal["auto", "always", "never"] = "auto",
    notify: Callable[[str], None] | None = None,
) -> tuple[plan_module.Plan, float | None]:
    """The plan for a content of `content_size` and its estimated seconds (None when not calibrated).

    The device's rate is measured once (calibrate.py): "always" measures it if needed, "never" only
    uses a kept one, "auto" measures it unless the job is too small to be worth it (SMALL_WORK).
    With a rate, the plan also keeps within `settings.time_budget`.
    """
    device = resolve_device(settings.device)
    dtype = resolve_precision(settings, device)
    dtype_bytes = 2 if dtype != torch.float32 else 4
    rate = rate_for(cache, settings, device, dtype, calibrate=False)
    if rate is None and calibrate != "never":
        rough = planner.make_plan(content_size, settings, device, dtype_bytes)
        if calibrate == "auto" and rough.pixel_iterations <= SMALL_WORK:
            return rough, None
        try:
            rate = rate_for(cache, settings, device, dtype, notify=notify)
        except EngineError:
            raise  # missing or unusable weights: the job cannot run either
        except Exception:  # noqa: BLE001 - an estimate is not worth a job: plan without it
            rate = None
    plan = planner.make_plan(content_size, settings, device, dtype_bytes, rate=rate)
    return plan, (timing.estimate_seconds(plan, rate) if rate is not None else None)


def expectation(seconds: float, settings: Settings, cache: ModelCache, probe: bool = True) -> Expectation:
    """What a plan estimated at `seconds` (plan_job's, on the quiet device) will likely take now: the device's
    speed now (`probe`: measured for about a second, so only while no job of this process runs on it; else
    estimated from other programs' runnable threads) and recent jobs' actual times (calibrate.expect)."""
    device = resolve_device(settings.device)
    dtype = resolve_precision(settings, device)
    slowdown = measure_slowdown(cache, settings, device, dtype) if probe else None
    return expect(seconds, cache, device, dtype, slowdown=slowdown)


def result_message(plan: plan_module.Plan, output_size: tuple[int, int], stopped: bool) -> str:
    """The plan's notes, then the sizes computed at: e.g. "Computed at 2048x1365 (coarse to fine: ...)"."""
    width, height = plan.target
    text = f"Computed at {width}x{height}"
    if len(plan.steps) > 1 or plan.tiled:
        text += f" (coarse to fine: {', '.join(step.describe() for step in plan.steps)})"
    if output_size != plan.target:
        text += f", scaled to {output_size[0]}x{output_size[1]}"
    text += "." + (" Stopped early on request." if stopped else "")
    return " ".join([*plan.notes, text])


def stylize(
    content: Picture,
    styles: Sequence[Picture],
    settings: Settings,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
    preview_every: int = 0,
    preview_size: int = 256,
    cache: ModelCache | None = None,
    plan: plan_module.Plan | None = None,
    regions: guides.Regions | None = None,
) -> StylizeResult:
    """Stylise `content` with `styles` (blended by `settings.style_blend`); see docs/architecture.md.

    `plan` (from `plan_job`, e.g. to show its estimate first) is followed; by default one is made.
    `regions` give each part of the picture its own style, or the photo (gatys/guides.py).
    """
    if not styles:
        raise SettingsError("At least one style image is needed.")
    if regions is not None:
        regions.check(len(styles))
    started = time.perf_counter()
    blend = settings.blend_weights(len(styles))
    device = resolve_device(settings.device)
    dtype = resolve_precision(settings, device)
    channels_last = settings.channels_last if settings.channels_last is not None else device.type == "cuda"
    cache = cache or ModelCache()
    model, _format = cache.get(settings, device, channels_last)
    run_settings, style_weight = cache.calibrated(settings)
    estimate = None
    if plan is None:  # the device's speed is measured only if the time budget needs it
        plan, estimate = plan_job(content.size, settings, cache, "auto" if settings.time_budget else "never")
    size = plan.target

    content_rgb = luminance_only(content.rgb) if settings.preserve_colors else content.rgb
    style_rgbs = [match_luminance(s.rgb, content.rgb) if settings.preserve_colors else s.rgb for s in styles]

    def report(event: Progress) -> None:
        if progress is None:
            return
        if event.preview is not None:
            event = dataclasses.replace(event, preview=Picture(from_tensor(event.preview)))
        progress(event)

    control = optimize.Control(
        progress=report, cancel=cancel, stop=stop, preview_every=preview_every, preview_size=preview_size
    )
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    try:
        content_t = to_tensor(content_rgb, device)
        styles_t = [(to_tensor(rgb, device), weight) for rgb, weight in zip(style_rgbs, blend, strict=True)]
        if settings.style_strength == 0:
            # No style: the content itself, not a reconstruction of it through the coarse scales.
            result, final_losses = resize_tensor(content_t, size), {"content": 0.0, "total": 0.0}
        else:
            with checked_between_layers(control.check_cancel):  # a cancel within a layer, not an iteration
                result, final_losses = optimize.run(
                    model, content_t, styles_t, run_settings, style_weight, plan, control, dtype, channels_last,
                    regions=regions,
                )
            _refuse_non_finite(result, final_losses)
    except (torch.OutOfMemoryError, RuntimeError) as error:
        # cuDNN and some drivers report running out of memory as a plain RuntimeError.
        if not isinstance(error, torch.OutOfMemoryError) and "out of memory" not in str(error).lower():
            memory.free(device)
            raise
        del error
        memory.free(device)
        fitting = max(16, int(max(size) * 0.7) // 16 * 16)
        raise OutOfMemory(
            f"The {device.type} device ran out of memory at {max(size)} px: try {fitting} px or less "
            "(a smaller size or output resolution), or close other programs using the GPU.",
            suggested_size=fitting,
        ) from None
    except BaseException:  # cancelled or failed: the next job gets the whole device
        memory.free(device)
        raise
    output_size = content.size if settings.output == "content" else size
    result = resize_tensor(result, output_size).clamp(0, 1)
    rgb = from_tensor(result)
    del result, content_t, styles_t
    if settings.preserve_colors:
        base = content.rgb if output_size == content.size else from_tensor(
            resize_tensor(to_tensor(content.rgb), output_size)
        )
        rgb = combine_luminance(rgb, base)
    if content.grayscale:
        rgb = luminance_only(rgb)  # a gray image gets a gray result, in every encoding
    alpha = content.alpha
    if alpha is not None and output_size != content.size:
        alpha = from_alpha(resize_tensor(torch.from_numpy(alpha)[None, None], output_size))
    picture = Picture(rgb, alpha, content.bit_depth, content.grayscale)
    memory.free(device)
    return StylizeResult(
        picture=picture,
        size=size,
        losses=final_losses,
        device=str(device),
        seconds=time.perf_counter() - started,
        stopped_early=bool(stop is not None and stop.is_set()),
        # after the run: the plan may say that a scale was retried in smaller tiles
        message=result_message(plan, output_size, bool(stop is not None and stop.is_set())),
        plan=plan,
        estimate_seconds=estimate,
    )


def _refuse_non_finite(result: torch.Tensor, losses: dict[str, float]) -> None:
    """A cost that overflowed leaves NaN pixels (a black picture): an error, never a finished job."""
    if all(math.isfinite(value) for value in losses.values()) and bool(torch.isfinite(result).all()):
        return
    raise EngineError(
        "The optimisation diverged (its cost became infinite or not a number), so there is no picture: lower the "
        "style weight, the style strength or the layer weights, and run it again."
    )


def judge(
    content: Picture, styles: Sequence[Picture], settings: Settings, cache: ModelCache
) -> Callable[[Picture], dict[str, float]]:
    """The cost terms of pictures under the objective the engine runs `settings` with, in fp32, whole.

    One yardstick for measurements (benchmarks, tests): a run's own losses come from its precision
    and, where tiled, from its tiles. An objective is made once per picture size.
    """
    device = resolve_device(settings.device)
    fp32 = settings.replace(precision="fp32", channels_last=False)
    model, _ = cache.get(fp32, device, False)
    run_settings, style_weight = cache.calibrated(fp32)
    blend = settings.blend_weights(len(styles))
    objectives: dict[tuple[int, int], optimize.Objective] = {}

    def terms(picture: Picture) -> dict[str, float]:
        size = picture.size
        if size not in objectives:
            styles_t = []
            for style, weight in zip(styles, blend, strict=True):
                style_t = to_tensor(style.rgb, device)
                styles_t.append((resize_tensor(style_t, optimize.style_size(style_t, size, run_settings)), weight))
            content_t = resize_tensor(to_tensor(content.rgb, device), size)
            objectives[size] = optimize.Objective(model, content_t, styles_t, run_settings, style_weight,
                                                  optimize.make_autocast(device, torch.float32))
        with torch.no_grad():
            _, parts = objectives[size](to_tensor(picture.rgb, device))
        return {name: float(value) for name, value in parts.items()}

    return terms


def from_alpha(alpha: torch.Tensor) -> np.ndarray:
    return alpha.squeeze(0).squeeze(0).clamp(0, 1).numpy().astype(np.float32)

