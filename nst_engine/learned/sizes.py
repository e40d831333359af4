"""How large a learned style's network is (its widths) and the largest picture it is applied to in one
pass: facts without torch, below the network, the runtime, the options and the CLI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Long side of the largest picture applied in one pass; larger ones go in tiles, which cost one pass per
# instance norm more (runtime.py). The small network's ONNX Runtime CPU peak: 0.9 GB at 1024 px, 3.5 GB
# at 2048 (benchmarks/bench_learned.py); `--tile` lowers it.
DEFAULT_TILE = 2048

@dataclass(frozen=True)
class Shape:
    """Channels after each of the three stages, residual blocks, and the outer kernels' size."""

    channels: tuple[int, int, int]
    residual_blocks: int
    outer_kernel: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


WIDTHS: dict[str, Shape] = {
    "small": Shape(channels=(16, 32, 64), residual_blocks=3, outer_kernel=5),
    "standard": Shape(channels=(32, 64, 128), residual_blocks=5, outer_kernel=9),  # Johnson et al.'s
}
