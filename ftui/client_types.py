"""What the client layer returns and raises. It imports no network code, so screens can name these types without
loading the openai SDK (the first screen must not wait for it); ``ftui.client`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorKind(StrEnum):
    AUTH = "auth"
    NETWORK = "network"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    UNSUPPORTED = "unsupported"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    UNEXPECTED = "unexpected"


class BackendError(Exception):
    """A failed backend call: ``message`` says what failed, ``hint`` what to do next. Never contains a key."""

    def __init__(self, kind: ErrorKind, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        return f"{self.message.rstrip('.')} — {self.hint}" if self.hint else self.message

    def __repr__(self) -> str:
        return f"BackendError({self.kind.value}, {self.message!r}, hint={self.hint!r}, status={self.status})"


@dataclass
class LiveModel:
    """A model the backend lists now. ``fine_tunable`` is None when the backend does not say."""

    id: str
    fine_tunable: bool | None = None
    owned_by: str | None = None
    created: int | None = None
    base_model: str | None = None
    reason: str | None = None
    is_fine_tuned: bool = False


@dataclass
class ConnectionCheck:
    ok: bool
    backend_label: str
    detail: str
    models: list[LiveModel] = field(default_factory=list)
