"""Applying a learned style with ONNX Runtime, in tiles so memory stays bounded, as one whole picture.

Instance normalisation divides by statistics of the whole picture, so a tile that measured its own
would be paler or darker than its neighbours (blocks with straight edges). Every tile is therefore
given the same statistics, those of the whole picture, measured layer by layer: one pass over the
tiles per instance norm, each pass summing that norm's input over the tiles' cores with every norm
before it already exact (a layer's statistics depend on those before it, so they cannot all be
measured in one pass; passes that update every layer at once diverge, see docs). The passes start
from an estimate made on the picture scaled down to one tile, which only centres the sums: scaled
down, a picture's statistics are those of a blurrier picture, and the styled result strays too far
(benchmarks/learned_tiles.py measures both). With the statistics fixed, the network is a local
operator: a tile whose core is surrounded by `Graph.halo` pixels of picture (the reach of one pixel
through every convolution) computes its core exactly as the whole picture would, so the cores are
written side by side with no blending. Tile and core borders fall on multiples of 4, the network's
total stride, so every tile samples the same grid as the whole picture. The price is time: a tiled
picture costs (norms + 1) passes, so tiles are used only where the whole picture does not fit.

Besides the picture, memory holds one tile's activations at a time, whatever the size.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst_engine.errors import Cancelled, EngineError, SettingsError
from nst_engine.learned.sizes import DEFAULT_TILE
from nst_engine.pictures.images import Picture, luminance_only

INPUT_NAME, CORE_NAME, STATS_NAME, OWN_NAME = "rgb", "core", "stats", "own"  # the graph's inputs (export.py)
OUTPUT_NAME, SUMS_NAME = "styled", "sums"  # and outputs
GRAPH_INPUTS, GRAPH_OUTPUTS = (INPUT_NAME, CORE_NAME, STATS_NAME, OWN_NAME), (OUTPUT_NAME, SUMS_NAME)
NORMS_KEY, HALO_KEY = "nst_engine_norms", "nst_engine_halo"  # ONNX metadata: the norms' layout, the reach
MIN_SIDE = 16  # smaller tiles are edge-padded to this: reflection padding needs a few pixels
GRID = 4  # the network's total stride: tiles start on multiples of it to sample the whole picture's grid


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


# ---------------------------------------------------------------- the graph


@dataclass(frozen=True)
class Graph:
    """What the runtime must know of a style's graph, from its ONNX metadata.

    `norms` holds each instance norm's (channels, stride); it is empty for a graph exported before
    statistics could be passed in (style format 1: `rgb` in, `styled` out), which can only run whole.
    """

    norms: tuple[tuple[int, int], ...]
    halo: int

    @classmethod
    def of(cls, session) -> Graph:
        meta = session.get_modelmeta().custom_metadata_map
        if NORMS_KEY not in meta:
            return cls((), 0)
        norms = tuple((int(c), int(s)) for c, s in json.loads(meta[NORMS_KEY]))
        return cls(norms, int(meta[HALO_KEY]))

    @property
    def shared(self) -> bool:
        """Whether tiles can be given the whole picture's statistics."""
        return bool(self.norms)

    def counts(self, height: int, width: int) -> np.ndarray:
        """Per channel, how many of a stride-s layer's positions an (height, width) picture has."""
        return np.concatenate([np.full(c, -(-height // s) * -(-width // s), np.float64) for c, s in self.norms])

    def min_tile(self) -> int:
        """The smallest tile worth cutting: its core at least as wide as both halos together."""
        return 4 * self.halo


def run_graph(session, graph: Graph, crop: np.ndarray, core: tuple[int, int, int, int] | None = None,
              stats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The network on one (h, w, 3) crop: (styled (h, w, 3), the core's sums (3, channels) or None).

    `stats` (2, channels) are the means and variances every norm uses; None: each norm's own (the crop
    is then the whole picture). `core` (top, bottom, left, right) in crop pixels, None: all of it.
    A crop thinner than MIN_SIDE is edge-padded first (outside the core).
    """
    h, w = crop.shape[:2]
    padding = ((0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)))
    padded = np.pad(crop, (*padding, (0, 0)), mode="edge")
    batch = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
    if not graph.shared:
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0][0].transpose(1, 2, 0)[:h, :w], None
    mask = np.zeros((1, 1, *batch.shape[2:]), np.float32)
    top, bottom, left, right = core or (0, h, 0, w)
    mask[..., top:bottom, left:right] = 1.0
    own = stats is None
    channels = sum(c for c, _s in graph.norms)
    given = np.zeros((2, channels), np.float32) if own else np.asarray(stats, np.float32)
    styled, sums = session.run(list(GRAPH_OUTPUTS), {INPUT_NAME: batch, CORE_NAME: mask, STATS_NAME: given,
                                                     OWN_NAME: np.array([1.0 if own else 0.0], np.float32)})
    return styled[0].transpose(1, 2, 0)[:h, :w], sums


def statistics(graph: Graph, sums: np.ndarray, height: int, width: int) -> np.ndarray:
    """(2, channels) means and variances from sums (3, channels) over every position of a picture."""
    n = graph.counts(height, width)
    centre, first, second = np.asarray(sums, np.float64)
    mean = first / n
    return np.stack([centre + mean, np.maximum(second / n - mean * mean, 0.0)])


def whole_statistics(session, graph: Graph, rgb: np.ndarray, side: int) -> np.ndarray:
    """The norms' statistics of the picture scaled down to a long side of at most `side` (an estimate)."""
    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    small = _scaled(rgb, max(1, round(width * scale)), max(1, round(height * scale))) if scale < 1 else rgb
    sums = run_graph(session, graph, small)[1]
    return statistics(graph, sums, *small.shape[:2])


def _scaled(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged downscale of float RGB (PIL's box filter, per channel, in float)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]), "F").resize(
        (width, height), Image.Resampling.BOX)) for c in range(3)], axis=-1).astype(np.float32)


# ---------------------------------------------------------------- tiles


def core_spans(length: int, max_core: int) -> list[tuple[int, int]]:
    """Consecutive spans covering `length`, each at most `max_core` (a multiple of GRID) and starting on the grid."""
    count = -(-length // max_core)
    step = GRID * -(-length // (GRID * count))
    starts = sorted({min(length, i * step) for i in range(count)} - {length})
    return [(a, min(length, b)) for a, b in zip(starts, [*starts[1:], length], strict=True)]


@dataclass(frozen=True)
class Tiling:
    """Cores that partition the picture, each read with `halo` pixels of picture around it."""

    height: int
    width: int
    rows: list[tuple[int, int]]
    columns: list[tuple[int, int]]
    halo: int

    @classmethod
    def plan(cls, height: int, width: int, max_tile: int, graph: Graph) -> Tiling:
        if max(height, width) <= max_tile or not graph.shared:
            return cls(height, width, [(0, height)], [(0, width)], 0)
        if max_tile < graph.min_tile():
            raise SettingsError(f"tiles of {max_tile} px are too small for this style: its network reaches "
                                f"{graph.halo} px around each pixel; use tiles of at least {graph.min_tile()} px.")
        core = (max_tile - 2 * graph.halo) // GRID * GRID
        return cls(height, width, core_spans(height, core), core_spans(width, core), graph.halo)

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.columns)

    def tiles(self):
        """(tile box, core box inside the tile) for every tile: boxes as (top, bottom, left, right)."""
        for top, bottom in self.rows:
            for left, right in self.columns:
                y0, x0 = max(0, top - self.halo), max(0, left - self.halo)
                y1, x1 = min(self.height, bottom + self.halo), min(self.width, right + self.halo)
                yield (y0, y1, x0, x1), (top - y0, bottom - y0, left - x0, right - x0)

    def borders(self) -> tuple[list[int], list[int]]:
        """Columns and rows where one core ends and the next begins (for seam measures)."""
        return [a for a, _b in self.columns[1:]], [a for a, _b in self.rows[1:]]


@dataclass
class TileProgress:
    done: int
    total: int
    elapsed: float


def run_tiled(
    session,
    rgb: np.ndarray,
    max_tile: int = DEFAULT_TILE,
    progress: Callable[[TileProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The network's output for an (H, W, 3) float32 picture, computed tile by tile with the whole picture's
    statistics (module docstring): the same picture as one whole pass, within the statistics' error."""
    graph = Graph.of(session)
    height, width = rgb.shape[:2]
    tiling = Tiling.plan(height, width, max_tile, graph)
    if tiling.count == 1:
        if max(height, width) > max_tile:  # a format-1 graph: its tiles could only use their own statistics
            raise SettingsError(f"This style was learned by an older nst-engine that could only apply it whole: "
                                f"{width}x{height} needs tiles of {max_tile} px; learn the style again, or "
                                f"apply it with tiles of at least {max(height, width)} px.")
        started = time.perf_counter()
        styled = run_graph(session, graph, rgb)[0]
        if progress is not None:
            progress(TileProgress(1, 1, time.perf_counter() - started))
        return styled
    started, done, total = time.perf_counter(), 0, (len(graph.norms) + 1) * tiling.count

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(TileProgress(done, total, time.perf_counter() - started))

    stats = whole_statistics(session, graph, rgb, max_tile)  # where each sum is centred: keeps float32 sums exact
    offsets = np.cumsum([0] + [channels for channels, _stride in graph.norms])
    for layer in range(len(graph.norms)):  # layer `layer` measured with every layer before it exact
        sums = np.zeros((3, stats.shape[1]), np.float64)
        for (y0, y1, x0, x1), core in tiling.tiles():
            _check(cancel)
            sums[1:] += run_graph(session, graph, rgb[y0:y1, x0:x1], core, stats)[1][1:]
            step()
        sums[0] = stats[0]
        measured = statistics(graph, sums, height, width)
        stats[:, offsets[layer]:offsets[layer + 1]] = measured[:, offsets[layer]:offsets[layer + 1]]
    out = np.empty((height, width, 3), np.float32)
    for (y0, y1, x0, x1), (top, bottom, left, right) in tiling.tiles():
        _check(cancel)
        styled = run_graph(session, graph, rgb[y0:y1, x0:x1], (top, bottom, left, right), stats)[0]
        out[y0 + top:y0 + bottom, x0 + left:x0 + right] = styled[top:bottom, left:right]
        step()
    return out


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


# ---------------------------------------------------------------- pictures


def stylize_picture(
    session,
    content: Picture,
    strength: float = 1.0,
    max_tile: int = DEFAULT_TILE,
    progress: Callable[[TileProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Picture:
    """The styled picture at the content's size, with its alpha, bit depth and grayness, as `stylize` keeps them."""
    if not 0.0 <= strength <= 1.0:
        raise SettingsError(f"strength must be between 0 and 1, not {strength!r}.")
    rgb = np.clip(content.rgb, 0.0, 1.0).astype(np.float32, copy=False)
    styled = run_tiled(session, rgb, max_tile, progress, cancel)
    if strength < 1.0:
        styled = strength * styled + (1.0 - strength) * rgb
    styled = np.clip(styled, 0.0, 1.0)
    if content.grayscale:
        styled = luminance_only(styled)  # a gray picture gets a gray result, in every encoding
    return Picture(styled, content.alpha, content.bit_depth, content.grayscale)
