"""Independent frames against steady ones on a sequence whose motion is known (generated.py): the runs that
tests/test_frames_measured.py asserts on and benchmarks/bench_frames.py and benchmarks/animation_figure.py
report. Not part of a job: it stands above the engines it compares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nst_engine import api
from nst_engine.frames.generated import KnownMotion
from nst_engine.frames.measure import instability
from nst_engine.frames.runners import gatys_runner, learned_runner
from nst_engine.frames.sequence import style_sequence
from nst_engine.frames.temporal import Temporal
from nst_engine.pictures.images import Picture
from nst_engine.settings import Settings


@dataclass
class Run:
    outputs: list[np.ndarray]  # (H, W, 3) per frame
    seconds: float
    instability: float
    style: list[float] | None = None  # each frame's style cost, on one yardstick (api.judge)

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / max(1, len(self.outputs))


def _scored(sequence: KnownMotion, outputs: list[np.ndarray], seconds: float) -> Run:
    return Run(outputs, seconds, instability(outputs, sequence.flows, sequence.masks))


def gatys(sequence: KnownMotion, style: Picture, settings: Settings, temporal: Temporal, cache: Any) -> Run:
    """The optimisation over the sequence (strength 0: each frame on its own), with each frame's style cost."""
    started = time.perf_counter()
    result = style_sequence(sequence.frames, gatys_runner(api.stylize, [style], settings, temporal, cache), temporal)
    run = _scored(sequence, [f.picture.rgb for f in result.frames], time.perf_counter() - started)
    run.style = style_costs(sequence, run.outputs, style, settings, cache)
    return run


def gatys_reseeded(sequence: KnownMotion, style: Picture, settings: Settings, cache: Any) -> Run:
    """Each frame on its own from noise of its own seed: flicker anyone can see, to check the measure by."""
    started = time.perf_counter()
    outputs = [api.stylize(frame, [style], settings.replace(seed=index, init="noise-blend"), cache=cache).picture.rgb
               for index, frame in enumerate(sequence.frames)]
    return _scored(sequence, outputs, time.perf_counter() - started)


def style_costs(sequence: KnownMotion, outputs: list[np.ndarray], style: Picture, settings: Settings,
                cache: Any) -> list[float]:  # fmt: skip
    return [api.judge(frame, [style], settings, cache)(Picture(out))["style"]
            for frame, out in zip(sequence.frames, outputs, strict=True)]


def learned(sequence: KnownMotion, apply_style: Callable[..., Any], name: str, temporal: Temporal) -> Run:
    """A learned style over the sequence (`apply_style` as learned.api's), blended by `temporal`."""
    started = time.perf_counter()
    result = style_sequence(sequence.frames, learned_runner(apply_style, name, 1.0, temporal), temporal)
    return _scored(sequence, [f.picture.rgb for f in result.frames], time.perf_counter() - started)
