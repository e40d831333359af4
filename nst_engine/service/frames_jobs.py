"""What an animation job does once it runs (a `Job.work` for the queue): style its frames in order
(frames/sequence.py), posting progress with the frame's number and a `frame_done` event as each frame can
be fetched; and where the finished frames wait to be fetched (`FrameStore`).

The frames are kept apart from the queue's results (which keeps only the last few jobs' single pictures):
every frame of an animation stays fetchable, also after a stop or a cancel, as 16-bit PNGs in memory
within the service's result budget, the oldest finished animations' frames dropped first.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from nst_engine.frames.runners import gatys_runner, learned_runner
from nst_engine.frames.sequence import FrameResult, SequenceResult, style_sequence
from nst_engine.frames.temporal import Temporal
from nst_engine.pictures.images import Picture, decode_picture, encode_png
from nst_engine.service.queue import Job

PREVIEW_EVERY = 5


@dataclass
class StoredFrames:
    total: int
    frames: dict[int, bytes] = field(default_factory=dict)  # 1-based index -> 16-bit PNG
    finished: bool = False
    dropped: bool = False

    @property
    def bytes(self) -> int:
        return sum(len(data) for data in self.frames.values())


class FrameStore:
    """Every animation job's finished frames, within `max_bytes` (the running job's are never dropped)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.jobs: OrderedDict[str, StoredFrames] = OrderedDict()
        self.lock = threading.Lock()

    def open(self, job_id: str, total: int) -> None:
        with self.lock:
            self.jobs[job_id] = StoredFrames(total)

    def add(self, job_id: str, index: int, picture: Picture) -> None:
        data = encode_png(picture, 16)
        with self.lock:
            self.jobs[job_id].frames[index] = data
            self._within_budget(job_id)

    def finish(self, job_id: str) -> None:
        with self.lock:
            if job_id in self.jobs:
                self.jobs[job_id].finished = True

    def forget(self, live: set[str]) -> None:
        """Drop the frames of jobs the queue no longer knows."""
        with self.lock:
            for job_id in [j for j in self.jobs if j not in live]:
                del self.jobs[job_id]

    def get(self, job_id: str) -> StoredFrames | None:
        with self.lock:
            return self.jobs.get(job_id)

    def picture(self, job_id: str, index: int) -> Picture | None:
        with self.lock:
            stored = self.jobs.get(job_id)
            data = None if stored is None else stored.frames.get(index)
        return None if data is None else decode_picture(data, None, name=f"frame {index}")

    def _within_budget(self, keep: str) -> None:
        total = sum(s.bytes for s in self.jobs.values())
        for job_id, stored in self.jobs.items():
            if total <= self.max_bytes:
                return
            if job_id == keep or not stored.finished or not stored.frames:
                continue
            total -= stored.bytes
            stored.frames.clear()
            stored.dropped = True


@dataclass
class AnimationResult:
    """What the queue keeps as an animation job's result: its last frame (GET /jobs/{id}/result) and message."""

    picture: Picture
    message: str | None = None


@dataclass
class FramesWork:
    """Style the frames in order with the Gatys optimisation (`styles`) or a learned style (`learned`)."""

    frames: list[Picture]
    temporal: Temporal
    store: FrameStore
    stylize: Any = None  # api.stylize, handed in by the route (with `cache`, for Gatys frames)
    cache: Any = None
    learned: str | None = None  # a learned style's name
    strength: float = 1.0  # the learned style's strength (0..1), as POST /styles/{name}/apply takes it
    apply_style: Any = None  # learned.api.apply_style, handed in by the route
    sessions: Any = None
    plan_job: Any = None  # api.plan_job and api.expectation, for the estimate of the whole animation
    expectation: Any = None
    planned: Any = None
    expected: Any = None

    def plan(self, job: Job) -> tuple[Any, float | None]:
        """One frame's plan (every frame follows it) and the estimate for all of them."""
        if self.learned is not None or self.plan_job is None:
            return None, None
        self.planned, seconds = self.plan_job(self.frames[0].size, job.settings, self.cache)
        if seconds is None:
            return self.planned, None
        self.expected = self.expectation(seconds * len(self.frames), job.settings, self.cache)
        return self.planned, self.expected.seconds

    def __call__(self, job: Job) -> tuple[AnimationResult, dict[str, Any]]:
        total = len(self.frames)

        def on_progress(index: int, event: Any) -> None:
            job.post(progress_event(event, index, total, self.learned is None))

        def on_frame(index: int, result: FrameResult) -> None:
            self.store.add(job.id, index, result.picture)
            job.post({"type": "frame_done", "frame": index, "frames": total})

        if self.learned is not None:
            runner = learned_runner(self.apply_style, self.learned, self.strength, self.temporal, on_progress,
                                    job.cancel, self.sessions)
        else:
            runner = gatys_runner(self.stylize, job.styles, job.settings, self.temporal, self.cache, self.planned,
                                  on_progress, job.cancel, job.stop, PREVIEW_EVERY if job.preview else 0)
        try:
            result = style_sequence(self.frames, runner, self.temporal, on_frame, job.cancel, job.stop)
        finally:
            self.store.finish(job.id)
        if self.expected is not None and not result.stopped_early:
            self.expected.record(result.seconds)
        return AnimationResult(result.frames[-1].picture, result.message()), done_event(result, self.learned)

    def discard(self) -> None:
        """The queue frees the job's inputs: the content frames go too."""
        self.frames = []


def progress_event(event: Any, index: int, total: int, gatys: bool) -> dict[str, Any]:
    """A frame's progress as the animation's: `frame`, `frames`, and step and fraction over all frames."""
    if gatys:
        data: dict[str, Any] = {
            "type": "progress", "frame": index, "frames": total, "scale": event.scale, "scales": event.scales,
            "iteration": event.iteration, "iterations": event.iterations,
            "step": (index - 1) * event.total_steps + event.step, "total_steps": total * event.total_steps,
            "losses": event.losses, "size": list(event.size), "elapsed": round(event.elapsed, 3),
            "fraction": round((index - 1 + event.fraction) / total, 4),
        }  # fmt: skip
        if event.preview is not None:
            data["preview"] = base64.b64encode(encode_png(event.preview, 8)).decode("ascii")
        return data
    return {"type": "progress", "frame": index, "frames": total, "step": (index - 1) * event.total + event.done,
            "total_steps": total * event.total, "tile": event.done, "tiles": event.total,
            "fraction": round((index - 1 + event.done / max(1, event.total)) / total, 4),
            "elapsed": round(event.elapsed, 3)}


def done_event(result: SequenceResult, learned: str | None) -> dict[str, Any]:
    last = result.frames[-1]
    return {
        "type": "done", "frames": len(result.frames), "frames_total": result.total, "width": last.picture.width,
        "height": last.picture.height, "message": result.message(), "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 3), "seconds_per_frame": round(result.seconds / len(result.frames), 3),
        "losses": last.losses, **({"style": learned} if learned else {}),
    }  # fmt: skip
