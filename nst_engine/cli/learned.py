"""`nst-engine learn-style`, `apply` and `styles`: the learned-style subcommands.

`cli/main.py` calls `add_parsers(subparsers)`; its `main` turns every EngineError into one line
and exit status 2 (cli/common.py), which is how these commands report their failures too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from nst_engine.cli.common import fail
from nst_engine.contract import clock_text
from nst_engine.learned.options import LearnOptions
from nst_engine.learned.sizes import DEFAULT_TILE, WIDTHS
from nst_engine.settings import CHOICES

_OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    defaults = LearnOptions()
    p = sub.add_parser("learn-style", help="learn a style network from STYLE and a folder of photographs")
    p.add_argument("style", type=Path, metavar="STYLE", help="the style picture")
    p.add_argument("--images", type=Path, required=True, metavar="DIR",
                   help="folder of at least 8 photographs (searched recursively)")
    p.add_argument("--name", required=True, help="name of the style in the library")
    p.add_argument("--steps", type=int, default=defaults.steps, help=f"training steps (default {defaults.steps})")
    p.add_argument("--size", type=int, default=defaults.size,
                   help=f"training crop size in px (default {defaults.size})")
    p.add_argument("--style-strength", type=float, default=defaults.style_strength,
                   help="multiplies the calibrated style weight (default 1)")
    p.add_argument("--width", choices=list(WIDTHS), default=defaults.width,
                   help=f"network width: small is fast on CPUs (default {defaults.width})")
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="N",
                   help=f"save a checkpoint every N steps (default {defaults.checkpoint_every})")
    p.add_argument("--weights", type=Path, help="VGG-19 weights file for the costs")
    p.add_argument("--device", choices=CHOICES["device"], default="auto")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--restart", action="store_true", help="ignore an earlier run's checkpoint instead of resuming it")
    p.add_argument("--replace", action="store_true", help="replace a stored style of the same name")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_learn, func=run_learn)

    p = sub.add_parser("apply", help="apply a learned style to CONTENT (fast, any size)")
    p.add_argument("name", metavar="NAME", help="a style from `nst-engine styles`")
    p.add_argument("content", type=Path, metavar="CONTENT")
    p.add_argument("-o", "--output", type=Path, required=True, help="result file (.png keeps 16 bits, .tif, .jpg)")
    p.add_argument("--strength", type=float, default=1.0, help="0 = the content, 1 = fully styled (default 1)")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE,
                   help=f"largest tile side in px; bounds the memory: larger pictures go in tiles that share the "
                        f"whole picture's statistics, one pass per norm layer more (default {DEFAULT_TILE})")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_apply, func=run_apply)

    p = sub.add_parser("styles", help="list the learned styles")
    p.add_argument("--json", action="store_true", help="one JSON document, for programs")
    p.set_defaults(run=run_styles, func=run_styles)


class LearnBar:
    """One self-overwriting stderr line: step, bar, loss, pace, time left."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr  # looked up now, not at import: tests and GUIs swap it
        self.last = 0.0

    def __call__(self, event) -> None:
        now = time.perf_counter()
        if now - self.last < 0.25 and event.step < event.steps and not event.checkpoint_saved:
            return
        self.last = now
        done = int(24 * event.step / event.steps)
        left = "" if event.remaining is None else f"  {clock_text(event.remaining)} left"
        saved = "  (checkpoint saved)" if event.checkpoint_saved else ""
        self.stream.write(
            f"\rstep {event.step}/{event.steps} [{'#' * done}{'.' * (24 - done)}] "
            f"loss {event.losses['total']:.4g}{left}{saved}   "
        )
        self.stream.flush()


def run_learn(args: argparse.Namespace) -> int:
    from nst_engine.learned import library
    from nst_engine.learned.api import learn_style
    options = LearnOptions(
        steps=args.steps, size=args.size, style_strength=args.style_strength, width=args.width,
        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
    )  # fmt: skip
    checkpoint = library.checkpoint_path(args.name)
    if checkpoint.exists() and not args.restart:
        print(f"Resuming from the checkpoint in {checkpoint.parent}", file=sys.stderr)
    bar = None if args.quiet else LearnBar()
    try:
        learned = learn_style(args.style, args.images, args.name, options, args.weights, bar,
                              replace=args.replace, restart=args.restart)
    except KeyboardInterrupt:
        if bar is not None:
            sys.stderr.write("\n")
        kept = f"the checkpoint in {checkpoint.parent} is kept" if checkpoint.exists() else "no checkpoint yet"
        print(f"nst-engine: learning interrupted; {kept}: run the same command to resume.", file=sys.stderr)
        return 130
    if bar is not None:
        sys.stderr.write("\n")
    result = learned.learning
    if result.skipped:
        print(f"Skipped {result.skipped} file(s) that are not readable pictures.", file=sys.stderr)
    print(
        f"Learned style {args.name!r} from {result.images} photographs: {result.steps} steps, "
        f"loss {result.first_loss:.4g} -> {result.last_loss:.4g}, {clock_text(result.seconds)} on {result.device}; "
        f"ONNX check max difference {learned.export.max_difference:.2g}. Stored in {learned.style.folder}"
        if result.first_loss is not None else
        f"Stored style {args.name!r} ({result.steps} steps, from the checkpoint) in {learned.style.folder}",
        file=sys.stderr,
    )
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from nst_engine.learned.api import apply_style
    from nst_engine.pictures.images import load_picture, save_picture

    if args.output.suffix.lower() not in _OUTPUT_SUFFIXES:
        return fail(f"cannot write {args.output.name}: use a .png, .tif, .jpg or .webp output name.")
    if not 0.0 <= args.strength <= 1.0:
        return fail(f"--strength must be between 0 and 1, not {args.strength:g}.")
    if args.tile < 64:
        return fail(f"--tile must be at least 64 pixels, not {args.tile}.")
    content = load_picture(args.content)

    def show(event) -> None:
        sys.stderr.write(f"\rtile {event.done}/{event.total}")
        sys.stderr.flush()

    applied = apply_style(args.name, content, args.strength, None if args.quiet else show, max_tile=args.tile)
    if not args.quiet:
        sys.stderr.write("\n")
    save_picture(applied.picture, args.output)
    print(f"Wrote {args.output} ({content.width}x{content.height}) in {applied.seconds:.1f} s "
          f"with ONNX Runtime on the {applied.provider}", file=sys.stderr)
    return 0


def run_styles(args: argparse.Namespace) -> int:
    from nst_engine.learned.library import library_dir, list_styles

    styles = list_styles()
    if args.json:
        print(json.dumps({"library": str(library_dir()), "styles": [s.summary() for s in styles]}, indent=2))
        return 0
    if not styles:
        print(f"No learned styles in {library_dir()}: make one with `nst-engine learn-style`.")
        return 0
    for style in styles:
        s = style.summary()
        if style.problem:
            print(f"{style.name}: UNUSABLE: {style.problem}")
        else:
            print(f"{style.name}: {s['width']} network, {s['steps']} steps at {s['size']} px, "
                  f"from {s['style_image'] or 'a picture'}, {s['created']}")
    return 0
