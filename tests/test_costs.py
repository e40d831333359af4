"""The seed document's costs, checked against an independent numpy computation and its printed numbers."""

import numpy as np
import pytest
import torch

from nst_engine.gatys.costs import (
    compute_content_cost,
    compute_layer_style_cost,
    compute_style_cost,
    gram_matrix,
    layer_style_cost_from_gram,
    layer_style_gram,
    style_cost_from_targets,
    style_targets,
    total_cost,
    total_cost_with_tv,
    total_variation,
)
from nst_engine.gatys.layers import STYLE_LAYERS


def _tf_layout(rng: np.random.Generator, n_H: int, n_W: int, n_C: int) -> np.ndarray:
    """Activations as the seed's TensorFlow code has them: (1, n_H, n_W, n_C), mean 1, stddev 4."""
    return rng.normal(1.0, 4.0, size=(1, n_H, n_W, n_C))


def _to_torch(a_tf: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a_tf.transpose(0, 3, 1, 2).copy())


def test_total_cost_reproduces_the_seed_value():
    np.random.seed(3)
    J_content = np.random.randn()
    J_style = np.random.randn()
    assert total_cost(J_content, J_style) == 35.34667875478276


def test_the_seed_functions_take_the_seed_arguments():
    """Code written against the seed's notebook calls these by its parameter names and defaults."""
    import inspect

    def params(function):
        return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]

    empty = inspect.Parameter.empty
    assert params(compute_content_cost) == [("a_C", empty), ("a_G", empty)]
    assert params(gram_matrix) == [("A", empty)]
    assert params(compute_layer_style_cost) == [("a_S", empty), ("a_G", empty)]
    assert params(total_cost) == [("J_content", empty), ("J_style", empty), ("alpha", 10), ("beta", 40)]
    assert [name for name, _ in params(compute_style_cost)][-1] == "STYLE_LAYERS"


def test_total_cost_uses_alpha_and_beta():
    assert total_cost(2.0, 3.0, alpha=1, beta=0) == 2.0
    assert total_cost(2.0, 3.0, alpha=0, beta=5) == 15.0
    assert total_cost(2.0, 3.0) == 10 * 2.0 + 40 * 3.0


def test_content_cost_matches_numpy_equation_1():
    rng = np.random.default_rng(1)
    a_C, a_G = _tf_layout(rng, 4, 4, 3), _tf_layout(rng, 4, 4, 3)
    expected = np.sum((a_C - a_G) ** 2) / (4 * 4 * 4 * 3)
    got = compute_content_cost(_to_torch(a_C), _to_torch(a_G))
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_content_cost_normalises_by_the_layer_size():
    a = torch.zeros(1, 2, 3, 5)
    b = torch.ones(1, 2, 3, 5)
    assert float(compute_content_cost(a, b)) == pytest.approx(30 / (4 * 30))


def test_content_cost_by_hand():
    # n_C = 2, n_H = 1, n_W = 2; the differences are 1, 2, 0, 3: squared sum 14, over 4 * 1 * 2 * 2 = 16.
    a_C = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])
    assert float(compute_content_cost(a_C, torch.zeros(1, 2, 1, 2))) == 14 / 16


def test_gram_matrix_is_A_times_A_transposed():
    rng = np.random.default_rng(2)
    A = rng.normal(1, 4, size=(3, 2))
    GA = gram_matrix(torch.from_numpy(A)).numpy()
    np.testing.assert_allclose(GA, A @ A.T, rtol=1e-12)
    np.testing.assert_allclose(GA, GA.T)


def test_gram_matrix_gives_the_seed_printed_GA():
    """The seed prints GA for an A of shape (3, 2*1) drawn by TensorFlow; any A with A A^T = GA gives it back.

    GA has rank 2, so such an A of shape (3, 2) exists (from GA's eigenvectors); A^T A would be 2x2.
    """
    seed_GA = np.array([[6.42230511, -4.42912197, -2.09668207],
                        [-4.42912197, 19.46583748, 19.56387138],
                        [-2.09668207, 19.56387138, 20.6864624]])  # fmt: skip
    values, vectors = np.linalg.eigh(seed_GA)
    assert abs(values[0]) < 1e-6  # rank 2, as an A of shape (3, 2) makes it
    A = vectors[:, 1:] * np.sqrt(values[1:])
    GA = gram_matrix(torch.from_numpy(A)).numpy()
    assert GA.shape == (3, 3)
    np.testing.assert_allclose(GA, seed_GA, atol=1e-6)


