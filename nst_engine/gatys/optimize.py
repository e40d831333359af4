"""Optimise the pixels of G against the seed's costs, coarse to fine, following a `Plan`.

Most iterations run at low resolution: each scale starts from the previous result upsampled, so
the full-size scale only has to add detail. Style Gram matrices and the content target are computed
once per scale, never per step. A scale the plan tiles is the same optimisation, its objective
evaluated tile by tile (tiled_objective.py). Running out of memory in a scale (the estimate was
wrong) retries that scale once in smaller tiles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from nst_engine.errors import Cancelled
from nst_engine.gatys import guides, tiling
from nst_engine.gatys.costs import compute_content_cost, style_cost_from_targets, total_cost_with_tv, total_variation
from nst_engine.gatys.costs import style_targets as compute_style_targets
from nst_engine.gatys.model import FeatureModel
from nst_engine.gatys.tiled_objective import Interrupted, TiledObjective, cancelled_or
from nst_engine.gatys.tiled_objective import style_targets as tiled_style_targets
from nst_engine.pictures.images import resize_tensor, scaled_size
from nst_engine.planning import memory
from nst_engine.planning.plan import Plan, Step, smaller_tiles
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
    fraction: float = 0.0  # of the whole job's work (pixel-iterations), 0..1
    tile: int = 1  # tiles done of the iteration in progress (1-based; equal to `tiles` once it is done)
    tiles: int = 1  # tiles of the scale (1: the scale runs whole)


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


def cost_weights(settings: Settings, style_weight: float) -> tuple[float, float, float]:
    """(alpha, beta, tv weight) of J for these settings and the calibrated style weight."""
    # Smoothing serves the style (it removes the noise the style cost lets in): it fades with the
    # strength below 1, so that at strength 0 the content cost alone leaves the content as it is.
    return (settings.content_weight, style_weight * settings.style_strength,
            settings.tv_weight * min(settings.style_strength, 1.0))


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
        style_targets: dict[str, torch.Tensor] | None = None,
        guided: guides.GuidedStyle | None = None,
    ) -> None:
        """`style_targets`, when given, replace those of `styles` (the whole style's, computed once); `guided`
        replaces both, for a picture in regions (guides.py)."""
        self.model = model
        self.memory_format = memory_format
        self.settings = settings
        self.alpha, self.beta, self.tv_weight = cost_weights(settings, style_weight)
        self.autocast = autocast
        with torch.no_grad(), autocast():
            self.content_target = model(content)[settings.content_layer].float()
            if style_targets is None and guided is None:
                style_targets = compute_style_targets(
                    ((model(image), weight) for image, weight in styles), settings.style_layers
                )
        self.style_targets = style_targets or {}
        self.guided = guided

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """J and its terms."""
        with self.autocast():
            # The optimised tensor stays contiguous (L-BFGS flattens its gradient with view()).
            activations = self.model(image.contiguous(memory_format=self.memory_format))
        J_content = compute_content_cost(self.content_target, activations[self.settings.content_layer])
        J_tv = total_variation(image)
        if self.guided is not None:
            J_style = self.guided.cost_whole(activations)
        else:
            J_style = style_cost_from_targets(self.style_targets, activations, self.settings.style_layers)
        J = total_cost_with_tv(J_content, J_style, J_tv, self.alpha, self.beta, self.tv_weight)
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
    regions: guides.Regions | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Stylise `content` (1, 3, H, W, 0..1) following `plan` (its last scale is the final size), in `regions`
    when given (guides.py: each its own style, or the photo).

    Returns the image at that size and its costs there. A scale that runs out of memory is retried
    once in smaller tiles: `plan` then holds the step that ran and a note saying so.
    """
    generator = torch.Generator().manual_seed(settings.seed if settings.seed is not None else 0)
    if settings.seed is None:
        generator.seed()
    job = _Job(model, content, styles, settings, style_weight, plan, control, make_autocast(content.device, dtype),
               torch.channels_last if channels_last else torch.contiguous_format)
    job.regions = regions
    image: torch.Tensor | None = None
    retried = False
    for index, step in enumerate(plan.steps):
        control.check_cancel()
        content_s = job.content_at(step.size)
        start = initial_image(content_s, settings, generator) if image is None else resize_tensor(image, step.size)
        if image is None and regions is not None:
            start = guides.photo_start(start, content_s, guides.channels(regions, step.size, content_s.device))
        try:
            image = job.run_step(index, step, start, content_s)
            out_of_memory = False
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if retried or not memory.is_out_of_memory(error):
                raise
            out_of_memory = True  # retried below, once the failed step's tensors are gone with `error`
        if out_of_memory:
            smaller = smaller_tiles(step)
            if smaller is None:
                raise torch.OutOfMemoryError(f"out of memory at {step.describe()}, even in the smallest tiles")
            retried = True
            job.forget_step(index)
            memory.free(content.device)
            plan.steps[index] = smaller
            plan.notes.append(f"Ran out of memory at {step.describe()}: retried in tiles of up to "
                              f"{smaller.region[0]}x{smaller.region[1]}.")  # type: ignore[index]
            image = job.run_step(index, smaller, start, content_s)
        if control.stopping:
            break
    assert image is not None
    result = resize_tensor(image.detach().float(), plan.target).clamp(0, 1).contiguous()
    return result, job.final_losses(result)


class _Job:
    """One run's fixed parts and its progress bookkeeping, shared by its scales."""

    def __init__(
        self, model: FeatureModel, content: torch.Tensor, styles: list[tuple[torch.Tensor, float]],
        settings: Settings, style_weight: float, plan: Plan, control: Control, autocast: Callable[[], object],
        memory_format: torch.memory_format,
    ) -> None:  # fmt: skip
        self.model, self.content, self.styles = model, content, styles
        self.settings, self.style_weight, self.plan, self.control = settings, style_weight, plan, control
        self.autocast, self.memory_format = autocast, memory_format
        self.started = time.perf_counter()
        self.work_done = 0  # pixel-iterations of the finished steps
        self.steps_before: dict[int, tuple[int, int]] = {}  # step index -> (work_done, control.steps_done) at its start
        self.last: tuple[Step, Objective | TiledObjective] | None = None  # the last scale run, with its objective
        self.targets: tuple[tuple[int, int], dict[str, torch.Tensor]] | None = None  # the last tiled scale's
        self.regions: guides.Regions | None = None

    def content_at(self, size: tuple[int, int]) -> torch.Tensor:
        return resize_tensor(self.content, size).contiguous(memory_format=self.memory_format)

    def styles_at(self, size: tuple[int, int]) -> list[tuple[torch.Tensor, float]]:
        return [(resize_tensor(s, style_size(s, size, self.settings)).contiguous(memory_format=self.memory_format), w)
                for s, w in self.styles]

    def guided(self, size: tuple[int, int], chunk: int, device: torch.device) -> guides.GuidedStyle | None:
        """The regions' style cost at a scale (None: no regions)."""
        if self.regions is None:
            return None
        return guides.guided_style(self.model, guides.channels(self.regions, size, device), self.styles_at(size),
                                   self.settings.style_layers, chunk, self.autocast)

    def objective(self, content_s: torch.Tensor) -> Objective:
        size = (content_s.shape[-1], content_s.shape[-2])
        styles = self.styles_at(size)
        guided = self.guided(size, 1 << 30, content_s.device)
        return Objective(self.model, content_s, styles, self.settings, self.style_weight, self.autocast,
                         self.memory_format, style_targets={} if guided else None, guided=guided)

    def tiled_objective(self, step: Step, content_s: torch.Tensor) -> TiledObjective:
        """The scale's objective in tiles: the whole style's targets in chunks no larger than its tiles."""
        assert step.tile is not None
        guided = self.guided(step.size, max(step.tile), content_s.device)
        targets = {} if guided else tiled_style_targets(self.model, self.styles_at(step.size),
                                                        self.settings.style_layers, max(step.tile), self.autocast)
        return TiledObjective(self.model, content_s.to(state_device(step, content_s.device)), targets,
                              self.settings.content_layer, self.settings.style_layers,
                              cost_weights(self.settings, self.style_weight), step.tile, self.autocast,
                              content_s.device, self.memory_format, guided=guided)

    def forget_step(self, index: int) -> None:
        """Undo the progress counted by a step that failed, before it runs again."""
        self.work_done, self.control.steps_done = self.steps_before[index]

    def run_step(self, index: int, step: Step, start: torch.Tensor, content_s: torch.Tensor) -> torch.Tensor:
        self.steps_before[index] = (self.work_done, self.control.steps_done)
        self.last = None  # the previous scale's objective (its targets) goes before this one's are made
        if step.tile is None:
            image = self._whole(index, step, start, content_s)
        else:
            image = self._tiled(index, step, start, content_s)
        self.work_done = self.steps_before[index][0] + step.pixel_iterations
        return image

    def _whole(self, index: int, step: Step, start: torch.Tensor, content_s: torch.Tensor) -> torch.Tensor:
        objective = self.objective(content_s)
        image = start.detach().contiguous().requires_grad_(True)
        optimizer = _make_optimizer(self.settings, image)
        losses: dict[str, torch.Tensor] = {}
        closure = _closure(optimizer, objective, image, losses)
        pixels = step.size[0] * step.size[1]
        for iteration in range(1, step.iterations + 1):
            self.control.check_cancel()
            if self.control.stopping:
                break
            optimizer.step(closure)
            self._report(index, step, iteration, pixels * iteration, losses, image)
        self.last = (step, objective)
        return image.detach()

    def _tiled(self, index: int, step: Step, start: torch.Tensor, content_s: torch.Tensor) -> torch.Tensor:
        """The whole image optimised by one optimiser, its objective evaluated tile by tile.

        Stop between tiles leaves the image of the last finished iteration (the optimiser moves the
        image only once an evaluation is complete).
        """
        objective = self.tiled_objective(step, content_s)
        image = start.detach().to(state_device(step, start.device)).contiguous().requires_grad_(True)
        optimizer = _make_optimizer(self.settings, image)
        losses: dict[str, torch.Tensor] = {}
        tiles = len(objective.tiles)
        share = [tiling.FORWARD_SHARE * t.pixels for t in objective.tiles[:-1]]
        pixels = [t.pixels for t in objective.tiles]
        per_iteration = step.pixel_iterations / max(1, step.iterations)
        iteration = 0

        def on_tile(done: int, _tiles: int, second: bool) -> None:
            if not second or not losses or done == tiles:  # the first iteration reports once it has losses
                return
            partial = sum(share) + sum(pixels[-1:] + pixels[: done - 1])  # pass 2 runs the last tile first
            work = int(iteration * per_iteration + partial * per_iteration / (sum(share) + sum(pixels)))
            self._report(index, step, iteration + 1, work, losses, image, done, tiles, count=False)

        check = cancelled_or(lambda: self.control.stopping, self.control.check_cancel)

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            J, parts = objective.evaluate(image, check, on_tile)
            losses.update(parts)
            return J

        for iteration in range(step.iterations):
            self.control.check_cancel()
            if self.control.stopping:
                break
            try:
                optimizer.step(closure)
            except Interrupted:
                break
            self._report(index, step, iteration + 1, int((iteration + 1) * per_iteration), losses, image, tiles,
                         tiles)
        self.last = (step, objective)
        return image.detach().to(start.device)

    def _report(
        self, index: int, step: Step, iteration: int, work: int, losses: dict[str, torch.Tensor],
        image: torch.Tensor, tile: int = 1, tiles: int = 1, count: bool = True,
    ) -> None:  # fmt: skip
        """A Progress event; `count` false for a tile's within an iteration (it is no optimiser step)."""
        control = self.control
        control.steps_done += count
        if control.progress is None:
            return
        preview = None
        last = iteration == step.iterations
        if control.preview_every and (iteration % control.preview_every == 0 or last) and count:
            preview = resize_tensor(image.detach().float().clamp(0, 1),
                                    scaled_size(step.size, min(control.preview_size, max(step.size))))
        total_work = max(1, self.plan.pixel_iterations)
        control.progress(
            Progress(
                scale=index + 1, scales=len(self.plan.steps), iteration=iteration, iterations=step.iterations,
                step=control.steps_done, total_steps=total_steps(self.plan), losses={k: float(v.detach()) for k, v in
                losses.items()}, size=step.size, elapsed=time.perf_counter() - self.started, preview=preview,
                fraction=min(1.0, (self.steps_before[index][0] + work) / total_work), tile=tile, tiles=tiles,
            )
        )  # fmt: skip

    def final_losses(self, result: torch.Tensor) -> dict[str, float]:
        """The result's costs at the final size (tile by tile where the final scale is tiled)."""
        final = self.plan.steps[-1]
        objective = self.last[1] if self.last is not None and self.last[0] == final else None
        if objective is None:
            content_s = self.content_at(final.size)
            objective = self.objective(content_s) if final.tile is None else self.tiled_objective(final, content_s)
        if isinstance(objective, TiledObjective):
            return objective.losses(result)
        with torch.no_grad():
            _, parts = objective(result)
        return {name: float(value) for name, value in parts.items()}


def total_steps(plan: Plan) -> int:
    """Optimiser steps of the whole plan: one per iteration, tiled or not."""
    return sum(step.iterations for step in plan.steps)


def state_device(step: Step, device: torch.device) -> torch.device:
    """Where a scale's full-size image, gradient and optimiser history live: the host when it is tiled.

    A tiled scale means the accelerator is small; its memory then holds only a tile's work.
    """
    return torch.device("cpu") if step.tile is not None else device


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
