"""`nst-engine serve`: keeps VGG-19 warm on the device and runs jobs for the GIMP plug-in over HTTP.

FastAPI (Starlette + uvicorn) rather than aiohttp or a socket protocol of our own: it validates
requests, streams responses, notices a client that went away (so its job is cancelled), and
describes the API as OpenAPI at /openapi.json for free.

Jobs run one at a time on a worker thread, in arrival order. Images arrive as bytes, never as paths.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nst_engine import __version__, paths
from nst_engine.api import ModelCache, StylizeResult, resolve_device, stylize
from nst_engine.errors import Cancelled, EngineError, ImageError, OutOfMemory, SettingsError
from nst_engine.images import (
    DEFAULT_MAX_PIXELS,
    Picture,
    decode_picture,
    encode_png,
    picture_to_raw_rgba,
    raw_rgba_to_picture,
)
from nst_engine.settings import Settings

MAX_STYLES = 8
PREVIEW_EVERY = 5
KEPT_FINISHED_JOBS = 16
KEPT_RESULTS = 4  # full-size float results are large: keep only the last few in memory
START_WAIT = 60.0  # seconds a second engine waits for one that is starting before it gives up
TERMINAL = ("done", "error", "cancelled")


class ServiceError(HTTPException):
    """A 4xx answer whose `detail` is a sentence a person can act on."""


@dataclass
class Job:
    id: str
    content: Picture
    styles: list[Picture]
    settings: Settings
    preview: bool
    state: str = "queued"  # queued, running, done, error, cancelled
    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    events: list[dict[str, Any]] = field(default_factory=list)
    result: StylizeResult | None = None
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    announced_position: int | None = None
    result_dropped: bool = False
    _preview_index: int | None = None

    def announce_position(self, position: int) -> None:
        """A `queued` event only when the position changed (the worker and submit both announce)."""
        if position != self.announced_position:
            self.announced_position = position
            self.post({"type": "queued", "position": position})

    def post(self, event: dict[str, Any]) -> None:
        with self.changed:
            if "preview" in event:
                # Only the newest preview is worth replaying; older ones would pile up megabytes per job.
                # The old event is replaced, not changed, as a stream may be serialising it right now.
                if self._preview_index is not None:
                    old = self.events[self._preview_index]
                    self.events[self._preview_index] = {k: v for k, v in old.items() if k != "preview"}
                self._preview_index = len(self.events)
            self.events.append(event)
            self.changed.notify_all()

    def summary(self, position: int | None) -> dict[str, Any]:
        info: dict[str, Any] = {"id": self.id, "state": self.state, "position": position}
        if self.error:
            info["error"] = self.error
        if self.result is not None:
            info.update(width=self.result.picture.width, height=self.result.picture.height,
                        message=self.result.message)
        return info


class JobQueue:
    """Runs jobs one at a time on one thread, in arrival order; keeps the last few finished ones."""

    def __init__(self, cache: ModelCache, max_queue: int) -> None:
        self.cache = cache
        self.max_queue = max_queue
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.waiting: list[Job] = []
        self.running: Job | None = None
        self.lock = threading.Condition()
        self.closed = False
        self.last_activity = time.monotonic()
        self.thread = threading.Thread(target=self._work, name="nst-engine-jobs", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> int:
        with self.lock:
            if len(self.waiting) >= self.max_queue:
                raise ServiceError(429, f"The engine's queue is full ({self.max_queue} jobs waiting): try again later.")
            self.jobs[job.id] = job
            self.waiting.append(job)
            position = len(self.waiting) - (0 if self.running else 1)
            job.announce_position(position)
            self._prune()
            self.lock.notify_all()
            return position

    def position(self, job: Job) -> int | None:
        with self.lock:
            if job in self.waiting:
                return self.waiting.index(job) + (1 if self.running else 0)
            return 0 if job is self.running else None

    def get(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise ServiceError(404, f"No job {job_id!r}: it never existed or finished long ago.")
        return job

    def cancel(self, job: Job) -> None:
        with self.lock:
            job.cancel.set()
            if job in self.waiting:
                self.waiting.remove(job)
                self._finish(job, "cancelled", {"type": "cancelled"})
                self._announce_positions()

    def busy(self) -> bool:
        with self.lock:
            return bool(self.waiting or self.running)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for job in [*self.waiting, *([self.running] if self.running else [])]:
                job.cancel.set()
            self.lock.notify_all()
        self.thread.join(timeout=10)

    # -------------------------------------------------------------- worker

    def _work(self) -> None:
        with contextlib.suppress(EngineError):
            self.cache.weights()  # warm up; a missing file is reported per job
        while True:
            with self.lock:
                while not self.waiting and not self.closed:
                    self.lock.wait()
                if self.closed:
                    return
                job = self.running = self.waiting.pop(0)
                self._announce_positions()
            self._run(job)
            with self.lock:
                self.running = None
                self.last_activity = time.monotonic()

    def _run(self, job: Job) -> None:
        job.state = "running"
        job.post({"type": "started"})

        def on_progress(event) -> None:
            data: dict[str, Any] = {
                "type": "progress", "scale": event.scale, "scales": event.scales,
                "iteration": event.iteration, "iterations": event.iterations, "step": event.step,
                "total_steps": event.total_steps, "losses": event.losses, "size": list(event.size),
                "elapsed": round(event.elapsed, 3),
            }  # fmt: skip
            if event.preview is not None:
                data["preview"] = base64.b64encode(encode_png(event.preview, 8)).decode("ascii")
            job.post(data)

        try:
            result = stylize(
                job.content, job.styles, job.settings, progress=on_progress, cancel=job.cancel, stop=job.stop,
                preview_every=PREVIEW_EVERY if job.preview else 0, cache=self.cache,
            )
        except Cancelled:
            self._finish(job, "cancelled", {"type": "cancelled"})
        except OutOfMemory as error:  # stylize() freed the device's memory already
            self._finish(job, "error", {"type": "error", "kind": "out_of_memory", "message": error.message,
                                        "suggested_size": error.suggested_size})
        except EngineError as error:
            self._finish(job, "error", {"type": "error", "kind": type(error).__name__, "message": error.message})
        except Exception as error:  # noqa: BLE001 - one job's failure must not stop the service
            message = f"The engine failed on this job ({type(error).__name__}: {error}); other jobs are unaffected."
            self._finish(job, "error", {"type": "error", "kind": "internal", "message": message})
        else:
            job.result = result
            self._drop_old_results(job)
            self._finish(job, "done", {
                "type": "done", "width": result.picture.width, "height": result.picture.height,
                "message": result.message, "stopped_early": result.stopped_early,
                "seconds": round(result.seconds, 3), "losses": result.losses, "device": result.device,
            })  # fmt: skip
        finally:
            job.content, job.styles = Picture(job.content.rgb[:1, :1]), []  # free the inputs

    def _finish(self, job: Job, state: str, event: dict[str, Any]) -> None:
        job.state = state
        if state == "error":
            job.error = event["message"]
        job.post(event)

    def _drop_old_results(self, newest: Job) -> None:
        with self.lock:
            kept = [j for j in self.jobs.values() if j.result is not None and j is not newest]
            for job in kept[: max(0, len(kept) - (KEPT_RESULTS - 1))]:
                job.result, job.result_dropped = None, True

    def _announce_positions(self) -> None:
        for index, waiting in enumerate(self.waiting):
            waiting.announce_position(index + (1 if self.running else 0))

    def _prune(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in TERMINAL]
        for job in finished[: max(0, len(finished) - KEPT_FINISHED_JOBS)]:
            del self.jobs[job.id]


@dataclass
class ServiceConfig:
    token: str
    weights: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_body_bytes: int = 512 * 2**20
    max_queue: int = 8
    device: str = "auto"


def create_app(config: ServiceConfig) -> FastAPI:
    cache = ModelCache(config.weights)
    queue = JobQueue(cache, config.max_queue)
    device = resolve_device(config.device)
    app = FastAPI(
        title="nst-engine", version=__version__,
        description="Neural style transfer engine for the GIMP 3 plug-in. Every endpoint but /health "
                    "needs `Authorization: Bearer TOKEN`.",
    )  # fmt: skip
    app.state.queue = queue

    @app.middleware("http")
    async def note_activity(request: Request, call_next):
        queue.last_activity = time.monotonic()
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"The engine failed on this request ({type(error).__name__}: {error}); "
                                      "it keeps running: try again, and report the error if it persists."},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": f"The request is malformed: {error.errors()}"}, status_code=422)

    def authorised(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode("utf-8", "replace"), config.token.encode("utf-8")
        ):
            raise ServiceError(
                401, "Missing or wrong token: send `Authorization: Bearer TOKEN` with the token from the "
                     "engine's token file.", headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip

    @app.get("/health")
    def health() -> dict[str, Any]:
        """No token needed: is the engine up, on which device, with which weights, how busy."""
        weights_path = cache.weights_path
        if weights_path is None:
            from nst_engine.weights import find_weights

            weights_path = find_weights()
        weights: dict[str, Any] = {"present": weights_path.is_file(), "path": str(weights_path)}
        loaded = cache.loaded_weights
        if loaded is not None:
            weights.update(format=loaded.format.name, sha256=loaded.sha256)
        with queue.lock:
            waiting, running = len(queue.waiting), queue.running is not None
        return {"status": "ok", "version": __version__, "device": str(device), "weights": weights,
                "queue": waiting, "running": running, "pid": os.getpid()}

    @app.post("/jobs", status_code=202, dependencies=[Depends(authorised)])
    async def submit(request: Request) -> dict[str, Any]:
        """multipart/form-data: `content` (image file, or raw RGBA with `content_format=raw`, `width`,
        `height`, `sample_format` u8|u16|f32), one or more `style` files, `settings` (JSON), `preview`."""
        length = request.headers.get("content-length")
        if length is None or not length.strip().isdigit():
            raise ServiceError(411, "Send the request with a Content-Length header.")
        if int(length) > config.max_body_bytes:
            raise ServiceError(413, f"The request is {int(length) / 2**20:.0f} MB, more than the engine's limit of "
                                    f"{config.max_body_bytes / 2**20:.0f} MB: use a smaller image.")
        try:
            form = await request.form(max_files=MAX_STYLES + 1, max_fields=16, max_part_size=config.max_body_bytes)
        except HTTPException:
            raise
        except Exception as error:  # noqa: BLE001 - a malformed body is the client's problem
            raise ServiceError(400, f"The request body is not valid multipart/form-data ({error}).") from None
        job = await asyncio.get_running_loop().run_in_executor(None, _parse_job, form, config)
        form_close = getattr(form, "close", None)
        if form_close is not None:
            await form_close()
        position = queue.submit(job)
        return {"id": job.id, "state": job.state, "position": position}

    @app.get("/jobs/{job_id}", dependencies=[Depends(authorised)])
    def job_status(job_id: str) -> dict[str, Any]:
        job = queue.get(job_id)
        return job.summary(queue.position(job))

    @app.get("/jobs/{job_id}/events", dependencies=[Depends(authorised)])
    async def job_events(job_id: str) -> StreamingResponse:
        """NDJSON, one event per line, from the job's first event on; the stream ends after done, error
        or cancelled. Closing it before then cancels the job."""
        job = queue.get(job_id)
        return StreamingResponse(_event_stream(queue, job), media_type="application/x-ndjson")

    @app.get("/jobs/{job_id}/result", dependencies=[Depends(authorised)])
    def job_result(job_id: str, format: str = "png16") -> Response:
        """`png16`: a 16-bit PNG (gray stays gray, alpha kept); `raw-f32`: float32 RGBA, little-endian."""
        job = queue.get(job_id)
        if job.result_dropped:
            raise ServiceError(410, f"The result of job {job_id} was dropped to save memory (the engine keeps the "
                                    f"last {KEPT_RESULTS}): fetch results as soon as a job is done, or run it again.")
        if job.result is None:
            raise ServiceError(409, f"Job {job_id} has no result ({job.state}): wait for its done event.")
        picture = job.result.picture
        headers = {"X-Width": str(picture.width), "X-Height": str(picture.height)}
        if job.result.message:
            headers["X-Message"] = job.result.message.encode("ascii", "replace").decode()
        if format == "raw-f32":
            headers.update({"X-Channels": "4", "X-Sample-Format": "f32"})
            return Response(picture_to_raw_rgba(picture, "f32"), media_type="application/octet-stream",
                            headers=headers)
        if format == "png16":
            return Response(encode_png(picture, 16), media_type="image/png", headers=headers)
        raise ServiceError(400, f"Unknown result format {format!r}: use png16 or raw-f32.")

    @app.post("/jobs/{job_id}/stop", status_code=202, dependencies=[Depends(authorised)])
    def stop_job(job_id: str) -> dict[str, Any]:
        """Finish early and keep the current image ("Stop and keep")."""
        job = queue.get(job_id)
        job.stop.set()
        return job.summary(queue.position(job))

    @app.delete("/jobs/{job_id}", dependencies=[Depends(authorised)])
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = queue.get(job_id)
        queue.cancel(job)
        return job.summary(queue.position(job))

    return app


_job_ids = itertools.count(1)


def _parse_job(form: Any, config: ServiceConfig) -> Job:
    """Validate and decode a submission (in a worker thread: decoding is CPU work)."""
    content_part = form.get("content")
    styles = form.getlist("style")
    if content_part is None or isinstance(content_part, str):
        raise ServiceError(400, "The request has no `content` image file.")
    if not styles or any(isinstance(part, str) for part in styles):
        raise ServiceError(400, "The request has no `style` image file: send at least one.")
    if len(styles) > MAX_STYLES:
        raise ServiceError(400, f"At most {MAX_STYLES} style images per job.")
    try:
        values = json.loads(form.get("settings") or "{}")
        if not isinstance(values, dict):
            raise ValueError("not an object")
        settings = Settings.from_dict(values, scope="job")
        content_bytes = content_part.file.read()
        if form.get("content_format", "encoded") == "raw":
            content = raw_rgba_to_picture(
                content_bytes, int(form.get("width", 0)), int(form.get("height", 0)),
                str(form.get("sample_format", "")), int(form.get("channels", 4)), config.max_pixels,
                grayscale=str(form.get("grayscale", "false")).lower() == "true",
            )  # fmt: skip
        else:
            content = decode_picture(content_bytes, config.max_pixels, name="the content image")
        pictures = [
            decode_picture(part.file.read(), config.max_pixels, name=f"style image {index} ({part.filename})")
            for index, part in enumerate(styles, start=1)
        ]
        settings.blend_weights(len(pictures))
    except ImageError as error:
        status = 413 if "more than the limit" in error.message else 400
        raise ServiceError(status, error.message) from None
    except SettingsError as error:
        raise ServiceError(422, error.message) from None
    except ValueError as error:
        raise ServiceError(400, f"The settings or size fields are malformed ({error}): send JSON settings and "
                                "integer width/height.") from None
    preview = str(form.get("preview", "false")).lower() in ("1", "true", "yes")
    job_id = f"{next(_job_ids)}-{secrets.token_hex(4)}"
    return Job(job_id, content, pictures, settings, preview)


async def _event_stream(queue: JobQueue, job: Job):
    """Replay the job's events, then follow them; a heartbeat line every 0.5 s notices a gone client."""
    sent = 0
    finished = False
    try:
        while True:
            with job.changed:
                pending = job.events[sent:]
            for event in pending:
                yield json.dumps(event) + "\n"
                sent += 1
                if event["type"] in TERMINAL:
                    finished = True
                    return
            if not pending:
                yield json.dumps({"type": "heartbeat"}) + "\n"
                await asyncio.sleep(0.5)
    finally:
        if not finished and job.state not in TERMINAL:
            queue.cancel(job)  # the client went away: nobody wants this result


