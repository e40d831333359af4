"""Exporting a learned network to ONNX, and refusing to keep an export that computes something else.

The graph (network.Tileable) takes float32 RGB 0..1 in NCHW with any height and width, a core mask of
the same size, every instance norm's statistics and a switch between those and each norm's own, and
returns the styled picture and the core's sums (runtime.py uses them to give tiles whole-picture
statistics). After writing it, ONNX Runtime and torch run it on one picture of a size the export
never saw (odd, so the resize-convolutions' rounding is exercised), once with its own statistics and
once with those statistics given; an export whose output differs by more than MAX_DIFFERENCE anywhere
is not stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nst_engine.learned.library import FORMAT_VERSION, ONNX_MARKER, StyleError
from nst_engine.learned.network import StyleNet, Tileable, build, exportable, reach
from nst_engine.learned.runtime import (
    GRAPH_INPUTS,
    GRAPH_OUTPUTS,
    HALO_KEY,
    NORMS_KEY,
    Graph,
    open_session,
    run_graph,
    whole_statistics,
)
from nst_engine.learned.sizes import WIDTHS

OPSET = 18
MAX_DIFFERENCE = 1e-3  # max absolute difference, in 0..1 units (a quarter of an 8-bit step)
_TRACE_SIZE = (1, 3, 64, 96)
_CHECK_SIZE = (1, 3, 133, 171)


@dataclass
class ExportReport:
    path: Path
    max_difference: float
    opset: int


class ExportMismatch(StyleError):
    """ONNX Runtime's output of the exported model differs from torch's."""


def _write_graph(module: Tileable, path: Path) -> None:
    """torch's exporter; the TorchDynamo one (onnxscript), with height and width symbolic."""
    sample = torch.rand(_TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    channels = sum(c for c, _stride in module.layout)
    core = torch.ones(1, 1, *_TRACE_SIZE[2:])
    stats = torch.stack([torch.zeros(channels), torch.ones(channels)])
    height, width = torch.export.Dim("height", min=16), torch.export.Dim("width", min=16)
    program = torch.onnx.export(
        module,
        (sample, core, stats, torch.ones(1)),
        input_names=list(GRAPH_INPUTS),
        output_names=list(GRAPH_OUTPUTS),
        opset_version=OPSET,
        dynamic_shapes={"rgb": {2: height, 3: width}, "core": {2: height, 3: width}, "stats": None, "own": None},
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    program.save(str(path))


def _mark(path: Path, width: str, module: Tileable) -> None:
    """Add the engine's marker to the ONNX metadata, so a foreign model is told apart from ours, and what
    the runtime needs to tile it: the norms' (channels, stride) and the reach of a pixel."""
    import onnx

    model = onnx.load(str(path))
    marks = {ONNX_MARKER: str(FORMAT_VERSION), "nst_engine_width": width,
             NORMS_KEY: json.dumps(module.layout), HALO_KEY: str(reach(module.net.shape))}
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in marks]
    del model.metadata_props[:]
    for key, value in [*kept, *marks.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "nst-engine"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def max_difference(net: StyleNet, onnx_path: Path, picture: np.ndarray | None = None) -> float:
    """Max |ONNX Runtime - torch| on `picture` ((1, 3, H, W) float32; a fixed random one by default), with
    the graph's own statistics and with the same statistics passed in as the tiles get them."""
    if picture is None:
        picture = torch.rand(_CHECK_SIZE, generator=torch.Generator().manual_seed(1)).numpy()
    module = exportable(net).cpu()
    with torch.no_grad():
        expected = module(torch.from_numpy(picture)).numpy()
    session = open_session(onnx_path)
    graph = Graph.of(session)
    rgb = np.ascontiguousarray(picture[0].transpose(1, 2, 0))
    stats = whole_statistics(session, graph, rgb, max(rgb.shape))
    results = [run_graph(session, graph, rgb, None, stats)[0], run_graph(session, graph, rgb)[0]]
    if any(got.shape != rgb.shape for got in results):
        return float("inf")
    return max(float(np.abs(got.transpose(2, 0, 1)[None] - expected).max()) for got in results)


def export(net: StyleNet, path: str | os.PathLike[str], check_picture: np.ndarray | None = None) -> ExportReport:
    """Write `net` to `path` as ONNX and check it against torch; raises ExportMismatch when they differ."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = Tileable(net.cpu().eval())
    width = next(name for name, shape in WIDTHS.items() if shape == net.shape)
    _write_graph(module, path)
    _mark(path, width, module)
    difference = max_difference(net, path, check_picture)
    if not difference <= MAX_DIFFERENCE:
        path.unlink(missing_ok=True)
        raise ExportMismatch(
            f"The exported model computes something else than the trained one (max difference {difference:.3g} > "
            f"{MAX_DIFFERENCE:g}): it was not stored; please report this with your torch and onnxruntime versions."
        )
    return ExportReport(path, difference, OPSET)



def network_from_onnx(path: Path) -> StyleNet:
    """The torch network again, from a stored graph's weights (the exporter names them after the parameters).

    Styles of format 1 have a graph that cannot take statistics; this lets them be exported anew. Raises
    StyleError when a parameter cannot be found (e.g. folded into another node by an exporter).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    width = {p.key: p.value for p in model.metadata_props}.get("nst_engine_width", "")
    if width not in WIDTHS:
        raise StyleError(f"{path} does not say which network it holds: learn the style again.")
    net = build(width)
    found = {i.name: i for i in model.graph.initializer}
    state = {}
    for key, value in net.state_dict().items():
        entry = found.get(f"net.{key}")
        if entry is None or tuple(entry.dims) != tuple(value.shape):
            raise StyleError(f"{path} was made by an older nst-engine and its weights cannot be read back "
                             f"({key}): learn the style again.")
        state[key] = torch.from_numpy(numpy_helper.to_array(entry).copy())
    net.load_state_dict(state)
    return net.eval()
