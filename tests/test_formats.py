"""The same network in the three weight formats gives the same costs and gradients under the default
settings, and pictures that agree in their layout; pixel by pixel, no more than runs on two CPUs agree.

The real files can't be downloaded here, so the synthetic torchvision file is converted, exactly as
a function of the RGB picture, to the Caffe layout (BGR, 0..255 minus Caffe's mean) with every
activation rescaled by one factor (as a conversion for 0..255 input is free to do), and the Caffe
file to MatConvNet's (RGB, its averageImage, a .mat) with another. Each is loaded as the engine
loads it (format detected from the content) and stylised with the default style weight.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch

from nst_engine import api
from nst_engine.gatys import optimize
from nst_engine.gatys.cache import BASE_STYLE_WEIGHT, ModelCache
from nst_engine.gatys.model import CONVS, FeatureModel
from nst_engine.pictures.images import resize_tensor, to_tensor
from nst_engine.settings import Settings
from nst_engine.weights.formats import FORMATS, MATCONVNET_MEAN_RGB, load_weights
from nst_engine.weights.synthetic import save_matconvnet, save_pth

# How much larger the converted Caffe network's activations are than torchvision's, per VGG block
# (one factor: the default calibration is one scale per network), and MatConvNet's than Caffe's.
BLOCK_GAINS = (6.0,) * 5
MATCONVNET_GAIN = 0.5


def caffe_from_torchvision(state: dict[str, torch.Tensor], gains=BLOCK_GAINS) -> dict[str, torch.Tensor]:
    """The same function of the picture for BGR 0..255 input, each block's activations times its gain.

    (A gain much above 7 at conv5_1 would make the loader's heuristic call the file torchvision.)

    conv1_1 absorbs the input convention: torchvision's (rgb_c - m_c) / s_c is Caffe's channel
    2 - c, x / (255 s_c), plus the constant (mu_c / 255 - m_c) / s_c, folded into the bias. A
    positive factor passes through ReLU and max-pooling, so a later layer only rescales by the ratio
    of its gain to the previous one's. (At the one-pixel border the zero padding stands for slightly
    different colours in the two conventions: the only inexact part, 0.2 % of a grey level.)
    """
    tv, caffe = FORMATS["torchvision"].preprocess, FORMATS["caffe"].preprocess
    mean, std = torch.tensor(tv.mean, dtype=torch.float64), torch.tensor(tv.std, dtype=torch.float64)
    mean_rgb = torch.tensor(caffe.mean, dtype=torch.float64).flip(0)
    out: dict[str, torch.Tensor] = {}
    previous = 1.0
    for index, name, _cin, _cout in CONVS:
        gain = gains[int(name[4]) - 1]
        weight, bias = state[f"{index}.weight"].double(), state[f"{index}.bias"].double()
        if index == 0:
            offset = ((mean_rgb / 255.0 - mean) / std).view(1, 3, 1, 1)
            bias = bias + (weight * offset).sum(dim=(1, 2, 3))
            weight = (weight / (255.0 * std).view(1, 3, 1, 1)).flip(1)
        out[f"{index}.weight"] = (weight * gain / previous).float()
        out[f"{index}.bias"] = (bias * gain).float()
        previous = gain
    return out


def blind_to_the_mean_difference(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network with conv1_1 made blind to the colour by which the two conventions' means differ.

    Torchvision's mean (0.485, 0.456, 0.406) and Caffe's (123.68, 116.779, 103.939) / 255 differ
    by 0.2 % of a grey level, so the zero padding at the picture's border stands for slightly
    different colours; a random deep network's gradient turns that into different pictures after a
    few iterations, whatever the calibration. Without that colour the conversion is exact.
    """
    tv, caffe = FORMATS["torchvision"].preprocess, FORMATS["caffe"].preprocess
    mean, std = torch.tensor(tv.mean, dtype=torch.float64), torch.tensor(tv.std, dtype=torch.float64)
    direction = (torch.tensor(caffe.mean, dtype=torch.float64).flip(0) / 255.0 - mean) / std
    direction = (direction / direction.norm()).view(1, 3, 1, 1)
    weight = state["0.weight"].double()
    out = dict(state)
    out["0.weight"] = (weight - direction * (weight * direction).sum(dim=1, keepdim=True)).float()
    return out


