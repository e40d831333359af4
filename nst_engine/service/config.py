"""What a serving engine is configured with, and the `serve` command's options that set it.

No web framework here: the CLI declares `serve`'s options from this module, and a damaged install without
the service's packages can still say what is missing when `serve` runs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_engine.errors import EngineError
from nst_engine.pictures.images import DEFAULT_MAX_PIXELS
from nst_engine.service.budgets import Budgets, machine_memory
from nst_engine.settings import add_arguments, from_args

MIN_REMOTE_TOKEN = 32  # characters of a token that guards an engine reachable from other computers
_DEFAULT_BUDGETS = Budgets.from_memory(machine_memory())


@dataclass
class ServiceConfig:
    token: str
    weights: Any = None  # a Path, or None for the cache's weights file
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    max_body_bytes: int = 512 * 2**20
    max_queue: int = 8
    server_settings: dict[str, Any] = field(default_factory=dict)  # device, precision: every job gets them
    budgets: Budgets = field(default_factory=lambda: _DEFAULT_BUDGETS)
    docs_need_token: bool = False  # when listening beyond loopback


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Budgets.from_memory(machine_memory())
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--token-file", type=Path, help="file with the bearer token (made, mode 0600, if missing); "
                        f"required beyond loopback, holding at least {MIN_REMOTE_TOKEN} characters, mode 0600")
    parser.add_argument("--state-file", type=Path, help="where to announce URL and pid (default: the cache dir)")
    parser.add_argument("--idle-timeout", type=float, default=0, help="exit after this many idle seconds (0 = never)")
    parser.add_argument("--weights", type=Path, help="VGG-19 weights file (default: the cache's)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM; with --tls-key): "
                        "beyond loopback, the token then never crosses the network in clear text")
    parser.add_argument("--tls-key", type=Path, help="the private key of --tls-cert (PEM)")
    # The device and precision every job runs with (jobs cannot choose others), declared in settings.py.
    parser.set_defaults(server_setting_names=add_arguments(parser, only=("device", "precision", "memory_limit")))
    parser.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="largest image accepted, in pixels")
    parser.add_argument("--max-request-pixels", type=int, default=defaults.request_pixels,
                        help="decoded pixels of one job's images together (default: from this machine's memory)")
    parser.add_argument("--max-queued-pixels", type=int, default=defaults.queued_pixels,
                        help="decoded pixels of all queued jobs together (default: from this machine's memory)")
    parser.add_argument("--max-result-mb", type=float, default=defaults.result_bytes / 2**20,
                        help="finished results kept for fetching, in MB (default: from this machine's memory)")
    parser.add_argument("--memory-limit-mb", type=float, default=0, help=argparse.SUPPRESS)  # the old --memory-limit
    parser.add_argument("--max-body-mb", type=float, default=512, help="largest request accepted, in MB")
    parser.add_argument("--max-queue", type=int, default=8, help="jobs that may wait at once")
    parser.add_argument("--header-timeout", type=float, default=10, help="seconds a request's headers may take")
    parser.add_argument("--body-timeout", type=float, default=30, help="seconds a request body may stall")


def config_from_args(args: argparse.Namespace, token: str, loopback: bool) -> ServiceConfig:
    """The configuration `serve`'s options ask for; EngineError for a budget that isn't positive."""
    budgets = Budgets(request_pixels=args.max_request_pixels, queued_pixels=args.max_queued_pixels,
                      result_bytes=int(args.max_result_mb * 2**20))
    checked = {"--max-request-pixels": budgets.request_pixels, "--max-queued-pixels": budgets.queued_pixels,
               "--max-result-mb": budgets.result_bytes, "--max-queue": args.max_queue}
    for name, value in checked.items():
        if value < 1:
            raise EngineError(f"{name} must be positive.")
    if args.memory_limit_mb and args.memory_limit is None:
        args.memory_limit = int(args.memory_limit_mb * 2**20)
    return ServiceConfig(
        token=token, weights=args.weights, max_image_pixels=args.max_image_pixels,
        max_body_bytes=int(args.max_body_mb * 2**20), max_queue=args.max_queue,
        server_settings=_server_settings(args), budgets=budgets, docs_need_token=not loopback,
    )  # fmt: skip


def _server_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The server-only settings given on the command line (validated by the schema), for every job."""
    chosen = from_args(args, args.server_setting_names)
    return {name: getattr(chosen, name) for name in args.server_setting_names}
