"""Run, find, start and stop the engine process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
from pydantic import BaseModel

from ftui.engine import paths

DEFAULT_PORT = 8470
START_TIMEOUT_SECONDS = 60


class EngineState(BaseModel):
    pid: int
    port: int
    started_at: int
    version: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


class EngineNotRunning(Exception):
    pass


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def read_state() -> EngineState | None:
    try:
        return EngineState.model_validate_json(paths.state_path().read_bytes())
    except (OSError, ValueError):
        return None


def healthy(state: EngineState, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{state.port}/health", timeout=timeout) as response:
            return bool(response.status == 200 and orjson.loads(response.read()).get("status") == "ok")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def running_engine() -> EngineState | None:
    """The engine answering for this FTUI_HOME, if any."""
    state = read_state()
    return state if state is not None and healthy(state) else None


def serve(port: int | None = None) -> int:
    """Run the engine in this process until SIGINT/SIGTERM. Binds 127.0.0.1 only."""
    import uvicorn

    from ftui import __version__
    from ftui.engine.api import create_app
    from ftui.engine.service import EngineService
    from ftui.engine.store import Store

    existing = running_engine()
    if existing is not None:
        print(
            f"ftui: an engine already runs for this data folder at {existing.base_url} (pid {existing.pid}).",
            file=sys.stderr,
        )
        return 2
    chosen = port or _free_port(DEFAULT_PORT)
    token = paths.ensure_token()
    service = EngineService(Store(paths.database_path()))
    app = create_app(service, token)
    config = uvicorn.Config(app, host="127.0.0.1", port=chosen, log_level="warning", access_log=False, workers=1)
    server = uvicorn.Server(config)
    state = EngineState(pid=os.getpid(), port=chosen, started_at=int(time.time()), version=__version__)
    service.start()
    paths.write_state(state.model_dump_json())
    print(f"ftui engine listening on {state.base_url} (data in {paths.engine_dir()})", flush=True)
    try:
        server.run()
    finally:
        service.stop()
        current = read_state()
        if current is not None and current.pid == os.getpid():
            paths.state_path().unlink(missing_ok=True)
    return 0


def start_detached(timeout: float = START_TIMEOUT_SECONDS) -> EngineState:
    """Start the engine in the background (it outlives this process) and wait until it answers."""
    existing = running_engine()
    if existing is not None:
        return existing
    log = paths.log_path().open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ftui", "engine", "serve"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ | {"FTUI_HOME": str(paths.home())},
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state()
        if state is not None and state.pid == process.pid and healthy(state):
            return state
        if process.poll() is not None:
            raise EngineNotRunning(f"the engine exited at start (status {process.returncode}); see {paths.log_path()}")
        time.sleep(0.1)
    raise EngineNotRunning(f"the engine did not answer within {timeout:.0f} s; see {paths.log_path()}")


def stop(timeout: float = 20) -> bool:
    """Stop the running engine; True if one was stopped."""
    state = read_state()
    if state is None or not _is_engine_process(state.pid):
        paths.state_path().unlink(missing_ok=True)
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_engine_process(state.pid):
            return True
        time.sleep(0.1)
    os.kill(state.pid, signal.SIGKILL)
    return True


def _is_engine_process(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, 0)
            return True
        return False
    return b"ftui" in command and b"engine" in command
