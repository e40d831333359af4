"""Synthetic VGG-19 weights for tests and benchmarks, where the real 550 MB files cannot be downloaded.

The weights are random but calibrated on natural photographs so that every layer responds with
activations of order one: the optimiser then moves as it would with real weights. They are written
in each real file's layout (`save_pth`, `save_matconvnet`) so that the loader (formats.py) is tested
on the same bytes it meets in the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nst_engine.gatys.model import CONVS, EXPECTED_SHAPES
from nst_engine.pictures.reference import procedural_images
from nst_engine.weights.formats import DEFAULT_FILE_NAMES, FORMAT_NAMES, FORMATS, MATCONVNET_MEAN_RGB

__all__ = ["make_test_weights", "procedural_images", "save_matconvnet", "save_pth", "synthetic_features",
           "to_rgb01", "write_synthetic_weights"]

# --------------------------------------------------------------------------------------------------
# Writing files in the real layouts


def save_pth(
    path: str | os.PathLike[str],
    features_state_dict: Mapping[str, torch.Tensor],
    classifier: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """A state dict keyed like torchvision's `vgg19().state_dict()` (`features.N.*`, `classifier.N.*`)."""
    path = Path(path)
    out: dict[str, torch.Tensor] = {}
    for key in EXPECTED_SHAPES:
        out[f"features.{key}"] = features_state_dict[key].detach().float().contiguous().cpu()
    for key, value in (classifier or {}).items():
        out[f"classifier.{key}"] = value.detach().float().contiguous().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return path


def _struct(fields: Sequence[tuple[str, Any]]) -> np.ndarray:
    """A 1x1 MATLAB struct whose fields keep the given order."""
    record = np.empty((1, 1), dtype=[(name, object) for name, _ in fields])
    for name, value in fields:
        record[0, 0][name] = value
    return record


def _row(*values: float) -> np.ndarray:
    return np.array([values], dtype=np.float64)


