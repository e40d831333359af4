"""The service's learned-style endpoints: list the library, apply a style, learn one, delete one.

Apply and learning jobs go on the one job queue as stylisation jobs do (GET /jobs/{id}, /events,
/result, DELETE /jobs/{id}), admitted the same way, cheapest refusal first: token, Content-Length,
queue room, then the headers of the images (pixel limits and budgets), and only then are pixels
decoded, on a worker thread. Every refusal is a 4xx `{"error": ...}`.

A learning job can be asked (`keep_running=true`) to go on after its event stream closes, so the
artist can close the dialog; it is then followed by polling GET /jobs/{id}, or seen in GET /styles.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nst_engine.errors import ImageError, ServiceError, SettingsError
from nst_engine.learned import library
from nst_engine.learned.api import SessionCache, apply_style, learn_style
from nst_engine.learned.library import StyleError
from nst_engine.learned.options import LearnOptions
from nst_engine.learned.train import MIN_IMAGES
from nst_engine.pictures.images import (
    ImageTooLarge,
    decode_content,
    decode_picture,
    probe_picture,
)
from nst_engine.service.budgets import check_request_pixels
from nst_engine.service.forms import check_framing, int_field, read_multipart, refused_as_http, text_field
from nst_engine.service.learned_jobs import ApplyWork, LearnWork, style_entry, sweep_uploads, uploads_dir
from nst_engine.service.openapi_bodies import apply_body, learn_body
from nst_engine.service.queue import Job, JobQueue, new_job_id
from nst_engine.settings import Settings

MAX_PHOTOS = 256  # photographs per learning request; more add little to a style and much to the upload
OPTION_NAMES = ("steps", "size", "batch", "style_strength", "width", "learning_rate", "checkpoint_every", "seed")


def add_routes(app: FastAPI, config: Any, queue: JobQueue, authorised: Any) -> None:
    """Register the endpoints on `app` (called by nst_engine.service.app.create_app)."""
    sessions = SessionCache()
    learn_lock = threading.Lock()  # one name, one learning job: the check and the queueing are one step
    sweep_uploads(set())  # photographs an earlier engine left behind
    guarded = [Depends(authorised)]

    async def read_form(request: Request, max_files: int) -> Any:
        check_framing(request, config.max_body_bytes)
        queue.check_room()
        try:
            return await read_multipart(request, max_files, 16, config.max_body_bytes)
        except ServiceError:
            raise
        except StarletteHTTPException as error:
            raise ServiceError(400, f"The request body was refused ({error.detail}): see docs/service.md.") from None
        except Exception as error:  # noqa: BLE001 - a malformed body is the client's problem
            raise ServiceError(400, f"The request body is not valid multipart/form-data ({error}).") from None

    @app.get("/styles", dependencies=guarded)
    def styles(thumbnails: Literal["url", "base64"] = "url") -> dict[str, Any]:
        """The learned styles (unusable ones with their `problem`), styles being learned, and ONNX Runtime.
        `thumbnails=base64` puts each thumbnail in the listing as `thumbnail_png` (base64 PNG)."""
        from nst_engine.learned.runtime import installed_runtime

        entries = []
        for info in library.list_styles():
            entry = style_entry(info.summary())
            if thumbnails == "base64" and info.problem is None and info.thumbnail_path.is_file():
                entry["thumbnail_png"] = base64.b64encode(info.thumbnail_path.read_bytes()).decode("ascii")
            entries.append(entry)
        learning = [{"name": job.work.name, "state": job.state} for job in _learning_jobs(queue)]  # type: ignore[union-attr]
        runtime = installed_runtime()
        return {"styles": entries, "learning": learning,
                "runtime": {"package": runtime[0], "version": runtime[1]} if runtime else None}

    @app.get("/styles/{name}/thumbnail", dependencies=guarded)
    def thumbnail(name: str) -> Response:
        """The style picture, small (PNG)."""
        info = _stored(name)
        try:
            return Response(info.thumbnail_path.read_bytes(), media_type="image/png")
        except OSError:
            raise ServiceError(404, f"The style {name!r} has no thumbnail: learn it again.") from None

    @app.delete("/styles/{name}", dependencies=guarded)
    def delete_style(name: str) -> dict[str, Any]:
        with learn_lock:
            if any(job.work.name == name for job in _learning_jobs(queue)):  # type: ignore[union-attr]
                raise ServiceError(409, f"The style {name!r} is being learned: cancel that job first.")
            _stored(name, verify=False)
            library.delete(name)
        return {"deleted": name}

    @app.post("/styles/{name}/apply", status_code=202, dependencies=guarded, openapi_extra=apply_body())
    async def apply(name: str, request: Request) -> dict[str, Any]:
        """multipart/form-data: `content` (an image file, or raw pixels with `content_format=raw`, `width`,
        `height`, `sample_format` u8|u16|f32, `channels` 3|4, as POST /jobs takes it) and `strength` (0..1,
        default 1). The result has the content's size, alpha and depth; fetch it as for any job."""
        form = await read_form(request, max_files=1)
        try:
            job = await asyncio.get_running_loop().run_in_executor(None, _admit_apply, form, name, config, queue,
                                                                   sessions)
            position = queue.submit(job)
        finally:
            await form.close()
        if await request.is_disconnected():
            queue.cancel_unseen(job)
        return {"id": job.id, "state": job.state, "position": position}

    @app.post("/styles/learn", status_code=202, dependencies=guarded,
              openapi_extra=learn_body(MIN_IMAGES, MAX_PHOTOS, OPTION_NAMES))
    async def learn(request: Request) -> dict[str, Any]:
        """multipart/form-data: `name`, one `style` image file, at least 8 `photo` files (the photographs
        to learn on), `options` (JSON: steps, size, batch, style_strength, width small|standard,
        learning_rate, checkpoint_every, seed), `replace` and `keep_running` (true: the job goes on when
        its event stream closes). Long: follow GET /jobs/{id}/events; its done event names the style."""
        form = await read_form(request, max_files=MAX_PHOTOS + 1)
        try:
            job, position = await asyncio.get_running_loop().run_in_executor(None, _admit_learn, form, config,
                                                                             queue, learn_lock)
        finally:
            await form.close()
        if await request.is_disconnected():  # it left while its photographs were stored and its job queued
            queue.cancel_unseen(job)  # the photographs go with it
        return {"id": job.id, "state": job.state, "position": position}


