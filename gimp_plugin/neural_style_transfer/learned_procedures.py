"""The learned-style procedures beside the main filter: "Apply Learned Style…" and "Learn a Style…".

Apply sends the layer at its full size to the engine's ONNX Runtime apply job (seconds) and writes
the result by the main filter's rules (layer_io.write_result_layer). Learn sends a style picture and
photographs from a folder to a learning job (minutes to hours) and follows its progress; the engine
goes on when the artist closes the window, and the style appears in Apply's list when it is stored.
Registered from neural_style_transfer.py; every Gimp.* call stays on the main thread.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
import animation_logic  # noqa: E402
import engine_client  # noqa: E402
import engine_connection  # noqa: E402
import layer_io  # noqa: E402
import learned_logic as L  # noqa: E402
import plugin_messages  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402
from gi.repository import Gimp, GLib, GObject  # noqa: E402
from layer_io import PluginFailure  # noqa: E402

PROCEDURES = (L.APPLY_PROC, L.LEARN_PROC)
RW = GObject.ParamFlags.READWRITE
ATTRIBUTION = ("Neural Style Transfer for GIMP contributors",
               "Neural Style Transfer for GIMP contributors, GPL-3.0-or-later", "2026")


def create_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    run = _run_apply if name == L.APPLY_PROC else _run_learn
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_menu_label(L.APPLY_LABEL if name == L.APPLY_PROC else L.LEARN_LABEL)
    procedure.add_menu_path(L.MENU_PATH)  # after the label: GIMP refuses a menu path without one
    procedure.set_attribution(*ATTRIBUTION)
    if name == L.APPLY_PROC:
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_documentation(
            "Paint the selected layer in a learned style, in seconds, at its full size",
            "Applies a style learned with Learn a Style\u2026 (a feed-forward network run by ONNX Runtime in the "
            "nst-engine program) to the whole layer at its own resolution. The result is a new layer directly "
            "above the source, with the source's offsets and alpha and a mask from the selection, in one undo "
            "step; strength 0 gives the layer back, 1 the full style.", name)
        procedure.add_string_argument("style-name", "Learned st_yle",
                                      "Name of a learned style (see Learn a Style\u2026)", "", RW)
        procedure.add_double_argument("strength", "S_trength", "0 = the layer unchanged, 1 = fully styled",
                                      0.0, 1.0, 1.0, RW)
        return procedure
    procedure.set_image_types("*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_documentation(
        "Learn a style from a picture, to apply it in seconds later",
        "Trains a style network on photographs from a folder (at least 8; a few dozen varied ones are best) "
        "with the style picture's textures and colours, in the nst-engine program. This takes minutes to "
        "hours; the engine goes on if the window is closed, and the style then appears in Apply Learned "
        "Style\u2026.", name)
    help_ = L.FIELD_HELP
    procedure.add_file_argument("style-file", "St_yle image", help_["style-file"],
                                Gimp.FileChooserAction.OPEN, False, None, RW)
    procedure.add_file_argument("photos-folder", "_Photos folder", help_["photos-folder"],
                                Gimp.FileChooserAction.SELECT_FOLDER, False, None, RW)
    procedure.add_string_argument("style-name", "_Name", help_["style-name"], "", RW)
    procedure.add_int_argument("steps", "S_teps", help_["steps"], 1, 1_000_000, 2000, RW)
    procedure.add_int_argument("training-size", "Training si_ze", help_["training-size"], 64, 1024, 256, RW)
    choice = Gimp.Choice.new()
    for index, (nick, label, choice_help) in enumerate(L.WIDTH_CHOICES):
        choice.add(nick, index, label, choice_help)
    procedure.add_choice_argument("network", "Net_work", help_["network"], choice, "small", RW)
    procedure.add_double_argument("style-strength", "Style stren_gth", help_["style-strength"], 0.05, 20.0, 1.0, RW)
    procedure.add_boolean_argument("replace", "Replace an e_xisting style of this name", help_["replace"], False, RW)
    procedure.add_boolean_argument("keep-running", "_Keep learning when closed", help_["keep-running"], True, RW)
    return procedure


# --- shared -------------------------------------------------------------------------------------


class _Runner(EngineJobRunner):
    """EngineJobRunner for the learned-style jobs: `submit(client)` queues the job to follow."""

    def __init__(self, submit: Callable[[Any], Any]) -> None:
        super().__init__(_connect, None, [], {})
        self._submit_job = submit

    def _submit(self, client: Any) -> Any:
        return self._submit_job(client)


def _connect() -> Any:
    return engine_client.EngineClient.connect(engine_connection.load_config(), start_if_needed=True)


def _failure(exc: BaseException) -> PluginFailure:
    if isinstance(exc, PluginFailure):
        return exc
    if isinstance(exc, plugin_messages.PluginError):
        return PluginFailure(plugin_messages.for_artist(exc.what, exc.advice))
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    return PluginFailure(plugin_messages.for_artist(*plugin_messages.internal_error(exc)))


def _wait(runner: _Runner, name: str, learning: bool) -> tuple[str, Any]:
    """Follow the job with GIMP's progress bar: ("done"|"error", payload)."""

    def show(payload: Any) -> None:
        Gimp.progress_set_text(L.progress_text(payload, name, learning))
        fraction = L.progress_fraction(payload)
        if fraction is not None:
            Gimp.progress_update(fraction)
        else:
            Gimp.progress_pulse()

    return runner.wait(show, GLib.MainContext.default())


