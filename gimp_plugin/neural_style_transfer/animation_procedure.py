"""The animation procedures (Filters → Animation): style every frame of a GIMP animation, steady from frame to
frame, with style pictures (the main filter's controls) or a learned style. Registered from
neural_style_transfer.py; the rules are animation_logic's, the layers' side animation_layers', the engine's
frames job frames_client's. Every Gimp.* call stays on the main thread.
"""

from __future__ import annotations

import time
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
import animation_layers  # noqa: E402
import animation_logic as A  # noqa: E402
import config_values  # noqa: E402
import engine_client  # noqa: E402
import engine_connection  # noqa: E402
import frames_client  # noqa: E402
import learned_procedures  # noqa: E402
import nst_logic  # noqa: E402
import plugin_messages  # noqa: E402
import style_arguments  # noqa: E402
import style_files  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402
from gi.repository import Gimp, GLib, GObject  # noqa: E402
from layer_io import PluginFailure  # noqa: E402

PROCEDURES = (A.ANIMATION_PROC, A.LEARNED_ANIMATION_PROC)
RW = GObject.ParamFlags.READWRITE


def create_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    learned = name == A.LEARNED_ANIMATION_PROC
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN,
                                        _run_learned if learned else _run_styles, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_menu_label(A.LEARNED_ANIMATION_LABEL if learned else A.ANIMATION_LABEL)
    procedure.add_menu_path(A.MENU_PATH)
    procedure.set_attribution(*learned_procedures.ATTRIBUTION)
    procedure.set_documentation(
        "Style every frame of an animation, steady from frame to frame",
        "The frames are the image's layers (or, with a layer group selected, its layers), the bottom one first "
        "as GIMP plays them. Each frame starts from the one before, moved along with the picture, so the "
        "strokes stay on what moves. The styled frames go into a new layer group above, named after their "
        "frames with the same times and (combine)/(replace) tags, in one undo step. "
        + ("The style is a learned one (Learn a Style\u2026)." if learned else
           "The style controls are those of Paint with a Style\u2026."), name)
    if learned:
        procedure.add_string_argument("style-name", "Learned st_yle",
                                      "Name of a learned style (see Learn a Style\u2026)", "", RW)
        procedure.add_double_argument("strength", "S_trength", "0 = the frames unchanged, 1 = fully styled",
                                      0.0, 1.0, 1.0, RW)
    else:
        style_arguments.add(procedure, nst_logic.FRAME_ARGUMENTS)
    arg, nick, blurb, low, high, default = A.STEADINESS
    procedure.add_double_argument(arg, nick, blurb, low, high, default, RW)
    arg, nick, blurb, low, high, default = A.LONG_TERM
    procedure.add_int_argument(arg, nick, blurb, low, high, default, RW)
    return procedure


class _FramesRunner(EngineJobRunner):
    """EngineJobRunner for a frames job: `submit(client)` queues it; its outcome is a FramesResult."""

    def __init__(self, submit: Any, first: Any) -> None:
        super().__init__(_connect, first, [], {})
        self._submit_job = submit

    def _submit(self, client: Any) -> Any:
        return self._submit_job(client)


def _connect() -> Any:
    return engine_client.EngineClient.connect(engine_connection.load_config(), start_if_needed=True)


def _run_styles(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image,
                drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    def body() -> Gimp.PDBStatusType:
        parent, sources = animation_layers.find_frames(image, drawables)
        if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config, parent, sources):
            return Gimp.PDBStatusType.CANCEL
        args = nst_logic.PluginArgs.from_values(config_values.values(config, nst_logic.FRAME_ARGUMENTS))
        if not args.style_file:
            raise PluginFailure(plugin_messages.for_artist(*style_files.problem_parts(None)),
                                Gimp.PDBStatusType.CALLING_ERROR)
        args.extra = _extra_settings()
        styles = [config_values.read_style(path) for path in args.style_paths()]
        settings = nst_logic.engine_settings(args)
        temporal = A.temporal_field(config.get_property(A.STEADINESS[0]), config.get_property(A.LONG_TERM[0]))
        names = [style_files.file_name(p) for p in args.style_paths()]

        def submit(client: Any, frames: list[Any]) -> Any:
            return frames_client.submit_frames(client, frames, settings, temporal, styles, names)

        style = {"files": args.style_paths(), "arguments": nst_logic.settings_record(args, settings, "")["arguments"]}
        return _style_frames(image, parent, sources, submit, run_mode, A.style_words_for_files(args.style_paths()),
                             procedure.get_name(), style, settings, temporal)

    return learned_procedures._guard(procedure, body)


