"""What a job may cost, decided from image headers before anything is decoded.

Two budgets bound the engine's memory: decoded pixels per request, and decoded pixels of all queued
jobs together (and a third, the finished results kept for fetching). Their defaults follow the
machine's memory, or its container's limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_engine.errors import ServiceError
from nst_engine.host_memory import total_memory

# A decoded pixel costs float32 RGB + alpha (16 bytes) and about as much again while it is decoded.
BYTES_PER_DECODED_PIXEL = 32
FALLBACK_MEMORY = 8 * 2**30  # when the machine does not say


def machine_memory() -> int:
    """Memory in bytes (the budgets' base): the machine's or its container's limit, or FALLBACK_MEMORY."""
    return total_memory(FALLBACK_MEMORY)


@dataclass(frozen=True)
class Budgets:
    """Memory limits of the service; `from_memory` gives the defaults for a machine."""

    request_pixels: int  # decoded pixels of one request (content + styles)
    queued_pixels: int  # decoded pixels of all admitted jobs together
    result_bytes: int  # finished results kept for fetching

    @classmethod
    def from_memory(cls, memory: int) -> Budgets:
        """A quarter of memory for queued inputs, a sixteenth per request, a sixteenth for results."""
        return cls(
            request_pixels=max(1, memory // 16 // BYTES_PER_DECODED_PIXEL),
            queued_pixels=max(1, memory // 4 // BYTES_PER_DECODED_PIXEL),
            result_bytes=max(1, memory // 16),
        )


def check_request_pixels(pixels: int, budget: int) -> None:
    if pixels > budget:
        raise ServiceError(413, f"The images of this job have {pixels:,} pixels together, more than the engine's "
                                f"limit of {budget:,} per job: scale them down or send fewer style images.")
