"""Errors whose message tells a person what to do; the CLI and the service show `.message` as is."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: `message` is one sentence a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingsError(EngineError, ValueError):
    """An unknown or out-of-range setting."""


class ImageError(EngineError):
    """An image that cannot be read, is of an unsupported kind, or is too large."""


class WeightsMissing(EngineError):
    """No VGG-19 weights file where one is expected."""


class WeightsInvalid(EngineError):
    """A weights file that is not one of the supported VGG-19 formats, or fails its checksum."""


class OutOfMemory(EngineError):
    """The device ran out of memory; `suggested_size` is a long side that should fit."""

    def __init__(self, message: str, suggested_size: int | None = None) -> None:
        super().__init__(message)
        self.suggested_size = suggested_size


class Cancelled(EngineError):
    """The job was cancelled by its caller."""

    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)


class ServiceError(EngineError):
    """A request the service refuses; `status` is the HTTP status, the message says what to do."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
