"""The calls the CLI and the service share: learn a style into the library, apply one, list them.

Long work takes `progress` (a callable) and `cancel` (a threading.Event), as `nst_engine.api.stylize`
does; a cancelled learning run keeps its last checkpoint, so asking again resumes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from nst_engine.learned import library
from nst_engine.learned.export import ExportReport, export
from nst_engine.learned.library import ONNX_MARKER, StyleError, StyleInfo, list_styles
from nst_engine.learned.options import LearnOptions
from nst_engine.learned.runtime import (
    GRAPH_INPUTS,
    GRAPH_OUTPUTS,
    INPUT_NAME,
    OUTPUT_NAME,
    Graph,
    TileProgress,
    open_session,
    provider_label,
    stylize_picture,
)
from nst_engine.learned.sizes import DEFAULT_TILE
from nst_engine.learned.train import LearnProgress, LearnResult, learn
from nst_engine.pictures.images import Picture, load_picture

if TYPE_CHECKING:
    from nst_engine.gatys.cache import ModelCache

__all__ = ["AppliedStyle", "LearnedStyle", "LearnOptions", "apply_style", "learn_style", "list_styles"]


@dataclass
class LearnedStyle:
    style: StyleInfo
    learning: LearnResult
    export: ExportReport


@dataclass
class AppliedStyle:
    picture: Picture
    provider: str  # "CPU" or "CUDA": what ONNX Runtime ran it on
    seconds: float


def learn_style(
    style: str | os.PathLike[str] | Picture,
    images: str | os.PathLike[str],
    name: str,
    options: LearnOptions | None = None,
    weights: str | os.PathLike[str] | ModelCache | None = None,
    progress: Callable[[LearnProgress], None] | None = None,
    cancel: threading.Event | None = None,
    replace: bool = False,
    restart: bool = False,
    style_label: str | None = None,
    stop: threading.Event | None = None,
) -> LearnedStyle:
    """Learn `style` from the photographs in `images` and store it in the library as `name`.

    `stop` stores the network learned so far as the style (see train.learn).

    `weights`: a weights file, or the caller's loaded ModelCache (the service's), used as it is.
    `style_label` names the style picture in the metadata when it is given as a Picture (an upload).
    """
    options = options or LearnOptions()
    options.validate()
    library.check_name(name)
    if library.exists(name) and not replace:
        raise StyleError(f"A style called {name!r} exists already: choose another name (or --replace it).")
    style_name = Path(style).name if not isinstance(style, Picture) else style_label
    picture = style if isinstance(style, Picture) else load_picture(style)
    checkpoint = library.checkpoint_path(name)
    if restart and checkpoint.exists():
        checkpoint.unlink()
    result = learn(picture, images, options, checkpoint, weights, progress, cancel, stop)
    work = checkpoint.parent
    report = export(result.net, work / library.MODEL_FILE)
    metadata = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "style_image": style_name,
        "training": options.to_dict(),
        "learning": {
            "steps_done": result.steps,
            "stopped_early": result.stopped_early,
            "resumed_from": result.resumed_from,
            "seconds_last_run": round(result.seconds, 1),
            "device": result.device,
            "photos": result.images,
            "skipped_files": result.skipped,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
            "vgg19_weights_sha256": result.weights_sha256,
            "style_weight": result.style_weight,
        },
        "export": {"opset": report.opset, "max_difference": report.max_difference},
    }
    info = library.store(name, report.path, library.make_thumbnail(picture), metadata, replace=replace)
    shutil.rmtree(work, ignore_errors=True)  # the checkpoint has served its purpose
    return LearnedStyle(info, result, report)


class SessionCache:
    """Keeps the last used style's ONNX Runtime session, so the service's next apply starts at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._session = None

    def get(self, info: StyleInfo):
        key = (info.name, info.metadata["model_sha256"])
        with self._lock:
            if self._key != key:
                self._session, self._key = None, None
                self._session, self._key = open_style_session(info), key
            return self._session


def open_style_session(info: StyleInfo):
    """A session for a stored style, refusing files that ONNX Runtime cannot load or that are not ours."""
    from nst_engine.learned.runtime import RuntimeMissing

    try:
        # No busy-waiting threads: the engine shares the computer with GIMP (on two busy cores, 2048x2048
        # took 18 s instead of 28 s with ONNX Runtime's spinning on; benchmarks/bench_learned.py).
        session = open_session(info.model_path, spinning=False)
    except RuntimeMissing:
        raise
    except Exception as error:  # onnxruntime raises its own classes, unrelated to Python's
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StyleError(f"The style {info.name!r} has a model ONNX Runtime cannot load ({first[:160]}): "
                         "learn it again.") from None
    marker = session.get_modelmeta().custom_metadata_map.get(ONNX_MARKER)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = (tuple(i.name for i in inputs), tuple(o.name for o in outputs))
    known = [(GRAPH_INPUTS, GRAPH_OUTPUTS), ((INPUT_NAME,), (OUTPUT_NAME,))]  # format 2; format 1 (whole only)
    if marker is None or names not in known or len(inputs[0].shape) != 4:
        raise StyleError(f"The model of style {info.name!r} is not a style network made by nst-engine: learn it again.")
    return session


_SESSIONS = SessionCache()


def upgrade_style(info: StyleInfo) -> StyleInfo:
    """A format-1 style exported anew from its own weights, so its tiles can share statistics (done once:
    it takes as long as the export at the end of learning)."""
    from nst_engine.learned.export import network_from_onnx

    net = network_from_onnx(info.model_path)
    with tempfile.TemporaryDirectory(prefix="nst-upgrade-") as work:  # not the learning folder: a run may be there
        report = export(net, Path(work) / library.MODEL_FILE)
        upgraded = {"from_format": info.metadata["format_version"],
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        return library.replace_model(info, report.path, {"export": {"opset": report.opset,
                                                                     "max_difference": report.max_difference},
                                                          "upgraded": upgraded})


def apply_style(
    name: str,
    content: Picture,
    strength: float = 1.0,
    progress: Callable[[TileProgress], None] | None = None,
    cancel: threading.Event | None = None,
    max_tile: int = DEFAULT_TILE,
    sessions: SessionCache | None = None,
) -> AppliedStyle:
    """`content` in the learned style `name`, at its own size, blended with it by `strength` (0..1)."""
    started = time.perf_counter()
    info = library.load_style(name)
    cache = sessions or _SESSIONS
    session = cache.get(info)
    if not Graph.of(session).shared and max(content.size) > max_tile:
        session = cache.get(upgrade_style(info))
    picture = stylize_picture(session, content, strength, max_tile, progress, cancel)
    return AppliedStyle(picture, provider_label(session), time.perf_counter() - started)