def _guard(procedure: Gimp.Procedure, body: Callable[[], Gimp.PDBStatusType]) -> Gimp.ValueArray:
    try:
        return procedure.new_return_values(body(), GLib.Error())
    except Exception as exc:  # noqa: BLE001 - an error status with a message beats a crashed plug-in
        failure = _failure(exc)
        sys.stderr.write(f"{procedure.get_name()}: {failure.message}\n")
        return procedure.new_return_values(failure.status, GLib.Error(failure.message))
    finally:
        layer_io.end_progress()


# --- Apply Learned Style… ------------------------------------------------------------------------


def _run_apply(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image,
               drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    def body() -> Gimp.PDBStatusType:
        source = layer_io.single_layer(drawables)
        if run_mode == Gimp.RunMode.INTERACTIVE and not _choose_style(config):
            return Gimp.PDBStatusType.CANCEL
        name, strength = (config.get_property("style-name") or "").strip(), config.get_property("strength")
        if not name:
            raise PluginFailure("No learned style is chosen. Choose one of the engine's learned styles.",
                                Gimp.PDBStatusType.CALLING_ERROR)
        content, alpha = layer_io.read_layer(image, source)
        Gimp.progress_init(f"Applying the learned style \u201c{name}\u201d\u2026")
        runner = _Runner(lambda client: client.apply_learned(name, content, strength))
        runner.start()
        kind, payload = _wait(runner, name, learning=False)
        if kind != "done":
            if isinstance(payload, engine_client.JobCancelled):
                return Gimp.PDBStatusType.CANCEL
            raise _failure(payload)
        record = L.apply_record(name, strength, source.get_name(), content.sample_format)
        record["source_tattoo"] = source.get_tattoo()  # placement.py finds the earlier results by it
        layer_io.write_result_layer(image, source, payload, alpha, L.layer_name(source.get_name(), name), record)
        return Gimp.PDBStatusType.SUCCESS

    return _guard(procedure, body)


def _choose_style(config: Gimp.ProcedureConfig, steadiness: str | None = None) -> bool:
    """The style chooser (thumbnails from the engine's library); fills the config, False when cancelled.
    With `steadiness` (an argument's name: the animation procedure's) it has that slider too."""
    from learned_windows import StyleChooser

    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(L.APPLY_PROC)
    Gimp.progress_init("Asking the engine for its learned styles\u2026")
    try:
        listing = _connect().learned_styles(thumbnails=True)
    except Exception as exc:  # noqa: BLE001
        raise _failure(exc) from None
    styles = L.usable_styles(listing)
    if not styles:
        raise PluginFailure(f"The engine has no learned styles yet: make one with {L.MENU_WORDS} \u2192 "
                            f"{L.LEARN_LABEL}" + (" (one is being learned now)." if listing.get("learning") else "."))
    _name, _nick, blurb, low, high, _default = animation_logic.STEADINESS
    steady = (config.get_property(steadiness), low, high, blurb) if steadiness else None
    chooser = StyleChooser(styles, config.get_property("style-name"), config.get_property("strength"), steady)
    chosen = chooser.run()
    if chosen is None:
        return False
    if steadiness:
        config.set_property(steadiness, chooser.steadiness)
    config.set_property("style-name", chosen[0])
    config.set_property("strength", chosen[1])
    return True


# --- Learn a Style… -------------------------------------------------------------------------------


def _run_learn(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image,
               drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    interactive = run_mode == Gimp.RunMode.INTERACTIVE

    def body() -> Gimp.PDBStatusType:
        if interactive and not _learn_dialog(procedure, config):
            return Gimp.PDBStatusType.CANCEL
        style_file, folder = config.get_property("style-file"), config.get_property("photos-folder")
        style_path = style_file.get_path() if style_file is not None else None
        folder_path = folder.get_path() if folder is not None else None
        if not style_path or not folder_path:
            raise PluginFailure("Choose a style image and a folder of photographs.", Gimp.PDBStatusType.CALLING_ERROR)
        name = (config.get_property("style-name") or "").strip() or L.default_style_name(style_path)
        photos, usable = L.pick_photos(folder_path)
        if len(photos) < L.MIN_PHOTOS:
            raise PluginFailure(f"{folder_path} has {usable} photograph(s) the plug-in can send; learning a style "
                                f"needs at least {L.MIN_PHOTOS} (JPEG, PNG, TIFF or WebP files).",
                                Gimp.PDBStatusType.CALLING_ERROR)
        style = _read_file(style_path, "style image")
        files = [(os.path.basename(path), _read_file(path, "photograph")) for path in photos]
        options = L.learn_options(config.get_property("steps"), config.get_property("training-size"),
                                  config.get_property("network"), config.get_property("style-strength"))
        keep, replace = config.get_property("keep-running"), config.get_property("replace")
        runner = _Runner(lambda client: client.learn_style(name, style, files, options, keep_running=keep,
                                                           replace=replace, style_filename=style_path))
        Gimp.progress_init(f"Learning the style \u201c{name}\u201d from {len(files)} photographs\u2026")
        runner.start()
        if interactive:
            from learned_windows import LearningWindow

            kind, payload = LearningWindow(name, len(files), runner, keep).run()
            if kind in ("done", "closed"):
                from learn_dialog import show_information

                show_information(L.learning_outcome_title(kind, payload), L.learning_outcome_text(kind, payload, name))
        else:
            kind, payload = _wait(runner, name, learning=True)
        if kind in ("done", "closed"):
            return Gimp.PDBStatusType.SUCCESS
        if kind == "cancelled" or isinstance(payload, engine_client.JobCancelled):
            return Gimp.PDBStatusType.CANCEL
        raise _failure(payload)

    return _guard(procedure, body)


def _learn_dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi
    from learn_dialog import LearnDialog

    GimpUi.init(L.LEARN_PROC)
    return LearnDialog(procedure, config, _connect).run()


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise PluginFailure(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
