"""`nst-engine`'s commands: stylize, info, fetch-weights (and learned.py's), and `serve`'s options; the
service itself is handed in by the entry point (nst_engine/__main__.py).

Every failure a user can cause ends in one line naming the fix and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nst_engine import __version__
from nst_engine.cli.common import Parser, fail
from nst_engine.cli.regions import add_region_arguments, regions_from_args
from nst_engine.contract import estimate_range_text, estimate_text
from nst_engine.errors import EngineError
from nst_engine.service.config import add_serve_arguments
from nst_engine.settings import add_arguments, from_args

if TYPE_CHECKING:
    from nst_engine.calibrate import Expectation

Command = Callable[[argparse.Namespace], int]

# ---------------------------------------------------------------- stylize


def _add_stylize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize", help="stylise CONTENT with one or more STYLE images",
        description="Stylise CONTENT with one or more STYLE images. Unset settings take the preset's value.",
    )  # fmt: skip
    p.add_argument("content", type=Path)
    p.add_argument("styles", type=Path, nargs="+", metavar="STYLE")
    p.add_argument("-o", "--output", type=Path, required=True, help="result file (.png keeps 16 bits, .tif, .jpg)")
    p.add_argument("--weights", type=Path, help="VGG-19 weights file (torchvision .pth, Caffe .pth or MatConvNet .mat)")
    p.add_argument("--save-every", type=int, default=0, metavar="N", help="also save the image every N iterations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_region_arguments(p)
    settings = p.add_argument_group("settings", "each one is a setting of the engine (nst_engine/settings.py)")
    p.set_defaults(run=_run_stylize, setting_names=add_arguments(settings))


class ProgressBar:
    """One self-overwriting stderr line, like pip's."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, event) -> None:
        width = 24
        done = int(width * event.step / max(event.total_steps, 1))
        rate = event.step / max(time.perf_counter() - self.started, 1e-9)
        line = (
            f"\rscale {event.scale}/{event.scales} {event.size[0]}x{event.size[1]} "
            f"iteration {event.iteration}/{event.iterations} [{'#' * done}{'.' * (width - done)}] "
            f"loss {event.losses['total']:.4g}  {rate:.1f} it/s "
        )
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _run_stylize(args: argparse.Namespace) -> int:
    from nst_engine.api import expectation, plan_job, stylize
    from nst_engine.device import device_name, resolve_device
    from nst_engine.gatys.cache import ModelCache
    from nst_engine.pictures.images import Picture, load_picture, save_picture
    settings = from_args(args, args.setting_names)
    if args.output.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"):
        return fail(f"cannot write {args.output.name}: use a .png, .tif, .jpg or .webp output name.")
    content = load_picture(args.content)
    styles = [load_picture(path) for path in args.styles]
    regions = regions_from_args(args, len(styles), content.size)
    bar = None if args.quiet else ProgressBar()

    def on_progress(event) -> None:
        if bar is not None:
            bar(event)
        if event.preview is not None and args.save_every and event.iteration % args.save_every == 0:
            path = args.output.with_name(
                f"{args.output.stem}_s{event.scale}_i{event.iteration:04d}{args.output.suffix}"
            )
            save_picture(Picture(event.preview.rgb, None, content.bit_depth, content.grayscale), path)

    cache = ModelCache(args.weights)
    plan, seconds = plan_job(content.size, settings, cache, notify=None if args.quiet else _say)
    expected = None if seconds is None else expectation(seconds, settings, cache)
    if not args.quiet:
        _say(_plan_line(plan, expected, device_name(resolve_device(settings.device))))
    result = stylize(
        content,
        styles,
        settings,
        progress=on_progress,
        preview_every=args.save_every,
        preview_size=100_000,
        cache=cache,
        plan=plan,
        regions=regions,
    )
    if bar is not None:
        bar.close()
    if expected is not None and not result.stopped_early:
        expected.record(result.seconds)
    save_picture(result.picture, args.output)
    if result.message:
        print(result.message, file=sys.stderr)
    print(
        f"Wrote {args.output} ({result.picture.width}x{result.picture.height}) in {result.seconds:.1f} s "
        f"on {result.device}; final loss {result.losses['total']:.4g}",
        file=sys.stderr,
    )
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _plan_line(plan, expected: Expectation | None, device: str) -> str:
    """E.g. "Plan: 2048x1365 in 4 scales (...), 181 iterations; about 40 s on NVIDIA ...", then its notes."""
    scales = len(plan.steps)
    line = (f"Plan: {plan.target[0]}x{plan.target[1]} in {scales} scale{'s' if scales > 1 else ''} "
            f"({', '.join(step.describe() for step in plan.steps)}), {plan.total_iterations} iterations")
    if expected is None:
        line += f"; a short job on {device} (its time is not estimated)."
    else:
        when = (estimate_text(expected.seconds) if expected.low is None or expected.high is None
                else estimate_range_text(expected.low, expected.high))
        busy = f", other programs slowing it {expected.slowdown:.1f}x" if expected.slowdown >= 1.1 else ""
        line += f"; {when} on {device}{busy}."
    return line + (f"\n{plan.message}" if plan.message else "")


