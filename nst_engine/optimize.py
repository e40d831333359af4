"""Optimise the pixels of G against the seed's costs, coarse to fine.

Most iterations run at low resolution: each scale starts from the previous result upsampled, so
the full-size scale only has to add detail. Style Gram matrices and the content target are computed
once per scale, never per step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from nst_engine.costs import (
    compute_content_cost,
    compute_style_cost,
    style_targets,
    total_cost,
    total_variation,
)
from nst_engine.errors import Cancelled
from nst_engine.images import resize_tensor, scaled_size
from nst_engine.model import FeatureModel
from nst_engine.plan import Plan, scale_sizes  # noqa: F401  (scale_sizes: re-exported)
from nst_engine.settings import Settings

_SEED_MEAN_RGB = (123.68, 116.779, 103.939)


@dataclass
class Progress:
    """One iteration's report; `preview` is a small (1, 3, h, w) tensor when asked for."""

    scale: int
    scales: int
    iteration: int
    iterations: int
    step: int
    total_steps: int
    losses: dict[str, float]
    size: tuple[int, int]
    elapsed: float
    preview: torch.Tensor | None = None


@dataclass
class Control:
    """How the caller steers a running optimisation from another thread."""

    progress: Callable[[Progress], None] | None = None
    cancel: threading.Event | None = None
    stop: threading.Event | None = None
    preview_every: int = 0
    preview_size: int = 256
    steps_done: int = field(default=0, init=False)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def make_autocast(device: torch.device, dtype: torch.dtype) -> Callable[[], object]:
    """A context factory: mixed precision for the network, nothing for fp32."""
    if dtype == torch.float32:
        return nullcontext

    def autocast() -> object:
        return torch.autocast(device.type, dtype=dtype)

    return autocast


def initial_image(content: torch.Tensor, settings: Settings, generator: torch.Generator) -> torch.Tensor:
    if settings.init == "content":
        return content.clone()
    noise = torch.rand(content.shape, generator=generator, device="cpu").to(content.device)
    if settings.init == "noise":
        return noise
    # The seed's generate_noise_image: uniform noise in [-20, 20] (of 0..255) around the mean colour
    # (its images are mean-subtracted), blended with the content.
    mean = torch.tensor(_SEED_MEAN_RGB, device=content.device).view(1, 3, 1, 1) / 255.0
    centred = (noise - 0.5) * (40.0 / 255.0) + mean
    return settings.noise_ratio * centred + (1 - settings.noise_ratio) * content


