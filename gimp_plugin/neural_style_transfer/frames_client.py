"""The plug-in's side of the engine's frames job (POST /frames): send an animation's frames in order, follow
the job frame by frame, and fetch each styled frame as soon as the engine says it is done.

Why fetch during the job: "Stop and keep" must end with the frames finished so far, and a long animation
should not wait in the engine's memory. Standard library only (GIMP's Python); engine_client does the HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import animation_logic as A
import engine_client
from engine_client import EngineJobFailed, EngineUnavailable, Job, JobCancelled, RawImage
from nst_logic import RECEIVING_EVENT

# An engine answers these for a frame it does not have (never made, or not yet): the frames end there.
MISSING_FRAME = ("http_404", "http_409", "http_410")


@dataclass
class FramesResult:
    """The styled frames in play order (the first `len(frames)` of `total`) and whether it was stopped early."""

    frames: list[RawImage]
    total: int
    stopped_early: bool = False
    messages: list[str | None] = field(default_factory=list)


def submit_frames(client: engine_client.EngineClient, frames: Sequence[RawImage], settings: dict[str, Any],
                  temporal: dict[str, Any], styles: Sequence[bytes] = (), style_names: Sequence[str] = (),
                  learned_style: str | None = None, strength: float | None = None) -> FramesJob:
    """Queue the frames job: style pictures (as POST /jobs) or a learned style by name."""
    if learned_style is None and not styles:
        raise ValueError("A frames job needs style pictures or a learned style.")
    fields = A.frames_fields(frames, settings, temporal, learned_style, strength)
    if learned_style is None:
        names = [engine_client._upload_name(name) for name in style_names] + [""] * len(styles)
        fields += [("style", data, names[i] or f"style{i + 1}") for i, data in enumerate(styles)]
    body, content_type = engine_client._multipart(fields)
    data, _ = client._call("POST", "/frames", body, {"Content-Type": content_type}, timeout=300)
    answer = json.loads(data)
    return FramesJob(client, answer["id"], int(answer.get("frames") or len(frames)))


class FramesJob(Job):
    """A frames job: its events name the frame; `wait` returns a FramesResult."""

    def __init__(self, client: engine_client.EngineClient, job_id: str, total: int) -> None:
        super().__init__(client, job_id)
        self.total = total
        self.frames: dict[int, RawImage] = {}

    def frame(self, index: int) -> RawImage:
        """Styled frame `index` (1-based) as float RGBA."""
        data, response = self.client._call("GET", f"/jobs/{self.id}/frames/{index}?format=raw-f32", timeout=120)
        width, height = int(response.getheader("X-Width")), int(response.getheader("X-Height"))
        return RawImage(width, height, 4, "f32", data, response.getheader("X-Message"))

    def _fetch(self, index: int) -> None:
        if index not in self.frames:
            self.frames[index] = self.frame(index)

    def wait(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> FramesResult:  # type: ignore[override]
        for event in self.events():
            kind = event.get("type")
            if kind == "frame_done":  # said first, then fetched: the window names it while the frame comes
                if on_progress is not None:
                    on_progress(event)
                found = A.frame_of(event)
                if found is not None:
                    self._fetch(found[0])
                continue
            if kind == "done":
                stopped = bool(event.get("stopped_early"))
                if on_progress is not None:
                    on_progress({"type": RECEIVING_EVENT, "stopped_early": stopped})
                return self._result(stopped)
            elif kind == "error":
                raise EngineJobFailed(event.get("message", "The engine failed."), event.get("kind", ""),
                                      event.get("suggested_size"))
            elif kind == "cancelled":
                raise JobCancelled()
            if on_progress is not None:
                on_progress(event)
        raise EngineUnavailable("The engine's event stream ended without the frames.", self.client.stopped_advice)

    def _result(self, stopped: bool) -> FramesResult:
        """The frames in order from the first: those fetched, and any whose frame_done was not seen; the first
        the engine does not have ends them (after Stop and keep, the frames not started)."""
        for index in range(1, self.total + 1):
            try:
                self._fetch(index)
            except EngineJobFailed as error:
                if error.kind not in MISSING_FRAME:
                    raise
                break
        kept: list[RawImage] = []
        for index in range(1, self.total + 1):
            if index not in self.frames:
                break
            kept.append(self.frames[index])
        return FramesResult(kept, self.total, stopped or len(kept) < self.total, [f.message for f in kept])
