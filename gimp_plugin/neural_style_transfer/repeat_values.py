"""The values of the last interactive run that did not succeed, so that Repeat and the dialog offer them.

Why: GIMP stores a procedure's "last values" (what Filters → Repeat and the next dialog use) only after
an interactive run that returns SUCCESS. When the engine stops in the middle of a run (killed, crashed,
out of memory), the artist starts it again and presses Repeat, and GIMP would repeat the run before,
or, on a fresh profile, run with no style at all; and a dialog opened after a failed OK had forgotten
the style just picked. So the plug-in keeps the values of each OK until its run succeeds (`remember`,
before the run, so that even a plug-in that dies keeps them), offers them to the next Repeat, dialog and
Learn window (`pending`), and drops them after a successful interactive run, whose values GIMP stores
itself (`forget`). Pure logic, standard
library only (the GIMP glue passes `Gimp.directory()` and sets the procedure's config).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nst_logic
from recent_styles import FOLDER_NAME

FILE_NAME = "repeat-values.json"


def values_file(gimp_directory: str | os.PathLike[str]) -> Path:
    """Where the values live inside GIMP's per-user folder (one per profile, as GIMP's own last values)."""
    return Path(gimp_directory) / FOLDER_NAME / FILE_NAME


def remember(file: str | os.PathLike[str] | None, values: Mapping[str, Any] | None) -> None:
    """Keep `values` ({argument-name: value}, files as paths) of a failed run. Nothing when there is no
    file (a script's run: GIMP keeps no values for those either) or no style (the run could not start).
    Never raises on I/O: losing them costs the artist a few clicks in the dialog, not their image."""
    if file is None or not values or not (values.get("style-file") or values.get("style-layer")):
        return
    arguments = {name.replace("-", "_"): values[name] for name in nst_logic.ARGUMENT_NAMES if name in values}
    target = Path(file)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(json.dumps({"arguments": arguments}, indent=1), encoding="utf-8")
        os.replace(temporary, target)
    except (OSError, TypeError, ValueError):
        pass


def pending(file: str | os.PathLike[str]) -> dict[str, Any]:
    """The remembered values ({argument-name: value}); {} when none, when the file is unreadable, or when
    the style picture is gone (a second style that is gone is dropped). Only known arguments with plausible
    types (nst_logic.args_from_record checks them)."""
    try:
        record = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    values = nst_logic.args_from_record(record) if isinstance(record, dict) else {}
    has_file = isinstance(values.get("style-file"), str) and os.path.isfile(values["style-file"])
    if not has_file and not values.get("style-layer"):  # a style layer is looked for when the values are set
        return {}
    second = values.get("style-file-2")
    if isinstance(second, str) and second and not os.path.isfile(second):
        values["style-file-2"] = None
    return values


def forget(file: str | os.PathLike[str]) -> None:
    with contextlib.suppress(OSError):
        Path(file).unlink()