# ---------------------------------------------------------------- admission


def _text(form: Any, name: str, default: str) -> str:
    return text_field(form, name, default)


def _flag(form: Any, name: str) -> bool:
    return _text(form, name, "false").strip().lower() in ("1", "true", "yes")


def _stored(name: str, verify: bool = False) -> library.StyleInfo:
    """The stored style, or 400 (a name no style can have), 404 (none such) or 422 (unusable)."""
    try:
        library.check_name(name)
        if not library.exists(name):
            raise ServiceError(404, f"There is no learned style called {name!r}: GET /styles lists them.")
        return library.load_style(name, verify=verify)
    except StyleError as error:
        status = 400 if "not a usable style name" in error.message else 422
        raise ServiceError(status, error.message) from None


def _learning_jobs(queue: JobQueue) -> list[Job]:
    with queue.lock:
        return [job for job in queue.jobs.values()
                if isinstance(job.work, LearnWork) and job.state in ("queued", "running")]


def _job_settings(config: Any) -> Settings:
    return Settings().replace(**config.server_settings)


def _admit_apply(form: Any, name: str, config: Any, queue: JobQueue, sessions: Any) -> Job:
    """Check the style, the strength and the content's header, reserve its pixels, then decode it."""
    _stored(name)
    text = _text(form, "strength", "1")
    try:
        strength = float(text)
    except ValueError:
        raise ServiceError(422, f"`strength` must be a number between 0 and 1, not {text[:40]!r}.") from None
    if not 0.0 <= strength <= 1.0:
        raise ServiceError(422, f"`strength` must be between 0 and 1, not {strength:g}.")
    part = form.get("content")
    if part is None or isinstance(part, str):
        raise ServiceError(400, "The request has no `content` image file.")
    raw = _text(form, "content_format", "encoded") == "raw"
    data = part.file.read()
    with refused_as_http():
        if raw:
            width, height = int_field(form, "width", "0"), int_field(form, "height", "0")
            channels, sample = int_field(form, "channels", "4"), _text(form, "sample_format", "")
            if width < 1 or height < 1:
                raise ServiceError(400, "A raw image needs `width` and `height` fields of at least 1.")
        else:
            header = probe_picture(data, "the content image")
            width, height = header.width, header.height
        if width * height > config.max_image_pixels:
            raise ImageTooLarge(f"The content image is {width}x{height} pixels, more than the limit of "
                                f"{config.max_image_pixels:,} pixels: scale it down first.")
        check_request_pixels(width * height, config.budgets.request_pixels)
    pixels = width * height
    with queue.reserved(pixels):
        content, received = decode_content(data, (width, height, sample, channels) if raw else None,
                                           _flag(form, "grayscale"), config.max_image_pixels)
    return Job(new_job_id(), content, [], _job_settings(config), False, pixels=pixels,
               received={"content": received, "style": name, "strength": strength},
               work=ApplyWork(name, strength, sessions, apply_style))


