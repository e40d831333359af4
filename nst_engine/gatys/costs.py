"""The cost functions of the seed document (Gatys et al. 2015, as taught in its notebook), exactly.

`compute_content_cost(a_C, a_G)`, `gram_matrix(A)`, `compute_layer_style_cost(a_S, a_G)`,
`compute_style_cost(a_S_layers, a_G_layers, STYLE_LAYERS)` and `total_cost(J_content, J_style, alpha=10,
beta=40)` take the seed's arguments and mean what they mean there, so code written against the seed's
notebook runs unchanged. Activations are torch tensors in (1, n_C, n_H, n_W) layout (PyTorch's), where
the seed's TensorFlow code has (1, n_H, n_W, n_C): the sums are the same.

The optimiser computes a style's Gram matrices once per scale rather than once per step; those faster
variants have names of their own (`layer_style_cost_from_gram`, `style_cost_from_targets`,
`total_cost_with_tv`). Costs are computed in fp32 even when the network runs in bf16/fp16, since Gram
entries overflow fp16 and lose digits in bf16.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from nst_engine.gatys.layers import STYLE_LAYERS

# The seed's STYLE_LAYERS is a list of (layer name, coefficient) pairs; the engine's is a dict. Both work.
StyleLayers = Mapping[str, float] | Iterable[tuple[str, float]]


def compute_content_cost(a_C: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 1: 1/(4 n_H n_W n_C) * sum((a_C - a_G)^2), for activations of shape (1, n_C, n_H, n_W)."""
    _, n_C, n_H, n_W = a_G.shape
    diff = a_C.float() - a_G.float()
    return diff.pow(2).sum() / (4 * n_H * n_W * n_C)


def gram_matrix(A: torch.Tensor) -> torch.Tensor:
    """G = A A^T for A of shape (n_C, n_H*n_W): the seed's GA, of shape (n_C, n_C)."""
    return A @ A.transpose(-1, -2)


def unroll(a: torch.Tensor) -> torch.Tensor:
    """(1, n_C, n_H, n_W) -> (n_C, n_H*n_W), in fp32."""
    _, n_C, n_H, n_W = a.shape
    return a.reshape(n_C, n_H * n_W).float()


def layer_style_gram(a: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of one layer's activations (1, n_C, n_H, n_W), as equation 2 uses it."""
    return gram_matrix(unroll(a))


def compute_layer_style_cost(a_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 2 for one layer, from the style's and G's activations (1, n_C, n_H, n_W), as the seed has it."""
    return layer_style_cost_from_gram(layer_style_gram(a_S), a_G)


def layer_style_cost_from_gram(G_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 2 given the style's Gram matrix G_S: 1/(4 n_C^2 (n_H n_W)^2) * sum((G_S - G_G)^2).

    The optimiser's variant: it computes G_S once per scale rather than once per step.
    """
    _, n_C, n_H, n_W = a_G.shape
    G_G = layer_style_gram(a_G)
    return (G_S - G_G).pow(2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)


def _pairs(style_layers: StyleLayers) -> list[tuple[str, float]]:
    return list(style_layers.items() if isinstance(style_layers, Mapping) else style_layers)


def compute_style_cost(
    a_S_layers: Mapping[str, torch.Tensor],
    a_G_layers: Mapping[str, torch.Tensor],
    STYLE_LAYERS: StyleLayers = STYLE_LAYERS,  # the seed's name
) -> torch.Tensor:
    """Sum over STYLE_LAYERS of coeff * J_style^[l](a_S, a_G), as the seed's `compute_style_cost(model, STYLE_LAYERS)`.

    The seed reads a_S and a_G from its TensorFlow `model` in a session; here they are given, layer name to
    activations, for the style image and for G (`FeatureModel(image)` returns such a mapping).
    """
    J_style = torch.zeros((), device=next(iter(a_G_layers.values())).device)
    for layer_name, coeff in _pairs(STYLE_LAYERS):
        J_style = J_style + coeff * compute_layer_style_cost(a_S_layers[layer_name], a_G_layers[layer_name])
    return J_style


def style_targets(
    styles: Iterable[tuple[Mapping[str, torch.Tensor], float]], style_layers: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Per style layer, the blend of the style images' Gram matrices, each divided by its pixel count.

    `styles` holds each style image's activations with its blend weight. Divided by n_H*n_W, Gram
    matrices of images of any size blend and compare; `style_cost_from_targets` scales them back to G's size.
    """
    targets: dict[str, torch.Tensor] = {}
    for activations, weight in styles:
        for name in style_layers:
            a_S = activations[name]
            gram = layer_style_gram(a_S) * (weight / (a_S.shape[-2] * a_S.shape[-1]))
            targets[name] = targets[name] + gram if name in targets else gram
    return targets


def style_cost_from_targets(
    targets: Mapping[str, torch.Tensor],
    generated_activations: Mapping[str, torch.Tensor],
    style_layers: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """`compute_style_cost` from precomputed style targets (`style_targets`): the optimiser's variant.

    The targets are per-pixel Gram matrices, scaled here to G's pixel count; for one style image the size
    of G this is exactly `compute_style_cost`.
    """
    layers = STYLE_LAYERS if style_layers is None else style_layers
    J_style = torch.zeros((), device=next(iter(generated_activations.values())).device)
    for layer_name, coeff in layers.items():
        a_G = generated_activations[layer_name]
        G_S = targets[layer_name] * (a_G.shape[-2] * a_G.shape[-1])
        J_style = J_style + coeff * layer_style_cost_from_gram(G_S, a_G)
    return J_style


def style_cost_per_pixel(
    targets: Mapping[str, torch.Tensor], grams: Mapping[str, torch.Tensor], style_layers: Mapping[str, float]
) -> torch.Tensor:
    """`style_cost_from_targets` for a G whose Gram matrices are given, divided by their pixel counts.

    With G_S and G_G both n_H*n_W times a per-pixel Gram matrix, equation 2's 1/(n_H n_W)^2 cancels:
    what remains is 1/(4 n_C^2) * sum((targets - grams)^2). Used for an image summed in parts (tiles).
    """
    J_style = torch.zeros((), device=next(iter(grams.values())).device)
    for layer_name, coeff in style_layers.items():
        n_C = grams[layer_name].shape[-1]
        J_style = J_style + coeff * (targets[layer_name] - grams[layer_name]).pow(2).sum() / (4 * n_C**2)
    return J_style


def total_cost(J_content, J_style, alpha=10, beta=40):
    """The seed's J = alpha * J_content + beta * J_style; works on floats, numpy scalars and tensors alike."""
    return alpha * J_content + beta * J_style


def total_cost_with_tv(J_content, J_style, J_tv, alpha: float, beta: float, tv_weight: float):
    """The engine's J: the seed's `total_cost` plus tv_weight * J_tv, which the seed doesn't have."""
    return total_cost(J_content, J_style, alpha, beta) + tv_weight * J_tv


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels: smooths the high-frequency noise the VGG costs allow."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.float().pow(2).mean() + dx.float().pow(2).mean()
