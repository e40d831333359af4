"""The HTTP app: the job routes and event streams (their requests parsed by forms.py), with every refusal a
4xx `{"error": ...}`.

A request is admitted in the cheapest order that can refuse it: headers (length, framing, token),
queue room, then the images' headers (pixel budgets, sizes VGG-19 can work at, settings), and only
then are pixels decoded, on a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from nst_engine import __version__
from nst_engine.contract import TERMINAL_EVENTS
from nst_engine.device import resolve_device
from nst_engine.errors import ServiceError
from nst_engine.gatys.cache import ModelCache
from nst_engine.pictures.images import (
    ImageTooLarge,
    decode_content,
    decode_picture,
    encode_png,
    picture_to_raw_rgba,
    probe_picture,
)
from nst_engine.service import learned_routes
from nst_engine.service.budgets import check_request_pixels
from nst_engine.service.config import ServiceConfig
from nst_engine.service.forms import (
    check_framing,
    int_field,
    read_multipart,
    refused_as_http,
    settings_field,
    text_field,
)
from nst_engine.service.frames_route import add_frames_routes
from nst_engine.service.limits import check_fits_network
from nst_engine.service.openapi_bodies import submit_body
from nst_engine.service.plan_route import add_plan_route, queued_plan
from nst_engine.service.protocol import CloseUnreadBodies
from nst_engine.service.queue import KEPT_RESULTS, Job, JobQueue, new_job_id
from nst_engine.service.region_forms import MAX_REGIONS, decode_masks, probe_masks, read_region_form
from nst_engine.service.stylize_jobs import StylizeWork

MAX_STYLES = 8


HEARTBEAT_SECONDS = 0.5
DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
def create_app(config: ServiceConfig) -> FastAPI:
    cache = ModelCache(config.weights)
    budgets = config.budgets
    queue = JobQueue(cache, config.max_queue, budgets.queued_pixels, budgets.result_bytes)
    device = resolve_device(config.server_settings.get("device", "auto"))
    app = FastAPI(
        title="nst-engine", version=__version__,
        description="Neural style transfer engine for the GIMP 3 plug-in. Every endpoint but /health "
                    "needs `Authorization: Bearer TOKEN`.",
    )  # fmt: skip
    app.state.queue = queue
    app.state.device = device
    app.add_middleware(CloseUnreadBodies)

    def token_ok(request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode("utf-8", "replace"), config.token.encode("utf-8")
        )

    def authorised(request: Request) -> None:
        if not token_ok(request):
            raise ServiceError(
                401, "Missing or wrong token: send `Authorization: Bearer TOKEN` with the token from the "
                     "engine's token file.", headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip

    app.add_middleware(_Gate, queue=queue, docs_need_token=config.docs_need_token, token_ok=token_ok)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return _error(error.status, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"There is no {request.url.path}: the endpoints are described at /docs."
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}: see /docs for the methods."
        else:
            message = str(error.detail)
        return _error(error.status_code, message, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in error.errors())
        return _error(422, f"The request is malformed ({problems}): see /docs for what each endpoint takes.")

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, error: ClientDisconnect) -> JSONResponse:
        """A body cut off (the client left, or stalled past --body-timeout): nobody reads this answer."""
        return _error(400, "The request's body did not arrive in full: send it again.")

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        return _error(500, f"The engine failed on this request ({type(error).__name__}: {error}); it keeps "
                           "running: try again, and report the error if it persists.")

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Status and version for anyone; with the token also device, weights, queue and limits."""
        answer: dict[str, Any] = {"status": "ok", "version": __version__}
        if not token_ok(request):
            return answer
        weights_path = cache.weights_path
        if weights_path is None:
            from nst_engine.weights.formats import find_weights

            weights_path = find_weights()
        weights: dict[str, Any] = {"present": weights_path.is_file(), "path": str(weights_path)}
        loaded = cache.loaded_weights
        if loaded is not None:
            weights.update(format=loaded.format.name, sha256=loaded.sha256)
        counts = queue.counts()
        answer.update(device=str(device), weights=weights, queue=counts["queue"], running=counts["running"],
                      reserved_pixels=counts["reserved_pixels"], pid=os.getpid(), limits={
                          "max_image_pixels": config.max_image_pixels, "max_request_pixels": budgets.request_pixels,
                          "max_queued_pixels": budgets.queued_pixels, "max_result_bytes": budgets.result_bytes,
                          "max_body_bytes": config.max_body_bytes, "max_queue": config.max_queue,
                          "max_styles": MAX_STYLES})  # fmt: skip
        return answer

    @app.post("/jobs", status_code=202, dependencies=[Depends(authorised)], openapi_extra=submit_body(MAX_STYLES))
    async def submit(request: Request) -> dict[str, Any]:
        """multipart/form-data: `content` (image file, or raw pixels with `content_format=raw`, `width`,
        `height`, `sample_format` u8|u16|f32, `channels` 3|4), one or more `style` files, `settings`
        (JSON), `preview`."""
        check_framing(request, config.max_body_bytes)
        queue.check_room()
        try:
            form = await read_multipart(request, MAX_STYLES + 1 + MAX_REGIONS, 16, config.max_body_bytes)
        except ServiceError:
            raise
        except StarletteHTTPException as error:
            raise ServiceError(400, f"The request body was refused ({error.detail}): send at most {MAX_STYLES} "
                                    "styles and a few fields as multipart/form-data.") from None
        except Exception as error:  # noqa: BLE001 - a malformed body is the client's problem
            raise ServiceError(400, f"The request body is not valid multipart/form-data ({error}).") from None
        try:
            job = await asyncio.get_running_loop().run_in_executor(None, _admit, form, config, queue)
            position = queue.submit(job)
        finally:
            await form.close()
        if await request.is_disconnected():  # it left while its job was admitted: nobody can follow it
            queue.cancel_unseen(job)
        answer = {"id": job.id, "state": job.state, "position": position}
        warnings = getattr(job.work, "warnings", None)
        return {**answer, "warnings": warnings} if warnings else answer

    add_plan_route(app, config, queue, device, authorised)

    @app.get("/jobs/{job_id}", dependencies=[Depends(authorised)])
    def job_status(job_id: str) -> dict[str, Any]:
        job = queue.get(job_id)
        return job.summary(queue.position(job))

    @app.get("/jobs/{job_id}/events", dependencies=[Depends(authorised)])
    async def job_events(job_id: str) -> StreamingResponse:
        """NDJSON, one event per line, from the job's first kept event on; the stream ends after done,
        error or cancelled. Closing it before then cancels the job."""
        job = queue.get(job_id)
        return StreamingResponse(_event_stream(queue, job), media_type="application/x-ndjson")

    @app.get("/jobs/{job_id}/result", dependencies=[Depends(authorised)])
    def job_result(job_id: str, format: Literal["png16", "raw-f32"] = "png16") -> Response:
        """`png16`: a 16-bit PNG (gray stays gray, alpha kept); `raw-f32`: float32 RGBA, little-endian."""
        job = queue.get(job_id)
        if job.result_dropped:
            raise ServiceError(410, f"The result of job {job_id} was dropped to save memory (the engine keeps the "
                                    f"last {KEPT_RESULTS}, within {budgets.result_bytes / 2**20:.0f} MB): fetch "
                                    "results as soon as a job is done, or run it again.")
        result = job.result
        if result is None:
            raise ServiceError(409, f"Job {job_id} has no result ({job.state}): wait for its done event.")
        picture = result.picture
        headers = {"X-Width": str(picture.width), "X-Height": str(picture.height)}
        if result.message:
            headers["X-Message"] = result.message.encode("ascii", "replace").decode()
        if format == "raw-f32":
            headers.update({"X-Channels": "4", "X-Sample-Format": "f32"})
            return Response(picture_to_raw_rgba(picture, "f32"), media_type="application/octet-stream",
                            headers=headers)
        return Response(encode_png(picture, 16), media_type="image/png", headers=headers)

    @app.post("/jobs/{job_id}/stop", status_code=202, dependencies=[Depends(authorised)])
    def stop_job(job_id: str) -> dict[str, Any]:
        """Finish early and keep the current image ("Stop and keep"); 409 once the job has ended."""
        job = queue.get(job_id)
        if job.state not in ("queued", "running"):
            raise ServiceError(409, f"Job {job_id} has ended already ({job.state}): there is nothing to stop.")
        job.stop.set()
        return job.summary(queue.position(job))

    @app.delete("/jobs/{job_id}", dependencies=[Depends(authorised)])
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = queue.get(job_id)
        queue.cancel(job)
        return job.summary(queue.position(job))

    learned_routes.add_routes(app, config, queue, authorised)
    add_frames_routes(app, config, queue, authorised)
    return app


