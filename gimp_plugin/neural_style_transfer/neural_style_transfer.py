#!/usr/bin/env python3
"""Neural Style Transfer for GIMP 3: the GIMP glue (registration, dialog, read layer, write layer).

Thin on purpose: pure logic lives in nst_logic.py, the engine protocol in engine_client.py, the
worker thread in engine_job.py and the interactive progress window in progress_window.py. Every
Gimp.* call happens on the main thread (the PDB is not thread safe); the new layer is created only
after the engine's result arrived, so a cancelled or killed run never leaves a half-written layer.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Modules imported only when a window opens (GTK): their files are checked at start as well, so that a
# missing one is reported before anything runs (tests/test_plugin_folder.py keeps this list complete).
WINDOW_MODULES = ("animation_dialog", "dialog", "dialog_chooser", "dialog_logic", "dialog_preview", "dialog_regions",
                  "dialog_state", "learn_dialog", "region_map", "learned_windows", "pixbufs",
                  "progress_model", "progress_window", "settings_window")
# What the menus show when a file is missing, so that the plug-in does not vanish: each procedure's name,
# menu label and kind, as its module registers it (tests/test_plugin_folder.py and the real-GIMP test
# tests/test_gimp_plugin_copy.py compare them).
FALLBACK_MENU_PATH = "<Image>/Filters/Artistic/Neural Style Transfer"
FALLBACK_PROCEDURES = (
    ("plug-in-neural-style-transfer", "Paint with a Style\u2026", "layer"),
    ("plug-in-neural-style-transfer-settings", "Engine Settings\u2026", "plain"),
    ("plug-in-nst-apply-learned-style", "Apply Learned Style\u2026", "layer"),
    ("plug-in-nst-learn-style", "Learn a Style\u2026", "image"),
)


def _incomplete(error: ImportError) -> str:
    """What is missing and what to do, for GIMP's error dialog (no module of the folder can be trusted here)."""
    name = getattr(error, "name", None) or str(error)
    if os.path.isfile(os.path.join(HERE, f"{name}.py")):
        what = f"the plug-in folder {HERE} could not load {name}.py ({error})"
    else:
        what = f"{name}.py is missing from the plug-in folder {HERE}"
    return (f"Neural Style Transfer cannot run: {what}. The image was not changed. Copy the whole folder "
            "gimp_plugin/neural_style_transfer from the plug-in's download into GIMP's plug-ins folder again "
            "(or run the installer again), then restart GIMP.")


try:
    import animation_procedure
    import config_values
    import engine_client
    import engine_connection
    import layer_io
    import learned_procedures
    import nst_logic
    import placement
    import plugin_messages
    import recent_styles
    import region_logic
    import repeat_values
    import rerun
    import settings_procedure
    import style_arguments
    import style_files
    import style_layers
    from engine_job import EngineJobRunner
    from layer_io import PluginFailure

    for _window in WINDOW_MODULES:
        if not os.path.isfile(os.path.join(HERE, f"{_window}.py")):  # its file, not a namesake elsewhere
            raise ModuleNotFoundError(f"No module named {_window!r}", name=_window)
    INCOMPLETE = None
except ImportError as _error:
    INCOMPLETE = _incomplete(_error)
    sys.stderr.write(INCOMPLETE + "\n")

PROC = FALLBACK_PROCEDURES[0][0] if INCOMPLETE else nst_logic.PROC_NAME
RW = GObject.ParamFlags.READWRITE


# --- registration -------------------------------------------------------------------------------


class NeuralStyleTransfer(Gimp.PlugIn):
    """Registers `plug-in-neural-style-transfer` and the learned-style procedures (learned_procedures.py)."""

    def do_query_procedures(self) -> list[str]:
        if INCOMPLETE:
            return [name for name, _label, _kind in FALLBACK_PROCEDURES]
        return [PROC, settings_procedure.PROC, *learned_procedures.PROCEDURES, *animation_procedure.PROCEDURES]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        if INCOMPLETE:
            return _fallback_procedure(self, name)
        if name in learned_procedures.PROCEDURES:
            return learned_procedures.create_procedure(self, name)
        if name in animation_procedure.PROCEDURES:  # Filters → Animation
            return animation_procedure.create_procedure(self, name)
        if name == settings_procedure.PROC:  # the engine connection, seen and fixed inside GIMP
            return settings_procedure.create_procedure(self, name)
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(nst_logic.MENU_LABEL)
        procedure.add_menu_path(nst_logic.MENU_PATH)
        procedure.set_documentation(
            "Paint the selected layer in the style of another image",
            "Neural style transfer (Gatys, Ecker and Bethge, 2015): repaints the selected layer with "
            "the textures, colours and brushwork of one or two style images. The result is a new layer "
            "directly above the source layer (with a layer mask from the selection, if any); the source "
            "layer is not changed. The work is done by the separate nst-engine program (PyTorch), "
            "started on demand or reached over HTTP as configured in engine.json.",
            name,
        )
        procedure.set_attribution("Neural Style Transfer for GIMP contributors",
                                  "Neural Style Transfer for GIMP contributors, GPL-3.0-or-later", "2025")
        style_arguments.add(procedure)
        return procedure


