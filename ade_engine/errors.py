"""The one error shape of the engine: a code, a message a user can act on, and details."""

from __future__ import annotations

from typing import Any


class AdeError(Exception):
    """An error with a stable machine code, a human message (what, where, how to fix) and details."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:  # one line, for CLI output
        return self.message


class InputError(AdeError):
    """The input file is unsupported (`input_unsupported`) or unreadable (`input_unreadable`)."""

    code = "input_unreadable"


class ConfigInvalid(AdeError):
    code = "config_invalid"


class NotFound(AdeError):
    code = "not_found"


class Conflict(AdeError):
    code = "conflict"