def _numpy_layer_style_cost(a_S: np.ndarray, a_G: np.ndarray) -> float:
    _, n_H, n_W, n_C = a_G.shape
    S = a_S.reshape(n_H * n_W, n_C).T
    G = a_G.reshape(n_H * n_W, n_C).T
    return float(np.sum((S @ S.T - G @ G.T) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2))


def test_layer_style_cost_matches_numpy_equation_2():
    rng = np.random.default_rng(3)
    a_S, a_G = _tf_layout(rng, 4, 4, 3), _tf_layout(rng, 4, 4, 3)
    expected = _numpy_layer_style_cost(a_S, a_G)
    assert float(compute_layer_style_cost(_to_torch(a_S), _to_torch(a_G))) == pytest.approx(expected, rel=1e-5)
    got = layer_style_cost_from_gram(layer_style_gram(_to_torch(a_S)), _to_torch(a_G))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_layer_style_cost_by_hand():
    # n_C = 2, n_H = 1, n_W = 2: channels [1, 2] and [0, 1] give G_S = [[5, 2], [2, 1]]; G of zeros has G_G = 0.
    # sum((G_S - G_G)^2) = 25 + 4 + 4 + 1 = 34, over 4 * n_C^2 * (n_H n_W)^2 = 4 * 4 * 4 = 64.
    a_S = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])
    assert float(compute_layer_style_cost(a_S, torch.zeros(1, 2, 1, 2))) == 34 / 64
    assert float(compute_layer_style_cost(torch.zeros(1, 2, 1, 2), a_S)) == 34 / 64


def test_style_cost_is_the_weighted_sum_over_the_seed_layers():
    rng = np.random.default_rng(4)
    shapes = {
        "conv1_1": (8, 8, 4), "conv2_1": (4, 4, 6), "conv3_1": (2, 2, 8), "conv4_1": (2, 2, 8), "conv5_1": (1, 1, 8)
    }  # fmt: skip
    style = {name: _tf_layout(rng, *shape) for name, shape in shapes.items()}
    generated = {name: _tf_layout(rng, *shape) for name, shape in shapes.items()}
    expected = sum(0.2 * _numpy_layer_style_cost(style[n], generated[n]) for n in shapes)
    style_t = {n: _to_torch(a) for n, a in style.items()}
    generated_t = {n: _to_torch(a) for n, a in generated.items()}
    assert STYLE_LAYERS == {n: 0.2 for n in shapes}
    # The seed's call: activations of S and G, and STYLE_LAYERS as the seed writes it (a list of pairs).
    seed_layers = [(n, 0.2) for n in shapes]
    assert float(compute_style_cost(style_t, generated_t, seed_layers)) == pytest.approx(expected, rel=1e-5)
    assert float(compute_style_cost(style_t, generated_t)) == pytest.approx(expected, rel=1e-5)
    # The optimiser's variant, from precomputed targets, agrees for one style image the size of G.
    targets = style_targets([(style_t, 1.0)], shapes)
    assert float(style_cost_from_targets(targets, generated_t)) == pytest.approx(expected, rel=1e-5)
    only_first = compute_style_cost(style_t, generated_t, [("conv1_1", 1.0)])
    expected_first = _numpy_layer_style_cost(style["conv1_1"], generated["conv1_1"])
    assert float(only_first) == pytest.approx(expected_first, rel=1e-5)
    assert float(style_cost_from_targets(targets, generated_t, {"conv1_1": 1.0})) == pytest.approx(
        expected_first, rel=1e-5)


def test_style_targets_blend_per_pixel_grams_of_styles_of_any_size():
    rng = np.random.default_rng(5)
    small, large = _to_torch(_tf_layout(rng, 4, 4, 3)), _to_torch(_tf_layout(rng, 8, 6, 3))
    blended = style_targets([({"conv1_1": small}, 0.25), ({"conv1_1": large}, 0.75)], ["conv1_1"])
    expected = 0.25 * layer_style_gram(small) / 16 + 0.75 * layer_style_gram(large) / 48
    torch.testing.assert_close(blended["conv1_1"], expected)
    # Against a G of 4x4 pixels the single-style target is exactly the seed's G_S.
    a_G = _to_torch(_tf_layout(rng, 4, 4, 3))
    alone = style_targets([({"conv1_1": small}, 1.0)], ["conv1_1"])
    assert float(style_cost_from_targets(alone, {"conv1_1": a_G}, {"conv1_1": 1.0})) == pytest.approx(
        _numpy_layer_style_cost(small.permute(0, 2, 3, 1).numpy(), a_G.permute(0, 2, 3, 1).numpy()), rel=1e-5)