def _fallback_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    """A procedure in the usual menu place whose every run is GIMP's error dialog naming the missing file."""
    label, kind = next((label, kind) for name_, label, kind in FALLBACK_PROCEDURES if name_ == name)
    if kind == "plain":
        procedure = Gimp.Procedure.new(plugin, name, Gimp.PDBProcType.PLUGIN,
                                       lambda proc, _config, _data: _refuse(proc), None)
        procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                    Gimp.RunMode.INTERACTIVE, RW)
    else:
        procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN,
                                            lambda proc, *_args: _refuse(proc), None)
        procedure.set_image_types("RGB*, GRAY*" if kind == "layer" else "*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE if kind == "layer"
                                   else Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_menu_label(label)
    procedure.add_menu_path(FALLBACK_MENU_PATH)
    procedure.set_documentation("Neural Style Transfer is incomplete", INCOMPLETE, name)
    procedure.set_attribution("Neural Style Transfer for GIMP contributors",
                              "Neural Style Transfer for GIMP contributors, GPL-3.0-or-later", "2026")
    return procedure


def _refuse(procedure: Gimp.Procedure) -> Gimp.ValueArray:
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(INCOMPLETE))


# --- run --------------------------------------------------------------------------------------


def run(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image,
        drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    """The procedure: check, ask (interactive), read, stylise, write. Errors leave the image unchanged."""
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    # Dialog and Repeat offer the values of an interactive run that failed (GIMP keeps only successful ones).
    remembered = repeat_values.values_file(Gimp.directory()) if run_mode != Gimp.RunMode.NONINTERACTIVE else None
    tried: dict[str, Any] | None = None
    held: list[Any] = []  # the progress window, open while the result is written ("Writing the result…")
    try:
        source = layer_io.single_layer(drawables)
        result_layer, source = rerun.prepare(image, source, interactive)  # a result: update it in place
        if source is None:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        if result_layer is not None and (problem := rerun.size_problem(result_layer, source)):
            raise PluginFailure(problem, Gimp.PDBStatusType.CALLING_ERROR)
        if remembered is not None:
            config_values.set_values(config, repeat_values.pending(remembered))
        if interactive:
            if not _show_dialog(procedure, config, source, result_layer or source, remembered):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        tried = config_values.values(config) if remembered is not None else None
        repeat_values.remember(remembered, tried)  # until a run succeeds: GIMP keeps a run's values only then
        args = config_values.read_args(config)
        try:
            plan = style_layers.plan_for(image, args)
        except region_logic.RegionProblem as problem:
            raise PluginFailure(plugin_messages.for_artist(problem.what, problem.advice),
                                Gimp.PDBStatusType.CALLING_ERROR) from None
        styles = config_values.read_styles(config, args)
        settings = region_logic.settings_for(nst_logic.engine_settings(args), plan)
        content, alpha = layer_io.read_layer(image, source)
        regions = (plan.fields(), style_layers.read_masks(image, source, plan)) if plan is not None else None
        outcome, payload, painted = _stylise(content, styles, settings, interactive, alpha, args.style_names(),
                                             held, regions)
        if outcome == "cancelled":
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        size = (content.width, content.height)
        notes = placement.painted_note(painted, size, payload.stopped_early)
        if result_layer is not None:
            written = rerun.rewrite(image, result_layer, source, payload, alpha, args, settings,
                                    content.sample_format, notes)
        else:
            written = _write_layer(image, source, payload, alpha, args, settings, content.sample_format, notes,
                                   mask_from_selection=plan is None)
        for window in held:  # the layer is there: "Writing the result…" is over, before any message
            window.close()
        told = placement.after_message(written.get_name(), painted, size, payload.stopped_early,
                                       nst_logic.SIZE_CONTROL)
        told = " ".join(filter(None, [told, *payload.warnings]))  # e.g. a mask the engine had to scale
        if told and run_mode != Gimp.RunMode.NONINTERACTIVE:
            Gimp.message(told)  # GIMP shows it without stopping anything (status bar, console or a message)
        if run_mode != Gimp.RunMode.NONINTERACTIVE:  # the dialog's "Recent styles" (scripts do not count)
            recent_styles.remember(recent_styles.recent_file(Gimp.directory()), args.style_paths())
        if interactive and remembered is not None:  # GIMP stores this run's values itself
            repeat_values.forget(remembered)
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    except PluginFailure as failure:
        sys.stderr.write(f"{PROC}: {failure.message}\n")
        return procedure.new_return_values(failure.status, GLib.Error(failure.message))
    except Exception as exc:  # noqa: BLE001 - an error status with a message beats a crashed plug-in
        traceback.print_exc()
        message = plugin_messages.for_artist(*plugin_messages.internal_error(exc))
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
    finally:
        for window in held:
            window.close()
        layer_io.end_progress()


def _show_dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, source: Gimp.Layer,
                 settings_from: Gimp.Layer, remembered: Any) -> bool:
    """The dialog for `source`, pre-filled from `settings_from` (the result being re-run, or the source),
    then from the values of an OK whose run has not succeeded yet (`remembered`): newer, so they win."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(PROC)
    told = config_values.offer_stored_settings(config, settings_from)
    if remembered is not None:
        told += config_values.set_values(config, repeat_values.pending(remembered))
    import dialog  # GTK only when there is a dialog to show

    # A re-run's style layer that is gone: said in the dialog itself, above the style
    return bool(dialog.show(procedure, config, source, _connect, list(dict.fromkeys(told))))


# --- talking to the engine (worker thread) while the main thread shows progress -----------------


def _connect() -> Any:
    """Runs in the worker thread: find (or start) the engine as engine.json says."""
    return engine_client.EngineClient.connect(engine_connection.load_config(), start_if_needed=True)


def _stylise(content: Any, styles: list[bytes], settings: dict[str, Any], interactive: bool,
             alpha: bytes | None = None, style_paths: list[str] | None = None, held: list[Any] | None = None,
             regions: Any = None) -> tuple[str, Any, tuple[int, int] | None]:
    """Run the job; returns ("done", RawImage, the size it was painted at) or ("cancelled", None, None);
    raises PluginFailure. A finished job's progress window goes into `held`, open, for the caller to close
    once the result is written."""
    Gimp.progress_init("Neural Style Transfer: connecting to the engine\u2026")
    runner = EngineJobRunner(_connect, content, styles, settings, preview=interactive,
                             style_names=[style_files.file_name(p) for p in style_paths or []], regions=regions)
    runner.start()
    progress = _GimpProgress()
    if interactive:
        from progress_window import ProgressWindow

        window = ProgressWindow("Neural Style Transfer \u2014 working", runner, progress.update, content, alpha)
        outcome, payload = window.run(hold_on_done=held is not None)
        if held is not None and window.dialog is not None:
            held.append(window)
    else:
        outcome, payload = runner.wait(progress.update, GLib.MainContext.default())
    if outcome == "error":
        return _failure_or_cancel(payload)
    if outcome == "done":
        _check_result(payload, content)
    return outcome, payload, progress.painted


def _failure_or_cancel(exc: BaseException) -> tuple[str, Any, None]:
    if isinstance(exc, engine_client.JobCancelled):
        return "cancelled", None, None
    if isinstance(exc, plugin_messages.PluginError):  # engine, connection and engine.json failures
        raise PluginFailure(plugin_messages.for_artist(exc.what, exc.advice))
    if isinstance(exc, ImportError):
        raise PluginFailure(plugin_messages.for_artist(f"The plug-in is incomplete ({exc}).",
                                                       nst_logic.installer_hint()))
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    raise PluginFailure(plugin_messages.for_artist(*plugin_messages.internal_error(exc)))


def _check_result(result: Any, content: Any) -> None:
    expected = result.width * result.height * 16
    if result.sample_format != "f32" or result.width < 1 or result.height < 1 or len(result.data) != expected:
        raise PluginFailure(
            f"The engine returned an unusable {result.width}x{result.height} {result.sample_format} image "
            f"for a {content.width}x{content.height} layer. Update the engine (run the installer again)."
        )


class _GimpProgress:
    """GIMP's own progress bar, updated on the main thread, at most ~10 times a second."""

    def __init__(self) -> None:
        self._last = 0.0
        self._text = ""
        self.painted: tuple[int, int] | None = None  # the largest working size the engine reported

    def update(self, event: dict[str, Any]) -> None:
        self.painted = nst_logic.painted_size(self.painted, event)
        now = time.monotonic()
        text = nst_logic.progress_text(event)
        if text != self._text and (now - self._last > 0.1 or "iteration" not in text):
            Gimp.progress_set_text(text)
            self._text = text
            self._last = now
        fraction = nst_logic.progress_fraction(event)
        if fraction is not None:
            Gimp.progress_update(fraction)
        else:
            Gimp.progress_pulse()


# --- writing the result -------------------------------------------------------------------------


def _write_layer(image: Gimp.Image, source: Gimp.Layer, result: Any, alpha: bytes, args: nst_logic.PluginArgs,
                 settings: dict[str, Any], content_format: str, notes: list[str],
                 mask_from_selection: bool = True) -> Gimp.Layer:
    """The result as a new layer by the rules every procedure shares (layer_io.write_result_layer); its name
    says when it was painted smaller than the layer or stopped early (`notes`)."""
    name = placement.named(nst_logic.layer_name(source.get_name(), args.style_names()), notes)
    record = nst_logic.settings_record(args, settings, source.get_name(), getattr(result, "message", None),
                                       content_format)
    record["source_tattoo"] = source.get_tattoo()  # finds the source again for a re-run (rerun.py)
    return layer_io.write_result_layer(image, source, result, alpha, name, record, mask_from_selection)


Gimp.main(NeuralStyleTransfer.__gtype__, sys.argv)
