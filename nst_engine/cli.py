"""`nst-engine`: stylize, info, fetch-weights, serve.

Every failure a user can cause ends in one line naming the fix and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import NoReturn

from nst_engine import __version__
from nst_engine.errors import EngineError
from nst_engine.settings import CHOICES, PRESETS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line, with the way to get help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(message: str) -> int:
    print(f"nst-engine: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# ---------------------------------------------------------------- stylize


def _add_stylize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylise CONTENT with one or more STYLE images")
    p.add_argument("content", type=Path)
    p.add_argument("styles", type=Path, nargs="+", metavar="STYLE")
    p.add_argument("-o", "--output", type=Path, required=True, help="result file (.png keeps 16 bits, .tif, .jpg)")
    p.add_argument("--preset", choices=list(PRESETS), help="quality preset (default standard)")
    p.add_argument("--size", type=int, help="long side of the result in pixels; 0 = the content's size")
    p.add_argument("--iterations", type=int, help="iterations at the final scale")
    p.add_argument("--coarse-iterations", type=int, help="iterations at each coarser scale (default: half)")
    p.add_argument("--scales", type=int, help="number of coarse-to-fine scales (1 = single scale)")
    p.add_argument("--min-scale-size", type=int, help="smallest long side of the coarse scales (default 128)")
    p.add_argument("--weights", type=Path, help="VGG-19 weights file (torchvision .pth, Caffe .pth or MatConvNet .mat)")
    p.add_argument("--device", choices=CHOICES["device"])
    p.add_argument(
        "--precision", choices=CHOICES["precision"],
        help="network precision (auto: bf16 on CUDA and on CPUs with AVX-512 BF16 or AMX)",
    )
    p.add_argument("--seed", type=int, help="random seed (CPU runs are reproducible)")
    p.add_argument("--preserve-colors", action="store_true", default=None, help="keep the content's colours")
    p.add_argument("--style-weight", type=float, help="beta (default: calibrated for the weights format)")
    p.add_argument("--content-weight", type=float, help="alpha (default 10, as in the seed)")
    p.add_argument("--style-strength", type=float, help="multiplies the style weight (default 1)")
    p.add_argument("--tv-weight", type=float, help="total-variation weight (smoothness)")
    p.add_argument("--style-scale", type=float, help="size of the style image relative to the output")
    p.add_argument("--style-blend", type=float, nargs="+", metavar="W", help="blend weight of each style image")
    p.add_argument("--optimizer", choices=CHOICES["optimizer"])
    p.add_argument("--learning-rate", type=float, help="Adam's step in 8-bit pixel units (seed: 2.0)")
    p.add_argument("--init", choices=CHOICES["init"], help="start from the content, noise blended with it, or noise")
    p.add_argument("--noise-ratio", type=float)
    p.add_argument("--pooling", choices=CHOICES["pooling"])
    p.add_argument("--on-oom", choices=CHOICES["on_oom"], help="when the size would not fit in memory")
    p.add_argument("--save-every", type=int, default=0, metavar="N", help="also save the image every N iterations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_stylize)


_SETTING_FLAGS = (
    "preset", "size", "iterations", "coarse_iterations", "scales", "min_scale_size", "device", "precision",
    "seed", "preserve_colors", "style_weight", "content_weight", "style_strength", "tv_weight", "style_scale",
    "style_blend", "optimizer", "learning_rate", "init", "noise_ratio", "pooling", "on_oom",
)  # fmt: skip


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
    from nst_engine.api import ModelCache, stylize
    from nst_engine.images import Picture, load_picture, save_picture
    from nst_engine.settings import Settings

    settings = Settings.from_dict({name: getattr(args, name) for name in _SETTING_FLAGS})
    if args.output.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"):
        return _fail(f"cannot write {args.output.name}: use a .png, .tif, .jpg or .webp output name.")
    content = load_picture(args.content)
    styles = [load_picture(path) for path in args.styles]
    bar = None if args.quiet else ProgressBar()

    def on_progress(event) -> None:
        if bar is not None:
            bar(event)
        if event.preview is not None and args.save_every and event.iteration % args.save_every == 0:
            path = args.output.with_name(
                f"{args.output.stem}_s{event.scale}_i{event.iteration:04d}{args.output.suffix}"
            )
            save_picture(Picture(event.preview.rgb, None, content.bit_depth, content.grayscale), path)

    result = stylize(
        content,
        styles,
        settings,
        progress=on_progress,
        preview_every=args.save_every,
        preview_size=100_000,
        cache=ModelCache(args.weights),
    )
    if bar is not None:
        bar.close()
    save_picture(result.picture, args.output)
    if result.message:
        print(result.message, file=sys.stderr)
    print(
        f"Wrote {args.output} ({result.picture.width}x{result.picture.height}) in {result.seconds:.1f} s "
        f"on {result.device}; final loss {result.losses['total']:.4g}",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------- info


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="device, versions, weights, and the memory a size needs")
    p.add_argument("--weights", type=Path, help="a weights file to check instead of the default")
    p.add_argument("--size", type=int, default=1024, help="long side to estimate memory for (default 1024)")
    p.add_argument("--aspect", type=float, default=4 / 3, help="width/height for the estimate (default 4/3)")
    p.add_argument("--device", choices=CHOICES["device"], default="auto")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    import torch

    from nst_engine import memory, paths
    from nst_engine.api import resolve_device
    from nst_engine.weights import find_weights, load_weights

    device = resolve_device(args.device)
    print(f"nst-engine {__version__}, Python {platform.python_version()}, torch {torch.__version__}")
    print(f"device: {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"cache: {paths.cache_dir()}")
    path = args.weights or find_weights()
    try:
        weights = load_weights(path)
    except EngineError as error:
        print(f"weights: MISSING or unusable: {error.message}")
    else:
        print(f"weights: {weights.path} ({weights.format.name} format, detected by {weights.detected_by})")
        print(f"weights sha256: {weights.sha256}")
    width, height = (args.size, round(args.size / args.aspect)) if args.aspect >= 1 else (
        round(args.size * args.aspect), args.size)
    for dtype_bytes, label in ((4, "fp32"), (2, "bf16")) if device.type == "cuda" else ((4, "fp32"),):
        estimate = memory.estimate((width, height), device, dtype_bytes)
        fits = "fits" if estimate.fits else "does NOT fit"
        print(f"memory at {estimate.describe()} ({label}): {fits}")
        if not estimate.fits:
            side = memory.largest_fitting_long_side((width, height), device, dtype_bytes)
            print(f"  largest long side that fits: {side} px")
    return 0


# ---------------------------------------------------------------- fetch-weights


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    from nst_engine import download

    p = sub.add_parser("fetch-weights", help="download VGG-19's weights with a checksum check")
    p.add_argument("--url", default=download.OFFICIAL_URL)
    p.add_argument("--dest", type=Path, help="file to write (default: the engine's cache)")
    p.add_argument("--sha256-prefix", default=None, help="expected start of the SHA-256 (hex)")
    p.add_argument("--sha256", default=None, help="expected full SHA-256 (hex)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from nst_engine import download

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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nst-engine", description="Neural style transfer engine (Gatys et al. 2015).")
    parser.add_argument("--version", action="version", version=f"nst-engine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_stylize(sub)
    _add_info(sub)
    _add_fetch(sub)
    from nst_engine.learned.cli import add_parsers as add_learned_parsers  # learn-style, apply, styles
    add_learned_parsers(sub)
    serve = sub.add_parser("serve", help="run the engine as a local HTTP service")
    try:
        from nst_engine.service import add_serve_arguments
    except ImportError as error:  # a damaged install: say so instead of "invalid choice"
        missing = error.name or "a dependency"
        serve.add_argument("ignored", nargs=argparse.REMAINDER)
        serve.set_defaults(run=lambda _args: _fail(
            f"the service needs {missing}, which is not installed: run the installer again "
            "(or `pip install --upgrade nst-engine`)."))
    else:
        add_serve_arguments(serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except EngineError as error:
        return _fail(error.message)
    except KeyboardInterrupt:
        print("\nnst-engine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
