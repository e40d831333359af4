"""`POST /frames` (an animation: many content frames, styled in order and kept steady) and
`GET /jobs/{id}/frames/{i}` (one finished frame). The job's events, stop and cancel are every job's.

Admission reads every frame's header first: the frames' pixels all count against the request's and the
queue's budgets before a single one is decoded (docs/service.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nst_engine.api import expectation, plan_job, stylize
from nst_engine.errors import ServiceError, SettingsError
from nst_engine.frames.temporal import Temporal
from nst_engine.learned import library
from nst_engine.learned.api import SessionCache, apply_style
from nst_engine.learned.library import StyleError
from nst_engine.pictures.images import (
    ImageTooLarge,
    decode_content,
    decode_picture,
    encode_png,
    picture_to_raw_rgba,
    probe_picture,
)
from nst_engine.service.budgets import check_request_pixels
from nst_engine.service.forms import (
    check_framing,
    int_field,
    read_multipart,
    refused_as_http,
    settings_field,
    text_field,
)
from nst_engine.service.frames_jobs import FrameStore, FramesWork
from nst_engine.service.limits import check_fits_network
from nst_engine.service.openapi_bodies import frames_body
from nst_engine.service.queue import Job, JobQueue, new_job_id

MAX_FRAMES = 1000
MAX_STYLES = 8


def add_frames_routes(app: FastAPI, config: Any, queue: JobQueue, authorised: Any) -> None:
    store = FrameStore(config.budgets.result_bytes)
    sessions = SessionCache()
    guarded = [Depends(authorised)]

    @app.post("/frames", status_code=202, dependencies=guarded, openapi_extra=frames_body(MAX_FRAMES, MAX_STYLES))
    async def submit_frames(request: Request) -> dict[str, Any]:
        """multipart/form-data: `frame` parts in order (image files, or raw pixels with `content_format=raw`,
        `width`, `height`, `sample_format`, `channels` for every frame), and either `style` files (the
        optimisation, as POST /jobs) or `learned_style` NAME (with `strength` 0..1, as POST
        /styles/{name}/apply); `settings` (JSON, as /jobs), `temporal` (JSON: {"strength": 1.0, "long_term":
        0}), `preview`. Events as for /jobs, with `frame`/`frames` and a `frame_done` event per frame; fetch
        frames with GET /jobs/{id}/frames/{i}."""
        check_framing(request, config.max_body_bytes)
        queue.check_room()
        try:
            form = await read_multipart(request, MAX_FRAMES + MAX_STYLES, 16, config.max_body_bytes)
        except ServiceError:
            raise
        except StarletteHTTPException as error:
            raise ServiceError(400, f"The request body was refused ({error.detail}): send at most {MAX_FRAMES} "
                                    f"frames and {MAX_STYLES} styles as multipart/form-data.") from None
        except Exception as error:  # noqa: BLE001 - a malformed body is the client's problem
            raise ServiceError(400, f"The request body is not valid multipart/form-data ({error}).") from None
        try:
            job = await asyncio.get_running_loop().run_in_executor(None, _admit, form, config, queue, store,
                                                                   sessions)
            store.open(job.id, len(job.work.frames))  # type: ignore[union-attr]
            position = queue.submit(job)
        finally:
            await form.close()
        store.forget(set(queue.jobs))
        if await request.is_disconnected():
            queue.cancel_unseen(job)
        return {"id": job.id, "state": job.state, "position": position, "frames": len(job.work.frames)}  # type: ignore[union-attr]

    @app.get("/jobs/{job_id}/frames/{index}", dependencies=guarded)
    def job_frame(job_id: str, index: int, format: Literal["png16", "raw-f32"] = "png16") -> Response:
        """Frame `index` (1-based) of an animation job, once its `frame_done` event came: `png16` or
        `raw-f32` as GET /jobs/{id}/result."""
        job = queue.get(job_id)
        stored = store.get(job_id)
        if stored is None:
            raise ServiceError(404, f"Job {job_id} is not an animation: fetch its picture at /jobs/{job_id}/result.")
        if not 1 <= index <= stored.total:
            raise ServiceError(404, f"Job {job_id} has frames 1 to {stored.total}, not {index}.")
        if stored.dropped:
            raise ServiceError(410, f"The frames of job {job_id} were dropped to save memory (the engine keeps "
                                    f"{config.budgets.result_bytes / 2**20:.0f} MB of them): fetch frames as "
                                    "soon as they are done, or run the animation again.")
        picture = store.picture(job_id, index)
        if picture is None:
            if job.state in ("queued", "running"):
                raise ServiceError(409, f"Frame {index} of job {job_id} is not done yet: wait for its frame_done "
                                        "event.")
            raise ServiceError(404, f"Frame {index} of job {job_id} was never styled: the job ended ({job.state}) "
                                    f"after {len(stored.frames)} of {stored.total} frames.")
        headers = {"X-Width": str(picture.width), "X-Height": str(picture.height), "X-Frame": str(index),
                   "X-Frames": str(stored.total)}
        if format == "raw-f32":
            headers.update({"X-Channels": "4", "X-Sample-Format": "f32"})
            return Response(picture_to_raw_rgba(picture, "f32"), media_type="application/octet-stream",
                            headers=headers)
        return Response(encode_png(picture, 16), media_type="image/png", headers=headers)


def _temporal(form: Any) -> Temporal:
    text = text_field(form, "temporal", "{}")
    try:
        values = json.loads(text or "{}")
    except (ValueError, RecursionError) as error:
        raise ServiceError(400, f"`temporal` is not valid JSON ({error}): send a JSON object such as "
                                '{"strength": 1.0, "long_term": 0}.') from None
    try:
        return Temporal.from_dict(values)
    except SettingsError as error:
        raise ServiceError(422, error.message) from None


def _admit(form: Any, config: Any, queue: JobQueue, store: FrameStore, sessions: Any) -> Job:
    """Check every frame's and style's header, the settings and the budgets, reserve, then decode."""
    parts = form.getlist("frame")
    styles = form.getlist("style")
    learned = text_field(form, "learned_style", "").strip() or None
    if not parts or any(isinstance(part, str) for part in parts):
        raise ServiceError(400, "The request has no `frame` image file: send the frames in order as `frame` parts.")
    if len(parts) > MAX_FRAMES:
        raise ServiceError(400, f"At most {MAX_FRAMES} frames per animation.")
    if learned is None and (not styles or any(isinstance(part, str) for part in styles)):
        raise ServiceError(400, "The request has neither `style` image files nor a `learned_style` name: send one.")
    if learned is not None and styles:
        raise ServiceError(400, "Send either `style` image files or a `learned_style` name, not both.")
    if len(styles) > MAX_STYLES:
        raise ServiceError(400, f"At most {MAX_STYLES} style images per job.")
    temporal = _temporal(form)
    settings = settings_field(form, config.server_settings)
    strength = 1.0
    if learned is not None:
        _check_learned(learned)
        strength = _strength(text_field(form, "strength", "1"))
    raw = text_field(form, "content_format", "encoded") == "raw"
    frame_bytes = [part.file.read() for part in parts]
    style_bytes = [part.file.read() for part in styles]
    style_names = [f"style image {index} ({part.filename})" for index, part in enumerate(styles, start=1)]
    with refused_as_http():
        if raw:
            width, height = int_field(form, "width", "0"), int_field(form, "height", "0")
            channels, sample = int_field(form, "channels", "4"), text_field(form, "sample_format", "")
            if width < 1 or height < 1:
                raise ServiceError(400, "Raw frames need `width` and `height` fields of at least 1.")
            sizes = [(width, height)] * len(frame_bytes)
        else:
            sizes = [(i.width, i.height) for i in (probe_picture(data, f"frame {n}")
                                                   for n, data in enumerate(frame_bytes, start=1))]
        for n, size in enumerate(sizes, start=1):
            if size != sizes[0]:
                raise ServiceError(400, f"Frame {n} is {size[0]}x{size[1]} but frame 1 is {sizes[0][0]}x"
                                        f"{sizes[0][1]}: every frame of an animation must be the same size.")
        if sizes[0][0] * sizes[0][1] > config.max_image_pixels:
            raise ImageTooLarge(f"Each frame is {sizes[0][0]}x{sizes[0][1]} pixels, more than the limit of "
                                f"{config.max_image_pixels:,} pixels: scale the animation down first.")
        style_sizes = [(i.width, i.height) for i in (probe_picture(b, n) for b, n in zip(style_bytes, style_names,
                                                                                         strict=True))]
        for (w, h), name in zip(style_sizes, style_names, strict=True):
            if w * h > config.max_image_pixels:
                raise ImageTooLarge(f"{name[0].upper() + name[1:]} is {w}x{h} pixels, more than the limit of "
                                    f"{config.max_image_pixels:,} pixels: scale it down first.")
        pixels = sum(w * h for w, h in [*sizes, *style_sizes])
        check_request_pixels(pixels, config.budgets.request_pixels)
        if learned is None:
            check_fits_network(sizes[0], style_sizes, settings, config.max_image_pixels)
            settings.blend_weights(len(styles))
    grayscale = text_field(form, "grayscale", "false").lower() == "true"
    with queue.reserved(pixels):
        frames, received = [], {}
        for n, data in enumerate(frame_bytes, start=1):
            frame, received = decode_content(data, (width, height, sample, channels) if raw else None, grayscale,
                                             config.max_image_pixels)
            frames.append(frame)
            frame_bytes[n - 1] = b""
        pictures = [decode_picture(data, config.max_image_pixels, name=name)
                    for data, name in zip(style_bytes, style_names, strict=True)]
    work = FramesWork(frames, temporal, store, stylize=stylize, cache=queue.cache, learned=learned, strength=strength,
                      apply_style=apply_style, sessions=sessions, plan_job=plan_job, expectation=expectation)
    preview = text_field(form, "preview", "false").lower() in ("1", "true", "yes")
    return Job(new_job_id(), frames[0], pictures, settings, preview, pixels=pixels,
               received={"content": received, "frames": len(frames), "temporal": {
                   "strength": temporal.strength, "long_term": temporal.long_term},
                   **({"style": learned, "strength": strength} if learned else {})}, work=work)


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ServiceError(422, f"`strength` must be a number between 0 and 1, not {text[:40]!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ServiceError(422, f"`strength` must be between 0 and 1, not {value:g}.")
    return value


def _check_learned(name: str) -> None:
    """The learned style exists and is usable, or 400 (a name no style can have), 404 (none such) or 422."""
    try:
        library.check_name(name)
        if not library.exists(name):
            raise ServiceError(404, f"There is no learned style called {name!r}: GET /styles lists them.")
        library.load_style(name)
    except StyleError as error:
        raise ServiceError(400 if "not a usable style name" in error.message else 422, error.message) from None
