"""The client layer follows a local engine that restarted on another port, and never starts one while polling."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ftui.client import Backend, BackendError, ErrorKind
from ftui.config import Profile
from ftui.engine import server


def test_backend_follows_a_restarted_engine_and_says_plainly_when_it_is_gone(
    engine_home: Path, models_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTUI_MODELS_DIR", str(models_cache))
    backend = Backend.from_profile(Profile(name="local", kind="local"))
    try:
        first_url = backend.base_url
        assert backend.list_jobs() == []

        server.stop()
        with pytest.raises(BackendError) as gone:
            backend.list_jobs()
        assert gone.value.kind is ErrorKind.NETWORK
        assert "not running" in gone.value.message
        assert server.running_engine() is None, "a failed call must not start an engine"

        # Hold the old port so the engine comes back somewhere else, as after a crash and restart.
        old_port = int(first_url.rsplit(":", 1)[1].split("/")[0])
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", old_port))
            squatter.listen()
            restarted = server.start_detached()
        assert restarted.port != old_port
        assert backend.list_jobs() == []
        assert backend.base_url.rstrip("/") == restarted.base_url.rstrip("/")
    finally:
        backend.close()
        server.stop()
