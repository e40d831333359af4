"""The cost functions of the seed document (Gatys et al. 2015, as taught in its notebook), exactly.

Activations are torch tensors in (1, n_C, n_H, n_W) layout (PyTorch's), where the seed's
TensorFlow code has (1, n_H, n_W, n_C): the sums are the same. Costs are computed in fp32 even
when the network runs in bf16/fp16, since Gram entries overflow fp16 and lose digits in bf16.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from nst_engine.settings import STYLE_LAYERS


def compute_content_cost(a_C: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 1: 1/(4 n_H n_W n_C) * sum((a_C - a_G)^2)."""
    _, n_C, n_H, n_W = a_G.shape
    diff = a_C.float() - a_G.float()
    return diff.pow(2).sum() / (4 * n_H * n_W * n_C)


def gram_matrix(A: torch.Tensor) -> torch.Tensor:
    """G = A A^T for A of shape (n_C, n_H*n_W)."""
    return A @ A.transpose(-1, -2)


def unroll(a: torch.Tensor) -> torch.Tensor:
    """(1, n_C, n_H, n_W) -> (n_C, n_H*n_W), in fp32."""
    _, n_C, n_H, n_W = a.shape
    return a.reshape(n_C, n_H * n_W).float()


def layer_style_gram(a: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of one layer's activations, as equation 2 uses it."""
    return gram_matrix(unroll(a))


def compute_layer_style_cost(G_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 2 for one layer: 1/(4 n_C^2 (n_H n_W)^2) * sum((G_S - G_G)^2).

    Unlike the seed's, it takes the style's Gram matrix G_S (`layer_style_gram(a_S)`), which the
    optimiser computes once per scale rather than once per step.
    """
    _, n_C, n_H, n_W = a_G.shape
    G_G = layer_style_gram(a_G)
    return (G_S - G_G).pow(2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)


def style_targets(
    styles: Iterable[tuple[Mapping[str, torch.Tensor], float]], style_layers: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Per style layer, the blend of the style images' Gram matrices, each divided by its pixel count.

    `styles` holds each style image's activations with its blend weight. Divided by n_H*n_W, Gram
    matrices of images of any size blend and compare; `compute_style_cost` scales them back to G's size.
    """
    targets: dict[str, torch.Tensor] = {}
    for activations, weight in styles:
        for name in style_layers:
            a_S = activations[name]
            gram = layer_style_gram(a_S) * (weight / (a_S.shape[-2] * a_S.shape[-1]))
            targets[name] = targets[name] + gram if name in targets else gram
    return targets


def compute_style_cost(
    targets: Mapping[str, torch.Tensor],
    generated_activations: Mapping[str, torch.Tensor],
    style_layers: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of coeff * J_style^[l] (the seed's STYLE_LAYERS, conv1_1..conv5_1 at 0.2, by default).

    `targets` come from `style_targets`: per-pixel Gram matrices, scaled here to G's pixel count.
    """
    layers = STYLE_LAYERS if style_layers is None else style_layers
    J_style = torch.zeros((), device=next(iter(generated_activations.values())).device)
    for layer_name, coeff in layers.items():
        a_G = generated_activations[layer_name]
        G_S = targets[layer_name] * (a_G.shape[-2] * a_G.shape[-1])
        J_style = J_style + coeff * compute_layer_style_cost(G_S, a_G)
    return J_style


def style_cost_per_pixel(
    targets: Mapping[str, torch.Tensor], grams: Mapping[str, torch.Tensor], style_layers: Mapping[str, float]
) -> torch.Tensor:
    """`compute_style_cost` for a G whose Gram matrices are given, divided by their pixel counts.

    With G_S and G_G both n_H*n_W times a per-pixel Gram matrix, equation 2's 1/(n_H n_W)^2 cancels:
    what remains is 1/(4 n_C^2) * sum((targets - grams)^2). Used for an image summed in parts (tiles).
    """
    J_style = torch.zeros((), device=next(iter(grams.values())).device)
    for layer_name, coeff in style_layers.items():
        n_C = grams[layer_name].shape[-1]
        J_style = J_style + coeff * (targets[layer_name] - grams[layer_name]).pow(2).sum() / (4 * n_C**2)
    return J_style


def total_cost(J_content, J_style, alpha: float = 10, beta: float = 40, J_tv=0.0, tv_weight: float = 0.0):
    """J = alpha * J_content + beta * J_style + tv_weight * J_tv (the seed's, which has no TV term, by default).

    Works on floats, numpy scalars and tensors alike.
    """
    return alpha * J_content + beta * J_style + tv_weight * J_tv


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels: smooths the high-frequency noise the VGG costs allow."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.float().pow(2).mean() + dx.float().pow(2).mean()
