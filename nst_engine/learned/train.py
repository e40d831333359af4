"""Learning a style network from one style picture and a folder of photographs.

The costs are the engine's own (optimize.Objective: content layer, style layers with the
format-calibrated style weight, total variation), so a learned style and a `stylize` run of the
same picture aim at the same result; only who produces the pixels differs. Training is resumable:
a checkpoint every `checkpoint_every` steps holds the network, the optimiser and the random state,
written atomically so that Ctrl+C or a cancelled job always leaves the last complete one.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from nst_engine.errors import Cancelled, ImageError, SettingsError
from nst_engine.learned.network import StyleNet, build
from nst_engine.learned.options import LearnOptions
from nst_engine.pictures.images import (
    DECODED_FORMATS,
    DEFAULT_MAX_PIXELS,
    Picture,
    check_pixels,
    resize_tensor,
    scaled_size,
    to_tensor,
)

if TYPE_CHECKING:
    from nst_engine.gatys.cache import ModelCache

MIN_IMAGES = 8
CHECKPOINT_FORMAT = "nst-learned-checkpoint/1"
_DECODED_CACHE = 64  # photos kept decoded in memory; larger folders are decoded as they are drawn


@dataclass
class LearnProgress:
    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    remaining: float | None  # seconds, from this run's pace; None before the first step is timed
    checkpoint_saved: bool = False


@dataclass
class LearnResult:
    net: StyleNet
    steps: int
    resumed_from: int
    first_loss: float | None  # mean over this run's first steps (None when nothing was left to do)
    last_loss: float | None  # mean over its last steps
    images: int
    skipped: int
    seconds: float
    device: str
    weights_sha256: str
    style_weight: float
    losses: list[float] = field(default_factory=list)
    stopped_early: bool = False  # asked to stop before options.steps: the network as it was then


# ---------------------------------------------------------------- photographs


class PhotoSet:
    """Random crops, flips and scales of the readable pictures under a folder (recursive)."""

    def __init__(self, folder: str | os.PathLike[str], size: int, rng: random.Random) -> None:
        root = Path(folder)
        if not root.is_dir():
            raise SettingsError(f"{root} is not a folder: give --images a folder of photographs.")
        self.size, self.rng = size, rng
        self.paths: list[Path] = []
        self.skipped: list[Path] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            try:  # the header is enough here (the engine's formats and pixel limit); decoding errors come later
                with Image.open(path, formats=DECODED_FORMATS) as probe:
                    check_pixels(probe.size[0], probe.size[1], DEFAULT_MAX_PIXELS)
                self.paths.append(path)
            except (UnidentifiedImageError, OSError, ValueError, ImageError):
                self.skipped.append(path)
        if len(self.paths) < MIN_IMAGES:
            raise SettingsError(
                f"{root} holds {len(self.paths)} readable picture(s) ({len(self.skipped)} other file(s) skipped): "
                f"learning a style needs at least {MIN_IMAGES} photographs."
            )
        self._cache: dict[Path, Image.Image] = {}

    def _decoded(self, path: Path) -> Image.Image:
        if path in self._cache:
            return self._cache[path]
        with Image.open(path, formats=DECODED_FORMATS) as image:
            image.draft("RGB", (2 * self.size, 2 * self.size))  # JPEG: decode at a reduced scale, fast
            rgb = image.convert("RGB")
        short = min(rgb.size)
        if short > 2 * self.size:  # the largest scale ever drawn; keeps the cache small
            rgb = rgb.resize(scaled_size(rgb.size, round(max(rgb.size) * 2 * self.size / short)), Image.BICUBIC)
        if len(self._cache) < _DECODED_CACHE:
            self._cache[path] = rgb
        return rgb

    def draw(self) -> torch.Tensor:
        """One (1, 3, size, size) crop: short side scaled to size..2*size, random position, maybe mirrored."""
        while True:
            path = self.rng.choice(self.paths)
            try:
                image = self._decoded(path)
                break
            except (OSError, ValueError):
                self.paths.remove(path)  # damaged beyond its header: counted, never drawn again
                self.skipped.append(path)
                if len(self.paths) < MIN_IMAGES:
                    raise SettingsError(
                        f"Only {len(self.paths)} readable picture(s) are left after {len(self.skipped)} "
                        f"failed to decode: learning a style needs at least {MIN_IMAGES}."
                    ) from None
        short = self.rng.uniform(self.size, 2 * self.size)
        scaled = image.resize(scaled_size(image.size, round(max(image.size) * short / min(image.size))),
                              Image.BICUBIC)
        left = self.rng.randint(0, scaled.width - self.size)
        top = self.rng.randint(0, scaled.height - self.size)
        crop = scaled.crop((left, top, left + self.size, top + self.size))
        if self.rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(np.asarray(crop, dtype=np.float32) / 255.0)


# ---------------------------------------------------------------- checkpoints


def _fingerprint(style: Picture, options: LearnOptions, weights_sha256: str) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (more steps may be asked for)."""
    return {
        "style_pixels_sha256": hashlib.sha256(np.ascontiguousarray(style.rgb).tobytes()).hexdigest(),
        "weights_sha256": weights_sha256,
        **{k: v for k, v in options.to_dict().items() if k not in ("steps", "checkpoint_every", "device")},
    }


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interruption leaves the previous checkpoint whole


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file means the same to the user
        raise SettingsError(
            f"The checkpoint {path} is damaged ({type(error).__name__}): start over with --restart."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SettingsError(f"{path} is not a learning checkpoint of this engine: start over with --restart.")
    if state["fingerprint"] != fingerprint:
        changed = sorted(k for k in fingerprint if state["fingerprint"].get(k) != fingerprint[k])
        raise SettingsError(
            f"The checkpoint {path} was made with other settings ({', '.join(changed)} differ): "
            "use the same ones to resume, or start over with --restart."
        )
    return state


# ---------------------------------------------------------------- learning


class Costs:
    """The engine's objective for one style picture, applied to a network's output for any content.

    It wraps `optimize.Objective` (the same content, style and total-variation terms, and the style
    weight calibrated for the loaded VGG-19 format, times `style_strength`), swapping the content
    target for each training crop; the style Gram targets are computed once.
    """

    def __init__(
        self, style: Picture, options: LearnOptions, weights: str | os.PathLike[str] | ModelCache | None = None
    ) -> None:
        from nst_engine.device import resolve_device
        from nst_engine.gatys.cache import ModelCache
        from nst_engine.gatys.optimize import Objective
        from nst_engine.settings import Settings

        settings = Settings.from_dict({"style_strength": options.style_strength})
        self.device = resolve_device(options.device)
        # The service hands in its own ModelCache: one VGG-19 in memory, read and hashed once.
        cache = weights if isinstance(weights, ModelCache) else ModelCache(weights)
        self.model, _format = cache.get(settings, self.device, channels_last=False)
        # The same weighting as a stylisation's (content and style in the network's activation units), so
        # that total variation keeps its share in every weights format.
        settings, self.style_weight = cache.calibrated(settings)
        self.weights_sha256 = cache.weights().sha256
        self.content_layer = settings.content_layer
        style_t = resize_tensor(to_tensor(style.rgb, self.device), scaled_size(style.size, options.size))
        # The style stands in as the first content; every call replaces the content target.
        self.objective = Objective(self.model, style_t, [(style_t, 1.0)], settings, self.style_weight, nullcontext)

    def __call__(self, net: torch.nn.Module, content: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(J, its parts) of `net`'s output for a (1, 3, H, W) content crop."""
        content = content.to(self.device)
        with torch.no_grad():
            self.objective.content_target = self.model(content)[self.content_layer].float()
        return self.objective(net(content))


def initial_network(options: LearnOptions) -> StyleNet:
    """The untrained network a run starts from (seeded, so a run and its resumption agree)."""
    torch.manual_seed(options.seed)
    return build(options.width)


def learn(
    style: Picture,
    images: str | os.PathLike[str],
    options: LearnOptions,
    checkpoint: Path | None = None,
    weights: str | os.PathLike[str] | ModelCache | None = None,
    progress: Callable[[LearnProgress], None] | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> LearnResult:
    """Train a network of `options.width` for `options.steps` steps (resuming from `checkpoint`).

    `stop` ends it early with the network learned so far ("Stop and keep"); `cancel` raises Cancelled.
    """
    options.validate()
    started = time.perf_counter()
    rng = random.Random(options.seed)
    photos = PhotoSet(images, options.size, rng)
    costs = Costs(style, options, weights)
    net = initial_network(options).to(costs.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate)
    fingerprint = _fingerprint(style, options, costs.weights_sha256)
    step = 0
    state = _load_checkpoint(checkpoint, fingerprint) if checkpoint is not None else None
    if state is not None:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(_as_random_state(state["python_random"]))
        step = int(state["step"])
    resumed_from = step

    losses: list[float] = []
    run_started = time.perf_counter()
    net.train()
    while step < options.steps and not (stop is not None and stop.is_set() and step > resumed_from):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Learning was cancelled at step {step}; the last checkpoint is kept for resuming.")
        optimizer.zero_grad(set_to_none=True)
        parts: dict[str, float] = {}
        for _ in range(options.batch):  # the costs take one picture at a time; gradients add up
            total, terms = costs(net, photos.draw())
            (total / options.batch).backward()
            for key, value in terms.items():
                parts[key] = parts.get(key, 0.0) + float(value.detach()) / options.batch
        optimizer.step()
        step += 1
        losses.append(parts["total"])
        saved = False
        if checkpoint is not None and (step % options.checkpoint_every == 0 or step == options.steps):
            _save_checkpoint(checkpoint, {
                "format": CHECKPOINT_FORMAT, "step": step, "fingerprint": fingerprint,
                "net": net.state_dict(), "optimizer": optimizer.state_dict(), "python_random": rng.getstate(),
            })  # fmt: skip
            saved = True
        if progress is not None:
            pace = (time.perf_counter() - run_started) / (step - resumed_from)
            progress(LearnProgress(
                step, options.steps, parts,
                time.perf_counter() - started, pace * (options.steps - step), saved,
            ))  # fmt: skip
    net.eval()
    window = max(1, min(len(losses) // 4, 50))
    return LearnResult(
        net=net.cpu(),
        steps=step,
        resumed_from=resumed_from,
        first_loss=float(np.mean(losses[:window])) if losses else None,
        last_loss=float(np.mean(losses[-window:])) if losses else None,
        images=len(photos.paths),
        skipped=len(photos.skipped),
        seconds=time.perf_counter() - started,
        device=str(costs.device),
        weights_sha256=costs.weights_sha256,
        style_weight=costs.style_weight,
        losses=losses,
        stopped_early=step < options.steps,
    )


def _as_random_state(saved: Any) -> tuple:
    """random.getstate() comes back from torch.load with lists where it had tuples."""
    version, internal, gauss = saved
    return int(version), tuple(int(v) for v in internal), gauss
