"""Applying a learned style with ONNX Runtime, in overlapping tiles so memory stays bounded.

Tiles overlap by `overlap` pixels and are blended with raised-cosine weights that sum to one at
every pixel (one weight profile per axis, normalised along that axis; their product is the 2-D
weight), so the output is written in place: besides the picture itself, memory holds one tile's
network activations at a time, whatever the size. Each tile's instance normalisation sees only
that tile, so tiles are kept as large as the memory budget allows and their borders are hidden in
the blend, where the network's reflection-padded edges also get little weight.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst_engine.errors import Cancelled, EngineError
from nst_engine.learned.options import DEFAULT_OVERLAP, DEFAULT_TILE
from nst_engine.pictures.images import Picture, luminance_only

INPUT_NAME = "rgb"  # the exported graph's input and output names (export.py writes them)
OUTPUT_NAME = "styled"
MIN_SIDE = 16  # smaller tiles are edge-padded to this: reflection padding needs a few pixels


# Both provide the `onnxruntime` module; the installer puts onnxruntime-gpu beside a CUDA 12 torch.
RUNTIME_PACKAGES = ("onnxruntime-gpu", "onnxruntime")
MISSING_MESSAGE = (
    "Learned styles need onnxruntime, which is not installed: run the installer again "
    "(or `pip install onnxruntime`, or onnxruntime-gpu beside a CUDA 12 PyTorch)."
)


class RuntimeMissing(EngineError):
    """onnxruntime is not installed."""


def providers_wanted() -> list[str]:
    """CUDA where onnxruntime-gpu sees an NVIDIA GPU, else the CPU (always last, as the fallback)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider",) if p in available] + ["CPUExecutionProvider"]


def open_session(model: bytes | str | Path, threads: int = 0, spinning: bool | None = None):
    """An onnxruntime InferenceSession (import deferred: the engine runs without onnxruntime).

    `spinning=False` stops idle worker threads from busy-waiting between operators, which costs little
    on an idle machine and keeps a busy one from losing its cores to spinning threads.
    """
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise RuntimeMissing(MISSING_MESSAGE) from error
    options = ort.SessionOptions()
    options.log_severity_level = 3  # a missing CUDA library falls back to the CPU without a wall of text
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, sess_options=options, providers=providers_wanted())


def provider_label(session) -> str:
    """'CUDA' or 'CPU': the provider that actually runs the model (CUDA may fail to load and fall back)."""
    first = session.get_providers()[0]
    return first.removesuffix("ExecutionProvider")


def installed_runtime() -> tuple[str, str] | None:
    """(package, version) of the installed ONNX Runtime, from its metadata: the module does not say which one."""
    from importlib import metadata

    for package in RUNTIME_PACKAGES:
        try:
            return package, metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return None


def expected_provider(package: str) -> str:
    """'CUDA' or 'CPU': where the installed ONNX Runtime `package` would apply a style here.

    Decided without importing onnxruntime: the import alone writes a device id and telemetry files into
    the user's folders, and `info` (which the installer calls) should leave none. `apply` reports the
    provider its session really got.
    """
    if package == "onnxruntime-gpu":
        import torch

        if torch.cuda.is_available():
            return "CUDA"
    return "CPU"


