"""The three VGG-19 weight files the engine accepts: detect, load, preprocess; synthetic weights for tests.

- `torchvision`: `vgg19-dcbb9e9d.pth`; RGB 0..1, ImageNet mean and std.
- `caffe`: `vgg19-d01eb7cb.pth` (jcjohnson/pytorch-vgg, used by neural-style-pt); same keys as
  torchvision's, but BGR 0..255 minus (103.939, 116.779, 123.68).
- `matconvnet`: `imagenet-vgg-verydeep-19.mat` (the Coursera notebook's); RGB 0..255 minus the file's
  averageImage (123.68, 116.779, 103.939).

The format is read from the file's *content*, never its name: a MATLAB v5 header means MatConvNet; for
a PyTorch state dict the SHA-256 prefix of the official files decides, and for any other `.pth` (re-saved
or synthetic) a scale heuristic does (see `_pth_format_from_scales`).

Synthetic weights (`write_synthetic_weights`) are random but calibrated on natural photographs so that
every layer responds with activations of order one: the optimiser then moves as it would with real
weights, which lets tests and benchmarks run where the real 550 MB files cannot be downloaded.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nst_engine import paths
from nst_engine.errors import WeightsInvalid, WeightsMissing
from nst_engine.model import FeatureModel, Preprocess

# --------------------------------------------------------------------------------------------------
# Formats

FORMAT_NAMES = ("torchvision", "caffe", "matconvnet")

DEFAULT_FILE_NAMES: dict[str, str] = {
    "torchvision": "vgg19-dcbb9e9d.pth",
    "caffe": "vgg19-d01eb7cb.pth",
    "matconvnet": "imagenet-vgg-verydeep-19.mat",
}

# torch.hub names files `NAME-<first 8 hex digits of the SHA-256>.pth`.
KNOWN_SHA256_PREFIXES: dict[str, str] = {"dcbb9e9d": "torchvision", "d01eb7cb": "caffe"}

MATCONVNET_MEAN_RGB = (123.68, 116.779, 103.939)


@dataclass(frozen=True)
class WeightsFormat:
    """A weights file's kind and how its network wants its input."""

    name: str
    preprocess: Preprocess
    description: str = ""


def _format(name: str, mean_rgb: Sequence[float] | None = None) -> WeightsFormat:
    if name == "torchvision":
        return WeightsFormat(
            "torchvision",
            Preprocess(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
            description="torchvision VGG-19 (RGB 0..1, ImageNet mean and std)",
        )
    if name == "caffe":
        # neural-style-pt multiplies by 256 rather than 255; the 0.4 % difference does not matter.
        return WeightsFormat(
            "caffe",
            Preprocess(bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68)),
            description="Caffe VGG-19 converted to PyTorch (BGR 0..255, mean subtracted)",
        )
    if name == "matconvnet":
        mean = tuple(float(v) for v in (mean_rgb if mean_rgb is not None else MATCONVNET_MEAN_RGB))
        return WeightsFormat(
            "matconvnet",
            Preprocess(bgr=False, scale=255.0, mean=(mean[0], mean[1], mean[2])),
            description="MatConvNet imagenet-vgg-verydeep-19.mat (RGB 0..255, mean subtracted)",
        )
    raise ValueError(f"unknown weights format {name!r}; expected one of {', '.join(FORMAT_NAMES)}")


FORMATS: dict[str, WeightsFormat] = {name: _format(name) for name in FORMAT_NAMES}


@dataclass(frozen=True)
class LoadedWeights:
    """A loaded file: `features_state_dict` fits `torchvision.models.vgg19().features`."""

    features_state_dict: dict[str, torch.Tensor]
    format: WeightsFormat
    path: Path
    sha256: str
    detected_by: str  # "sha256", "matconvnet header", "heuristic" or "given"


# --------------------------------------------------------------------------------------------------
# VGG-19 layout

_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _conv_layout() -> list[tuple[int, str, int, int]]:
    """(index in `features`, MatConvNet name, in channels, out channels) of the 16 convolutions."""
    out: list[tuple[int, str, int, int]] = []
    index, block, conv, channels = 0, 1, 1, 3
    for item in _CFG:
        if item == "M":
            index += 1
            block, conv = block + 1, 1
            continue
        assert isinstance(item, int)
        out.append((index, f"conv{block}_{conv}", channels, item))
        channels = item
        index += 2
        conv += 1
    return out


