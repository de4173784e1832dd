"""Where the engine keeps its state: under the data folder of :mod:`ftui.locations` (``$FTUI_HOME``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Re-exported: the engine's modules reach the shared data folder through this module.
from ftui.locations import home as home
from ftui.locations import models_dir as models_dir

TOKEN_BYTES = 32


def engine_dir() -> Path:
    path = home() / "engine"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_path() -> Path:
    return engine_dir() / "engine.db"


def blobs_dir() -> Path:
    path = engine_dir() / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def jobs_dir() -> Path:
    path = engine_dir() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_path() -> Path:
    """Address and process id of the running engine, written when it starts."""
    return engine_dir() / "engine.json"


def log_path() -> Path:
    return engine_dir() / "engine.log"


def token_path() -> Path:
    return engine_dir() / "token"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(path.with_suffix(".tmp"), path)


def read_token() -> str | None:
    try:
        return token_path().read_text().strip() or None
    except OSError:
        return None


def ensure_token() -> str:
    """The engine's bearer token, generated at first start and kept with mode 0600."""
    token = read_token()
    if token is None:
        token = "ftui-" + secrets.token_urlsafe(TOKEN_BYTES)
        _write_private(token_path(), token + "\n")
    os.chmod(token_path(), 0o600)
    return token


def write_state(text: str) -> None:
    _write_private(state_path(), text)
