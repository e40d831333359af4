"""The CLI's error exit, shared by both its halves (main.py, learned.py): every failure a user can cause
ends in one line naming the fix and exit status 2, with one wording, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line, with the way to get help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(message: str) -> int:
    print(f"nst-engine: error: {message}", file=sys.stderr)
    return EXIT_USAGE
