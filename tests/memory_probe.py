"""Measure a stylisation's peak memory on the CPU, in a process of its own (run by test_memory.py).

The peak is the rise of the resident set's high-water mark (VmHWM, reset through
/proc/self/clear_refs) over the resident set once the model is loaded: the optimisation's memory,
not the weights'. Prints one JSON line: the measured rise, memory.estimate_bytes and the plan.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
from pathlib import Path


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _settle() -> None:
    """Return freed memory to the system, so that the baseline is what is really in use."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--settings", default="{}", help="more settings, as JSON")
    args = parser.parse_args()

    import torch

    from nst_engine import api
    from nst_engine.gatys.cache import ModelCache
    from nst_engine.pictures.images import load_picture
    from nst_engine.planning import memory
    from nst_engine.planning.planner import make_plan
    from nst_engine.settings import Settings

    settings = Settings.from_dict({"size": args.size, "scales": 1, "iterations": 2, "device": "cpu",
                                   "precision": "fp32", **json.loads(args.settings)})
    cache = ModelCache(args.weights)
    cache.get(settings, torch.device("cpu"), False)
    content, style = load_picture(args.content), load_picture(args.style)
    plan = make_plan(content.size, settings, torch.device("cpu"), 4)
    _settle()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current resident set
    baseline = _status("VmRSS")
    result = api.stylize(content, [style], settings, cache=cache)
    peak = _status("VmHWM") - baseline
    size = plan.target
    print(json.dumps({
        "size": list(size), "measured": peak, "estimate": memory.estimate_bytes(*size),
        "lbfgs_history": memory.lbfgs_history_bytes(*size),
        "planned": memory.plan_bytes(plan), "plan": plan.to_dict(), "message": result.message,
        "result_size": list(result.picture.size), "losses": result.losses, "threads": torch.get_num_threads(),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
