"""How long a job will take on this device, said before it runs: arithmetic on the device's measured `Rate`.

A `Rate` gives the time of one L-BFGS iteration as a part proportional to its pixels (plus, on a GPU, a
fixed part), and the set-up of a scale (its style and content targets) in iterations. It is measured by
nst_engine.calibrate (which runs the optimiser, above this module) and handed in here.
`estimate_seconds` applies it to a `Plan`: a step's pixel-iterations, plus the fixed costs of its
iterations and tiles (a tiled scale's halos and forward-only Gram pass included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nst_engine.gatys import tiling

Size = tuple[int, int]

FINAL_EVALUATION = 0.5  # the last cost evaluation (a forward pass, no backward), in iterations


@dataclass(frozen=True)
class Rate:
    """The measured speed of the optimisation on one device, precision and weights file."""

    pixels_per_second: float  # pixel-iterations per second, the size-dependent part
    seconds_per_iteration: float  # the fixed part of an iteration (kernel launches, Python, L-BFGS)
    setup_iterations: float  # a scale's set-up (targets, resizing) in iterations of that scale
    device: str  # cpu, cuda, mps
    device_name: str
    precision: str
    weights_sha256: str
    measured_at: str = ""
    calibration_seconds: float = 0.0

    def iteration_seconds(self, pixels: int) -> float:
        return self.seconds_per_iteration + pixels / self.pixels_per_second


class _Step(Protocol):
    @property
    def size(self) -> Size: ...

    @property
    def iterations(self) -> int: ...

    @property
    def tile(self) -> Size | None: ...


class _Plan(Protocol):
    """What an estimate reads of a planning.plan.Plan: read, not imported, so that timing stands below the planner."""

    @property
    def target(self) -> Size: ...

    @property
    def steps(self) -> Sequence[_Step]: ...


def estimate_seconds(plan: _Plan, rate: Rate) -> float:
    """Seconds the optimisation of `plan` should take on the calibrated device (not loading the model)."""
    total = 0.0
    for step in plan.steps:
        if step.tile is None:
            pixels = step.size[0] * step.size[1]
            total += (step.iterations + rate.setup_iterations) * rate.iteration_seconds(pixels)
            continue
        pixels = step.size[0] * step.size[1]
        # Per evaluation: every tile forward and backward, the Gram pass over all but the last forward only.
        tiles = tiling.layout(step.size, step.tile)
        evaluation = sum(rate.iteration_seconds(t.pixels) for t in tiles) + tiling.FORWARD_SHARE * sum(
            rate.iteration_seconds(t.pixels) for t in tiles[:-1])
        total += step.iterations * evaluation + rate.setup_iterations * rate.iteration_seconds(pixels)
    return total + FINAL_EVALUATION * rate.iteration_seconds(plan.target[0] * plan.target[1])
