"""Run the real engine as a separate process on loopback, and talk to it with the real ``openai`` SDK."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openai
import orjson

from ftui.dataset.fixes import sample_files

TINY = "ftui-tiny-random"
FINISHED = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EngineProcess:
    def __init__(self, home: Path, models_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = os.environ | {"FTUI_HOME": str(home), "FTUI_MODELS_DIR": str(models_dir)} | (extra_env or {})
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def token(self) -> str:
        return (self.home / "engine" / "token").read_text().strip()

    def start(self, timeout: float = 60) -> EngineProcess:
        log = (self.home / "server-test.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ftui", "engine", "serve", "--port", str(self.port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine exited: {(self.home / 'server-test.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("engine did not start")

    def client(self, **options) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=self.token, max_retries=0, **options)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def upload(client: openai.OpenAI, path: Path, name: str | None = None):
    with path.open("rb") as handle:
        return client.files.create(file=(name or path.name, handle), purpose="fine-tune")


def upload_sample(client: openai.OpenAI, training_lines: int = 16, validation_lines: int = 6) -> tuple[str, str]:
    """The first lines of the bundled sample dataset (enough to train the tiny model for a few steps)."""
    ids = []
    for path, count in zip(sample_files(), (training_lines, validation_lines), strict=True):
        head = b"".join(path.read_bytes().splitlines(keepends=True)[:count])
        ids.append(client.files.create(file=(path.name, head), purpose="fine-tune").id)
    return ids[0], ids[1]


def wait_for(client: openai.OpenAI, job_id: str, done: Callable[[object], bool], timeout: float = 240) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if done(job):
            return job
        if job.status in FINISHED:
            raise AssertionError(f"job ended as {job.status} ({job.error}) while waiting")
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not reach the expected state in {timeout} s")


def wait_finished(client: openai.OpenAI, job_id: str, timeout: float = 240) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in FINISHED:
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish in {timeout} s")


def all_events(client: openai.OpenAI, job_id: str) -> list:
    """Every event, oldest first, by paging through the newest-first listing."""
    events, after = [], None
    while True:
        page = (
            client.fine_tuning.jobs.list_events(job_id, after=after, limit=100)
            if after
            else client.fine_tuning.jobs.list_events(job_id, limit=100)
        )
        events.extend(page.data)
        if not page.has_more:
            return list(reversed(events))
        after = page.data[-1].id


def train_losses(client: openai.OpenAI, job_id: str) -> list[float]:
    return [e.data["train_loss"] for e in all_events(client, job_id) if e.type == "metrics"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path
