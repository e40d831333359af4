"""`plug-in-neural-style-transfer-settings`: the engine connection, seen and fixed inside GIMP.

Why: with a broken connection (a remote engine that is down, a wrong token, a stopped local engine)
an artist otherwise has to find and edit engine.json by hand. This procedure shows the engine's state
(local or remote, running, version, device, weights present and verified), tests the connection,
switches between the local engine and a remote URL with token (engine.json via engine_connection),
and starts or stops the local engine. The GTK window is thin; what it reports is engine_status.py.

Non-interactive (scripts, tests): `action` = status (default; an error when the engine in use cannot
be used, its text naming the URL and where to change it), use-local, use-remote (with `url`, `token`),
start-local or stop-local; the return value `state` is the engine's state as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import connection_safety
import engine_connection
import engine_status
import plugin_messages as M
from gi.repository import Gimp, GLib, GObject
from settings_tasks import url_problem

PROC = "plug-in-neural-style-transfer-settings"
MENU_LABEL = "Engine Settings\u2026"
MENU_PATH = "<Image>/Filters/Artistic/Neural Style Transfer"
ACTIONS = (
    ("status", "Show the engine's state (an error if it cannot be used)"),
    ("use-local", "Use the engine installed on this computer"),
    ("use-remote", "Use the engine at `url` with `token`"),
    ("start-local", "Start the engine installed on this computer"),
    ("stop-local", "Stop the engine running on this computer"),
)
RW = GObject.ParamFlags.READWRITE


def create_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    """The procedure, registered from neural_style_transfer.py's do_create_procedure."""
    procedure = Gimp.Procedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_menu_label(MENU_LABEL)
    procedure.add_menu_path(MENU_PATH)
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_documentation(
        "See and change how Neural Style Transfer reaches its engine",
        "Shows the style-transfer engine's state (on this computer or at a URL; running; version; device; "
        "VGG-19 weights present and verified), tests the connection, switches between the engine installed "
        "on this computer and one at a URL with a token (written to the plug-in's engine.json), and starts "
        "or stops the local engine.",
        name,
    )
    procedure.set_attribution("Neural Style Transfer for GIMP contributors",
                              "Neural Style Transfer for GIMP contributors, GPL-3.0-or-later", "2026")
    procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                Gimp.RunMode.INTERACTIVE, RW)
    choice = Gimp.Choice.new()
    for i, (nick, label) in enumerate(ACTIONS):
        choice.add(nick, i, label, "")
    procedure.add_choice_argument("action", "_Action", "What to do (non-interactive)", choice, "status", RW)
    procedure.add_string_argument("url", "_URL", "The engine's address for use-remote, e.g. http://host:8765",
                                  "", RW)
    procedure.add_string_argument("token", "_Token", "The engine's token for use-remote", "", RW)
    procedure.add_string_return_value("state", "State", "The engine's state as JSON", "", RW)
    return procedure


def run(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, _data: Any) -> Gimp.ValueArray:
    try:
        if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
            from settings_window import SettingsWindow

            SettingsWindow(PROC).run()
            return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
        status = perform(str(config.get_property("action") or "status"), config.get_property("url") or "",
                         config.get_property("token") or "")
    except M.PluginError as error:
        return _failure(procedure, error.message)
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)  # the default "" for `state`, replaced as GIMP's own Python plug-ins do
    values.insert(1, GObject.Value(GObject.TYPE_STRING, json.dumps(status.to_dict())))
    return values


def _failure(procedure: Gimp.Procedure, message: str) -> Gimp.ValueArray:
    sys.stderr.write(f"{PROC}: {message}\n")
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def perform(action: str, url: str = "", token: str = "") -> engine_status.EngineStatus:
    """One non-interactive action; M.PluginError (plain sentences) when it cannot be done."""
    config = engine_connection.load_config()
    if action == "use-remote":
        problem = url_problem(url)
        if problem:
            raise M.PluginError(problem, "Give an address such as http://192.168.1.20:8765.")
        if warning := connection_safety.warning_text(url, token):  # a script cannot be asked: the log says it
            sys.stderr.write(f"{PROC}: {warning}\n")
        engine_connection.save_connection(url, token)
        config = engine_connection.load_config()
    elif action == "use-local":
        engine_connection.save_connection(None, None)
        config = engine_connection.load_config()
    elif action == "start-local":
        engine_status.start_local(config)
        config = replace(config, url=None, token=None, url_source=None)
    elif action == "stop-local":
        engine_status.stop_local(config)
        config = replace(config, url=None, token=None, url_source=None)
    status = engine_status.probe(config, with_info=action == "status")
    problem = engine_status.problem_for_run(status) if action != "stop-local" else None
    if problem:
        raise M.PluginError(problem)
    return status
