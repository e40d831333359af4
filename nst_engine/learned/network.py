"""The feed-forward style network (Johnson et al. 2016, instance norm as in Ulyanov et al. 2016).

Downsampling convolutions, residual blocks, upsampling by resize-then-convolve (no transposed
convolutions, whose uneven overlap makes checkerboards) and reflection padding (zero padding darkens
borders, which would show as seams between tiles). `small` is a narrower, shallower variant so that a
2048-pixel picture runs in seconds on a laptop CPU.

Every instance normalisation goes through a `Normalise` callable. The default is the layer itself
(learning, and a whole picture at once); `Tileable`, the exported form, passes statistics measured on
the whole picture instead, so that a tile computes exactly what the whole picture computes there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nst_engine.learned.sizes import WIDTHS, Shape


class ConvLayer(nn.Module):
    """Reflection padding, then a convolution: same size (stride 1) or half (stride 2)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


Normalise = Callable[[nn.InstanceNorm2d, torch.Tensor], torch.Tensor]


def own_statistics(layer: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
    """Instance normalisation with the statistics of `x` itself: the network as it learns."""
    return layer(x)


class ConvNormRelu(nn.Sequential):
    """Convolution, instance norm, ReLU (a Sequential, so that checkpoints keep their parameter names)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(ConvLayer(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True), nn.ReLU())

    def forward(self, x: torch.Tensor, norm: Normalise = own_statistics) -> torch.Tensor:
        return torch.relu(norm(self[1], self[0](x)))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm, added to the input (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormRelu(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor, norm: Normalise = own_statistics) -> torch.Tensor:
        first, conv, last = self.body
        return x + norm(last, conv(first(x, norm)))


class UpsampleConv(nn.Module):
    """Nearest-neighbour doubling, then a convolution (Odena et al. 2016's fix for checkerboards)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvNormRelu(cin, cout, 3)

    def forward(self, x: torch.Tensor, size: tuple[int, int], norm: Normalise = own_statistics) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"), norm)


class StyleNet(nn.Module):
    """RGB 0..1 (N, 3, H, W) in, RGB (N, 3, H, W) out, for any H and W.

    The network learns a change to its input (a global skip connection, its last layer starting near
    zero): it starts as the identity, so a few hundred CPU steps already give a usable picture instead
    of noise. The output is not clamped while learning (a clamp would stop the gradient of pixels that
    overshoot); `exportable()` adds the clamp to 0..1.
    """

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.shape = shape
        c1, c2, c3 = shape.channels
        k = shape.outer_kernel
        self.down = nn.ModuleList([ConvNormRelu(3, c1, k), ConvNormRelu(c1, c2, 3, 2), ConvNormRelu(c2, c3, 3, 2)])
        self.residual = nn.Sequential(*(ResidualBlock(c3) for _ in range(shape.residual_blocks)))
        self.up1 = UpsampleConv(c3, c2)
        self.up2 = UpsampleConv(c2, c1)
        self.out = ConvLayer(c1, 3, k)
        with torch.no_grad():
            self.out.conv.weight.mul_(0.1)
            self.out.conv.bias.zero_()

    def forward(self, rgb: torch.Tensor, norm: Normalise = own_statistics) -> torch.Tensor:
        x1 = self.down[0](rgb, norm)
        x2 = self.down[1](x1, norm)
        x = self.down[2](x2, norm)
        for block in self.residual:
            x = block(x, norm)
        # Upsample to the skipped stages' exact sizes, so odd heights and widths come back unchanged.
        x = self.up1(x, (x2.shape[-2], x2.shape[-1]), norm)
        x = self.up2(x, (x1.shape[-2], x1.shape[-1]), norm)
        return rgb + self.out(x)


class Clamped(nn.Module):
    """The network as it is exported and applied: output clamped to 0..1."""

    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(rgb).clamp(0.0, 1.0)


class SharedStatistics:
    """Normalises with given per-channel statistics (`own` = 0) or each layer's own (`own` = 1), and sums
    each layer's deviations over the `core` pixels, so that tiles can measure whole-picture statistics.

    `stats` is (2, channels of all norms): means, then variances (biased, as instance norm uses). The
    sums come out as (3, channels): the centre used, the sum of (x - centre) and of (x - centre)^2
    over the core, where `core` (1, 1, H, W) is 1 and the stride-s layers see it subsampled by s.
    """

    def __init__(self, layout: list[tuple[int, int]], stats: torch.Tensor, own: torch.Tensor,
                 core: torch.Tensor) -> None:
        self.layout, self.stats, self.own = layout, stats, own
        half = core[:, :, ::2, ::2]
        self.cores = {1: core, 2: half, 4: half[:, :, ::2, ::2]}
        self.sums: list[torch.Tensor] = []
        self.offset = 0

    def __call__(self, layer: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        channels, stride = self.layout[len(self.sums)]
        given = self.stats[:, self.offset:self.offset + channels].reshape(2, 1, channels, 1, 1)
        self.offset += channels
        own_mean = x.mean(dim=(2, 3), keepdim=True)
        own_var = (x - own_mean).square().mean(dim=(2, 3), keepdim=True)
        mean = self.own * own_mean + (1.0 - self.own) * given[0]
        var = self.own * own_var + (1.0 - self.own) * given[1]
        centred = x - mean
        kept = centred * self.cores[stride]
        self.sums.append(torch.stack([mean.reshape(channels), kept.sum(dim=(0, 2, 3)),
                                      (kept * centred).sum(dim=(0, 2, 3))]))
        scale = torch.rsqrt(var + layer.eps) * layer.weight.reshape(1, channels, 1, 1)
        return centred * scale + layer.bias.reshape(1, channels, 1, 1)


def norm_layout(net: StyleNet) -> list[tuple[int, int]]:
    """(channels, stride) of every instance norm, in the order the network calls them (found by calling it)."""
    seen: list[tuple[int, int]] = []
    side = 16

    def record(layer: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        seen.append((x.shape[1], side // x.shape[-1]))
        return layer(x)

    with torch.no_grad():
        net(torch.zeros(1, 3, side, side), record)
    return seen


def reach(shape: Shape) -> int:
    """Pixels beyond which the input cannot change an output pixel, given fixed statistics; a multiple of 4.

    Each convolution adds its radius times its stride (in input pixels); each change of resolution adds
    up to its stride in rounding. A tile whose core is surrounded by this much picture computes the core
    exactly as the whole picture does.
    """
    k = shape.outer_kernel // 2
    convolutions = (k + 1 + 1 + k) * 1 + (1 + 1) * 2 + 2 * shape.residual_blocks * 4  # radius x input stride
    resamplings = 2 * (2 + 4)  # down[1] and up2 between strides 1 and 2, down[2] and up1 between 2 and 4
    return 4 * -(-(convolutions + resamplings) // 4)


class Tileable(nn.Module):
    """The exported graph: (rgb, core, stats, own) in, (styled clamped to 0..1, the core's sums) out.

    With `own` = 1 it is the network as learned (each norm's statistics from the input itself); with
    `own` = 0 every norm uses `stats`, so a tile given the whole picture's statistics computes the whole
    picture's result in its core (see reach()).
    """

    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net
        self.layout = norm_layout(net)

    def forward(self, rgb: torch.Tensor, core: torch.Tensor, stats: torch.Tensor,
                own: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norm = SharedStatistics(self.layout, stats, own, core)
        styled = self.net(rgb, norm).clamp(0.0, 1.0)
        return styled, torch.cat(norm.sums, dim=1)


def build(width: str) -> StyleNet:
    """A fresh network of the named width (`small` or `standard`)."""
    if width not in WIDTHS:
        raise ValueError(f"unknown width {width!r}: choose {' or '.join(WIDTHS)}")
    return StyleNet(WIDTHS[width])


def exportable(net: StyleNet) -> nn.Module:
    return Clamped(net).eval()
