"""The style controls' PDB arguments (nst_logic.ARGUMENTS), added to a procedure and read back from its config.

Why a module: the main filter and the animation procedure take the same style arguments; the entry script
(neural_style_transfer.py) cannot be imported, so what both need is defined here once.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
import nst_logic  # noqa: E402
from gi.repository import Gimp, GObject  # noqa: E402

RW = GObject.ParamFlags.READWRITE


def add(procedure: Gimp.Procedure, rows: tuple = nst_logic.ARGUMENTS) -> None:
    """Each row of `rows` (nst_logic.ARGUMENTS, or the animation's FRAME_ARGUMENTS) as an argument, in order."""
    for arg_name, kind, nick, blurb, extra in rows:
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
            for i, (nick_, label, help_) in enumerate(extra["choices"]):
                choice.add(nick_, i, label, help_)
            procedure.add_choice_argument(arg_name, nick, blurb, choice, extra["default"], RW)
        elif kind == "string":
            procedure.add_string_argument(arg_name, nick, blurb, extra["default"], RW)
        elif kind == "drawable":
            procedure.add_drawable_argument(arg_name, nick, blurb, extra["none_ok"], RW)
