"""The plug-in's client of `nst-engine serve`: find or start the engine, submit, follow, fetch.

Standard library only: it runs inside GIMP's Python, which has neither requests nor numpy. The same
code talks to a local engine it started itself and to one on another machine.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nst_contract as contract
import plugin_messages as M
from engine_connection import EngineConfig
from nst_logic import RECEIVING_EVENT, installer_hint

TERMINAL = contract.TERMINAL_EVENTS


class EngineClientError(M.PluginError):
    """Base class: `what` happened and `advice`, the one thing to do; `message` is both."""


class EngineNotInstalled(EngineClientError):
    def __init__(self, what: str, advice: str | None = None) -> None:
        super().__init__(what, installer_hint() if advice is None else advice)


class EngineUnavailable(EngineClientError):
    pass


class EngineJobFailed(EngineClientError):
    def __init__(self, message: str, kind: str = "", suggested_size: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.suggested_size = suggested_size


class JobCancelled(EngineClientError):
    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)


@dataclass
class RawImage:
    """Interleaved pixels, little-endian: what GEGL buffers give and take."""

    width: int
    height: int
    channels: int
    sample_format: str  # u8, u16 or f32
    data: bytes
    message: str | None = None  # the engine's word on a result: the size it was computed at, caps
    stopped_early: bool = False  # "Stop and keep": the done event says the painting was cut short
    warnings: list[str] = field(default_factory=list)  # the engine's word on the job's input (masks scaled...)


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to an engine whose certificate is known by its SHA-256: checked before a byte is sent."""

    def __init__(self, host: str | None, port: int | None, timeout: float, url: str, fingerprint: str) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the pin below is the check: a self-made certificate is fine
        super().__init__(host or "", port, timeout=timeout, context=context)
        self.url, self.fingerprint = url, fingerprint

    def connect(self) -> None:
        super().connect()
        found = hashlib.sha256(self.sock.getpeercert(binary_form=True) or b"").hexdigest()  # type: ignore[union-attr]
        if not hmac.compare_digest(found, self.fingerprint):
            self.close()
            raise EngineUnavailable(M.fingerprint_mismatch(self.url, self.fingerprint, found), M.FINGERPRINT_ADVICE)


