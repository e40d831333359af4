"""The plug-in's messages about reaching the engine, defined once and in plain sentences.

Standard library only (GIMP's Python). A failure has two parts, what happened and the one thing to
do; the plug-in puts "The image was not changed." between them (`for_artist`), so no part repeats
another, and `connection_reason` turns socket errors into words, so no errno number or exception
representation reaches the artist.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl

UNCHANGED = "The image was not changed."
URL_ENV = "NST_ENGINE_URL"
TOKEN_ENV = "NST_ENGINE_TOKEN"
RUN_AGAIN = "Run the filter again."
MANAGED_ADVICE = "Run the filter again: it starts the engine on this computer anew."


class PluginError(Exception):
    """A failure the artist can act on: `what` happened, `advice` is the one thing to do."""

    def __init__(self, what: str, advice: str = "") -> None:
        self.what = what.strip()
        self.advice = advice.strip()
        self.message = " ".join(part for part in (self.what, self.advice) if part)
        super().__init__(self.message)


def for_artist(what: str, advice: str = "") -> str:
    """What happened, that the image was not changed, what to do: the order every error is shown in."""
    return " ".join(part.strip() for part in (what, UNCHANGED, advice) if part and part.strip())


def connection_reason(error: BaseException) -> str:
    """A socket or HTTP error in words ('nothing is listening at that address'), never '[Errno 111]'."""
    if isinstance(error, ConnectionRefusedError):
        return "nothing is listening at that address"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "it did not answer in time"
    if isinstance(error, socket.gaierror):
        return "its host name is unknown"
    if isinstance(error, ssl.SSLError):
        return "the secure (https) connection failed"
    if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "the connection was closed"
    if isinstance(error, http.client.HTTPException):
        return "what answers there does not speak the engine's HTTP"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return "the connection failed"


def unreachable(url: str, error: BaseException) -> str:
    return f"The engine at {url} does not answer ({connection_reason(error)})."


def stopped_answering(url: str, error: BaseException | None = None) -> str:
    """The engine went away in the middle of a job (killed, crashed, out of memory, stopped)."""
    reason = f" ({connection_reason(error)})" if error is not None else ""
    return (f"The engine at {url} stopped before the job ended{reason}: it may have crashed, run out of memory "
            "or been stopped.")


# After the engine stopped mid-job: who runs it decides what brings it back.
RESTART_REMOTE = "Start the engine at that address again, then run the filter again."


def configured_where(url_source: str | os.PathLike[str] | None) -> str:
    """Where the engine's URL is set, for advice: engine.json's path or the environment variable."""
    if url_source is None:
        return "the plug-in's engine.json"
    if str(url_source) == URL_ENV:
        return f"the {URL_ENV} environment variable GIMP was started with"
    return str(url_source)


# Standard library only, so spelt out here; tests/test_plugin_messages.py ties it to nst_logic.MENU_WORDS.
SETTINGS_MENU = "Filters \u2192 Artistic \u2192 Neural Style Transfer \u2192 Engine Settings\u2026"


def remote_advice(url_source: str | os.PathLike[str] | None, local_installed: bool) -> str:
    """For a configured engine that does not answer: the plug-in never starts it, so never 'run again'.

    Names where the address is set and the settings window that changes it; offers the engine
    installed on this computer when there is one."""
    if str(url_source) == URL_ENV:
        change = (f"or unset {URL_ENV} to use the engine installed on this computer" if local_installed
                  else f"or change {URL_ENV}, the environment variable GIMP was started with")
        return f"Start the engine at that address, {change}."
    where = configured_where(url_source)
    if local_installed:
        return (f"Start the engine at that address, or use the engine installed on this computer: choose it in "
                f'{SETTINGS_MENU} (or remove "url" from {where}).')
    return f'Start the engine at that address, or change the address in {SETTINGS_MENU} ("url" in {where}).'


def bad_url(url: str) -> str:
    return f"The engine address {url!r} is not an http:// or https:// address."


def bad_url_advice(url_source: str | os.PathLike[str] | None) -> str:
    if str(url_source) == URL_ENV:
        return f"Correct {URL_ENV}, the environment variable GIMP was started with."
    return f'Correct "url" in {configured_where(url_source)}.'


def token_refused(url: str, detail: str) -> str:
    detail = detail.strip().rstrip(".")
    return f"The engine at {url} refused the plug-in's token" + (f" ({detail})." if detail else ".")


def token_advice(url_source: str | os.PathLike[str] | None) -> str:
    if str(url_source) == URL_ENV:
        return f"Set {TOKEN_ENV} to the engine's token."
    return f'Set "token" in {configured_where(url_source)} to the engine\'s token.'


def malformed_config(path: str | os.PathLike[str], error: json.JSONDecodeError) -> tuple[str, str]:
    """engine.json with a typo: say so with the line and column, never 'the engine is not installed'."""
    detail = error.msg.removesuffix(" at").strip().lower()  # "Invalid control character at"
    return (
        f"The engine settings file {path} is not valid JSON at line {error.lineno}, column {error.colno} "
        f"({detail}).",
        "Fix that line in a text editor (often a missing quote or comma), or run the installer again to "
        "rewrite the file.",
    )


def config_not_an_object(path: str | os.PathLike[str]) -> tuple[str, str]:
    return (f"The engine settings file {path} does not hold a JSON object ({{ ... }}).",
            "Run the installer again to rewrite it.")


def config_unreadable(path: str | os.PathLike[str], error: OSError) -> tuple[str, str]:
    return (f"The engine settings file {path} cannot be read ({connection_reason(error)}).",
            "Make it readable, or run the installer again to rewrite it.")


def internal_error(error: BaseException) -> tuple[str, str]:
    """A bug: one line of detail for a report, the traceback goes to GIMP's error console."""
    detail = str(error).strip() or type(error).__name__
    return (f"Neural Style Transfer stopped because of an internal error: {detail}.",
            "Please report it, with the details from GIMP's error console.")


FINGERPRINT_ENV = "NST_ENGINE_TLS_FINGERPRINT"


def fingerprint_mismatch(url: str, expected: str, found: str) -> str:
    return (f"The engine at {url} showed a certificate with the fingerprint {found[:16]}…, not the "
            f"{expected[:16]}… saved for it: the connection was not used, and the token was not sent.")


FINGERPRINT_ADVICE = ("If the engine's certificate was renewed, copy the new fingerprint its `serve` printed into "
                      "engine.json's \"tls_fingerprint\"; otherwise someone may be in between: check the network.")