def _run_learned(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image,
                 drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    def body() -> Gimp.PDBStatusType:
        parent, sources = animation_layers.find_frames(image, drawables)
        if run_mode == Gimp.RunMode.INTERACTIVE and not learned_procedures._choose_style(config, A.STEADINESS[0]):
            return Gimp.PDBStatusType.CANCEL
        name, strength = (config.get_property("style-name") or "").strip(), config.get_property("strength")
        if not name:
            raise PluginFailure("No learned style is chosen. Choose one of the engine's learned styles.",
                                Gimp.PDBStatusType.CALLING_ERROR)
        temporal = A.temporal_field(config.get_property(A.STEADINESS[0]), config.get_property(A.LONG_TERM[0]))
        settings = _extra_settings()

        def submit(client: Any, frames: list[Any]) -> Any:
            return frames_client.submit_frames(client, frames, settings, temporal, learned_style=name,
                                               strength=strength)

        return _style_frames(image, parent, sources, submit, run_mode, f"learned {name}", procedure.get_name(),
                             {"learned_style": name, "strength": strength}, settings, temporal)

    return learned_procedures._guard(procedure, body)


def _style_frames(image: Gimp.Image, parent: Any, sources: list[Gimp.Layer], submit: Any, run_mode: Gimp.RunMode,
                  style_words: str, proc: str, style: dict[str, Any], settings: dict[str, Any],
                  temporal: dict[str, Any]) -> Gimp.PDBStatusType:
    """Read the frames, run the job with progress, write the frames that came back (all, or those finished
    before Stop and keep) into one new group; the image is unchanged on Cancel or an error."""
    read = [animation_layers.read_frame(image, layer) for layer in sources]
    frames, alphas, places = [r[0] for r in read], [r[1] for r in read], [r[2] for r in read]
    Gimp.progress_init(f"Neural Style Transfer: {len(frames)} frames\u2026")
    runner = _FramesRunner(lambda client: submit(client, frames), frames[0])
    runner.start()
    held: list[Any] = []
    try:
        if run_mode == Gimp.RunMode.INTERACTIVE:
            from progress_window import ProgressWindow

            window = ProgressWindow("Neural Style Transfer (Animation) \u2014 working", runner, lambda _e: None,
                                    frames[0], alphas[0], writing_detail=A.WRITING_DETAIL)
            kind, payload = window.run(hold_on_done=True)
            if window.dialog is not None:
                held.append(window)
        else:
            kind, payload = runner.wait(_GimpProgress().update, GLib.MainContext.default())
        if kind == "cancelled" or isinstance(payload, engine_client.JobCancelled):
            return Gimp.PDBStatusType.CANCEL
        if kind != "done":
            raise payload
        result: frames_client.FramesResult = payload
        done = len(result.frames)
        if done == 0:
            raise PluginFailure("The engine stopped before the first frame was finished: the image is unchanged.")
        name = A.group_name(style_words, done, len(frames), result.stopped_early)
        record = A.group_record(proc, style, settings, temporal, [layer.get_name() for layer in sources], done,
                                result.stopped_early)
        animation_layers.write_group(image, parent, sources, result.frames, alphas, name, record)
        for window in held:
            window.close()
        told = A.after_message(done, len(frames), result.stopped_early, name)
        hint = A.partial_frames_hint(places, (image.get_width(), image.get_height()))
        for text in (told, hint):
            if text and run_mode != Gimp.RunMode.NONINTERACTIVE:
                Gimp.message(text)
        return Gimp.PDBStatusType.SUCCESS
    finally:
        for window in held:
            window.close()


def _extra_settings() -> dict[str, Any]:
    try:
        return nst_logic.extra_settings_from_env()
    except ValueError as exc:
        raise PluginFailure(str(exc)) from exc


def _dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, parent: Any, sources: list[Gimp.Layer]) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(A.ANIMATION_PROC)
    from animation_dialog import AnimationDialog

    where = A.frames_source(parent is not None, parent.get_name() if parent is not None else None, None)
    ok = AnimationDialog(procedure, config, sources[0], _connect, len(sources), where).run()
    return bool(ok)


class _GimpProgress:
    """GIMP's own progress bar for scripted runs: the frame and what the engine does in it."""

    def __init__(self) -> None:
        self._last = 0.0

    def update(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last > 0.1 or event.get("type") != "progress":
            Gimp.progress_set_text(A.progress_text(event))
            self._last = now
        fraction = nst_logic.progress_fraction(event)
        if fraction is not None:
            Gimp.progress_update(fraction)
