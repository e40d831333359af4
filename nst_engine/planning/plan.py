"""What a job will do before it does it: the sizes of the coarse-to-fine schedule, their iterations,
which scales are tiled, and why the size changed. planner.py makes a `Plan`; memory (memory.py) and
time (timing.py) are judged on one, the optimisation (optimize.py) follows one, and the service shows one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nst_engine.gatys import tiling

__all__ = ["Plan", "Step", "smaller_tiles", "tiled_step"]

Size = tuple[int, int]


@dataclass(frozen=True)
class Step:
    """One scale: evaluated whole (`tile` None) or in tiles whose regions (core and halo) are at most `tile`."""

    size: Size
    iterations: int
    tile: Size | None = None
    tiles: int = 1  # tiles of the image

    @property
    def pixel_iterations(self) -> int:
        """The step's work: pixels run forward and backward times iterations (tiles: halos and Gram pass too)."""
        if self.tile is not None:
            return round(tiling.evaluation_work(self.size, self.tile) * self.iterations)
        return self.size[0] * self.size[1] * self.iterations

    @property
    def region(self) -> Size | None:
        """The largest input region (core and halos) a tile really runs: `tile` only bounds it."""
        return tiling.region_size(self.size, self.tile) if self.tile is not None else None

    def describe(self) -> str:
        text = f"{self.size[0]}x{self.size[1]}"
        if self.region is not None:
            text += f" (in {self.tiles} tiles of up to {self.region[0]}x{self.region[1]})"
        return text


@dataclass
class Plan:
    target: Size  # the working size of the last scale
    steps: list[Step]
    dtype_bytes: int
    notes: list[str] = field(default_factory=list)  # sentences for the user: shrunk, capped, tiled

    @property
    def total_iterations(self) -> int:
        return sum(step.iterations for step in self.steps)

    @property
    def pixel_iterations(self) -> int:
        return sum(step.pixel_iterations for step in self.steps)

    @property
    def tiled(self) -> bool:
        return any(step.tile is not None for step in self.steps)

    @property
    def message(self) -> str | None:
        return " ".join(self.notes) or None

    def describe(self) -> str:
        """E.g. "ran at 512x341, 1024x683, 2048x1365 (in 6 tiles of 768x768)"."""
        return "ran at " + ", ".join(step.describe() for step in self.steps)

    def to_dict(self) -> dict:
        return {
            "size": list(self.target),
            "scales": [
                {"size": list(s.size), "iterations": s.iterations, "tile": list(s.tile) if s.tile else None,
                 "tiles": s.tiles}
                for s in self.steps
            ],
            "message": self.message,
        }


def tiled_step(size: Size, iterations: int, side: int | None) -> Step:
    """A step in tiles of at most `side` px (whole when `side` is None or covers the size)."""
    if side is None or side >= max(size):
        return Step(size, iterations)
    tile = (min(size[0], side), min(size[1], side))
    return Step(size, iterations, tile=tile, tiles=len(tiling.layout(size, tile)))


def smaller_tiles(step: Step) -> Step | None:
    """The step in tiles of about half the memory (0.7 of the side), or None below the smallest tile."""
    side = max(step.tile) if step.tile is not None else max(step.size)
    smaller = max(tiling.MIN_TILE, int(side * 0.7) // 16 * 16)
    if smaller >= side:
        return None
    return tiled_step(step.size, step.iterations, smaller)


