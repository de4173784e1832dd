"""The one client layer: every backend (local engine, OpenAI, Azure OpenAI) through the ``openai`` SDK.

Provider differences live here and nowhere else. Screens and commands ask this module for a client.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai

from ftui.engine import paths, server


class BackendUnavailable(Exception):
    """The backend cannot be reached or started; the message says what to do."""


@dataclass(frozen=True)
class LocalEngine:
    base_url: str
    pid: int


def ensure_local_engine(*, start: bool = True) -> LocalEngine:
    """The running local engine for this data folder, started in the background when none answers."""
    state = server.running_engine()
    if state is None:
        if not start:
            raise BackendUnavailable("The local engine is not running. Start it with 'ftui engine serve'.")
        try:
            state = server.start_detached()
        except server.EngineNotRunning as exc:
            raise BackendUnavailable(f"The local engine could not start: {exc}") from None
    return LocalEngine(base_url=state.base_url, pid=state.pid)


def local_client(*, start: bool = True, timeout: float = 60.0, max_retries: int = 2) -> openai.OpenAI:
    """An OpenAI SDK client pointed at the local engine, with its token read from the data folder."""
    engine = ensure_local_engine(start=start)
    token = paths.read_token()
    if token is None:
        raise BackendUnavailable(f"The engine's token file {paths.token_path()} is missing; restart the engine.")
    return openai.OpenAI(base_url=engine.base_url, api_key=token, timeout=timeout, max_retries=max_retries)
