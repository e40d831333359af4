"""The style controls' PDB arguments (nst_logic.ARGUMENTS), added to a procedure and read back from its config.

Why a module: the main filter and the animation procedure take the same style arguments; the entry script
(neural_style_transfer.py) cannot be imported, so what both need is defined here once.
"""

from __future__ import annotations

from typing import Any

import gi

gi.require_version("Gimp", "3.0")
import nst_logic  # noqa: E402
from gi.repository import Gimp, GObject  # noqa: E402

RW = GObject.ParamFlags.READWRITE


def add(procedure: Gimp.Procedure) -> None:
    """Every row of nst_logic.ARGUMENTS as an argument of `procedure`, in order."""
    for arg_name, kind, nick, blurb, extra in nst_logic.ARGUMENTS:
        if kind == "file":
            procedure.add_file_argument(arg_name, nick, blurb, Gimp.FileChooserAction.OPEN, extra["none_ok"], None, RW)
        elif kind == "double":
            procedure.add_double_argument(arg_name, nick, blurb, extra["min"], extra["max"], extra["default"], RW)
        elif kind == "int":
            procedure.add_int_argument(arg_name, nick, blurb, extra["min"], extra["max"], extra["default"], RW)
        elif kind == "bool":
            procedure.add_boolean_argument(arg_name, nick, blurb, extra["default"], RW)
        elif kind == "choice":
            choice = Gimp.Choice.new()
            for i, (nick_, label, help_) in enumerate(nst_logic.QUALITY_CHOICES):
                choice.add(nick_, i, label, help_)
            procedure.add_choice_argument(arg_name, nick, blurb, choice, extra["default"], RW)


def values(config: Gimp.ProcedureConfig) -> dict[str, Any]:
    """{argument-name: value} from the config, file arguments as paths."""
    found: dict[str, Any] = {}
    for name, kind, *_rest in nst_logic.ARGUMENTS:
        value = config.get_property(name)
        if kind == "file":
            value = value.get_path() if value is not None else None
        found[name] = value
    return found
