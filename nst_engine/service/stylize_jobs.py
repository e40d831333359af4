"""What a stylisation job does once it runs: plan it (the device is measured once, unless the job is tiny),
then `api.stylize`, relaying its progress as events. A `Job.work` for the service's one queue (queue.py).

Its estimate is what the plan will likely take now (api.expectation: the machine's load, recent jobs), and
what it then took is kept, so that the next estimates on this device learn from it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from nst_engine.api import StylizeResult, expectation, plan_job, stylize
from nst_engine.calibrate import Expectation
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.guides import Regions
from nst_engine.pictures.images import encode_png
from nst_engine.planning.plan import Plan
from nst_engine.service.queue import Job

PREVIEW_EVERY = 5


@dataclass
class StylizeWork:
    """Stylise the job's content with its styles and settings, on the service's warm model."""

    cache: ModelCache
    planned: Plan | None = None
    expected: Expectation | None = None
    regions: Regions | None = None  # each part of the picture its own style (gatys/guides.py)
    warnings: list[str] = field(default_factory=list)  # for the client: in the 202 answer and the `done` event

    def plan(self, job: Job) -> tuple[Plan | None, float | None]:
        """The plan the run will follow, and its estimate (None: the device is not measured yet)."""
        assert job.content is not None
        self.planned, seconds = plan_job(job.content.size, job.settings, self.cache)
        if seconds is None:
            return self.planned, None
        self.expected = expectation(seconds, job.settings, self.cache)
        return self.planned, self.expected.seconds

    def __call__(self, job: Job) -> tuple[StylizeResult, dict[str, Any]]:
        def on_progress(event) -> None:
            data: dict[str, Any] = {
                "type": "progress", "scale": event.scale, "scales": event.scales,
                "iteration": event.iteration, "iterations": event.iterations, "step": event.step,
                "total_steps": event.total_steps, "losses": event.losses, "size": list(event.size),
                "elapsed": round(event.elapsed, 3), "fraction": round(event.fraction, 4),
            }  # fmt: skip
            if event.preview is not None:
                data["preview"] = base64.b64encode(encode_png(event.preview, 8)).decode("ascii")
            job.post(data)

        assert job.content is not None
        result = stylize(
            job.content, job.styles, job.settings, progress=on_progress, cancel=job.cancel, stop=job.stop,
            preview_every=PREVIEW_EVERY if job.preview else 0, cache=self.cache, plan=self.planned,
            regions=self.regions,
        )
        if self.expected is not None and not result.stopped_early:
            self.expected.record(result.seconds)
        return result, {
            "type": "done", "width": result.picture.width, "height": result.picture.height,
            "message": " ".join([*self.warnings, result.message or ""]).strip() or result.message,
            "stopped_early": result.stopped_early,
            "seconds": round(result.seconds, 3), "losses": result.losses, "device": result.device,
            **({"warnings": self.warnings} if self.warnings else {}),
        }  # fmt: skip
