"""VGG-19 as a frozen feature extractor, cut after the deepest layer the costs use.

Layers are named as the seed names them (gatys/layers.py). The model takes RGB in 0..1 and applies the
weights file's own preprocessing.

A run can ask for a check between layers (`checked_between_layers`), forward and backward: one
iteration at a large size takes many seconds on a CPU, and a cancel must not wait for it to end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn

from nst_engine.gatys.layers import BLOCKS, LAYER_INDEX

_BLOCK_CHANNELS = (64, 128, 256, 512, 512)
# The check of the run on this thread (each thread has its own context): the model is shared, the run is not.
_between_layers: ContextVar[Callable[[], None] | None] = ContextVar("between_layers", default=None)


@contextmanager
def checked_between_layers(check: Callable[[], None]) -> Iterator[None]:
    """Call `check` (which may raise, e.g. Cancelled) before each layer's forward and backward pass."""
    token = _between_layers.set(check)
    try:
        yield
    finally:
        _between_layers.reset(token)


def _conv_layout() -> list[tuple[int, str, int, int]]:
    """(index in `features`, name, in channels, out channels) of the 16 convolutions."""
    out: list[tuple[int, str, int, int]] = []
    channels = 3
    for block, (convs, width) in enumerate(zip(BLOCKS, _BLOCK_CHANNELS, strict=True), start=1):
        for conv in range(1, convs + 1):
            name = f"conv{block}_{conv}"
            out.append((LAYER_INDEX[name] - 1, name, channels, width))
            channels = width
    return out


CONVS = _conv_layout()
# The tensors of a `features` state dict: what a weights file must hold.
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    key: shape
    for index, _name, cin, cout in CONVS
    for key, shape in ((f"{index}.weight", (cout, cin, 3, 3)), (f"{index}.bias", (cout,)))
}


def vgg19_features() -> nn.Sequential:
    """torchvision's VGG-19 convolutional part (configuration "E"), without its 120M-parameter classifier."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"], batch_norm=False)


class FeatureModel(nn.Module):
    """Returns the requested activations of VGG-19 for an RGB 0..1 batch (N, 3, H, W)."""

    def __init__(
        self,
        state_dict: dict[str, torch.Tensor],
        preprocess: Preprocess,
        layers: Iterable[str],
        pooling: str = "max",
    ) -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        self.preprocess = preprocess
        self.pooling = pooling
        deepest = max(LAYER_INDEX[name] for name in self.layers)
        features = vgg19_features()
        features.load_state_dict(state_dict)
        kept = list(features.children())[: deepest + 1]
        if pooling == "avg":
            kept = [nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in kept]
        self.features = nn.Sequential(*kept)
        self.features.requires_grad_(False)
        self.eval()
        self._wanted = {LAYER_INDEX[name]: name for name in self.layers}
        self.register_buffer("_mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(preprocess.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = rgb * self.preprocess.scale
        if self.preprocess.bgr:
            x = x.flip(1)
        x = (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        check = _between_layers.get()
        for index, module in enumerate(self.features):
            if check is not None:
                check()
                if x.requires_grad:  # the backward pass reaches this point after the layer's own gradient
                    x.register_hook(lambda _grad, check=check: check())
            x = module(x)
            if index in self._wanted:
                out[self._wanted[index]] = x
        return {name: out[name] for name in self.layers}


class Preprocess:
    """How a weights file expects its input: channel order, range, mean and std."""

    def __init__(
        self,
        bgr: bool,
        scale: float,
        mean: tuple[float, float, float],
        std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        self.bgr = bgr
        self.scale = scale
        self.mean = mean
        self.std = std

    def __repr__(self) -> str:
        return f"Preprocess(bgr={self.bgr}, scale={self.scale}, mean={self.mean}, std={self.std})"
