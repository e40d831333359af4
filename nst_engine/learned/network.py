"""The feed-forward style network (Johnson et al. 2016, instance norm as in Ulyanov et al. 2016).

Downsampling convolutions, residual blocks, upsampling by resize-then-convolve (no transposed
convolutions, whose uneven overlap makes checkerboards) and reflection padding (zero padding darkens
borders, which would show as seams between tiles). `small` is a narrower, shallower variant so that a
2048-pixel picture runs in seconds on a laptop CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst_engine.learned.options import WIDTHS, Shape


class ConvLayer(nn.Module):
    """Reflection padding, then a convolution: same size (stride 1) or half (stride 2)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvNormRelu(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(ConvLayer(cin, cout, kernel, stride), nn.InstanceNorm2d(cout, affine=True), nn.ReLU())


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm, added to the input (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormRelu(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour doubling, then a convolution (Odena et al. 2016's fix for checkerboards)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvNormRelu(cin, cout, 3)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


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

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x1 = self.down[0](rgb)
        x2 = self.down[1](x1)
        x = self.residual(self.down[2](x2))
        # Upsample to the skipped stages' exact sizes, so odd heights and widths come back unchanged.
        x = self.up1(x, (x2.shape[-2], x2.shape[-1]))
        x = self.up2(x, (x1.shape[-2], x1.shape[-1]))
        return rgb + self.out(x)


class Clamped(nn.Module):
    """The network as it is exported and applied: output clamped to 0..1."""

    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(rgb).clamp(0.0, 1.0)


def build(width: str) -> StyleNet:
    """A fresh network of the named width (`small` or `standard`)."""
    if width not in WIDTHS:
        raise ValueError(f"unknown width {width!r}: choose {' or '.join(WIDTHS)}")
    return StyleNet(WIDTHS[width])


def exportable(net: StyleNet) -> nn.Module:
    return Clamped(net).eval()