def matconvnet_from_caffe(state: dict[str, torch.Tensor], gain: float = MATCONVNET_GAIN) -> dict[str, torch.Tensor]:
    """RGB rather than BGR: conv1_1's input channels reversed (MatConvNet's mean is Caffe's, reversed);
    every activation times `gain` (conv1_1's weights and every bias)."""
    assert tuple(reversed(FORMATS["caffe"].preprocess.mean)) == MATCONVNET_MEAN_RGB
    out = {key: value * gain if key.endswith("bias") else value for key, value in state.items()}
    out["0.weight"] = (state["0.weight"] * gain).flip(1).contiguous()
    return out


@pytest.fixture(scope="module")
def formats(synthetic_weights, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    network = blind_to_the_mean_difference(load_weights(synthetic_weights("torchvision")).features_state_dict)
    torchvision = save_pth(folder / "network.pth", network)
    caffe_state = caffe_from_torchvision(network)
    caffe = save_pth(folder / "converted-caffe.pth", caffe_state)
    matconvnet = save_matconvnet(folder / "converted.mat", matconvnet_from_caffe(caffe_state))
    return {"torchvision": torchvision, "caffe": caffe, "matconvnet": matconvnet}


def small(**overrides) -> Settings:
    values = {"size": 96, "iterations": 12, "scales": 2, "min_scale_size": 48, "device": "cpu",
              "precision": "fp32", **overrides}
    return Settings.from_dict(values)


def test_the_conversions_are_the_same_network_and_detected_as_their_formats(formats, cat):
    loaded = {name: load_weights(path) for name, path in formats.items()}
    assert {name: w.format.name for name, w in loaded.items()} == {n: n for n in formats}
    layers = [f"conv{i}_1" for i in range(1, 6)]
    image = to_tensor(cat.rgb)
    outputs = {}
    for name, weights in loaded.items():
        model = FeatureModel(weights.features_state_dict, weights.format.preprocess, layers)
        with torch.no_grad():
            outputs[name] = model(image)
    for block, layer in enumerate(layers):
        for name in ("caffe", "matconvnet"):
            gain = BLOCK_GAINS[block] * (MATCONVNET_GAIN if name == "matconvnet" else 1.0)
            reference = outputs["torchvision"][layer] * gain
            error = (outputs[name][layer] - reference).abs().mean() / reference.abs().mean()
            assert error < 1e-3, (name, layer, float(error))


@pytest.fixture(scope="module")
def stylized(formats, cat, stain):
    """`stylized(format, strength)`: the default run's picture (runs once per pair: two busy cores)."""
    caches = {name: ModelCache(path) for name, path in formats.items()}
    done: dict[tuple[str, float], api.StylizeResult] = {}

    def run(name: str, strength: float = 1.0) -> api.StylizeResult:
        if (name, strength) not in done:
            done[name, strength] = api.stylize(cat, [stain], small(style_strength=strength), cache=caches[name])
        return done[name, strength]

    return run


def objective_at_content(path: Path, cat, stain, settings: Settings):
    """J and its gradient at the content plus a little noise, with the weights `calibrated` gives."""
    cache = ModelCache(path)
    model, _ = cache.get(settings, torch.device("cpu"), False)
    run_settings, beta = cache.calibrated(settings)
    content = resize_tensor(to_tensor(cat.rgb), (96, 64))
    style = resize_tensor(to_tensor(stain.rgb), (96, 96))
    objective = optimize.Objective(model, content, [(style, 1.0)], run_settings, beta, nullcontext)
    image = (content + 0.05 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0)))
    image.requires_grad_(True)
    J, _ = objective(image)
    J.backward()
    return float(J.detach()), image.grad


def test_the_default_weights_give_the_same_cost_and_gradient_in_every_format(formats, cat, stain):
    J0, g0 = objective_at_content(formats["torchvision"], cat, stain, small())
    for name in ("caffe", "matconvnet"):
        J, g = objective_at_content(formats[name], cat, stain, small())
        # Measured (fp32; kernels default/avx2/avx512, oneDNN capped alike; 1 and 2 threads): J at most
        # 1.5e-7 apart (relative), the gradient 2.3e-6-2.5e-6 (relative mean) on weights made once, but
        # 8.6e-4 (and once over 1e-3) on the synthetic weights made under avx2 with 1 thread: bounds above that.
        assert J == pytest.approx(J0, rel=1e-4), name
        assert float((g - g0).abs().mean() / g0.abs().mean()) < 5e-3, name
    # The seed's raw costs (an explicit style weight) are as far apart as the formats' scales (measured 78x).
    raw_tv, _ = objective_at_content(formats["torchvision"], cat, stain, small(style_weight=1.0))
    raw_caffe, _ = objective_at_content(formats["caffe"], cat, stain, small(style_weight=1.0))
    assert raw_caffe > 20 * raw_tv


