"""An animation styled frame by frame, each frame carrying the strokes of those before it (temporal.py).

The loop knows no engine: each frame is styled by a `StyleFrame` callable (runners.py makes one for the
optimisation and one for learned styles), given what the earlier results carry onto it. A cancel raises
Cancelled after the frames done were handed to `on_frame`; a stop ends the frame in progress early, keeps
it, and ends the sequence there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from nst_engine.errors import Cancelled, SettingsError
from nst_engine.frames.flow import Motion
from nst_engine.frames.temporal import Carried, Temporal
from nst_engine.pictures.images import Picture


@dataclass
class FrameResult:
    """One styled frame, as the engine that styled it reports it."""

    picture: Picture
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    stopped_early: bool = False


# (1-based frame index, the content frame, what earlier results carry onto it or None) -> the styled frame
StyleFrame = Callable[[int, Picture, list[Carried] | None], FrameResult]


@dataclass
class SequenceResult:
    frames: list[FrameResult]
    total: int  # frames asked for
    seconds: float

    @property
    def stopped_early(self) -> bool:
        return len(self.frames) < self.total or any(f.stopped_early for f in self.frames)

    def message(self) -> str:
        done = len(self.frames)
        text = f"Styled {done} of {self.total} frames" if done < self.total else f"Styled {done} frames"
        text += f" in {self.seconds:.1f} s ({self.seconds / max(1, done):.1f} s a frame)."
        last = self.frames[-1].message if self.frames else None
        return text + (f" Each: {last}" if last else "")


def check_frames(frames: Sequence[Picture]) -> None:
    """All frames the same size, at least one: else a message naming the odd frame."""
    if not frames:
        raise SettingsError("An animation needs at least one frame.")
    size = frames[0].size
    for index, frame in enumerate(frames[1:], start=2):
        if frame.size != size:
            raise SettingsError(f"Frame {index} is {frame.width}x{frame.height} but frame 1 is {size[0]}x{size[1]}: "
                                "every frame of an animation must be the same size.")


def at_size(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` (H, W, 3) at `size` (w, h): results computed at another size meet the content frames' flow."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb.astype(np.float32, copy=False)
    return cv2.resize(rgb.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def carried_onto(frames: Sequence[Picture], results: Sequence[Picture], index: int,
                 temporal: Temporal) -> list[Carried]:  # fmt: skip
    """What frame `index` (0-based) takes from the results before it: frame t-1, and t-k for long-term."""
    later = frames[index].rgb
    carried = []
    for distance in (1, *([temporal.long_term] if temporal.long_term > 1 else [])):
        if index - distance < 0:
            continue
        earlier_frame = frames[index - distance].rgb
        motion = Motion.between(later, earlier_frame)
        earlier = at_size(results[index - distance].rgb, frames[index].size)
        # For the optimisation the style's own marks travel, not the picture: the residual O - C is moved and laid
        # on this frame's content, so edges are not softened by warp after warp (measure.drift).
        restyled = np.clip(later + motion.carry(earlier - earlier_frame), 0.0, 1.0)
        carried.append(Carried(motion.carry(earlier), motion.mask, restyled))
    return carried


def style_sequence(
    frames: Sequence[Picture],
    style_frame: StyleFrame,
    temporal: Temporal,
    on_frame: Callable[[int, FrameResult], None] | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> SequenceResult:
    """Style `frames` in order; `on_frame(index, result)` (1-based) as soon as each is done."""
    check_frames(frames)
    started = time.perf_counter()
    done: list[FrameResult] = []
    for index, frame in enumerate(frames):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        carried = carried_onto(frames, [d.picture for d in done], index, temporal) if temporal.on and index else None
        result = style_frame(index + 1, frame, carried or None)
        done.append(result)
        if on_frame is not None:
            on_frame(index + 1, result)
        if stop is not None and stop.is_set():  # the frame in progress ended early and is kept: the last one
            break
    return SequenceResult(done, len(frames), time.perf_counter() - started)
