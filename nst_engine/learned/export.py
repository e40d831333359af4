"""Exporting a learned network to ONNX, and refusing to keep an export that computes something else.

The graph takes float32 RGB 0..1 in NCHW with any height and width and returns the same. After
writing it, ONNX Runtime and torch run it on one picture of a size the export never saw (odd, so
the resize-convolutions' rounding is exercised); an export whose output differs by more than
MAX_DIFFERENCE anywhere is not stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nst_engine.learned.library import FORMAT_VERSION, ONNX_MARKER, StyleError
from nst_engine.learned.network import WIDTHS, StyleNet, exportable
from nst_engine.learned.runtime import INPUT_NAME, OUTPUT_NAME, open_session

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


def _write_graph(module: torch.nn.Module, path: Path) -> None:
    """torch's exporter; the TorchDynamo one (onnxscript), with height and width symbolic."""
    sample = torch.rand(_TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    height, width = torch.export.Dim("height", min=16), torch.export.Dim("width", min=16)
    program = torch.onnx.export(
        module,
        (sample,),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=OPSET,
        dynamic_shapes={"rgb": {2: height, 3: width}},
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    program.save(str(path))


def _mark(path: Path, width: str) -> None:
    """Add the engine's marker to the ONNX metadata, so a foreign model is told apart from ours."""
    import onnx

    model = onnx.load(str(path))
    marks = {ONNX_MARKER: str(FORMAT_VERSION), "nst_engine_width": width}
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in marks]
    del model.metadata_props[:]
    for key, value in [*kept, *marks.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "nst-engine"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def max_difference(net: StyleNet, onnx_path: Path, picture: np.ndarray | None = None) -> float:
    """Max |ONNX Runtime - torch| on `picture` ((1, 3, H, W) float32; a fixed random one by default)."""
    if picture is None:
        picture = torch.rand(_CHECK_SIZE, generator=torch.Generator().manual_seed(1)).numpy()
    module = exportable(net).cpu()
    with torch.no_grad():
        expected = module(torch.from_numpy(picture)).numpy()
    session = open_session(onnx_path)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: picture})[0]
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected).max())


def export(net: StyleNet, path: str | os.PathLike[str], check_picture: np.ndarray | None = None) -> ExportReport:
    """Write `net` to `path` as ONNX and check it against torch; raises ExportMismatch when they differ."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = exportable(net).cpu()
    width = next(name for name, shape in WIDTHS.items() if shape == net.shape)
    _write_graph(module, path)
    _mark(path, width)
    difference = max_difference(net, path, check_picture)
    if not difference <= MAX_DIFFERENCE:
        path.unlink(missing_ok=True)
        raise ExportMismatch(
            f"The exported model computes something else than the trained one (max difference {difference:.3g} > "
            f"{MAX_DIFFERENCE:g}): it was not stored; please report this with your torch and onnxruntime versions."
        )
    return ExportReport(path, difference, OPSET)