# ---------------------------------------------------------------- info


INFO_JSON_KEYS = """keys of `info --json` (one flat object; null where unknown):
  version, python, torch: versions; device: the device jobs run on (cpu, cuda, mps);
  device_name: the GPU's name, or the CPU's; precision: fp32, bf16 or fp16, what --precision (default
  auto) resolves to there;
  cache_dir: the engine's cache folder;
  weights_path: the file checked; weights_present: it exists; weights_usable: it loads as VGG-19;
  weights_format: torchvision, caffe or matconvnet; weights_detected_by: how the format was told;
  weights_sha256: its SHA-256; weights_verified: the SHA-256 starts as the official file's name says
  (torchvision, caffe; false for MatConvNet); weights_error: why it is missing or unusable;
  with --size: memory_width, memory_height, memory_bytes_needed, memory_bytes_available,
  memory_fits, memory_largest_long_side (at the precision above; null when it fits);
  onnxruntime: the version of ONNX Runtime, which applies learned styles (null: not installed);
  onnxruntime_package: onnxruntime or onnxruntime-gpu; onnxruntime_provider: CUDA or CPU, where
  `apply` runs."""


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info", help="device, versions, weights, and the memory a size needs", epilog=INFO_JSON_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, help="a weights file to check instead of the default")
    p.add_argument("--size", type=int, help="long side to estimate memory for (default 1024; with --json: none)")
    p.add_argument("--aspect", type=float, default=4 / 3, help="width/height for the estimate (default 4/3)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout, for programs (keys below)")
    add_arguments(p, only=("device", "precision"))
    p.set_defaults(run=_run_info)


def _estimate_size(long_side: int, aspect: float) -> tuple[int, int]:
    if aspect >= 1:
        return long_side, max(1, round(long_side / aspect))
    return max(1, round(long_side * aspect)), long_side


def info(weights_path: Path | None, device_name: str | None, precision: str | None,
         size: int | None, aspect: float) -> dict[str, object]:
    """What `info --json` prints (INFO_JSON_KEYS), as a dict."""
    import torch

    from nst_engine import contract
    from nst_engine.device import resolve_device, resolve_precision
    from nst_engine.planning import memory
    from nst_engine.settings import Settings
    from nst_engine.weights.formats import KNOWN_SHA256_PREFIXES, find_weights, load_weights

    settings = Settings.from_dict({"device": device_name, "precision": precision})
    device = resolve_device(settings.device)
    dtype = resolve_precision(settings, device)
    path = weights_path or find_weights()
    out: dict[str, object] = {
        "version": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "precision": {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype],
        "cache_dir": str(contract.cache_dir()), "weights_path": str(path), "weights_present": path.is_file(),
        "weights_usable": False, "weights_format": None, "weights_detected_by": None, "weights_sha256": None,
        "weights_verified": False, "weights_error": None,
    }  # fmt: skip
    out.update(_onnxruntime_facts())
    try:
        weights = load_weights(path)
    except EngineError as error:
        out["weights_error"] = error.message
    else:
        out.update(weights_usable=True, weights_format=weights.format.name, weights_detected_by=weights.detected_by,
                   weights_sha256=weights.sha256,
                   weights_verified=KNOWN_SHA256_PREFIXES.get(weights.sha256[:8]) == weights.format.name)
    if size is not None:
        estimate = memory.estimate(_estimate_size(size, aspect), device, dtype.itemsize)
        out.update(
            memory_width=estimate.size[0], memory_height=estimate.size[1], memory_bytes_needed=estimate.bytes_needed,
            memory_bytes_available=estimate.bytes_available, memory_fits=estimate.fits,
            memory_largest_long_side=None if estimate.fits else memory.largest_fitting_long_side(
                estimate.size, device, dtype.itemsize),
        )  # fmt: skip
    return out


