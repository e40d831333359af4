"""The animation procedure's dialog: the main filter's dialog (dialog.py: styles, thumbnails, recent styles,
estimate, preview of the first frame) with the steadiness control and a line saying which frames it styles.

Why a subclass: the style controls, their layout and their checks are the main dialog's, defined once there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gtk", "3.0")
import animation_logic as A  # noqa: E402
import dialog_logic as D  # noqa: E402
from dialog import StyleTransferDialog  # noqa: E402
from gi.repository import Gimp, GObject, Gtk  # noqa: E402


class AnimationDialog(StyleTransferDialog):
    """`run()` as the main dialog's; `first` (the first frame) is the layer its preview and estimate use."""

    TITLE = "Neural Style Transfer (Animation)"
    MAIN_EXTRA = (A.STEADINESS[0],)
    ADVANCED_EXTRA = (A.LONG_TERM[0],)
    REGIONS = False  # every frame is styled whole, by style files (nst_logic.FRAME_ARGUMENTS)

    def __init__(self, procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, first: Gimp.Layer,
                 connect: Callable[[], Any], frames: int, where: str) -> None:
        self.frames, self.where = frames, where
        super().__init__(procedure, config, first, connect)

    def _build(self) -> None:
        super()._build()
        steadiness = self.dialog.get_widget(A.STEADINESS[0], GObject.TYPE_NONE)
        box = steadiness.get_parent() if steadiness is not None else None
        if isinstance(box, Gtk.Box):
            note = Gtk.Label(label=f"{A.STEADINESS_HELP}\nStyles the {self.frames} frames of {self.where}, the "
                                   "bottom layer first, into a new layer group above them.")
            note.set_xalign(0.0)
            note.set_line_wrap(True)
            note.set_max_width_chars(48)
            note.get_style_context().add_class("dim-label")
            box.pack_start(note, False, False, 0)
            box.reorder_child(note, [c for c in box.get_children()].index(steadiness) + 1)
            note.show()
        self.state["frames"], self.state["frames_from"] = self.frames, self.where

    def _show_estimate(self, generation: int, text: str, full: str | None = None) -> bool:
        """The engine estimates one frame: the line says so and gives the whole animation's time roughly."""
        if text != D.ESTIMATING and not text.startswith(D.UNAVAILABLE):
            text = f"Each of the {self.frames} frames \u2014 {text}"
        return super()._show_estimate(generation, text, full)