def _learn_options(form: Any, device: str) -> LearnOptions:
    text = _text(form, "options", "{}")
    try:
        values = json.loads(text or "{}")
    except (ValueError, RecursionError) as error:  # RecursionError: nested beyond what json reads
        raise ServiceError(400, f"`options` is not valid JSON ({error}): send a JSON object.") from None
    if not isinstance(values, dict):
        raise ServiceError(400, "`options` must be a JSON object, such as {\"steps\": 2000}.")
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise ServiceError(422, f"Unknown learning option(s) {', '.join(unknown)}: use {', '.join(OPTION_NAMES)}.")
    options = LearnOptions(**values, device=device)
    try:
        options.validate()
    except SettingsError as error:
        raise ServiceError(422, error.message) from None
    except (TypeError, ValueError) as error:
        raise ServiceError(422, f"A learning option has the wrong type ({error}).") from None
    return options


def _admit_learn(form: Any, config: Any, queue: JobQueue, lock: threading.Lock) -> tuple[Job, int]:
    """Check the name, options and images' headers, keep the photographs on disk, queue the job."""
    name = _text(form, "name", "").strip()
    try:
        library.check_name(name)
    except StyleError as error:
        raise ServiceError(400, error.message) from None
    options = _learn_options(form, config.server_settings.get("device", "auto"))
    replace = _flag(form, "replace")
    style_part, photos = form.get("style"), form.getlist("photo")
    if style_part is None or isinstance(style_part, str):
        raise ServiceError(400, "The request has no `style` image file.")
    if any(isinstance(part, str) for part in photos):
        raise ServiceError(400, "`photo` was sent as a plain field: send each photograph as a file.")
    if len(photos) < MIN_IMAGES:
        arrived = {0: "No photographs arrived", 1: "Only 1 photograph arrived"}.get(
            len(photos), f"Only {len(photos)} photographs arrived")
        raise ServiceError(400, f"{arrived}: learning a style needs at least {MIN_IMAGES}. Send "
                                f"{MIN_IMAGES - len(photos)} more, each as a `photo` file.")
    if len(photos) > MAX_PHOTOS:
        raise ServiceError(400, f"At most {MAX_PHOTOS} photographs per learning job.")
    data = style_part.file.read()
    photo_data = [part.file.read() for part in photos]
    with refused_as_http():
        header = probe_picture(data, "the style image", config.max_image_pixels)
        # Each photograph's header is read like any image's (the engine's formats only, its pixel limit),
        # before anything is stored: learning decodes them one at a time, so the queue reserves the style
        # and the largest photograph, and the request's budget counts them all.
        photo_pixels = [probe_picture(photo, f"photograph {index} ({_client_name(part)})",
                                      config.max_image_pixels).pixels
                        for index, (photo, part) in enumerate(zip(photo_data, photos, strict=True), start=1)]
        check_request_pixels(header.pixels + sum(photo_pixels), config.budgets.request_pixels)
    reserved = header.pixels + max(photo_pixels)
    with lock:
        if library.exists(name) and not replace:
            raise ServiceError(409, f"A style called {name!r} exists already: choose another name, or send "
                                    "replace=true.")
        if any(job.work.name == name for job in _learning_jobs(queue)):  # type: ignore[union-attr]
            raise ServiceError(409, f"The style {name!r} is being learned already: wait for that job or cancel it.")
        queue.reserve(reserved)
        job_id = new_job_id()
        folder = uploads_dir() / job_id
        try:
            style = decode_picture(data, config.max_image_pixels, name="the style image")
            folder.mkdir(parents=True)
            for index, photo in enumerate(photo_data):
                (folder / f"photo-{index:04d}").write_bytes(photo)
        except ImageError as error:
            queue.release(reserved)
            _remove(folder)
            raise ServiceError(400, error.message) from None
        except BaseException:
            queue.release(reserved)
            _remove(folder)
            raise
        work = LearnWork(name, options, folder, queue.cache, learn_style, replace,
                         _client_name(style_part) if style_part.filename else None)
        job = Job(job_id, style, [], _job_settings(config), False, pixels=reserved,
                  received={"name": name, "style": {"width": style.width, "height": style.height},
                            "photos": len(photos)},
                  work=work, keep_running=_flag(form, "keep_running"))
        with queue.lock:
            live = {j.id for j in queue.jobs.values() if j.state in ("queued", "running")} | {job_id}
        sweep_uploads(live)  # photographs of learning jobs cancelled while they waited
        return job, queue.submit(job)


def _client_name(part: Any) -> str:
    """The client's file name, shortened: it is only echoed in messages."""
    name = str(part.filename or "unnamed")
    return name if len(name) <= 80 else name[:77] + "..."


def _remove(folder: Any) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