def _onnxruntime_facts() -> dict[str, object]:
    """Which ONNX Runtime applies learned styles, and on what: the installer picks the package by the GPU."""
    from nst_engine.learned.runtime import expected_provider, installed_runtime

    found = installed_runtime()
    return {"onnxruntime": found[1] if found else None, "onnxruntime_package": found[0] if found else None,
            "onnxruntime_provider": expected_provider(found[0]) if found else None}  # fmt: skip


def _cpu_name() -> str | None:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _run_info(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(info(args.weights, args.device, args.precision, args.size, args.aspect)))
        return 0
    import torch

    from nst_engine.planning import memory

    facts = info(args.weights, args.device, args.precision, None, args.aspect)
    print(f"nst-engine {facts['version']}, Python {facts['python']}, torch {facts['torch']}")
    print(f"device: {facts['device']}" + (f" ({facts['device_name']})" if facts["device"] == "cuda" else ""))
    print(f"cache: {facts['cache_dir']}")
    if facts["weights_usable"]:
        print(f"weights: {facts['weights_path']} ({facts['weights_format']} format, "
              f"detected by {facts['weights_detected_by']})")
        print(f"weights sha256: {facts['weights_sha256']}")
    else:
        print(f"weights: MISSING or unusable: {facts['weights_error']}")
    if facts["onnxruntime"] and facts["onnxruntime_provider"]:
        print(f"learned styles: {facts['onnxruntime_package']} {facts['onnxruntime']}, "
              f"applied on the {facts['onnxruntime_provider']}")
    elif facts["onnxruntime"]:
        print(f"learned styles: {facts['onnxruntime_package']} {facts['onnxruntime']} is installed but does not "
              "start: run the installer again")
    else:
        from nst_engine.learned.runtime import MISSING_MESSAGE

        print(f"learned styles: {MISSING_MESSAGE}")
    device = torch.device(str(facts["device"]))
    size = _estimate_size(args.size or 1024, args.aspect)
    for dtype_bytes, label in ((4, "fp32"), (2, "bf16")) if device.type == "cuda" else ((4, "fp32"),):
        estimate = memory.estimate(size, device, dtype_bytes)
        fits = "fits" if estimate.fits else "does NOT fit"
        print(f"memory at {estimate.describe()} ({label}): {fits}")
        if not estimate.fits:
            side = memory.largest_fitting_long_side(size, device, dtype_bytes)
            print(f"  largest long side that fits: {side} px")
    return 0


# ---------------------------------------------------------------- fetch-weights


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    from nst_engine.weights import download

    p = sub.add_parser("fetch-weights", help="download VGG-19's weights with a checksum check")
    p.add_argument("--url", default=download.OFFICIAL_URL)
    p.add_argument("--dest", type=Path, help="file to write (default: the engine's cache)")
    p.add_argument("--sha256-prefix", default=None, help="expected start of the SHA-256 (hex)")
    p.add_argument("--sha256", default=None, help="expected full SHA-256 (hex)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from nst_engine.weights import download

    kwargs = {}
    if args.sha256_prefix is not None:
        kwargs["sha256_prefix"] = args.sha256_prefix
    path = download.fetch_weights(
        url=args.url,
        dest=args.dest,
        sha256=args.sha256,
        progress=None if args.quiet else download.ProgressBar(),
        **kwargs,
    )
    print(f"VGG-19 weights ready: {path}")
    return 0


# ---------------------------------------------------------------- main


def build_parser(serve: Command | None = None) -> argparse.ArgumentParser:
    """Every command's arguments. `serve` runs the service: the entry point (nst_engine/__main__.py) hands
    it in, so that the one-shot commands here and the long-running service never import each other."""
    parser = Parser(prog="nst-engine", description="Neural style transfer engine (Gatys et al. 2015).")
    parser.add_argument("--version", action="version", version=f"nst-engine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_stylize(sub)
    _add_info(sub)
    _add_fetch(sub)
    from nst_engine.cli.learned import add_parsers as add_learned_parsers  # learn-style, apply, styles
    add_learned_parsers(sub)
    serve_parser = sub.add_parser("serve", help="run the engine as a local HTTP service")
    add_serve_arguments(serve_parser)
    serve_parser.set_defaults(run=serve or (lambda _args: fail("serve runs from `nst-engine serve` "
                                                                "(or `python -m nst_engine serve`).")))
    return parser


def main(argv: list[str] | None = None, serve: Command | None = None) -> int:
    args = build_parser(serve).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except EngineError as error:
        return fail(error.message)
    except KeyboardInterrupt:
        print("\nnst-engine: interrupted", file=sys.stderr)
        return 130
