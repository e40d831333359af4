"""The style images used last, newest first, for the dialog's one-click "Recent styles" row.

Pure logic, standard library only (GIMP's Python): a small JSON list kept in the plug-in's folder of
GIMP's profile (the GIMP glue passes `Gimp.directory()`), so each GIMP profile (and each test's
throwaway profile) has its own. Paths are compared after normalisation, so the same file chosen
through two spellings counts once; files that no longer exist are dropped when the list is read, so
the dialog never offers a picture it cannot show.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LIMIT = 8
FOLDER_NAME = "neural-style-transfer"
FILE_NAME = "recent-styles.json"


def recent_file(gimp_directory: str | os.PathLike[str]) -> Path:
    """Where the list lives inside GIMP's per-user folder."""
    return Path(gimp_directory) / FOLDER_NAME / FILE_NAME


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def merge(used: Iterable[str], previous: Iterable[str], limit: int = LIMIT) -> list[str]:
    """`used` (most recent first) in front of `previous`, duplicates removed, at most `limit`."""
    out: list[str] = []
    seen: set[str] = set()
    for path in [*used, *previous]:
        if not isinstance(path, str) or not path:
            continue
        key = _key(path)
        if key in seen:
            continue
        seen.add(key)
        out.append(os.path.abspath(path))
        if len(out) >= limit:
            break
    return out


def _read(file: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(file: str | os.PathLike[str], value: dict[str, Any]) -> None:
    target = Path(file)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(value, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


def load(file: str | os.PathLike[str], exists: bool = True) -> list[str]:
    """The stored list; [] when missing or unreadable. With `exists`, only files that still exist."""
    value = _read(file)
    paths = value.get("styles") if isinstance(value, dict) else value
    if not isinstance(paths, list):
        return []
    kept = merge([p for p in paths if isinstance(p, str)], [])
    return [p for p in kept if os.path.isfile(p)] if exists else kept


def remember(file: str | os.PathLike[str], used: Iterable[str], limit: int = LIMIT) -> list[str]:
    """Put the styles just used in front and save; returns the new list. Never raises on I/O: a list
    that cannot be saved only costs the artist a shortcut, not their result."""
    paths = merge(used, load(file), limit)
    _write(file, {"styles": paths})
    return paths


def last_style(file: str | os.PathLike[str], pending: str | None = None) -> str | None:
    """The style picked last: `pending` (the style of an OK whose run has not succeeded yet, kept by
    repeat_values.py) if that file exists, else the most recent that exists."""
    if pending and os.path.isfile(pending):
        return pending
    paths = load(file)
    return paths[0] if paths else None
