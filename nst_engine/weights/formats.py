"""The three VGG-19 weight files the engine accepts: detect, load, preprocess (tests write synthetic ones).

- `torchvision`: `vgg19-dcbb9e9d.pth`; RGB 0..1, ImageNet mean and std.
- `caffe`: `vgg19-d01eb7cb.pth` (jcjohnson/pytorch-vgg, used by neural-style-pt); same keys as
  torchvision's, but BGR 0..255 minus (103.939, 116.779, 123.68).
- `matconvnet`: `imagenet-vgg-verydeep-19.mat` (the Coursera notebook's); RGB 0..255 minus the file's
  averageImage (123.68, 116.779, 103.939).

The format is read from the file's *content*, never its name: a MATLAB v5 header means MatConvNet; for
a PyTorch state dict the SHA-256 prefix of the official files decides, and for any other `.pth` (re-saved
or synthetic) a scale heuristic does (see `_pth_format_from_scales`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nst_engine import contract
from nst_engine.errors import WeightsInvalid, WeightsMissing
from nst_engine.gatys.model import CONVS, EXPECTED_SHAPES, FeatureModel, Preprocess
from nst_engine.pictures.reference import procedural_images

# --------------------------------------------------------------------------------------------------
# Formats

DEFAULT_FILE_NAMES: dict[str, str] = contract.WEIGHTS_FILE_NAMES
FORMAT_NAMES = tuple(DEFAULT_FILE_NAMES)

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
# Paths and errors


def default_weights_path() -> Path:
    """Where `nst-engine fetch-weights` puts the torchvision file."""
    return contract.weights_dir() / DEFAULT_FILE_NAMES["torchvision"]


def find_weights() -> Path:
    """The first of the three official file names present in `weights_dir()`, else the default path.

    Returning the (missing) default path lets `load_weights` raise the one helpful `WeightsMissing`.
    """
    folder = contract.weights_dir()
    for name in FORMAT_NAMES:
        candidate = folder / DEFAULT_FILE_NAMES[name]
        if candidate.is_file():
            return candidate
    return default_weights_path()


def _missing(path: Path) -> WeightsMissing:
    return WeightsMissing(
        f"No VGG-19 weights file at {path}. Run `nst-engine fetch-weights` to download "
        f"{DEFAULT_FILE_NAMES['torchvision']} (548 MB) into {contract.weights_dir()}, or pass --weights FILE "
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