# ---------------------------------------------------------------- tiles


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced starts of tiles of `tile` pixels covering `length`, neighbours overlapping >= `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_size(length: int, max_tile: int, overlap: int) -> int:
    """The smallest tile that needs as few tiles as `max_tile` does: less work spent on overlaps."""
    if length <= max_tile:
        return length
    count = math.ceil((length - overlap) / (max_tile - overlap))
    return math.ceil((length + (count - 1) * overlap) / count)


def axis_weights(length: int, starts: Sequence[int], tile: int, overlap: int) -> list[np.ndarray]:
    """Per tile, its weight at each of its pixels along one axis; across tiles they sum to 1."""
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap) if overlap else np.ones(0)
    raw = []
    for start in starts:
        w = np.ones(min(tile, length - start), np.float64)
        if start > 0 and overlap:
            w[:overlap] = ramp
        if start + tile < length and overlap:
            w[-overlap:] = np.minimum(w[-overlap:], ramp[::-1])
        raw.append(w)
    total = np.zeros(length)
    for start, w in zip(starts, raw, strict=True):
        total[start:start + len(w)] += w
    return [(w / total[start:start + len(w)]).astype(np.float32) for start, w in zip(starts, raw, strict=True)]


def seam_ratio(image: np.ndarray, xs: Sequence[int], ys: Sequence[int]) -> float:
    """Mean absolute gradient across the given tile borders / mean absolute gradient elsewhere.

    `xs` are columns x where a border lies between x-1 and x, `ys` likewise rows. About 1 when the
    borders cannot be told from the picture's own edges; seams push it up.
    """
    gx = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))  # gx[x-1]: between columns x-1 and x
    gy = np.abs(np.diff(image, axis=0)).mean(axis=(1, 2))
    at_border = [gx[x - 1] for x in xs] + [gy[y - 1] for y in ys]
    inside = np.concatenate([np.delete(gx, [x - 1 for x in xs]), np.delete(gy, [y - 1 for y in ys])])
    return float(np.mean(at_border) / max(float(inside.mean()), 1e-12))


@dataclass
class TileProgress:
    done: int
    total: int
    elapsed: float


def run_tiled(
    session,
    rgb: np.ndarray,
    max_tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    progress: Callable[[TileProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The network's output for an (H, W, 3) float32 picture, computed tile by tile."""
    height, width = rgb.shape[:2]
    overlap = min(overlap, max_tile // 4)
    tile_h, tile_w = tile_size(height, max_tile, overlap), tile_size(width, max_tile, overlap)
    ys, xs = tile_starts(height, tile_h, overlap), tile_starts(width, tile_w, overlap)
    wy, wx = axis_weights(height, ys, tile_h, overlap), axis_weights(width, xs, tile_w, overlap)
    out = np.zeros((height, width, 3), np.float32)
    started, total = time.perf_counter(), len(xs) * len(ys)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            crop = rgb[y:y + tile_h, x:x + tile_w]
            styled = _run_one(session, crop)
            weight = wy[j][:, None, None] * wx[i][None, :, None]
            out[y:y + crop.shape[0], x:x + crop.shape[1]] += styled * weight
            if progress is not None:
                progress(TileProgress(j * len(xs) + i + 1, total, time.perf_counter() - started))
    return out


def _run_one(session, crop: np.ndarray) -> np.ndarray:
    """The network on one (h, w, 3) tile, edge-padded first when it is thinner than MIN_SIDE."""
    h, w = crop.shape[:2]
    padded = np.pad(crop, ((0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)), (0, 0)), mode="edge")
    batch = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
    return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0][0].transpose(1, 2, 0)[:h, :w]


def tile_borders(height: int, width: int, max_tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP) -> tuple[list[int], list[int]]:
    """Where run_tiled's tiles begin and end inside the picture: (columns, rows), for seam_ratio."""
    overlap = min(overlap, max_tile // 4)
    tile_h, tile_w = tile_size(height, max_tile, overlap), tile_size(width, max_tile, overlap)

    def edges(length: int, tile: int) -> list[int]:
        found = set()
        for s in tile_starts(length, tile, overlap):
            found.update(e for e in (s, s + tile) if 0 < e < length)
        return sorted(found)

    return edges(width, tile_w), edges(height, tile_h)


# ---------------------------------------------------------------- pictures


def stylize_picture(
    session,
    content: Picture,
    strength: float = 1.0,
    max_tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    progress: Callable[[TileProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Picture:
    """The styled picture at the content's size, with its alpha, bit depth and grayness, as `stylize` keeps them."""
    if not 0.0 <= strength <= 1.0:
        from nst_engine.errors import SettingsError

        raise SettingsError(f"strength must be between 0 and 1, not {strength!r}.")
    rgb = np.clip(content.rgb, 0.0, 1.0).astype(np.float32, copy=False)
    styled = run_tiled(session, rgb, max_tile, overlap, progress, cancel)
    if strength < 1.0:
        styled = strength * styled + (1.0 - strength) * rgb
    styled = np.clip(styled, 0.0, 1.0)
    if content.grayscale:
        styled = luminance_only(styled)  # a gray picture gets a gray result, in every encoding
    return Picture(styled, content.alpha, content.bit_depth, content.grayscale)
