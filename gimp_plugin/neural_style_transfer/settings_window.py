"""The settings procedure's window (GTK 3): the engine's state, the connection, Test / Start / Stop.

Glue only: the state and its wording come from engine_status.py, engine.json is written by
engine_connection.save_connection, network and engine waits run off the main thread
(settings_tasks.in_background).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gi

gi.require_version("Gtk", "3.0")
import connection_safety  # noqa: E402
import engine_connection  # noqa: E402
import engine_status  # noqa: E402
import plugin_messages as M  # noqa: E402
from gi.repository import Gtk  # noqa: E402
from settings_tasks import in_background, url_problem  # noqa: E402

RESPONSE_SAVE = 1
READY_RUNNING = "The engine answers: the filter can use it."
READY_STOPPED = ("Ready: the engine can start (its Python, its package and the VGG-19 weights are in place); "
                 "the filter starts it when it needs it.")


class SettingsWindow:
    """`run()` shows the window until Close; Save writes engine.json and shows the new state."""

    def __init__(self, role: str) -> None:
        self._role = role
        self._config: Any = None
        self._busy = False
        self.question: Gtk.MessageDialog | None = None  # the clear-text warning while it is open
        self._confirmed: tuple[str, str] | None = None  # the (url, token) the artist agreed to send in clear
        self.dialog = Gtk.Dialog(title="Neural Style Transfer Settings")
        self.dialog.set_role(role)
        self.dialog.set_resizable(False)
        self.dialog.add_button("_Close", Gtk.ResponseType.CLOSE)
        self._save = self.dialog.add_button("_Save", RESPONSE_SAVE)
        self._save.set_tooltip_text("Use this connection from now on (written to the plug-in's engine.json)")
        box = self.dialog.get_content_area()
        box.set_spacing(10)
        box.set_border_width(12)

        state = Gtk.Frame(label="Engine in use")
        self._grid = Gtk.Grid(column_spacing=12, row_spacing=4, border_width=8)
        state.add(self._grid)
        box.pack_start(state, False, False, 0)
        self._message = Gtk.Label(xalign=0.0, wrap=True, max_width_chars=60, selectable=True)
        box.pack_start(self._message, False, False, 0)

        connection = Gtk.Frame(label="Connection")
        inner = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, border_width=8)
        connection.add(inner)
        self._local = Gtk.RadioButton.new_with_mnemonic(None, "Use the engine installed on _this computer")
        self._remote = Gtk.RadioButton.new_with_mnemonic_from_widget(self._local, "Use an engine at this _address:")
        self._url = Gtk.Entry(placeholder_text="http://192.168.1.20:8765", width_chars=40)
        self._token = Gtk.Entry(placeholder_text="the engine's token", visibility=False, width_chars=40)
        self._token.set_tooltip_text("Printed by `nst-engine serve` on the other computer, or in its token file")
        fields = Gtk.Grid(column_spacing=8, row_spacing=4, margin_start=24)
        fields.attach(Gtk.Label(label="URL", xalign=1.0), 0, 0, 1, 1)
        fields.attach(self._url, 1, 0, 1, 1)
        fields.attach(Gtk.Label(label="Token", xalign=1.0), 0, 1, 1, 1)
        fields.attach(self._token, 1, 1, 1, 1)
        for widget in (self._local, self._remote, fields):
            inner.pack_start(widget, False, False, 0)
        self._remote.connect("toggled", lambda *_a: self._sync_sensitivity())
        box.pack_start(connection, False, False, 0)

        actions = Gtk.Box(spacing=6)
        self._test = Gtk.Button.new_with_mnemonic("_Test connection")
        self._test.set_tooltip_text("Ask the engine chosen above how it is, without saving")
        self._start = Gtk.Button.new_with_mnemonic("St_art local engine")
        self._stop = Gtk.Button.new_with_mnemonic("Sto_p local engine")
        self._spinner = Gtk.Spinner()
        for widget in (self._test, self._start, self._stop, self._spinner):
            actions.pack_start(widget, False, False, 0)
        box.pack_start(actions, False, False, 0)
        self._saved = Gtk.Label(xalign=0.0, wrap=True, max_width_chars=60, selectable=True)
        box.pack_start(self._saved, False, False, 0)
        for entry in (self._url, self._token):  # "Saved." stays true only until the fields change
            entry.connect("changed", lambda *_a: self._saved.set_text(""))
        self._remote.connect("toggled", lambda *_a: self._saved.set_text(""))
        self._test.connect("clicked", lambda *_a: self._test_connection())
        self._start.connect("clicked", lambda *_a: self._start_local())
        self._stop.connect("clicked", lambda *_a: self._stop_local())

    # --- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            gi.require_version("GimpUi", "3.0")
            from gi.repository import GimpUi

            GimpUi.init(self._role)
            GimpUi.window_set_transient(self.dialog)
        except (ImportError, ValueError, TypeError):
            self.dialog.set_position(Gtk.WindowPosition.CENTER)
        self._load()
        self.dialog.show_all()
        while True:
            response = self.dialog.run()
            if response != RESPONSE_SAVE:
                break
            self._save_connection()
        self.dialog.destroy()

    def _load(self) -> None:
        try:
            self._config = engine_connection.load_config()
        except M.PluginError as error:  # a broken engine.json: say so, and let Save rewrite url/token
            self._message.set_text(error.message)
            self._config = None
            return
        config = self._config
        if config.url_source == M.URL_ENV:
            self._message.set_text(f"The address comes from {M.URL_ENV}, the environment variable GIMP was "
                                   "started with; it wins over what is saved here.")
        self._local.set_sensitive(config.local_installed)
        if not config.local_installed:
            self._local.set_label("Use the engine installed on this computer (not installed)")
        self._remote.set_active(bool(config.url))
        self._url.set_text(config.url or "")
        self._token.set_text(config.token or "")
        self._sync_sensitivity()
        self._probe(config, "Asking the engine\u2026")

    def _chosen_config(self) -> Any:
        config = self._config or engine_connection.EngineConfig()
        if self._remote.get_active():
            return replace(config, url=self._url.get_text().strip(), token=self._token.get_text().strip(),
                           url_source=engine_connection.engine_json_path())
        return replace(config, url=None, token=None, url_source=None)

    def _sync_sensitivity(self) -> None:
        remote = self._remote.get_active()
        self._url.set_sensitive(remote and not self._busy)
        self._token.set_sensitive(remote and not self._busy)
        local = bool(self._config and self._config.local_installed)
        for button, ok in ((self._test, True), (self._start, local), (self._stop, local), (self._save, True)):
            button.set_sensitive(ok and not self._busy)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        (self._spinner.start if busy else self._spinner.stop)()
        if text:
            self._message.set_text(text)
        self._sync_sensitivity()

    # --- actions -----------------------------------------------------------------------------------

    def _probe(self, config: Any, text: str) -> None:
        if config.url and (problem := url_problem(config.url)):
            self._message.set_text(problem)
            return
        self._set_busy(True, text)
        in_background(lambda: engine_status.probe(config, in_window=True), self._show_status)

    def _show_status(self, status: Any, error: BaseException | None) -> None:
        self._set_busy(False)
        for child in self._grid.get_children():
            self._grid.remove(child)
        if error is not None or status is None:
            self._message.set_text(getattr(error, "message", None) or "The engine's state could not be read.")
            return
        for row, (label, value) in enumerate(status.rows()):
            name = Gtk.Label(label=label, xalign=1.0)
            name.get_style_context().add_class("dim-label")
            self._grid.attach(name, 0, row, 1, 1)
            self._grid.attach(Gtk.Label(label=value, xalign=0.0, wrap=True, max_width_chars=50, selectable=True),
                              1, row, 1, 1)
        self._grid.show_all()
        problem = engine_status.problem_for_run(status)
        self._message.set_text(problem or (READY_RUNNING if status.running else READY_STOPPED))

    def _save_connection(self) -> None:
        remote = self._remote.get_active()
        url = self._url.get_text().strip()
        if remote and (problem := url_problem(url)):
            self._message.set_text(problem)
            return
        token = self._token.get_text() if remote else None
        if remote and not self._confirm_clear_text(url, token, connection_safety.SAVE_ANYWAY):
            self._saved.set_text("Not saved.")
            self._message.set_text(connection_safety.NOT_SAVED)
            return
        try:
            path = engine_connection.save_connection(url if remote else None, token)
            self._config = engine_connection.load_config()
        except (M.PluginError, OSError) as error:
            self._saved.set_text("Not saved.")
            self._message.set_text(getattr(error, "message", None) or f"Could not write the settings file ({error}).")
            return
        self._saved.set_text(f"Saved. The filter uses this connection from now on ({path}).")
        self._probe(self._config, "Asking the engine\u2026")

    def _test_connection(self) -> None:
        """Test sends the token too: the same question first, for an unencrypted address elsewhere."""
        config = self._chosen_config()
        if config.url and not url_problem(config.url) and not self._confirm_clear_text(
                config.url, config.token, connection_safety.TEST_ANYWAY):
            self._message.set_text(connection_safety.NOT_TESTED)
            return
        self._probe(config, "Testing the connection\u2026")

    def _confirm_clear_text(self, url: str, token: str | None, anyway: str) -> bool:
        """Before a token goes to another computer unencrypted: say so, and go on only if the artist
        chooses `anyway` (Go Back, Escape and closing the question send and save nothing). Asked once per
        address and token while the window is open."""
        warning = connection_safety.clear_text_warning(url, token)
        if warning is None or self._confirmed == (url.strip(), (token or "").strip()):
            return True
        what, advice = warning
        question = Gtk.MessageDialog(transient_for=self.dialog, modal=True, message_type=Gtk.MessageType.WARNING,
                                     buttons=Gtk.ButtonsType.NONE, text=connection_safety.WARNING_TITLE,
                                     secondary_text=f"{what}\n\n{advice}")
        question.add_button(connection_safety.GO_BACK, Gtk.ResponseType.CANCEL)
        question.add_button(anyway, Gtk.ResponseType.ACCEPT)
        question.set_default_response(Gtk.ResponseType.CANCEL)
        self.question = question
        try:
            if question.run() != Gtk.ResponseType.ACCEPT:
                return False
            self._confirmed = (url.strip(), (token or "").strip())
            return True
        finally:
            self.question = None
            question.destroy()

    def _start_local(self) -> None:
        self._set_busy(True, "Starting the engine on this computer (this can take a minute)\u2026")
        in_background(lambda: engine_status.start_local(self._config), self._show_status)

    def _stop_local(self) -> None:
        self._set_busy(True, "Stopping the engine on this computer\u2026")
        config = self._config

        def stop() -> Any:
            engine_status.stop_local(config)
            return engine_status.probe(replace(config, url=None, token=None, url_source=None), with_info=False,
                                       in_window=True)
        in_background(stop, self._show_status)
