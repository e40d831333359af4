"""Clients that go away or stall (issue 21, items 17 and 22): nothing runs for nobody, nothing is left open.

Tests here check mechanisms (where a cancel is noticed, when a connection closes), never wall-clock time.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import torch

from nst_engine.errors import Cancelled
from nst_engine.gatys.layers import LAYER_INDEX
from nst_engine.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.mark.parametrize("tile_size", [None, 192])
@pytest.mark.parametrize("during", ["forward", "backward"])
def test_a_cancel_is_noticed_at_the_next_layer_not_the_next_iteration(cache, cat, stain, during, tile_size) -> None:
    """One iteration at a large size takes many seconds on a CPU (20 s at 1024 px measured on 2 busy cores);
    closing the stream cancels within about a second only if the run looks between layers, both ways."""
    from nst_engine import api

    cancel = threading.Event()
    passes: list[str] = []  # each layer's forward or backward pass with a gradient, in order
    model, _ = cache.get(Settings(device="cpu", precision="fp32"), torch.device("cpu"), False)
    conv3_1 = LAYER_INDEX["conv3_1"]
    handles = []

    def after_forward(module, _inputs, output) -> None:
        if not output.requires_grad:  # the targets' passes, before any iteration
            return
        index = list(model.features).index(module)
        passes.append(f"forward {index}")
        if during == "forward" and index == conv3_1:
            cancel.set()

        def after_backward(_grad) -> None:
            passes.append(f"backward {index}")
            if during == "backward" and index == conv3_1:
                cancel.set()

        output.register_hook(after_backward)

    for module in model.features:
        handles.append(module.register_forward_hook(after_forward))
    settings = Settings(size=256 if tile_size else 96, iterations=3, scales=1, time_budget=0, tile_size=tile_size, device="cpu",
                        precision="fp32")
    try:
        with pytest.raises(Cancelled):
            api.stylize(cat, [stain], settings, cancel=cancel, cache=cache)
    finally:
        for handle in handles:
            handle.remove()
    at = passes.index(f"{during} {conv3_1}")
    assert passes[at + 1:] == [], f"layers ran after the cancel: {passes[at + 1:]}"
    assert any(p.startswith("forward") for p in passes[:at]) and passes[-1] == f"{during} {conv3_1}"
