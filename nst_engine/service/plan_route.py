"""`POST /plan`: what a job of a given size would do and how long it would take, without running it.

The plug-in's dialog asks it to show "about 40 s on NVIDIA GeForce RTX 3060" before the artist
commits, and the `queued` and `started` events carry the same plan and estimate. The device's speed is
measured once (calibrate.py); /plan measures it when the device is idle, never while a job runs (the
measurement would be wrong and the job slower): until then the estimate is null.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import torch
from fastapi import Depends, FastAPI, Request

from nst_engine.api import expectation, plan_job
from nst_engine.contract import estimate_number
from nst_engine.device import device_name
from nst_engine.errors import EngineError, ServiceError, WeightsInvalid, WeightsMissing
from nst_engine.gatys.cache import ModelCache
from nst_engine.planning.schedule import Size
from nst_engine.service.config import ServiceConfig
from nst_engine.service.forms import check_framing, settings_from_values
from nst_engine.service.limits import check_fits_network
from nst_engine.service.openapi_bodies import plan_body
from nst_engine.service.queue import JobQueue, plan_fields
from nst_engine.settings import MAX_SIDE, Settings

MAX_PLAN_BODY = 64 * 1024


def queued_plan(content_size: Size, settings: Settings, cache: ModelCache) -> dict[str, Any]:
    """The plan fields of a `queued` event: from a rate measured earlier, never measuring now."""
    try:
        return plan_fields(*plan_job(content_size, settings, cache, calibrate="never"))
    except EngineError:  # e.g. no weights: the job's own run reports it
        return plan_fields(None, None)


def add_plan_route(app: FastAPI, config: ServiceConfig, queue: JobQueue, device: torch.device,
                   authorised: Callable[[Request], None]) -> None:
    """Register POST /plan on `app` (token-protected like /jobs)."""

    @app.post("/plan", dependencies=[Depends(authorised)], openapi_extra=plan_body(MAX_SIDE))
    async def plan(request: Request) -> dict[str, Any]:
        """JSON `{"width": W, "height": H, "settings": {...}}` -> `{"plan", "seconds", "seconds_range",
        "slowdown", "device", "device_name", "calibrated"}`; `seconds` is null until the device's speed has
        been measured. `seconds` counts this machine's load now and recent jobs' actual times;
        `seconds_range` is [low, high] where those spread widely, else null."""
        check_framing(request, MAX_PLAN_BODY)
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError) as error:  # RecursionError: nested beyond what json reads
            raise ServiceError(400, f"The body is not valid JSON ({error}): send "
                                    '{"width": W, "height": H, "settings": {...}}.') from None
        if not isinstance(body, dict):
            raise ServiceError(400, 'Send a JSON object: {"width": W, "height": H, "settings": {...}}.')
        size = (_side(body, "width"), _side(body, "height"))
        if size[0] * size[1] > config.max_image_pixels:
            raise ServiceError(413, f"A {size[0]}x{size[1]} image is more than the engine's limit of "
                                    f"{config.max_image_pixels:,} pixels: plan a smaller one.")
        settings = settings_from_values(body.get("settings", {}), config.server_settings)
        check_fits_network(size, [], settings, config.max_image_pixels)
        return await asyncio.get_running_loop().run_in_executor(None, _plan, size, settings, queue, device)


def _side(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4 * MAX_SIDE:
        raise ServiceError(422, f"`{name}` must be an integer from 1 to {4 * MAX_SIDE} (pixels), not "
                                f"{json.dumps(value)[:40]}.")
    return value


def _plan(size: Size, settings: Settings, queue: JobQueue, device: torch.device) -> dict[str, Any]:
    """Plan on a worker thread; measure the device first if it is idle and was never measured."""
    now = None
    try:
        if queue.device_lock.acquire(blocking=False):
            try:  # the device is idle: measure it if it never was, and how fast it runs now
                made, seconds = plan_job(size, settings, queue.cache, calibrate="always")
                now = None if seconds is None else expectation(seconds, settings, queue.cache, probe=True)
            finally:
                queue.device_lock.release()
        else:  # a job runs: no measuring beside it
            made, seconds = plan_job(size, settings, queue.cache, calibrate="never")
            now = None if seconds is None else expectation(seconds, settings, queue.cache, probe=False)
    except (WeightsMissing, WeightsInvalid) as error:
        raise ServiceError(503, error.message) from None
    except EngineError as error:  # out of memory with on_oom "refuse"
        raise ServiceError(422, error.message) from None
    answer: dict[str, Any] = {"plan": made.to_dict(), "seconds": None, "seconds_range": None, "slowdown": None,
                              "device": device.type, "device_name": device_name(device),
                              "calibrated": seconds is not None}
    if now is not None:
        answer.update(seconds=estimate_number(now.seconds), slowdown=round(now.slowdown, 2),
                      seconds_range=None if now.low is None or now.high is None else
                      [estimate_number(now.low), estimate_number(now.high)])
    return answer
