"""The job queue: one worker thread runs jobs in arrival order, inside bounded memory.

What a job does is its `work` (stylize_jobs.py, learned_jobs.py): the queue only admits, orders, runs,
reports and forgets, so it stands below every kind of job.

Memory is bounded by construction, not by hope: every admitted job holds a reservation of decoded
pixels (checked from image headers before anything is decoded), a job's inputs are freed the moment
it is cancelled or finishes, its stored events are capped, and finished results are kept within a
byte budget.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nst_engine.contract import TERMINAL_EVENTS, estimate_number
from nst_engine.errors import Cancelled, EngineError, OutOfMemory, ServiceError
from nst_engine.gatys.cache import ModelCache
from nst_engine.pictures.images import ImageError, Picture
from nst_engine.planning.plan import Plan
from nst_engine.settings import Settings

KEPT_FINISHED_JOBS = 16
KEPT_RESULTS = 4  # full-size float results are large: keep only the last few in memory
KEPT_EVENTS = 100  # progress events replayed to a late stream; the terminal event is always kept


def plan_fields(plan: Plan | None, seconds: float | None) -> dict[str, Any]:
    """What `queued` and `started` events say of the job's plan: its estimate (null: not calibrated yet)."""
    return {"estimate_seconds": None if seconds is None else estimate_number(seconds),
            "plan": None if plan is None else plan.to_dict()}


def new_job_id() -> str:
    """192 random bits: knowing the shared token is not enough to guess another client's job."""
    return secrets.token_urlsafe(24)


