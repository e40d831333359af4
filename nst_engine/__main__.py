"""`nst-engine` and `python -m nst_engine`: the one-shot commands (cli/) and `serve`, the long-running
service (service/). The two front ends meet only here, at the top, so neither stands on the other.
"""

from __future__ import annotations

import argparse

from nst_engine.cli.common import fail
from nst_engine.cli.main import main as run_command


def serve(args: argparse.Namespace) -> int:
    try:
        from nst_engine.service.instance import run_serve
    except ImportError as error:  # a damaged install: say so instead of a traceback
        missing = error.name or "a dependency"
        return fail(f"the service needs {missing}, which is not installed: run the installer again "
                    "(or `pip install --upgrade nst-engine`).")
    return run_serve(args)


def main(argv: list[str] | None = None) -> int:
    return run_command(argv, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