# ---------------------------------------------------------------- command line


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--token-file", type=Path, help="file with the bearer token (made, mode 0600, if missing)")
    parser.add_argument("--state-file", type=Path, help="where to announce URL and pid (default: the cache dir)")
    parser.add_argument("--idle-timeout", type=float, default=0, help="exit after this many idle seconds (0 = never)")
    parser.add_argument("--weights", type=Path, help="VGG-19 weights file (default: the cache's)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image accepted")
    parser.add_argument("--max-body-mb", type=float, default=512, help="largest request accepted, in MB")
    parser.add_argument("--max-queue", type=int, default=8, help="jobs that may wait at once")
    parser.set_defaults(run=run_serve)


def _read_or_make_token(path: Path) -> str:
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)  # os.kill(pid, 0) would *terminate* the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def running_instance(state_file: Path) -> dict[str, Any] | None:
    """The state of an engine that still answers, or None (a stale file does not count)."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not _pid_alive(int(state.get("pid", 0))):
        return None
    try:
        with urllib.request.urlopen(f"{state['url']}/health", timeout=2) as answer:
            return state if answer.status == 200 else None
    except (OSError, ValueError, KeyError):
        return None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def _try_lock(path: Path) -> Any | None:
    """An exclusive lock on `path`, held while the returned handle stays open, or None if another process
    holds it. The OS releases it when the holder dies, so it never goes stale (unlike a pid file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 - kept open for the engine's lifetime
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _claim_instance(state_file: Path) -> Any:
    """The single-instance lock beside the state file; refuses while another engine serves or starts.

    Two engines started at once (two plug-in runs) both pass a plain state-file check, so the lock
    decides; the loser waits for the winner to answer, so that its starter finds the winner.
    """
    lock_path = state_file.with_name(state_file.name + ".lock")
    deadline = time.monotonic() + START_WAIT
    waiting_said = False
    def already_serving(other: dict[str, Any]) -> EngineError:
        return EngineError(
            f"An engine is already serving at {other['url']} (pid {other['pid']}): use it, or stop it first."
        )

    while (lock := _try_lock(lock_path)) is None:
        if not waiting_said:
            print(f"Another engine holds {lock_path}: waiting up to {START_WAIT:.0f} s for it to answer.",
                  file=sys.stderr, flush=True)
            waiting_said = True
        if (other := running_instance(state_file)) is not None:
            raise already_serving(other)
        if time.monotonic() > deadline:
            raise EngineError(
                f"Another engine holds {lock_path} but does not answer: wait for it to finish starting, or stop it."
            )
        time.sleep(0.25)
    if (other := running_instance(state_file)) is not None:  # an engine that predates the lock
        lock.close()
        raise already_serving(other)
    return lock


def run_serve(args: argparse.Namespace) -> int:
    """`nst-engine serve`: claim the single instance, listen, announce, serve until stopped or idle."""
    import uvicorn

    state_file = args.state_file or paths.state_file()
    lock = _claim_instance(state_file)
    try:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"WARNING: listening on {args.host}, not only on this computer: anyone who can reach it and "
                  "has the token can use the engine. Keep the token file secret.", file=sys.stderr)
        token_file = args.token_file or paths.cache_dir() / "token"
        config = ServiceConfig(
            token=_read_or_make_token(token_file), weights=args.weights, max_pixels=args.max_pixels,
            max_body_bytes=int(args.max_body_mb * 2**20), max_queue=args.max_queue, device=args.device,
        )  # fmt: skip
        app = create_app(config)
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if sys.platform != "win32":  # on Windows it would let another program bind the same port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as error:
            sock.close()
            app.state.queue.close()
            raise EngineError(
                f"Cannot listen on {args.host}:{args.port} ({error.strerror}): choose another --port."
            ) from None
        port = sock.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{port}"
        server = _make_server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: setattr(server, "should_exit", True))
        state = {"url": url, "token_file": str(token_file), "pid": os.getpid(), "version": __version__}
        _write_state(state_file, state)
        print(json.dumps(state), flush=True)
        if args.idle_timeout:
            threading.Thread(target=_exit_when_idle, args=(server, app.state.queue, args.idle_timeout),
                             daemon=True).start()
        try:
            server.run(sockets=[sock])
        finally:
            app.state.queue.close()
            with contextlib.suppress(OSError, ValueError):
                if json.loads(state_file.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    state_file.unlink()
    finally:
        lock.close()
    return 0


def _make_server(config: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after shutting down, which would kill us before the state file is
        removed; run_serve handles the signals itself."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server(config)


def _exit_when_idle(server: Any, queue: JobQueue, idle_timeout: float) -> None:
    while not server.should_exit:
        time.sleep(min(1.0, idle_timeout / 4))
        if not queue.busy() and time.monotonic() - queue.last_activity > idle_timeout:
            print(f"No work for {idle_timeout:g} s: the engine stops.", file=sys.stderr, flush=True)
            server.should_exit = True
