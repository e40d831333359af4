"""Which device and precision a job runs on, and the device's name: facts every floor may ask, from the
plan's memory to the CLI's `info`, so they sit below all of them.
"""

from __future__ import annotations

import platform

import torch

from nst_engine.errors import SettingsError
from nst_engine.settings import Settings


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` prefers CUDA, then Apple's MPS, then the CPU; an unavailable choice is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise SettingsError("device cuda was asked for, but torch sees no CUDA GPU: use --device auto or cpu.")
    if name == "mps" and not mps:
        raise SettingsError("device mps was asked for, but this is not an Apple GPU: use --device auto or cpu.")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """AVX-512 BF16 or AMX: oneDNN then runs bf16 convolutions about twice as fast as fp32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(settings: Settings, device: torch.device) -> torch.dtype:
    """The network's precision; the costs stay fp32 either way (gatys/costs.py).

    `auto` picks bf16 where the hardware runs it fast (CUDA, and CPUs with AVX-512 BF16 or AMX),
    fp16 on CUDA without bf16, and fp32 elsewhere.
    """
    explicit = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if settings.precision in explicit:
        return explicit[settings.precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model with the threads torch uses (the rate depends on both)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple GPU ({platform.machine()})"
    name = platform.processor() or platform.machine() or "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} threads"


def precision_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