def test_total_cost_adds_the_weighted_tv_term():
    assert total_cost_with_tv(2.0, 3.0, 5.0, alpha=1, beta=1, tv_weight=0.5) == 7.5
    assert total_cost_with_tv(2.0, 3.0, 5.0, alpha=1, beta=1, tv_weight=0.0) == total_cost(2.0, 3.0, 1, 1)


def test_costs_are_fp32_even_for_half_precision_activations():
    a = torch.full((1, 4, 8, 8), 300.0, dtype=torch.float16)  # Gram entries overflow fp16
    b = torch.zeros((1, 4, 8, 8), dtype=torch.float16)
    cost = compute_layer_style_cost(a, b)
    assert cost.dtype == torch.float32 and torch.isfinite(cost)


def test_costs_are_zero_for_identical_images_and_differentiable():
    a = torch.rand(1, 3, 5, 5)
    g = a.clone().requires_grad_(True)
    J = compute_content_cost(a, g) + compute_layer_style_cost(a, g)
    assert float(J.detach()) == 0.0
    J.backward()
    assert torch.count_nonzero(g.grad) == 0


def test_total_variation_is_zero_for_flat_images_only():
    assert float(total_variation(torch.ones(1, 3, 8, 8))) == 0.0
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1.0
    assert float(total_variation(stripes)) == pytest.approx(1.0)


def test_objective_is_the_costs_sum_with_tv_and_blended_styles():
    """optimize.Objective adds nothing of its own: its J is costs.total_cost_with_tv of costs.py's terms."""
    from contextlib import nullcontext

    from nst_engine.gatys.model import EXPECTED_SHAPES, FeatureModel, Preprocess
    from nst_engine.gatys.optimize import Objective
    from nst_engine.settings import Settings

    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(*shape, generator=gen) * 0.2 for k, shape in EXPECTED_SHAPES.items()}
    model = FeatureModel(state, Preprocess(False, 1.0, (0.5, 0.5, 0.5)), ["conv1_1", "conv2_1"])
    settings = Settings.from_dict({"content_layer": "conv2_1", "style_layers": {"conv1_1": 0.3, "conv2_1": 0.7},
                                   "tv_weight": 3.0, "content_weight": 2.0, "style_strength": 1.5})
    content, G = torch.rand(1, 3, 16, 16, generator=gen), torch.rand(1, 3, 16, 16, generator=gen)
    s1, s2 = torch.rand(1, 3, 12, 12, generator=gen), torch.rand(1, 3, 20, 16, generator=gen)
    J, parts = Objective(model, content, [(s1, 0.25), (s2, 0.75)], settings, 5.0, nullcontext)(G)

    with torch.no_grad():
        a_G, a_S1, a_S2 = model(G), model(s1), model(s2)

    def per_pixel_gram(a):
        return layer_style_gram(a) / (a.shape[-2] * a.shape[-1])

    grams = {name: 0.25 * per_pixel_gram(a_S1[name]) + 0.75 * per_pixel_gram(a_S2[name]) for name in a_G}
    pixels = {name: a.shape[-2] * a.shape[-1] for name, a in a_G.items()}
    J_style = sum(coeff * layer_style_cost_from_gram(grams[name] * pixels[name], a_G[name])
                  for name, coeff in {"conv1_1": 0.3, "conv2_1": 0.7}.items())
    J_content = compute_content_cost(model(content)["conv2_1"], a_G["conv2_1"])
    expected = 2.0 * J_content + 5.0 * 1.5 * J_style + 3.0 * total_variation(G)
    assert float(parts["tv"]) > 0
    assert float(J) == pytest.approx(float(expected), rel=1e-5)
    assert float(parts["style"]) == pytest.approx(float(J_style), rel=1e-5)
