"""How much memory a run needs, and what fits: out-of-memory is every peer's top complaint.

The estimate counts VGG-19's activations that autograd keeps for the backward pass (they scale with
the pixel count), the gradient buffers in flight and the optimiser's history; not the model's
weights, which are loaded before a job is planned (the device's free memory no longer has them, and
`memory_limit` does not count them). Its constants are measured (tests/test_memory.py), not guessed.
A tiled scale needs one tile's forward and backward plus the whole image's optimisation state
(image, gradient, L-BFGS history, the content target), which stays on the host when the device is
an accelerator (optimize.state_device).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch

from nst_engine.gatys.layers import CONTENT_LAYER, LAYER_INDEX
from nst_engine.gatys.tiling import MIN_TILE, downsampling, region_size
from nst_engine.host_memory import available_memory

# Channels of VGG-19's modules per block and how much each block is downsampled.
_BLOCK_CHANNELS = (64, 128, 256, 512, 512)
_BLOCK_CONVS = (2, 2, 4, 4, 4)
_FIXED = 46 * 2**20  # measured: what a run needs whatever its size (oneDNN's buffers, small tensors)
# Whole-image fp32 RGB buffers of a tiled scale besides L-BFGS's history, counted: image, gradient,
# L-BFGS's work vectors (5), total variation's gradient and temporaries (4), start, content, the style.
# Measured: 864x575 in 6 tiles of 496 under a 1 GiB limit peaked at 0.60 GiB (tests/memory_probe.py).
_STATE_IMAGES = 14
_HEADROOM = 0.85  # never plan to use the last 15% of a device or of a limit


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
    """Peak bytes of optimising a whole image of this size, the model's weights not counted.

    Measured on the CPU in fp32 (tests/test_memory.py): 46 MiB plus 2464 bytes a pixel after one
    L-BFGS step, whose history (`lbfgs_history_bytes`) then grows for ten more.
    """
    activations = activation_elements(width, height, deepest_layer)
    pixels = width * height
    # Saved activations; the gradients in flight during backward (about 3.5 of conv1's 64 channels);
    # RGB copies (image, gradient, content, style, L-BFGS's work vectors); L-BFGS's history.
    kept = activations * dtype_bytes
    backward = 3.5 * 64 * pixels * 4
    image_state = 24 * 3 * pixels * 4
    return int(kept + backward + image_state + lbfgs_history_bytes(width, height) + _FIXED)


def lbfgs_history_bytes(width: int, height: int) -> int:
    """L-BFGS's ten (step, gradient change) pairs of RGB images, full from its eleventh step."""
    return 2 * 10 * 3 * width * height * 4


def state_bytes(width: int, height: int, content_layer: str = CONTENT_LAYER) -> int:
    """A tiled scale's whole-image state: RGB buffers, L-BFGS's history, the content target (fp32)."""
    pixels = width * height
    target = _BLOCK_CHANNELS[int(content_layer[4]) - 1] * pixels // downsampling(content_layer) ** 2 * 4
    return _STATE_IMAGES * 3 * 4 * pixels + lbfgs_history_bytes(width, height) + target


def tile_bytes(width: int, height: int, dtype_bytes: int = 4) -> int:
    """Peak bytes of one tile's forward and backward (no optimiser of its own)."""
    return estimate_bytes(width, height, dtype_bytes) - lbfgs_history_bytes(width, height)


def tiled_bytes(size: tuple[int, int], tile: tuple[int, int], dtype_bytes: int = 4, host_state: bool = False) -> int:
    """Peak bytes on the device of a scale in tiles of at most `tile`: its largest region's forward and
    backward (the Gram pass's forward alone needs 0.3 of that a pixel, measured), plus the state unless
    on the host."""
    return tile_bytes(*region_size(size, tile), dtype_bytes=dtype_bytes) + (0 if host_state else state_bytes(*size))


def plan_bytes(plan, host_state: bool = False) -> int:  # noqa: ANN001 (a plan.Plan, read, not imported: memory stands beside plan.py)
    """The peak bytes of a plan on its device: its largest step's."""
    return max(
        estimate_bytes(*step.size, dtype_bytes=plan.dtype_bytes) if step.tile is None
        else tiled_bytes(step.size, step.tile, plan.dtype_bytes, host_state)
        for step in plan.steps
    )


def fits(bytes_needed: int, available: int | None) -> bool:
    return available is None or bytes_needed <= available * _HEADROOM


def tile_for(size: tuple[int, int], dtype_bytes: int, available: int, host_state: bool = False) -> int | None:
    """The largest tile side (a multiple of 16) at which a scale of `size` fits in tiles, or None.

    Its regions count, not the side: a side whose layout has fewer, wider regions in the same
    memory is taken (fewer tiles, less halo area)."""
    width, height = size
    for side in range(max(size) // 16 * 16, MIN_TILE - 1, -16):
        if fits(tiled_bytes(size, (min(width, side), min(height, side)), dtype_bytes, host_state), available):
            return side
    return None


def available_bytes(device: torch.device, limit: int | None = None) -> int | None:
    """What a plan may use: the device's free memory, capped by `limit` (the `memory_limit` setting)."""
    found = _device_bytes(device)
    if limit is None:
        return found
    return limit if found is None else min(found, limit)


def _device_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    return available_memory()  # the container's limit where one is set: the kernel kills beyond it


def estimate(
    size: tuple[int, int], device: torch.device, dtype_bytes: int = 4, limit: int | None = None
) -> MemoryEstimate:
    return MemoryEstimate(size, estimate_bytes(*size, dtype_bytes=dtype_bytes), available_bytes(device, limit))


def largest_fitting_long_side(
    size: tuple[int, int], device: torch.device, dtype_bytes: int = 4, available: int | None = None
) -> int | None:
    """The largest long side (a multiple of 16) at which a run of this aspect ratio fits whole, or None if unknown."""
    budget = available if available is not None else available_bytes(device)
    if budget is None:
        return None
    width, height = size
    long_side = max(width, height)
    for candidate in range(long_side // 16 * 16, 15, -16):
        w, h = max(1, round(width * candidate / long_side)), max(1, round(height * candidate / long_side))
        if fits(estimate_bytes(w, h, dtype_bytes), budget):
            return candidate
    return 16


def is_out_of_memory(error: BaseException) -> bool:
    """torch's OutOfMemoryError, or the plain RuntimeError that cuDNN and some drivers raise instead."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def free(device: torch.device) -> None:
    """Give the memory of dropped tensors back to the device, for a retry or the next job."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