class EngineClient:
    """One engine at `url`, authorised by `token`."""

    def __init__(self, url: str, token: str, timeout: float = 30.0, advice: str = M.RUN_AGAIN,
                 token_advice: str = "", tls_fingerprint: str | None = None, stopped_advice: str = M.RUN_AGAIN) -> None:
        parsed = urllib.parse.urlsplit(url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise EngineUnavailable(M.bad_url(url))
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # What to do when the engine cannot be reached: who runs it (the plug-in, or someone at a
        # configured address) decides, so the caller that found the engine says it.
        self.advice = advice
        self.stopped_advice = stopped_advice  # when it stops mid-job: run again (managed), or restart it first
        self.token_advice = token_advice
        self.tls_fingerprint = tls_fingerprint.replace(":", "").lower() if tls_fingerprint else None
        self._parsed = parsed

    # ---------------------------------------------------------- finding the engine

    @classmethod
    def configured(cls, config: EngineConfig) -> EngineClient:
        """A client for engine.json's (or the environment's) URL, its failures advising where that is set."""
        assert config.url
        try:
            return cls(config.url, config.token or "",
                       advice=M.remote_advice(config.url_source, config.local_installed),
                       token_advice=M.token_advice(config.url_source), tls_fingerprint=config.tls_fingerprint,
                       stopped_advice=M.RESTART_REMOTE)
        except EngineUnavailable as error:
            raise EngineUnavailable(error.what, M.bad_url_advice(config.url_source)) from None

    @classmethod
    def connect(cls, config: EngineConfig, start_if_needed: bool = True, timeout: float = 90.0) -> EngineClient:
        """A configured URL, else the engine in the state file, else a freshly started one."""
        if config.url:
            client = cls.configured(config)
            client.health()
            return client
        client = cls.from_state_file(config.state_file)
        if client is not None:
            return client
        if not start_if_needed:
            raise EngineUnavailable("No engine is running.", "Start one with `nst-engine serve`.")
        process = start_engine(config)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = cls.from_state_file(config.state_file)
            if client is not None:
                return client
            if process.poll() is not None and cls.from_state_file(config.state_file) is None:
                raise EngineUnavailable(
                    f"The engine stopped while starting (exit status {process.returncode}).",
                    f"Its log ({config.log_file}) says why; it ends with:\n{_tail(config.log_file)}",
                )
            time.sleep(0.25)
        raise EngineUnavailable(
            f"The engine did not become ready within {timeout:.0f} s.",
            f"Run the filter again; if this repeats, its log ({config.log_file}) says why; it ends with:\n"
            f"{_tail(config.log_file)}",
        )

    @classmethod
    def from_state_file(cls, state_file: Path) -> EngineClient | None:
        """The engine announced in the state file, if it answers."""
        try:
            state = json.loads(Path(state_file).read_text(encoding="utf-8"))
            token = Path(state["token_file"]).read_text(encoding="utf-8").strip()
            client = cls(state["url"], token, advice=M.MANAGED_ADVICE, tls_fingerprint=state.get("tls_fingerprint"),
                         stopped_advice=M.MANAGED_ADVICE)
        except (OSError, ValueError, KeyError, TypeError, EngineClientError):
            return None
        try:
            client.health()
        except EngineClientError:
            return None
        return client

    # ---------------------------------------------------------- HTTP

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        host, port, timeout = self._parsed.hostname, self._parsed.port, timeout or self.timeout
        if self._parsed.scheme != "https":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        if self.tls_fingerprint is None:  # a certificate the system's authorities vouch for
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return _PinnedConnection(host, port, timeout=timeout, url=self.url, fingerprint=self.tls_fingerprint)

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection = self._connection(timeout)
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        try:
            connection.request(method, self._parsed.path + path, body=body, headers=all_headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise EngineUnavailable(M.unreachable(self.url, error), self.advice) from None
        return connection, response

    def _call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
              timeout: float | None = None) -> tuple[bytes, http.client.HTTPResponse]:
        connection, response = self._request(method, path, body, headers, timeout)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise EngineUnavailable(M.stopped_answering(self.url, error), self.stopped_advice) from None
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                message = data.decode("utf-8", "replace")[:500] or response.reason
            if response.status == 401:
                raise EngineUnavailable(M.token_refused(self.url, str(message)), self.token_advice)
            raise EngineJobFailed(str(message), kind=f"http_{response.status}")
        return data, response

    def health(self) -> dict[str, Any]:
        data, _ = self._call("GET", "/health", timeout=5)
        return json.loads(data)

    # ---------------------------------------------------------- jobs

    def plan(self, width: int, height: int, settings: dict[str, Any]) -> dict[str, Any]:
        """What a job on a `width` x `height` layer would do, without running it: `plan` (sizes, scales,
        iterations, `message`), `seconds` (the estimate; None until the engine has measured its device),
        `device`, `device_name`, `calibrated`. The first call may take a few seconds (the measurement)."""
        body = json.dumps({"width": int(width), "height": int(height), "settings": settings}).encode("utf-8")
        data, _ = self._call("POST", "/plan", body, {"Content-Type": "application/json"}, timeout=120)
        return json.loads(data)

    def submit(self, content: RawImage | bytes, styles: list[bytes], settings: dict[str, Any],
               preview: bool = False, style_names: list[str] | None = None,
               regions: tuple[list[tuple[str, str]], list[bytes]] | None = None) -> Job:
        """Send the images (as bytes) and settings; returns the queued job. `style_names`: what the engine's
        messages call the styles by. `regions`: region_logic.RegionPlan.fields() and the masks (u8, content size)."""
        fields: list[tuple[str, str | bytes, str | None]] = [
            ("settings", json.dumps(settings), None),
            ("preview", "true" if preview else "false", None),
        ]
        if isinstance(content, RawImage):
            fields += [("content_format", "raw", None), ("width", str(content.width), None),
                       ("height", str(content.height), None), ("channels", str(content.channels), None),
                       ("sample_format", content.sample_format, None), ("content", content.data, "content.raw")]
        else:
            fields.append(("content", content, "content"))
        names = [_upload_name(name) for name in style_names or []] + [""] * len(styles)
        fields += [("style", data, names[index - 1] or f"style{index}") for index, data in enumerate(styles, start=1)]
        if regions is not None:  # the fields, then the masks in region order
            fields += [(name, value, None) for name, value in regions[0]] + [
                ("region_mask", mask, f"mask{index}.raw") for index, mask in enumerate(regions[1], start=1)]
        body, content_type = _multipart(fields)
        data, _ = self._call("POST", "/jobs", body, {"Content-Type": content_type}, timeout=120)
        answer = json.loads(data)
        return Job(self, answer["id"], answer.get("warnings"))

    # ---------------------------------------------------------- learned styles

    def learned_styles(self, thumbnails: bool = True) -> dict[str, Any]:
        """GET /styles: {"styles": [{name, problem, thumbnail_png (base64) ...}], "learning": [...], "runtime"}."""
        data, _ = self._call("GET", "/styles?thumbnails=base64" if thumbnails else "/styles", timeout=60)
        return json.loads(data)

    def apply_learned(self, name: str, content: RawImage, strength: float = 1.0) -> Job:
        """Queue `content` in the learned style `name`; the result (float RGBA, its size) as for submit()."""
        fields: list[tuple[str, str | bytes, str | None]] = [
            ("strength", repr(float(strength)), None), ("content_format", "raw", None),
            ("width", str(content.width), None), ("height", str(content.height), None),
            ("channels", str(content.channels), None), ("sample_format", content.sample_format, None),
            ("content", content.data, "content.raw"),
        ]
        body, content_type = _multipart(fields)
        path = f"/styles/{urllib.parse.quote(name, safe='')}/apply"
        data, _ = self._call("POST", path, body, {"Content-Type": content_type}, timeout=120)
        return Job(self, json.loads(data)["id"])

    def learn_style(self, name: str, style: bytes, photos: list[tuple[str, bytes]], options: dict[str, Any],
                    keep_running: bool = True, replace: bool = False, style_filename: str = "style") -> Job:
        """Queue learning `name` from the `style` picture and `photos` ((file name, bytes) pairs).

        With `keep_running` the engine goes on when this client stops following the job (dialog closed).
        """
        fields: list[tuple[str, str | bytes, str | None]] = [
            ("name", name, None), ("options", json.dumps(options), None),
            ("keep_running", "true" if keep_running else "false", None),
            ("replace", "true" if replace else "false", None), ("style", style, _ascii_name(style_filename)),
        ]
        fields += [("photo", data, _ascii_name(filename)) for filename, data in photos]
        body, content_type = _multipart(fields)
        data, _ = self._call("POST", "/styles/learn", body, {"Content-Type": content_type}, timeout=600)
        return LearningJob(self, json.loads(data)["id"])


class Job:
    """A submitted job: follow its events, cancel it, stop it early, fetch its result."""

    def __init__(self, client: EngineClient, job_id: str, warnings: list[Any] | None = None) -> None:
        self.client = client
        self.id = job_id
        self.warnings = [str(w) for w in warnings or []]  # the engine's word on the input (a mask scaled...)

    def events(self) -> Iterator[dict[str, Any]]:
        """The job's events until done, error or cancelled. Keep the stream open while you care: the
        engine cancels a job whose stream closes early."""
        connection, response = self.client._request("GET", f"/jobs/{self.id}/events", timeout=60)
        try:
            if response.status >= 400:
                raise EngineJobFailed(f"The engine does not know job {self.id} ({response.status}).")
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as error:
                    raise EngineUnavailable(M.stopped_answering(self.client.url, error),
                                            self.client.stopped_advice) from None
                if not line:  # the engine closed the stream without a last event: it went away
                    raise EngineUnavailable(M.stopped_answering(self.client.url), self.client.stopped_advice)
                event = json.loads(line)
                if event.get("type") == "heartbeat":
                    continue
                yield event
                if event.get("type") in TERMINAL:
                    return
        finally:
            connection.close()

    def wait(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> RawImage:
        """Follow the job to its end; returns the result as float RGBA, or raises."""
        for event in self.events():
            kind = event.get("type")
            if kind == "done":
                if on_progress is not None:  # the transfer can take a while: the window names it
                    on_progress({"type": RECEIVING_EVENT, "stopped_early": bool(event.get("stopped_early"))})
                result = self.result()
                result.stopped_early = bool(event.get("stopped_early"))
                result.warnings = list(dict.fromkeys([*self.warnings, *map(str, event.get("warnings") or [])]))
                return result
            if kind == "error":
                raise EngineJobFailed(event.get("message", "The engine failed."), event.get("kind", ""),
                                      event.get("suggested_size"))
            if kind == "cancelled":
                raise JobCancelled()
            if on_progress is not None:
                on_progress(event)
        raise EngineUnavailable("The engine's event stream ended without a result.", self.client.stopped_advice)

    def result(self) -> RawImage:
        data, response = self.client._call("GET", f"/jobs/{self.id}/result?format=raw-f32", timeout=120)
        width, height = int(response.getheader("X-Width")), int(response.getheader("X-Height"))
        return RawImage(width, height, 4, "f32", data, response.getheader("X-Message"))

    def cancel(self) -> None:
        self.client._call("DELETE", f"/jobs/{self.id}")

    def stop(self) -> None:
        try:
            self.client._call("POST", f"/jobs/{self.id}/stop")
        except EngineJobFailed as error:
            if error.kind != "http_409":  # 409: it ended meanwhile, and its result is on its way
                raise

    def status(self) -> dict[str, Any]:
        data, _ = self.client._call("GET", f"/jobs/{self.id}")
        return json.loads(data)


class LearningJob(Job):
    """A learning job: no picture at its end, its done event says which style was stored."""

    def wait(self, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:  # type: ignore[override]
        for event in self.events():
            kind = event.get("type")
            if kind == "done":
                return event
            if kind == "error":
                raise EngineJobFailed(event.get("message", "The engine failed."), event.get("kind", ""))
            if kind == "cancelled":
                raise JobCancelled("Learning the style was cancelled.")
            if on_progress is not None:
                on_progress(event)
        raise EngineUnavailable("The engine's event stream ended before learning finished.",
                                self.client.stopped_advice)


def _ascii_name(filename: str) -> str:
    """A file name fit for a multipart header (ASCII, no quotes); only the engine's records show it."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base) or "file"


# ---------------------------------------------------------------- starting the engine


def engine_command(config: EngineConfig) -> list[str]:
    """The managed engine's command line, or EngineNotInstalled saying which installer to run."""
    where = f" ({config.source})" if config.source else ""
    if not config.command:
        raise EngineNotInstalled(f"The style-transfer engine is not installed{where}.")
    executable = config.python or config.command[0]
    if not config.spawn_prefix and not Path(executable).is_file():
        raise EngineNotInstalled(f"The style-transfer engine's Python ({executable}) is missing{where}.")
    command = [*config.spawn_prefix, *config.command]
    if "--state-file" not in command:
        command += ["--state-file", str(config.state_file)]
    return command


def start_engine(config: EngineConfig) -> subprocess.Popen:
    """Start the engine detached from GIMP, so that GIMP ending the plug-in does not end the engine."""
    command = engine_command(config)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "GI_TYPELIB_PATH")}
    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(config.log_file, "ab")  # noqa: SIM115 - handed to the child
    # cwd: the cache folder, never GIMP's current folder, where a stray `nst_engine` folder would
    # shadow the installed engine for `python -m nst_engine`.
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": log,
                               "env": env, "close_fds": True, "cwd": str(config.log_file.parent)}
    if sys.platform == "win32":
        options["creationflags"] = (
            subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        )
    else:
        options["start_new_session"] = True
    try:
        return subprocess.Popen(command, **options)
    except OSError as error:
        raise EngineNotInstalled(f"Cannot start the engine ({M.connection_reason(error)}).") from None
    finally:
        log.close()


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _upload_name(path: str) -> str:
    """A file's name as a multipart filename: its base name, in printable ASCII without quotes."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in base)


def _multipart(fields: list[tuple[str, str | bytes, str | None]]) -> tuple[bytes, str]:
    """multipart/form-data by hand: (name, value, filename or None for a plain field)."""
    boundary = "nst-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        header = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename:
            header += "Content-Type: application/octet-stream\r\n"
        payload = value.encode("utf-8") if isinstance(value, str) else value
        parts.append(header.encode("ascii") + b"\r\n" + payload + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