class Objective:
    """J(G) = alpha J_content + beta J_style + tv TV(G) at one scale, with its targets precomputed."""

    def __init__(
        self,
        model: FeatureModel,
        content: torch.Tensor,
        styles: list[tuple[torch.Tensor, float]],
        settings: Settings,
        style_weight: float,
        autocast: Callable[[], object],
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        self.model = model
        self.memory_format = memory_format
        self.settings = settings
        self.alpha = settings.content_weight
        self.beta = style_weight * settings.style_strength
        # Smoothing serves the style (it removes the noise the style cost lets in): it fades with the
        # strength below 1, so that at strength 0 the content cost alone leaves the content as it is.
        self.tv_weight = settings.tv_weight * min(settings.style_strength, 1.0)
        self.autocast = autocast
        with torch.no_grad(), autocast():
            self.content_target = model(content)[settings.content_layer].float()
            self.style_targets = style_targets(
                ((model(image), weight) for image, weight in styles), settings.style_layers
            )

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with self.autocast():
            # The optimised tensor stays contiguous (L-BFGS flattens its gradient with view()).
            activations = self.model(image.contiguous(memory_format=self.memory_format))
        J_content = compute_content_cost(self.content_target, activations[self.settings.content_layer])
        J_style = compute_style_cost(self.style_targets, activations, self.settings.style_layers)
        J_tv = total_variation(image)
        J = total_cost(J_content, J_style, self.alpha, self.beta, J_tv, self.tv_weight)
        return J, {"content": J_content, "style": J_style, "tv": J_tv, "total": J}


def _make_optimizer(settings: Settings, image: torch.Tensor) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        # learning_rate is in 8-bit pixel units, as in the seed (its images are 0..255).
        return torch.optim.Adam([image], lr=settings.learning_rate / 255.0)
    return torch.optim.LBFGS(
        [image], lr=1.0, max_iter=1, history_size=10, tolerance_grad=-1.0, tolerance_change=-1.0
    )


def run(
    model: FeatureModel,
    content: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    settings: Settings,
    style_weight: float,
    plan: Plan,
    control: Control,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Stylise `content` (1, 3, H, W, 0..1) following `plan` (its last scale is the final size).

    Returns the image at that size and its costs there, with the targets the last scale computed
    (rebuilt only when "stop and keep" ended the run at a coarser scale).
    """
    device = content.device
    generator = torch.Generator().manual_seed(settings.seed if settings.seed is not None else 0)
    if settings.seed is None:
        generator.seed()
    autocast = make_autocast(device, dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    final_size = plan.target
    sizes = [step.size for step in plan.steps]
    budgets = [step.iterations for step in plan.steps]
    total_steps = plan.total_iterations
    started = time.perf_counter()
    image: torch.Tensor | None = None

    def objective_at(size: tuple[int, int]) -> tuple[Objective, torch.Tensor]:
        content_s = resize_tensor(content, size).contiguous(memory_format=memory_format)
        styles_s = [
            (resize_tensor(s, style_size(s, size, settings)).contiguous(memory_format=memory_format), w)
            for s, w in styles
        ]
        return Objective(model, content_s, styles_s, settings, style_weight, autocast, memory_format), content_s

    for scale_index, (size, iterations) in enumerate(zip(sizes, budgets, strict=True), start=1):
        control.check_cancel()
        objective, content_s = objective_at(size)
        start = initial_image(content_s, settings, generator) if image is None else resize_tensor(image, size)
        image = start.detach().contiguous().requires_grad_(True)
        optimizer = _make_optimizer(settings, image)
        losses: dict[str, torch.Tensor] = {}
        closure = _closure(optimizer, objective, image, losses)

        for iteration in range(1, iterations + 1):
            control.check_cancel()
            if control.stopping:
                break
            optimizer.step(closure)
            control.steps_done += 1
            if control.progress is not None:
                preview = None
                if control.preview_every and (
                    iteration % control.preview_every == 0 or iteration == iterations
                ):
                    preview = resize_tensor(
                        image.detach().float().clamp(0, 1), scaled_size(size, min(control.preview_size, max(size)))
                    )
                control.progress(
                    Progress(
                        scale=scale_index,
                        scales=len(sizes),
                        iteration=iteration,
                        iterations=iterations,
                        step=control.steps_done,
                        total_steps=total_steps,
                        losses={k: float(v.detach()) for k, v in losses.items()},
                        size=size,
                        elapsed=time.perf_counter() - started,
                        preview=preview,
                    )
                )
        if control.stopping:
            break
    assert image is not None
    result = resize_tensor(image.detach().float(), final_size).clamp(0, 1).contiguous()
    if result.shape[-2:] != content_s.shape[-2:]:
        objective, content_s = objective_at(final_size)
    with torch.no_grad():
        _, final = objective(result)
    return result, {name: float(value) for name, value in final.items()}


def _closure(
    optimizer: torch.optim.Optimizer, objective: Objective, image: torch.Tensor, losses: dict[str, torch.Tensor]
) -> Callable[[], torch.Tensor]:
    """What L-BFGS re-evaluates: J and its gradient; the last cost terms land in `losses`."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        J, parts = objective(image)
        losses.update(parts)
        J.backward()
        return J

    return closure


def style_size(style: torch.Tensor, size: tuple[int, int], settings: Settings) -> tuple[int, int]:
    """The style image is sized relative to the output: `style_scale` times its long side."""
    if settings.fit == "stretch":
        return size
    long_side = max(16, round(max(size) * settings.style_scale))
    return scaled_size((style.shape[-1], style.shape[-2]), long_side)
