"""The filter's procedure config as plain values and back: arguments, stored settings, the style files and layer.

Why apart from neural_style_transfer.py (GIMP's entry script, which cannot be imported): the dialog, Repeat and
re-runs all move values between the config and plain Python (files as paths, the style layer as a lasting
reference, style_layer_logic.py); one place does it. Main thread only (GIMP calls).
"""

from __future__ import annotations

import os
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
import nst_logic  # noqa: E402
import placement  # noqa: E402
import plugin_messages  # noqa: E402
import style_files  # noqa: E402
import style_layer_logic  # noqa: E402
import style_layers  # noqa: E402
from gi.repository import Gimp, Gio  # noqa: E402
from layer_io import PluginFailure  # noqa: E402


def set_values(config: Gimp.ProcedureConfig, values: dict[str, Any]) -> list[str]:
    """Put stored values ({argument-name: value}, files as paths, the style layer as a reference) into the
    config; a style file that is gone is skipped (the config keeps its own), one that cannot be set is skipped.
    Returns what the artist should be told (a style layer that is no longer open)."""
    gone = []
    for name, value in values.items():
        try:
            if name.startswith("style-file"):
                if value and os.path.isfile(value):
                    config.set_property(name, Gio.File.new_for_path(value))
                elif name == "style-file-2":
                    config.set_property(name, None)
            elif name == "style-layer":
                layer = style_layers.find(value)
                config.set_property(name, layer)
                if layer is None and style_layer_logic.is_ref(value):
                    gone.append(value)
            else:
                config.set_property(name, value)
        except (TypeError, ValueError):
            continue
    file = config.get_property("style-file")  # what takes the layer's place: the style file the dialog has
    return [style_layer_logic.gone_text(ref, file.get_path() if file is not None else None) for ref in gone]


def values(config: Gimp.ProcedureConfig, rows: tuple = nst_logic.ARGUMENTS) -> dict[str, Any]:
    """{argument-name: value} of `rows`' arguments from the config, file arguments as paths, the style layer
    as a reference."""
    out: dict[str, Any] = {}
    for name, kind, *_rest in rows:
        value = config.get_property(name)
        if kind == "file":
            value = value.get_path() if value is not None else None
        elif kind == "drawable":
            value = style_layers.ref_of(value)
        out[name] = value
    return out


def stored_record(layer: Gimp.Layer) -> dict[str, Any] | None:
    parasite = layer.get_parasite(nst_logic.PARASITE_NAME)
    return nst_logic.decode_parasite(list(parasite.get_data())) if parasite is not None else None


def latest_result_record(source: Gimp.Layer) -> dict[str, Any] | None:
    """The record of the source's latest result: the topmost sibling above it that is one of its results (where
    a new result goes, placement.insert_position), not merely the layer directly above."""
    parent = source.get_parent()
    siblings = parent.get_children() if parent is not None else source.get_image().get_layers()
    position = source.get_image().get_item_position(source)
    for layer in siblings[:position]:
        record = stored_record(layer)
        if record and placement.is_result_of(record, source.get_name(), source.get_tattoo()):
            return record
    return None


def offer_stored_settings(config: Gimp.ProcedureConfig, source: Gimp.Layer) -> list[str]:
    """Pre-fill the dialog with the settings stored on the layer (or on its latest result above it); returns
    what the artist should be told about them (set_values)."""
    record = stored_record(source) or latest_result_record(source)
    if record is None:
        return []
    return set_values(config, nst_logic.args_from_record(record))


def read_args(config: Gimp.ProcedureConfig) -> nst_logic.PluginArgs:
    args = nst_logic.PluginArgs.from_values(values(config))
    if not args.has_style():
        raise PluginFailure(plugin_messages.for_artist(*style_files.problem_parts(None)),
                            Gimp.PDBStatusType.CALLING_ERROR)
    try:
        args.extra = nst_logic.extra_settings_from_env()
    except ValueError as exc:
        raise PluginFailure(str(exc)) from exc
    return args


def read_style(path: str) -> bytes:
    """The style file's bytes; a file that is not a picture is refused here, by its name (style_files.py)."""
    parts = style_files.problem_parts(path)
    if parts is None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            parts = style_files.problem_parts(path) or (
                f"The style image \u201c{style_files.file_name(path)}\u201d cannot be read.", "Choose it again.")
    raise PluginFailure(plugin_messages.for_artist(*parts))


def read_styles(config: Gimp.ProcedureConfig, args: nst_logic.PluginArgs) -> list[bytes]:
    """The style pictures in the engine's order: the style layer (as a PNG) or the style file, then the second."""
    layer = config.get_property("style-layer")
    first = [style_layers.read_png(layer)] if layer is not None else []
    return first + [read_style(path) for path in args.style_paths()]
