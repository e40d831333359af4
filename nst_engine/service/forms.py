"""Request parsing shared by every route (app.py's jobs, plan_route.py, learned_routes.py): a body's
framing and size, form fields, job settings, checked against the engine's `ServiceConfig` (config.py).
Each refusal is a ServiceError naming what to send instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from nst_engine.errors import ImageError, ServiceError, SettingsError
from nst_engine.pictures.images import ImageTooLarge
from nst_engine.settings import Settings


def check_framing(request: Request, max_body_bytes: int) -> None:
    """A body needs one honest length: Content-Length alone, never with chunked encoding."""
    length = request.headers.get("content-length")
    if "transfer-encoding" in request.headers and length is not None:
        raise ServiceError(400, "The request has both Transfer-Encoding and Content-Length: send only Content-Length.")
    if length is None or not length.strip().isdigit():
        raise ServiceError(411, "Send the request with a Content-Length header.")
    if int(length) > max_body_bytes:
        raise ServiceError(413, f"The request is {byte_text(int(length))}, more than the engine's limit of "
                                f"{byte_text(max_body_bytes)}: send less.")


async def read_multipart(request: Request, max_files: int, max_fields: int, max_part_size: int) -> Any:
    """The request's multipart form; 400 for a body that ends before the form's closing boundary.

    A body cut short parses without complaint as a form lacking its last parts, which would then be
    refused as missing ("no `style` image file", "7 photographs") instead of as incomplete.
    """
    boundary = _boundary(request.headers.get("content-type", ""))
    close = b"--" + boundary.encode("latin-1") + b"--" if boundary else b""
    tail, closed, received = b"", not close, 0

    async def receive() -> dict[str, Any]:
        nonlocal tail, closed, received
        message = await request.receive()
        body = message.get("body", b"")
        received += len(body)
        if not closed and body:
            seen = tail + body
            closed = close in seen
            tail = seen[-(len(close) - 1):]
        return message

    form = await Request(request.scope, receive).form(max_files=max_files, max_fields=max_fields,
                                                      max_part_size=max_part_size)
    if not closed:
        await form.close()
        raise ServiceError(400, f"The request body is incomplete: {byte_text(received)} arrived and the form's "
                                "last part never ended (the client stopped or was cut off). Send the whole request "
                                "again.")
    return form


def _boundary(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


def byte_text(count: int) -> str:
    """A size in bytes as people read it: 70 KB, 1.5 MB (a limit of 64 KB must not read "0 MB")."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def text_field(form: Any, name: str, default: str) -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise ServiceError(400, f"`{name}` was sent as a file: send it as a plain form field.")
    return value


def int_field(form: Any, name: str, default: str) -> int:
    text = text_field(form, name, default)
    try:
        return int(text)
    except ValueError:
        raise ServiceError(400, f"`{name}` must be an integer, not {text[:40]!r}.") from None


def settings_field(form: Any, server_settings: dict[str, Any]) -> Settings:
    """The job's settings, validated; jobs run with the server's device and precision."""
    text = text_field(form, "settings", "{}")
    try:
        values = json.loads(text or "{}")
    except (ValueError, RecursionError) as error:  # RecursionError: nested beyond what json reads
        raise ServiceError(400, f"`settings` is not valid JSON ({error}): send a JSON object.") from None
    return settings_from_values(values, server_settings)


def settings_from_values(values: Any, server_settings: dict[str, Any]) -> Settings:
    """Validated job settings from a decoded JSON value, with the server's own settings applied."""
    if not isinstance(values, dict):
        raise ServiceError(400, "`settings` must be a JSON object, such as {\"preset\": \"draft\"}.")
    try:
        settings = Settings.from_dict(values, scope="job")
        return settings.replace(**server_settings)
    except SettingsError as error:
        raise ServiceError(422, error.message) from None
    except (TypeError, AttributeError, KeyError, ValueError) as error:  # a settings check that missed a type
        raise ServiceError(422, f"One of the settings {', '.join(sorted(values))} has the wrong type "
                                f"({type(error).__name__}: {error}): see docs/service.md for the types.") from None


@contextmanager
def refused_as_http() -> Iterator[None]:
    """A request's pictures and settings checked before decoding, their faults as the answers they are: too
    large 413, not a picture 400, settings out of range 422."""
    try:
        yield
    except ImageTooLarge as error:
        raise ServiceError(413, error.message) from None
    except ImageError as error:
        raise ServiceError(400, error.message) from None
    except SettingsError as error:
        raise ServiceError(422, error.message) from None