def block_means(rgb: np.ndarray, block: int = 8) -> np.ndarray:
    return torch.nn.functional.avg_pool2d(torch.from_numpy(rgb).permute(2, 0, 1)[None], block).numpy()


def test_default_settings_give_pictures_alike_in_layout_in_every_format(stylized, cat):
    """The same picture in its layout (8-px block means); pixel by pixel the claim does not hold, on any CPU.

    L-BFGS on a random network amplifies rounding, and the formats round differently (other scales, other
    channel orders): pixel by pixel two formats differ as much as the same file does on another CPU or
    thread count, which no tolerance can follow (measured, mean abs: formats 0.011-0.025 and the same file
    on 1 against 2 threads 0.015-0.025 on this AVX-512 CPU, kernels default/avx2/avx512; 0.024 and 0.004 on
    a 2-core AMD EPYC). So only the layout is checked, which those runs keep; the objective's agreement is
    checked closely by the test above.
    """
    pictures = {name: stylized(name).picture.rgb for name in ("torchvision", "caffe", "matconvnet")}
    size = stylized("torchvision").size
    content = resize_tensor(to_tensor(cat.rgb), size)[0].permute(1, 2, 0).numpy()
    moved = np.abs(pictures["torchvision"] - content).mean()
    # The style did something, so agreeing means something (measured 0.0549-0.0559 on every kernel set).
    assert moved > 0.02
    for name in ("caffe", "matconvnet"):
        blocks = np.abs(block_means(pictures[name]) - block_means(pictures["torchvision"])).mean()
        # Measured (fp32; ATEN_CPU_CAPABILITY default, avx2, avx512, oneDNN capped alike; 1 and 2 threads):
        # 0.0018-0.0051, as much as the same file on 1 against 2 threads (0.0025-0.0049). A Caffe file read
        # with its colour channels the wrong way round differs by 0.087-0.089.
        assert blocks < 0.012, (name, float(blocks))


def test_an_explicit_style_weight_is_the_seed_beta_on_raw_costs(formats):
    cache = ModelCache(formats["caffe"])
    settings = small(style_weight=40.0)
    cache.get(settings, torch.device("cpu"), False)
    assert cache.calibrated(settings) == (settings, 40.0)
    calibrated, beta = cache.calibrated(small())
    scale = cache.activation_scale
    assert beta == pytest.approx(BASE_STYLE_WEIGHT / scale**2)
    assert calibrated.content_weight == pytest.approx(settings.content_weight / scale)


def test_style_strength_zero_is_the_content_itself(stylized, cat):
    result = stylized("torchvision", 0.0)
    expected = resize_tensor(to_tensor(cat.rgb), result.size).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(result.picture.rgb, expected, atol=1e-6)
    assert result.losses["total"] == 0.0


def test_without_style_total_variation_does_not_smooth_the_content(formats, cat, stain):
    """The optimisation's own objective at strength 0: the content is its minimum (no TV pull)."""
    settings = small(style_strength=0.0)
    cache = ModelCache(formats["torchvision"])
    model, _ = cache.get(settings, torch.device("cpu"), False)
    settings, beta = cache.calibrated(settings)
    content = resize_tensor(to_tensor(cat.rgb), (64, 43))
    objective = optimize.Objective(model, content, [(resize_tensor(to_tensor(stain.rgb), (64, 64)), 1.0)],
                                   settings, beta, nullcontext)
    image = content.clone().requires_grad_(True)
    J, parts = objective(image)
    J.backward()
    assert float(parts["tv"]) > 0 and float(J) == 0.0
    assert float(image.grad.abs().max()) == 0.0


def test_strength_scales_the_style_term_of_the_objective(formats, cat, stain):
    """The strength multiplies the style's weight in J: J(s) = content + TV + s * beta * J_style.

    Checked on the objective, not on pictures: after 12 L-BFGS steps on the random test network the result
    hardly depends on it (measured, strengths 0.1, 1, 4: pixel distance from the content 0.0536-0.0547,
    0.0563, 0.0547-0.0549; style cost 6.13e-4-6.15e-4, 6.05e-4-6.07e-4, 6.12e-4-6.19e-4: out of order).
    """
    J = {s: objective_at_content(formats["torchvision"], cat, stain, small(style_strength=s))[0]
         for s in (0.0, 1.0, 4.0)}
    assert J[1.0] > J[0.0] > 0
    assert J[4.0] - J[0.0] == pytest.approx(4 * (J[1.0] - J[0.0]), rel=1e-4)
