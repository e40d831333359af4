"""A caller's extra cost on the optimised image (an animation's temporal cost, frames/temporal.py), added to
J whole or tiled: it is a cost on pixels, like total variation, so a tiled scale adds it on the whole image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Evaluate = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def guided(objective: Evaluate, extra: Callable[[torch.Tensor], torch.Tensor] | None) -> Evaluate:
    """The objective plus the caller's extra cost (reported as "guide"), or the objective itself."""
    if extra is None:
        return objective

    def evaluate(image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        J, parts = objective(image)
        E = extra(image).to(J.device)
        return J + E, {**parts, "guide": E, "total": J + E}

    return evaluate


def add_extra_cost(
    image: torch.Tensor, extra: Callable[[torch.Tensor], torch.Tensor], J: torch.Tensor,
    parts: dict[str, torch.Tensor],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """A tiled evaluation's J and gradient (in `image.grad`) with the caller's extra cost added, on the whole image."""
    pixels = image.detach().requires_grad_(True)
    E = extra(pixels)
    E.backward()
    image.grad += pixels.grad.to(image.grad.device)  # type: ignore[operator, union-attr]
    E = E.detach().to(J.device)
    return J + E, {**parts, "guide": E, "total": J + E}