CONVS = _conv_layout()


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for index, _name, cin, cout in CONVS:
        shapes[f"{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"{index}.bias"] = (cout,)
    return shapes


EXPECTED_SHAPES = _expected_shapes()

# --------------------------------------------------------------------------------------------------
# Paths and errors


def default_weights_path() -> Path:
    """Where `nst-engine fetch-weights` puts the torchvision file."""
    return paths.weights_dir() / DEFAULT_FILE_NAMES["torchvision"]


def find_weights() -> Path:
    """The first of the three official file names present in `weights_dir()`, else the default path.

    Returning the (missing) default path lets `load_weights` raise the one helpful `WeightsMissing`.
    """
    folder = paths.weights_dir()
    for name in FORMAT_NAMES:
        candidate = folder / DEFAULT_FILE_NAMES[name]
        if candidate.is_file():
            return candidate
    return default_weights_path()


def _missing(path: Path) -> WeightsMissing:
    return WeightsMissing(
        f"No VGG-19 weights file at {path}. Run `nst-engine fetch-weights` to download "
        f"{DEFAULT_FILE_NAMES['torchvision']} (548 MB) into {paths.weights_dir()}, or pass --weights FILE "
        f"with one of {', '.join(DEFAULT_FILE_NAMES.values())}."
    )


def _invalid(path: Path, why: str) -> WeightsInvalid:
    return WeightsInvalid(
        f"{path} is not a usable VGG-19 weights file: {why}. Use torchvision's "
        f"{DEFAULT_FILE_NAMES['torchvision']} (`nst-engine fetch-weights`), the Caffe-converted "
        f"{DEFAULT_FILE_NAMES['caffe']} or MatConvNet's {DEFAULT_FILE_NAMES['matconvnet']}."
    )


# --------------------------------------------------------------------------------------------------
# SHA-256 with a sidecar cache


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"size={st.st_size} mtime_ns={st.st_mtime_ns}"


def read_sha256_sidecar(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 recorded beside `path`, if the file has not changed (size and mtime) since."""
    path = Path(path)
    try:
        lines = sidecar_path(path).read_text(encoding="utf-8").splitlines()
        key = _stat_key(path)
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 2 or lines[1].strip() != f"# {key}":
        return None
    digest = lines[0].split()[0].lower() if lines[0].split() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest


def write_sha256_sidecar(path: str | os.PathLike[str], digest: str) -> None:
    """`sha256sum`-style line plus the size and mtime it was computed for; best effort."""
    path = Path(path)
    try:
        text = f"{digest}  {path.name}\n# {_stat_key(path)}\n"
        tmp = sidecar_path(path).with_suffix(".sha256.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, sidecar_path(path))
    except OSError:
        pass  # a read-only folder only costs a re-hash next time


def compute_sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str], use_cache: bool = True) -> str:
    """SHA-256 of a file, reusing the sidecar so that a 550 MB file is hashed once, not per load."""
    path = Path(path)
    if use_cache and (cached := read_sha256_sidecar(path)) is not None:
        return cached
    digest = compute_sha256(path)
    if use_cache:
        write_sha256_sidecar(path, digest)
    return digest


# --------------------------------------------------------------------------------------------------
# Detection

_MAT5 = b"MATLAB 5.0 MAT-file"
_MAT73 = b"MATLAB 7.3 MAT-file"


def _sniff(path: Path) -> str:
    """'mat', 'mat73', 'zip' (torch >= 1.6), 'pickle' (legacy torch) or 'unknown', from the bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(128)
    except FileNotFoundError:
        raise _missing(path) from None
    except IsADirectoryError:
        raise _invalid(path, "it is a folder") from None
    except OSError as exc:
        raise _invalid(path, f"it cannot be read ({exc.strerror or exc})") from None
    if head.startswith(_MAT73):
        return "mat73"
    if head.startswith(_MAT5) or head.startswith(b"MATLAB"):
        return "mat"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return "unknown"


def _activation_gain(state: Mapping[str, torch.Tensor]) -> float:
    """RMS of relu5_1 over RMS of the input, for a photograph-like image at the 0..255 scale.

    A network trained on 0..255 pixels (Caffe) must turn ~57x larger input into the same class scores
    as one trained on standardised pixels (torchvision), so its convolutions together amplify ~57x
    less: the gain is ~1 for torchvision-like and ~1/57 for Caffe-like weights. At the 0..255 scale
    the biases are negligible for both, so the measure does not depend on guessing the format first.
    """
    # Either channel order serves: the measure is about scale.
    at_255 = Preprocess(bgr=True, scale=255.0, mean=tuple(reversed(MATCONVNET_MEAN_RGB)))
    image = torch.from_numpy(procedural_images(count=1, size=64, seed=12345)[0]).permute(2, 0, 1)[None]
    model = FeatureModel(dict(state), at_255, ["conv5_1"])  # conv5_1 after its ReLU, as the seed names it
    x_in = image.flip(1) * 255.0 - torch.tensor(at_255.mean).view(1, 3, 1, 1)
    input_rms = float(x_in.pow(2).mean().sqrt())
    with torch.no_grad():
        x = model(image)["conv5_1"]
    return float(x.pow(2).mean().sqrt()) / max(input_rms, 1e-30)


# Geometric midpoint of ~1 (torchvision) and ~1/57 (Caffe).
_GAIN_THRESHOLD = 1.0 / math.sqrt(57.0)


def _pth_format_from_scales(state: Mapping[str, torch.Tensor]) -> str:
    """'torchvision' or 'caffe' for a `.pth` whose checksum is not an official one.

    conv1_1 alone cannot tell them apart: both real files' conv1_1 weights have an RMS of about 0.25
    to 0.3 (torchvision's published statistics; Keras's Caffe-converted VGG-16 conv1_1 starts 0.429,
    0.373, -0.061...): Caffe's filters are not smaller, its activations are simply ~57x larger.
    The overall gain (`_activation_gain`) can tell them apart.
    """
    return "torchvision" if _activation_gain(state) > _GAIN_THRESHOLD else "caffe"


def _features_from_state(path: Path, raw: Any) -> dict[str, torch.Tensor]:
    """Keep `features.N.*` (or bare `N.*`) tensors; check every convolution is there with its shape."""
    if not isinstance(raw, Mapping):
        raise _invalid(path, f"it holds a {type(raw).__name__}, not a state dict of tensors")
    if "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    features: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        name = key.removeprefix("module.")
        if name.startswith("features."):
            features[name[len("features.") :]] = value
        elif name.split(".", 1)[0].isdigit():
            features[name] = value
    problems = []
    for key, shape in EXPECTED_SHAPES.items():
        if key not in features:
            problems.append(f"no tensor 'features.{key}'")
        elif tuple(features[key].shape) != shape:
            problems.append(f"'features.{key}' has shape {tuple(features[key].shape)}, VGG-19 has {shape}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise _invalid(path, f"{problems[0]}{more}; it is not a VGG-19 state dict")
    return {key: features[key].float().contiguous() for key in EXPECTED_SHAPES}


def _load_pth(path: Path, kind: str) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=(kind == "zip"))
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        # weights_only refuses pickled code: a model object rather than a state dict lands here too.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _invalid(path, f"PyTorch cannot read it as a state dict ({reason[:200]})") from None
    return _features_from_state(path, raw)


def _mat_field(record: Any, name: str) -> Any:
    names = record.dtype.names or ()
    return record[name] if name in names else None


def _mat_str(value: Any) -> str:
    array = np.asarray(value)
    if array.size == 0:
        return ""
    return str(array.reshape(-1)[0])


def _load_mat(path: Path) -> tuple[dict[str, torch.Tensor], tuple[float, float, float]]:
    """MatConvNet's SimpleNN struct: `layers` (cell of structs name/type/weights) and the mean."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise WeightsInvalid(
            f"{path} is a MatConvNet .mat file, which needs SciPy: pip install scipy "
            "(or `pip install nst-engine[matconvnet]`), or use the torchvision weights "
            "(`nst-engine fetch-weights`)."
        ) from None
    try:
        mat = loadmat(str(path), appendmat=False)
    except Exception as exc:  # scipy raises many kinds for a damaged file
        raise _invalid(path, f"SciPy cannot read it ({str(exc)[:200] or type(exc).__name__})") from None
    if "layers" not in mat:
        raise _invalid(path, "the MATLAB file has no 'layers' variable")
    layers = np.asarray(mat["layers"]).reshape(-1)
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cell in layers:
        try:
            record = np.asarray(cell).reshape(-1)[0]
            name = _mat_str(_mat_field(record, "name"))
            weights = _mat_field(record, "weights")
            if weights is not None and np.asarray(weights).size >= 2:
                pair = np.asarray(weights).reshape(-1)
                kernel, bias = np.asarray(pair[0]), np.asarray(pair[1])
            elif _mat_field(record, "filters") is not None:  # MatConvNet before beta16
                kernel = np.asarray(_mat_field(record, "filters"))
                bias = np.asarray(_mat_field(record, "biases"))
            else:
                continue
        except (IndexError, TypeError, ValueError):
            continue
        if name.startswith("conv"):
            found[name] = (kernel, bias)
    state: dict[str, torch.Tensor] = {}
    for index, name, cin, cout in CONVS:
        if name not in found:
            raise _invalid(path, f"the MatConvNet 'layers' have no convolution named {name!r}")
        kernel, bias = found[name]
        if kernel.shape != (3, 3, cin, cout) or bias.size != cout:
            raise _invalid(path, f"{name} has filters {kernel.shape}, VGG-19 has {(3, 3, cin, cout)}")
        # MatConvNet (height, width, in, out) -> torch (out, in, height, width)
        state[f"{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), np.float32)
        )
        state[f"{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias.reshape(-1), np.float32))
    return state, _mat_mean(mat)


def _mat_mean(mat: Mapping[str, Any]) -> tuple[float, float, float]:
    """averageImage from `meta.normalization` (beta16+) or top-level `normalization` (older files)."""
    candidates = []
    try:
        if "meta" in mat:
            meta = np.asarray(mat["meta"]).reshape(-1)[0]
            candidates.append(np.asarray(_mat_field(meta, "normalization")).reshape(-1)[0])
        if "normalization" in mat:
            candidates.append(np.asarray(mat["normalization"]).reshape(-1)[0])
    except (IndexError, TypeError, ValueError):
        pass
    for norm in candidates:
        try:
            average = np.asarray(_mat_field(norm, "averageImage"), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if average.size >= 3 and average.shape[-1] == 3 or average.size == 3:
            rgb = average.reshape(-1, 3).mean(axis=0) if average.size != 3 else average.reshape(3)
            if np.all(np.isfinite(rgb)) and np.all((rgb > 1.0) & (rgb < 255.0)):
                return (float(rgb[0]), float(rgb[1]), float(rgb[2]))
    return MATCONVNET_MEAN_RGB


def _inspect(
    path: Path, fmt_name: str | None = None
) -> tuple[WeightsFormat, dict[str, torch.Tensor], str, str]:
    kind = _sniff(path)
    if kind == "mat73":
        raise _invalid(path, "it is a MATLAB v7.3 (HDF5) file; save it again with `save(..., '-v7')`")
    if kind == "unknown":
        raise _invalid(path, "it is neither a PyTorch state dict nor a MATLAB v5 file")
    sha = file_sha256(path)
    if kind == "mat":
        state, mean = _load_mat(path)
        detected = "matconvnet header"
        fmt = _format("matconvnet", mean)
        if fmt_name is not None and fmt_name != "matconvnet":
            raise _invalid(path, f"it is a MatConvNet file, not {fmt_name!r}")
        return fmt, state, sha, detected
    state = _load_pth(path, kind)
    if fmt_name is not None:
        if fmt_name not in ("torchvision", "caffe"):
            raise _invalid(path, f"it is a PyTorch state dict, not {fmt_name!r}")
        return FORMATS[fmt_name], state, sha, "given"
    if (known := KNOWN_SHA256_PREFIXES.get(sha[:8])) is not None:
        return FORMATS[known], state, sha, "sha256"
    return FORMATS[_pth_format_from_scales(state)], state, sha, "heuristic"


def detect_format(path: str | os.PathLike[str]) -> WeightsFormat:
    """The format of a weights file, from its content; raises WeightsMissing / WeightsInvalid."""
    return _inspect(Path(path))[0]


def load_weights(path: str | os.PathLike[str] | None = None, fmt: str | None = None) -> LoadedWeights:
    """Load any of the three formats into torchvision's `features` layout.

    `fmt` forces a format for a `.pth` the heuristic would misjudge (e.g. a re-saved Caffe file).
    Classifier tensors, if the file has them, are ignored: only `features` is used.
    """
    resolved = Path(path) if path is not None else find_weights()
    if fmt is not None and fmt not in FORMAT_NAMES:
        raise WeightsInvalid(f"Unknown weights format {fmt!r}; use one of {', '.join(FORMAT_NAMES)}.")
    weights_format, state, sha, detected_by = _inspect(resolved, fmt)
    return LoadedWeights(state, weights_format, resolved, sha, detected_by)


# --------------------------------------------------------------------------------------------------
# Writing files (synthetic weights, MatConvNet export)


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


def _to_rgb01(image: Any, size: int) -> torch.Tensor:
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


def procedural_images(count: int = 4, size: int = 128, seed: int = 0) -> list[np.ndarray]:
    """Photograph-like stand-ins (1/f colour noise plus a few hard-edged shapes), for lack of photos."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    images = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(count):
        spectrum = (rng.normal(size=(3,) + radius.shape) + 1j * rng.normal(size=(3,) + radius.shape)) / radius
        field = np.fft.irfft2(spectrum, s=(size, size), axes=(1, 2))
        mixing = rng.normal(size=(3, 3)) * 0.3 + np.eye(3) + 0.8  # correlated channels, like photos
        field = np.einsum("ij,jhw->hwi", mixing, field)
        for _ in range(3):
            cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.25)
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            field[mask] += rng.normal(size=3) * field.std() * 1.5
        field = (field - field.mean()) / (field.std() + 1e-12)
        images.append(np.clip(0.45 + 0.22 * field, 0.0, 1.0).astype(np.float32))
    return images


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
    fmt = _format(fmt_name)
    images = [_to_rgb01(image, size) for image in calibration_images]
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
    conv_at = {index: (cin, cout) for index, _name, cin, cout in CONVS}
    index = 0
    with torch.no_grad():
        for item in _CFG:
            if item == "M":
                xs = [F.max_pool2d(x, 2, 2) for x in xs]
                index += 1
                continue
            cin, cout = conv_at[index]
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
            index += 2
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