@dataclass
class Job:
    id: str
    content: Picture | None
    styles: list[Picture]
    settings: Settings
    preview: bool
    pixels: int = 0  # decoded pixels reserved in the queue's budget until the inputs are freed
    received: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"  # queued, running, done, error, cancelled
    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    events: list[dict[str, Any]] = field(default_factory=list)
    dropped_events: int = 0  # events before events[0], dropped to bound memory
    result: Any = None  # what `work` returned: a result with `picture` and `message` (GET /jobs/{id}/result)
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    announced_position: int | None = None
    result_dropped: bool = False
    # What the job does, on the worker thread: returns (result or None, done event). It may also have
    # `plan(job)` -> (Plan or None, estimate seconds or None), for the `started` event, and `discard()`.
    work: Callable[[Job], tuple[Any, dict[str, Any]]] | None = None
    keep_running: bool = False  # goes on when its event stream closes (learning: the artist closed the dialog)
    plan: dict[str, Any] = field(default_factory=lambda: plan_fields(None, None))  # for `queued` events
    _preview_seq: int | None = None

    def announce_position(self, position: int) -> None:
        """A `queued` event only when the position changed (the worker and submit both announce)."""
        if position != self.announced_position:
            self.announced_position = position
            self.post({"type": "queued", "position": position, **self.plan})

    def post(self, event: dict[str, Any]) -> None:
        with self.changed:
            if "preview" in event:
                # Only the newest preview is worth replaying; older ones would pile up megabytes per job.
                # The old event is replaced, not changed, as a stream may be serialising it right now.
                old_index = None if self._preview_seq is None else self._preview_seq - self.dropped_events
                if old_index is not None and old_index >= 0:
                    old = self.events[old_index]
                    self.events[old_index] = {k: v for k, v in old.items() if k != "preview"}
                self._preview_seq = self.dropped_events + len(self.events)
            self.events.append(event)
            excess = len(self.events) - KEPT_EVENTS - (1 if event["type"] in TERMINAL_EVENTS else 0)
            if excess > 0:
                del self.events[:excess]
                self.dropped_events += excess
            self.changed.notify_all()

    def events_after(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """(first sequence number returned, events from `seq` on); events dropped meanwhile are skipped."""
        with self.changed:
            start = max(seq, self.dropped_events)
            return start, self.events[start - self.dropped_events:]

    def summary(self, position: int | None) -> dict[str, Any]:
        info: dict[str, Any] = {"id": self.id, "state": self.state, "position": position, "received": self.received}
        if self.error:
            info["error"] = self.error
        if self.result is not None:
            info.update(width=self.result.picture.width, height=self.result.picture.height,
                        message=self.result.message)
        return info


def picture_bytes(picture: Picture) -> int:
    return picture.rgb.nbytes + (picture.alpha.nbytes if picture.alpha is not None else 0)


class JobQueue:
    """Runs jobs one at a time on one thread, in arrival order; keeps the last few finished ones.

    Admission happens in two steps so that a full queue or an exhausted pixel budget is refused
    before any image is decoded: `reserve` (from the headers' sizes), then `submit` or `release`.
    """

    def __init__(self, cache: ModelCache, max_queue: int, max_queued_pixels: int, max_result_bytes: int) -> None:
        self.cache = cache
        self.max_queue = max_queue
        self.max_queued_pixels = max_queued_pixels
        self.max_result_bytes = max_result_bytes
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.waiting: list[Job] = []
        self.running: Job | None = None
        self.reserved_pixels = 0  # admitted jobs' inputs, decoded or being decoded
        self.admitting = 0  # requests between reserve() and submit()/release()
        self.lock = threading.Condition()
        self.device_lock = threading.Lock()  # held while a job runs, or while POST /plan measures the device
        self.closed = False
        self.last_activity = time.monotonic()
        self.thread = threading.Thread(target=self._work, name="nst-engine-jobs", daemon=True)
        self.thread.start()

    def check_room(self) -> None:
        """429 when the queue is full: cheap enough to ask before reading the images' headers."""
        with self.lock:
            if len(self.waiting) + self.admitting >= self.max_queue:
                raise ServiceError(429, f"The engine's queue is full ({self.max_queue} jobs waiting): "
                                        "try again when a job has finished.", {"Retry-After": "5"})

    def reserve(self, pixels: int) -> None:
        """Hold a queue slot and `pixels` of the decoded-pixel budget, or refuse with 429."""
        with self.lock:
            self.check_room()
            if self.reserved_pixels + pixels > self.max_queued_pixels:
                raise ServiceError(429, f"The engine holds {self.reserved_pixels:,} decoded pixels of queued jobs "
                                        f"and this job needs {pixels:,} more, over its budget of "
                                        f"{self.max_queued_pixels:,}: try again when a job has finished.",
                                   {"Retry-After": "5"})
            self.reserved_pixels += pixels
            self.admitting += 1

    def release(self, pixels: int) -> None:
        """Give back a reservation whose request failed before it became a job."""
        with self.lock:
            self.reserved_pixels -= pixels
            self.admitting -= 1

    @contextlib.contextmanager
    def reserved(self, pixels: int) -> Iterator[None]:
        """`reserve` for a request being decoded: released if it fails (an unreadable image is a 400)."""
        self.reserve(pixels)
        try:
            yield
        except ImageError as error:
            self.release(pixels)
            raise ServiceError(400, error.message) from None
        except BaseException:
            self.release(pixels)
            raise

    def submit(self, job: Job) -> int:
        """Queue a job whose `pixels` were reserved; returns its position (0: it runs next)."""
        with self.lock:
            self.admitting -= 1
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
            shown = job_id if len(job_id) <= 64 else job_id[:61] + "..."  # an id is 32 characters: never echo more
            raise ServiceError(404, f"No job {shown!r}: it never existed or finished long ago.")
        return job

    def cancel(self, job: Job) -> None:
        with self.lock:
            job.cancel.set()
            if job in self.waiting:
                self.waiting.remove(job)
                self._free_inputs(job)
                self._finish(job, "cancelled", {"type": "cancelled"})
                self._announce_positions()

    def cancel_unseen(self, job: Job) -> None:
        """Cancel a job whose client went away before it was told the job's id: nobody could follow it."""
        self.cancel(job)
        print(f"Cancelled job {job.id[:8]}...: its client went away before the engine answered.", file=sys.stderr,
              flush=True)

    def busy(self) -> bool:
        with self.lock:
            return bool(self.waiting or self.running)

    def counts(self) -> dict[str, Any]:
        with self.lock:
            return {"queue": len(self.waiting), "running": self.running is not None,
                    "reserved_pixels": self.reserved_pixels}

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
            try:
                with self.device_lock:
                    self._run(job)
            finally:
                with self.lock:
                    self._free_inputs(job)
                    self.running = None
                    self.last_activity = time.monotonic()

    def _run(self, job: Job) -> None:
        job.state = "running"
        plan, seconds = self._plan(job)
        job.post({"type": "started", "received": job.received, **plan_fields(plan, seconds)})
        state, event = self._execute(job)  # its frame, and any traceback holding the pictures, are gone now
        with self.lock:
            self._free_inputs(job)
        self._finish(job, state, event)

    def _plan(self, job: Job) -> tuple[Plan | None, float | None]:
        """The job's plan and estimate, if its work makes one; a plan that fails is reported by the run itself."""
        make = getattr(job.work, "plan", None)
        if make is None:
            return None, None
        try:
            return make(job)
        except Exception:  # noqa: BLE001 - reported by the run itself
            return None, None

    def _execute(self, job: Job) -> tuple[str, dict[str, Any]]:
        """Run the job's work; the terminal state and event, whatever happens."""
        assert job.content is not None and job.work is not None
        try:
            result, done = job.work(job)
        except Cancelled:
            return "cancelled", {"type": "cancelled"}
        except OutOfMemory as error:  # the work freed the device's memory already
            return "error", {"type": "error", "kind": "out_of_memory", "message": error.message,
                             "suggested_size": error.suggested_size}
        except EngineError as error:
            return "error", {"type": "error", "kind": type(error).__name__, "message": error.message}
        except Exception as error:  # noqa: BLE001 - one job's failure must not stop the service
            message = f"The engine failed on this job ({type(error).__name__}: {error}); other jobs are unaffected."
            return "error", {"type": "error", "kind": "internal", "message": message}
        job.result = result
        self._drop_old_results(job)
        return "done", done

    def _free_inputs(self, job: Job) -> None:
        """Drop a job's pictures and give back its pixel reservation (caller holds the lock)."""
        if job.content is not None:
            job.content, job.styles = None, []
            self.reserved_pixels -= job.pixels
        discard = getattr(job.work, "discard", None)
        if discard is not None:  # the work's own inputs on disk (a learning job's photographs)
            discard()

    def _finish(self, job: Job, state: str, event: dict[str, Any]) -> None:
        job.state = state
        if state == "error":
            job.error = event["message"]
        job.post(event)

    def _drop_old_results(self, newest: Job) -> None:
        """Keep at most KEPT_RESULTS results and `max_result_bytes` of them; the newest always stays."""
        with self.lock:
            kept = [j for j in self.jobs.values() if j.result is not None and j is not newest]
            total = picture_bytes(newest.result.picture) if newest.result else 0
            keep: list[Job] = []
            for job in reversed(kept):
                size = picture_bytes(job.result.picture)  # type: ignore[union-attr]
                if len(keep) < KEPT_RESULTS - 1 and total + size <= self.max_result_bytes:
                    keep.append(job)
                    total += size
                else:
                    job.result, job.result_dropped = None, True

    def _announce_positions(self) -> None:
        for index, waiting in enumerate(self.waiting):
            waiting.announce_position(index + (1 if self.running else 0))

    def _prune(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in TERMINAL_EVENTS]
        for job in finished[: max(0, len(finished) - KEPT_FINISHED_JOBS)]:
            del self.jobs[job.id]
