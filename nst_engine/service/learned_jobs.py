"""What the service's learned-style jobs do once they run: apply a stored style, or learn a new one.

Each is a `Job.work` callable for the service's one queue (queue.py): it reads its
inputs from the job (so they are freed with the job's other inputs), posts `progress` events with
`step`, `total_steps` and `fraction` as stylisation jobs do, and returns (result, done event). Engine
errors and cancellation are turned into events by the queue, as for stylisation.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_engine import contract
from nst_engine.learned.options import LearnOptions
from nst_engine.pictures.images import Picture
from nst_engine.service.queue import Job

UPLOADS = ".uploads"  # under <data>/learning/ (no style name starts with a dot): photographs until their job ran


@dataclass
class AppliedResult:
    """What GET /jobs/{id}/result serves for an apply job (the fields a StylizeResult offers there)."""

    picture: Picture
    message: str | None = None


def uploads_dir() -> Path:
    return contract.data_dir() / "learning" / UPLOADS


@dataclass
class ApplyWork:
    """`content` (the job's picture) in the learned style `name`, blended by `strength`."""

    name: str
    strength: float
    sessions: Any  # nst_engine.learned.api.SessionCache: the last style's ONNX Runtime session stays open
    apply_style: Callable[..., Any]  # learned.api.apply_style, handed in by the route that queues the job

    def __call__(self, job: Job) -> tuple[AppliedResult, dict[str, Any]]:
        def on_progress(event) -> None:
            job.post({"type": "progress", "step": event.done, "total_steps": event.total, "tile": event.done,
                      "tiles": event.total, "fraction": event.done / max(1, event.total),
                      "elapsed": round(event.elapsed, 3)})

        assert job.content is not None
        applied = self.apply_style(self.name, job.content, self.strength, on_progress, job.cancel,
                                   sessions=self.sessions)
        picture = applied.picture
        return AppliedResult(picture), {
            "type": "done", "width": picture.width, "height": picture.height, "message": None,
            "stopped_early": False, "seconds": round(applied.seconds, 3), "losses": {},
            "device": applied.provider.lower(), "provider": applied.provider, "style": self.name,
        }  # fmt: skip


@dataclass
class LearnWork:
    """Learn the job's picture (the style) from the photographs uploaded into `photos`, store it as `name`."""

    name: str
    options: LearnOptions
    photos: Path
    weights: Any  # the service's ModelCache: learning uses the VGG-19 it already holds
    learn_style: Callable[..., Any]  # learned.api.learn_style, handed in by the route that queues the job
    replace: bool = False
    style_label: str | None = None  # the uploaded style picture's file name, for the metadata

    def __call__(self, job: Job) -> tuple[None, dict[str, Any]]:
        def on_progress(event) -> None:
            job.post({
                "type": "progress", "step": event.step, "total_steps": event.steps,
                "fraction": event.step / max(1, event.steps), "losses": event.losses,
                "elapsed": round(event.elapsed, 3),
                "remaining": None if event.remaining is None else round(event.remaining, 1),
                "checkpoint_saved": event.checkpoint_saved,
            })  # fmt: skip

        assert job.content is not None
        learned = self.learn_style(job.content, self.photos, self.name, self.options, self.weights,
                              on_progress, job.cancel, replace=self.replace, style_label=self.style_label,
                              stop=job.stop)
        result = learned.learning
        message = (f"Learned the style {self.name!r} from {result.images} photographs in {result.steps} steps"
                   + (f" of {self.options.steps} (stopped early: learn it again for a stronger style)"
                      if result.stopped_early else "")
                   + (f" ({result.skipped} file(s) were not readable pictures and were skipped)."
                      if result.skipped else "."))
        return None, {
            "type": "done", "message": message, "style": style_entry(learned.style.summary()),
            "steps": result.steps, "stopped_early": result.stopped_early, "resumed_from": result.resumed_from,
            "photos": result.images,
            "skipped_files": result.skipped, "first_loss": result.first_loss, "last_loss": result.last_loss,
            "seconds": round(result.seconds, 3), "device": result.device,
            "max_difference": learned.export.max_difference,
        }  # fmt: skip


    def discard(self) -> None:
        """The queue frees the job's inputs (it ran, or was cancelled while waiting): the photographs go too."""
        shutil.rmtree(self.photos, ignore_errors=True)


def style_entry(summary: dict[str, Any]) -> dict[str, Any]:
    """A library summary as the service shows it: the thumbnail by URL, never a path on the engine's disk."""
    from urllib.parse import quote

    entry = {key: value for key, value in summary.items() if key != "thumbnail"}
    entry["thumbnail_url"] = f"/styles/{quote(summary['name'], safe='')}/thumbnail"
    return entry


def sweep_uploads(live: set[str]) -> None:
    """Remove uploaded photographs of jobs that are gone (cancelled while queued, or an earlier engine's)."""
    root = uploads_dir()
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)
