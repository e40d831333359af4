"""How much memory a run needs, and what fits: out-of-memory is every peer's top complaint.

The estimate counts VGG-19's activations that autograd keeps for the backward pass (they scale with
the pixel count), the gradient buffers in flight, the weights and the optimiser's history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from nst_engine.model import LAYER_INDEX

# Channels of VGG-19's modules per block and how much each block is downsampled.
_BLOCK_CHANNELS = (64, 128, 256, 512, 512)
_BLOCK_CONVS = (2, 2, 4, 4, 4)
_FEATURE_PARAMS = 20_024_384  # conv1_1..conv5_4 of VGG-19
_HEADROOM = 0.85  # never plan to use the last 15% of a device
_limit: int | None = None  # `serve --memory-limit-mb`: plan as if the device had at most this much


def set_limit(limit: int | None) -> None:
    """Cap the memory every plan assumes (an engine sharing its machine, and tests that force out-of-memory)."""
    global _limit
    _limit = limit


@dataclass
class MemoryEstimate:
    size: tuple[int, int]
    bytes_needed: int
    bytes_available: int | None

    @property
    def fits(self) -> bool:
        return self.bytes_available is None or self.bytes_needed <= self.bytes_available * _HEADROOM

    def describe(self) -> str:
        need = self.bytes_needed / 2**30
        have = "unknown" if self.bytes_available is None else f"{self.bytes_available / 2**30:.1f} GiB"
        return f"{self.size[0]}x{self.size[1]}: about {need:.2f} GiB needed, {have} available"


def activation_elements(width: int, height: int, deepest_layer: str = "conv5_1") -> int:
    """Elements of the activations kept for backward, up to the deepest layer used."""
    last = LAYER_INDEX[deepest_layer]
    elements, index, pixels = 0, 0, width * height
    for channels, convs in zip(_BLOCK_CHANNELS, _BLOCK_CONVS, strict=True):
        for _ in range(convs):
            if index > last:
                return elements
            elements += channels * pixels  # the conv output, rectified in place
            index += 2
        if index > last:
            return elements
        pixels //= 4
        elements += channels * pixels  # the pooled output
        index += 1
    return elements


def estimate_bytes(width: int, height: int, dtype_bytes: int = 4, deepest_layer: str = "conv5_1") -> int:
    """Peak bytes of one optimisation step at this size."""
    activations = activation_elements(width, height, deepest_layer)
    # Saved activations, plus the gradient of the largest activations during backward, plus fp32
    # copies for the costs (content and style layers only, small) and the image, its gradient and
    # ten L-BFGS history pairs (3 channels each).
    kept = activations * dtype_bytes
    backward = 2 * 64 * width * height * 4
    image_state = (2 + 2 * 10 + 4) * 3 * width * height * 4
    return int(kept + backward + image_state + _FEATURE_PARAMS * 4 + 64 * 2**20)


def available_bytes(device: torch.device) -> int | None:
    found = _device_bytes(device)
    if _limit is None:
        return found
    return _limit if found is None else min(found, _limit)


def _device_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def estimate(size: tuple[int, int], device: torch.device, dtype_bytes: int = 4) -> MemoryEstimate:
    return MemoryEstimate(size, estimate_bytes(*size, dtype_bytes=dtype_bytes), available_bytes(device))


def largest_fitting_long_side(
    size: tuple[int, int], device: torch.device, dtype_bytes: int = 4, available: int | None = None
) -> int | None:
    """The largest long side (a multiple of 16) at which a run of this aspect ratio fits, or None if unknown."""
    budget = available if available is not None else available_bytes(device)
    if budget is None:
        return None
    width, height = size
    long_side = max(width, height)
    for candidate in range(long_side // 16 * 16, 15, -16):
        w, h = max(1, round(width * candidate / long_side)), max(1, round(height * candidate / long_side))
        if estimate_bytes(w, h, dtype_bytes) <= budget * _HEADROOM:
            return candidate
    return 16