def save_matconvnet(
    path: str | os.PathLike[str],
    features_state_dict: Mapping[str, torch.Tensor],
    mean_rgb: Sequence[float] = MATCONVNET_MEAN_RGB,
    classifier: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """A MatConvNet SimpleNN file laid out like `imagenet-vgg-verydeep-19.mat` (beta16 and later).

    `layers` is a 1xN cell of structs; conv structs have fields name, type, weights, ... in that order,
    so both `layers[0][i][0][0]['weights']` and the Coursera notebook's `layers[0][i][0][0][2]` work;
    `weights` is a 1x2 cell {filters (h, w, in, out) single, biases (out, 1) single}.
    `meta.normalization.averageImage` is 1x1x3 and, as in the real file, its third field.
    `classifier` (fc6, fc7, fc8 as (filters, biases)) is optional: without it the file stops at pool5.
    """
    from scipy.io import savemat

    cells: list[np.ndarray] = []
    by_name = {name: index for index, name, _cin, _cout in CONVS}
    block_convs = (2, 2, 4, 4, 4)
    for block, convs in enumerate(block_convs, start=1):
        for conv in range(1, convs + 1):
            name = f"conv{block}_{conv}"
            index = by_name[name]
            weight = features_state_dict[f"{index}.weight"].detach().float().cpu().numpy()
            bias = features_state_dict[f"{index}.bias"].detach().float().cpu().numpy()
            kernel = np.ascontiguousarray(weight.transpose(2, 3, 1, 0), dtype=np.float32)  # -> h, w, in, out
            cells.append(_conv_struct(name, kernel, bias.reshape(-1, 1).astype(np.float32), pad=1))
            cells.append(_relu_struct(f"relu{block}_{conv}"))
        cells.append(
            _struct(
                [
                    ("name", f"pool{block}"),
                    ("type", "pool"),
                    ("method", "max"),
                    ("pool", _row(2, 2)),
                    ("stride", _row(2, 2)),
                    ("pad", _row(0, 0, 0, 0)),
                    ("precious", False),
                    ("opts", np.empty((1, 0), object)),
                ]
            )
        )
    if classifier is not None:
        for number, (kernel, bias) in zip((6, 7, 8), classifier, strict=True):
            cells.append(
                _conv_struct(f"fc{number}", kernel.astype(np.float32), bias.astype(np.float32), pad=0)
            )
            if number < 8:
                cells.append(_relu_struct(f"relu{number}"))
        cells.append(_struct([("name", "prob"), ("type", "softmax"), ("precious", False)]))
    layers = np.empty((1, len(cells)), dtype=object)
    for i, cell in enumerate(cells):
        layers[0, i] = cell
    average = np.array(mean_rgb, dtype=np.float32).reshape(1, 1, 3)
    normalization = _struct(
        [
            ("imageSize", _row(224, 224, 3)),
            ("interpolation", "bilinear"),
            ("averageImage", average),
            ("keepAspect", True),
            ("border", _row(32, 32)),
            ("cropSize", 0.875),
        ]
    )
    classes = _struct([("name", np.empty((1, 0), object)), ("description", np.empty((1, 0), object))])
    inputs = _struct([("name", "input"), ("size", _row(224, 224, 3, 10))])
    meta = _struct([("inputs", inputs), ("classes", classes), ("normalization", normalization)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(
        str(path),
        {"layers": layers, "meta": meta},
        appendmat=False,
        format="5",
        do_compression=False,
        oned_as="column",
    )
    return path


def _conv_struct(name: str, kernel: np.ndarray, bias: np.ndarray, pad: int) -> np.ndarray:
    weights = np.empty((1, 2), dtype=object)
    weights[0, 0], weights[0, 1] = kernel, bias
    return _struct(
        [
            ("name", name),
            ("type", "conv"),
            ("weights", weights),
            ("size", _row(*kernel.shape)),
            ("pad", _row(pad, pad, pad, pad)),
            ("stride", _row(1, 1)),
            ("precious", False),
            ("dilate", 1.0),
            ("opts", np.empty((1, 0), object)),
        ]
    )


def _relu_struct(name: str) -> np.ndarray:
    return _struct([("name", name), ("type", "relu"), ("leak", 0.0), ("precious", False)])



# --------------------------------------------------------------------------------------------------
# Calibrated random weights


def to_rgb01(image: Any, size: int) -> torch.Tensor:
    """A (3, H, W) float 0..1 tensor, long side at most `size`, from a PIL image or an array."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            image = opened.convert("RGB")
    if isinstance(image, Image.Image):
        pil = image.convert("RGB")
    else:
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        array = array[..., :3]
        if array.dtype != np.uint8:
            scaled = array.astype(np.float64)
            if scaled.max() <= 1.0 + 1e-6:
                scaled = scaled * 255.0
            array = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
        pil = Image.fromarray(array, "RGB")
    scale = size / max(pil.size)
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.BICUBIC)
    return torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def _first_layer_filters(generator: torch.Generator) -> torch.Tensor:
    """64 zero-mean 3x3 patterns (edges, bars, centre-surround) in random colours, and colour-opponent
    blobs: filters that respond to edges and hue the way trained conv1_1 filters do."""
    g = generator
    patterns = [
        torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),  # vertical edge
        torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),  # horizontal edge
        torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]]),  # diagonal
        torch.tensor([[2.0, 1.0, 0.0], [1.0, 0.0, -1.0], [0.0, -1.0, -2.0]]),  # other diagonal
        torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / 2.0,  # centre-surround
        torch.tensor([[-1.0, 2.0, -1.0], [-1.0, 2.0, -1.0], [-1.0, 2.0, -1.0]]),  # vertical bar
    ]
    filters = torch.empty(64, 3, 3, 3)
    for i in range(64):
        if i % 4 == 3:  # colour-opponent, spatially smooth: responds to hue, not to brightness
            colour = torch.randn(3, generator=g)
            colour = colour - colour.mean()
            spatial = torch.ones(3, 3) + 0.2 * torch.randn(3, 3, generator=g)
        else:
            pattern = patterns[int(torch.randint(len(patterns), (1,), generator=g))]
            sign = 1.0 if float(torch.rand(1, generator=g)) < 0.5 else -1.0
            colour = 1.0 + 0.5 * torch.randn(3, generator=g)  # mostly luminance, somewhat coloured
            spatial = sign * pattern / pattern.abs().sum() * 9.0
        filters[i] = colour[:, None, None] * spatial[None] + 0.1 * torch.randn(3, 3, 3, generator=g)
    # Trained conv1_1 filters also respond to flat colour (their mean is not zero); without that the
    # style's palette would be invisible to the style cost.
    filters += 0.3 * torch.randn(64, 3, 1, 1, generator=g)
    return filters


def synthetic_features(
    fmt_name: str, calibration_images: Iterable[Any], seed: int = 0, size: int = 128
) -> dict[str, torch.Tensor]:
    """Random VGG-19 `features` weights whose post-ReLU activations have RMS ~1 on natural images.

    Layer by layer: He-initialised filters (hand-made zero-mean edge and colour filters for conv1_1);
    each bias set to minus the channel's mean response on the calibration images (so about half of
    the responses pass the ReLU); then weights and biases scaled by one factor per layer so that the
    post-ReLU RMS over the calibration images is 1. Input is preprocessed as `fmt_name` expects, so the
    Caffe/MatConvNet conv1_1 comes out ~57x smaller than torchvision's, as the overall gain of the real
    files differs.
    """
    fmt = FORMATS[fmt_name]
    images = [to_rgb01(image, size) for image in calibration_images]
    if not images:
        raise ValueError("synthetic weights need at least one calibration image")
    generator = torch.Generator().manual_seed(seed)
    pre = fmt.preprocess
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    xs = []
    for image in images:
        x = image[None] * pre.scale
        if pre.bgr:
            x = x.flip(1)
        xs.append((x - mean) / std)
    state: dict[str, torch.Tensor] = {}
    previous = -2
    with torch.no_grad():
        for index, _name, cin, cout in CONVS:
            if index != previous + 2:  # a pooling layer between two blocks
                xs = [F.max_pool2d(x, 2, 2) for x in xs]
            previous = index
            if index == 0:
                weight = _first_layer_filters(generator)
                if pre.bgr:
                    weight = weight.flip(1)  # the same filters, seen through BGR input
            else:
                weight = torch.randn(cout, cin, 3, 3, generator=generator) * math.sqrt(2.0 / (cin * 9))
            responses = [F.conv2d(x, weight, padding=1) for x in xs]
            total = sum(float(r.shape[2] * r.shape[3]) for r in responses)
            channel_mean = sum(r.sum(dim=(0, 2, 3)) for r in responses) / total
            bias = -channel_mean
            activations = [F.relu(r + bias.view(1, -1, 1, 1)) for r in responses]
            square = sum(float(a.pow(2).sum()) for a in activations) / (total * cout)
            factor = 1.0 / math.sqrt(max(square, 1e-30))
            state[f"{index}.weight"] = (weight * factor).float().contiguous()
            state[f"{index}.bias"] = (bias * factor).float().contiguous()
            xs = [a * factor for a in activations]
    return state


def _synthetic_classifier(generator: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {"0": (4096, 25088), "3": (4096, 4096), "6": (1000, 4096)}
    out: dict[str, torch.Tensor] = {}
    for key, (rows, cols) in shapes.items():
        out[f"{key}.weight"] = torch.randn(rows, cols, generator=generator) * math.sqrt(2.0 / cols)
        out[f"{key}.bias"] = torch.zeros(rows)
    return out


def write_synthetic_weights(
    path: str | os.PathLike[str],
    fmt_name: str,
    calibration_images: Iterable[Any],
    seed: int = 0,
    size: int = 128,
    include_classifier: bool = False,
) -> Path:
    """Write a synthetic VGG-19 file in `fmt_name`'s real layout (keys, shapes, float32).

    Without `include_classifier` the file holds `features` only (80 MB rather than 550 MB): the engine
    never uses the classifier and the loader accepts files with or without it.
    """
    if fmt_name not in FORMAT_NAMES:
        raise ValueError(f"unknown weights format {fmt_name!r}; expected one of {', '.join(FORMAT_NAMES)}")
    state = synthetic_features(fmt_name, calibration_images, seed=seed, size=size)
    classifier = (
        _synthetic_classifier(torch.Generator().manual_seed(seed + 1)) if include_classifier else None
    )
    if fmt_name == "matconvnet":
        fc = None
        if classifier is not None:
            fc = [
                # fc6 acts on pool5 (512 x 7 x 7) as a 7x7 convolution: (h, w, in, out)
                (
                    classifier["0.weight"].view(4096, 512, 7, 7).permute(2, 3, 1, 0).numpy(),
                    classifier["0.bias"].numpy().reshape(-1, 1),
                ),
                (
                    classifier["3.weight"].t().reshape(1, 1, 4096, 4096).numpy(),
                    classifier["3.bias"].numpy().reshape(-1, 1),
                ),
                (
                    classifier["6.weight"].t().reshape(1, 1, 4096, 1000).numpy(),
                    classifier["6.bias"].numpy().reshape(-1, 1),
                ),
            ]
        return save_matconvnet(path, state, MATCONVNET_MEAN_RGB, fc)
    return save_pth(path, state, classifier)


def make_test_weights(
    out_dir: str | os.PathLike[str],
    fmt: str,
    images: Sequence[str | os.PathLike[str]] | None = None,
    seed: int = 0,
    size: int = 128,
) -> Path:
    """`out_dir/<official file name>` with synthetic weights, calibrated on `images` (paths) or, if
    none are given, on `procedural_images()`. Reuses a file already there."""
    path = Path(out_dir) / DEFAULT_FILE_NAMES[fmt]
    if path.is_file():
        return path
    calibration: list[Any] = list(images) if images else list(procedural_images(size=size, seed=seed))
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    write_synthetic_weights(tmp, fmt, calibration, seed=seed, size=size)
    os.replace(tmp, path)
    return path