class _Gate:
    """Every request counts as activity (--idle-timeout), and the API description may need the token.

    A plain ASGI middleware: starlette's @app.middleware wraps `receive` so that a route can never see
    that its client has gone (Request.is_disconnected is always false behind it).
    """

    def __init__(self, app: Any, queue: JobQueue, docs_need_token: bool, token_ok: Any) -> None:
        self.app, self.queue, self.docs_need_token, self.token_ok = app, queue, docs_need_token, token_ok

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.queue.last_activity = time.monotonic()
            if self.docs_need_token and scope["path"] in DOC_PATHS and not self.token_ok(Request(scope)):
                refusal = _error(401, "The API description needs the token when the engine listens beyond this "
                                      "computer: send `Authorization: Bearer TOKEN`.", {"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _admit(form: Any, config: ServiceConfig, queue: JobQueue) -> Job:
    """Validate a submission from its headers, reserve its memory, then decode (on a worker thread)."""
    content_part = form.get("content")
    styles = form.getlist("style")
    if content_part is None or isinstance(content_part, str):
        raise ServiceError(400, "The request has no `content` image file.")
    if not styles or any(isinstance(part, str) for part in styles):
        raise ServiceError(400, "The request has no `style` image file: send at least one.")
    if len(styles) > MAX_STYLES:
        raise ServiceError(400, f"At most {MAX_STYLES} style images per job: send fewer styles.")
    settings = settings_field(form, config.server_settings)
    preview = text_field(form, "preview", "false").lower() in ("1", "true", "yes")
    raw = text_field(form, "content_format", "encoded") == "raw"
    content_bytes = content_part.file.read()
    style_bytes = [part.file.read() for part in styles]
    style_names = [f"style image {index} ({part.filename})" for index, part in enumerate(styles, start=1)]
    regions = read_region_form(form, len(styles))  # `region_mask` parts, `regions`, `rest`: region_forms.py
    with refused_as_http():
        if raw:
            width, height = int_field(form, "width", "0"), int_field(form, "height", "0")
            channels = int_field(form, "channels", "4")
            sample = text_field(form, "sample_format", "")
            if width < 1 or height < 1:
                raise ServiceError(400, "A raw image needs `width` and `height` fields of at least 1.")
            content_size = (width, height)
        else:
            info = probe_picture(content_bytes, "the content image")
            content_size = (info.width, info.height)
        style_sizes = [(i.width, i.height) for i in (probe_picture(b, n) for b, n in zip(style_bytes, style_names,
                                                                                         strict=True))]
        for size, name in [(content_size, "The content image"), *zip(style_sizes, style_names, strict=True)]:
            if size[0] * size[1] > config.max_image_pixels:
                raise ImageTooLarge(f"{name[0].upper() + name[1:]} is {size[0]}x{size[1]} pixels, more than the "
                                    f"limit of {config.max_image_pixels:,} pixels: scale it down first.")
        if regions is not None:
            probe_masks(regions, content_size, config.max_image_pixels)
        pixels = sum(w * h for w, h in [content_size, *style_sizes]) + (regions.pixels if regions else 0)
        check_request_pixels(pixels, config.budgets.request_pixels)
        check_fits_network(content_size, style_sizes, settings, config.max_image_pixels)
        settings.blend_weights(len(styles))
    planned = queued_plan(content_size, settings, queue.cache)
    with queue.reserved(pixels):
        content, received = decode_content(
            content_bytes, (width, height, sample, channels) if raw else None,
            text_field(form, "grayscale", "false").lower() == "true", config.max_image_pixels)
        del content_bytes
        pictures = [decode_picture(data, config.max_image_pixels, name=name)
                    for data, name in zip(style_bytes, style_names, strict=True)]
        guides = None if regions is None else decode_masks(regions, config.max_image_pixels)
    return Job(new_job_id(), content, pictures, settings, preview, pixels=pixels, received={"content": received},
               plan=planned, work=StylizeWork(queue.cache, regions=guides,
                                              warnings=regions.warnings if regions else []))



async def _event_stream(queue: JobQueue, job: Job) -> AsyncIterator[str]:
    """Replay the job's kept events, then follow them; a heartbeat every 0.5 s notices a gone client."""
    seq = 0
    finished = False
    try:
        while True:
            start, pending = job.events_after(seq)
            for offset, event in enumerate(pending):
                yield json.dumps(event) + "\n"
                seq = start + offset + 1
                if event["type"] in TERMINAL_EVENTS:
                    finished = True
                    return
            if not pending:
                yield json.dumps({"type": "heartbeat"}) + "\n"
                await asyncio.sleep(HEARTBEAT_SECONDS)
    finally:
        if not finished and job.state not in TERMINAL_EVENTS and not job.keep_running:
            queue.cancel(job)  # the client went away: nobody wants this result
