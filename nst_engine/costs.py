"""The cost functions of the seed document (Gatys et al. 2015, as taught in its notebook), exactly.

Activations are torch tensors in (1, n_C, n_H, n_W) layout (PyTorch's), where the seed's
TensorFlow code has (1, n_H, n_W, n_C): the sums are the same. Costs are computed in fp32 even
when the network runs in bf16/fp16, since Gram entries overflow fp16 and lose digits in bf16.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def gram_style_cost(G_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 2 with the style Gram precomputed (the optimiser computes it once, not per step).

    G_S may come from a style image of a different size than G: the Gram matrix is (n_C, n_C)
    whatever the size, but its entries grow with n_H*n_W, so it is rescaled to G's pixel count.
    """
    _, n_C, n_H, n_W = a_G.shape
    G_G = layer_style_gram(a_G)
    return (G_S - G_G).pow(2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)


def compute_layer_style_cost(a_S: torch.Tensor, a_G: torch.Tensor) -> torch.Tensor:
    """Equation 2: 1/(4 n_C^2 (n_H n_W)^2) * sum((G_S - G_G)^2), for one layer."""
    return gram_style_cost(layer_style_gram(a_S), a_G)


def compute_style_cost(
    style_activations: Mapping[str, torch.Tensor],
    generated_activations: Mapping[str, torch.Tensor],
    style_layers: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Sum over layers of coeff * J_style^[l]; the seed's STYLE_LAYERS (conv1_1..conv5_1, 0.2 each) by default."""
    layers = STYLE_LAYERS if style_layers is None else style_layers
    J_style = torch.zeros((), device=next(iter(generated_activations.values())).device)
    for layer_name, coeff in layers.items():
        J_style = J_style + coeff * compute_layer_style_cost(
            style_activations[layer_name], generated_activations[layer_name]
        )
    return J_style


def total_cost(J_content, J_style, alpha: float = 10, beta: float = 40):
    """J = alpha * J_content + beta * J_style (works on floats, numpy scalars and tensors alike)."""
    return alpha * J_content + beta * J_style


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels: smooths the high-frequency noise the VGG costs allow."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.float().pow(2).mean() + dx.float().pow(2).mean()
