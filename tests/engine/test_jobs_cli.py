"""``ftui jobs list`` and ``ftui jobs watch`` against the real local engine, run as the user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from server_harness import TINY, EngineProcess, free_port, upload_sample, wait_finished, wait_for

from ftui.config import BackendKind, Profile, Settings, save_settings

RECORD_KEYS = {
    "id",
    "status",
    "service_status",
    "model",
    "created_at",
    "finished_at",
    "estimated_finish",
    "trained_tokens",
    "fine_tuned_model",
    "error",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, models_cache: Path):
    process = EngineProcess(tmp_path_factory.mktemp("home"), models_cache).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(engine: EngineProcess) -> openai.OpenAI:
    return engine.client()


@pytest.fixture(scope="module")
def training_file(client: openai.OpenAI) -> str:
    return upload_sample(client)[0]


def create_job(client: openai.OpenAI, training_file: str, n_epochs: int):
    hyperparameters = {"n_epochs": n_epochs, "batch_size": 4, "learning_rate_multiplier": 10.0}
    return client.fine_tuning.jobs.create(
        model=TINY,
        training_file=training_file,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        seed=7,
    )


@pytest.fixture(scope="module")
def finished_job(client: openai.OpenAI, training_file: str):
    job = wait_finished(client, create_job(client, training_file, n_epochs=1).id)
    assert job.status == "succeeded", job.error
    return job


def use_engine(cli_env: dict[str, str], folder: Path, engine: EngineProcess) -> None:
    """Point the CLI at ``engine`` through a profile; the active profile is one that answers nowhere."""
    nowhere = Profile(name="nowhere", kind=BackendKind.COMPATIBLE, base_url=f"http://127.0.0.1:{free_port()}/v1")
    here = Profile(name="engine", kind=BackendKind.LOCAL, base_url=engine.base_url, api_key=engine.token)
    path = save_settings(Settings(active="engine", profiles=[nowhere, here]), folder / "config.toml")
    cli_env["FTUI_CONFIG"] = str(path)


@pytest.fixture
def cli(engine: EngineProcess, run_cli, cli_env: dict[str, str], tmp_path: Path):
    use_engine(cli_env, tmp_path, engine)
    return run_cli


class Watch:
    """``ftui jobs watch`` running in the background, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ftui", "jobs", "watch", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_until(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"watch exited {self.process.returncode}: {self.out} {self.err}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"watch output so far: {self.out} {self.err}")
            time.sleep(0.05)

    def finish(self, timeout: float = 300) -> int:
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)  # let the reader threads take the last lines
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- list -----------------------------------------------------------------------------------------------------------


def test_list_prints_a_table(cli, finished_job) -> None:
    code, out, err = cli("jobs", "list")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "STATUS", "MODEL", "CREATED", "PROGRESS", "FINE-TUNED", "MODEL"]
    (row,) = [line for line in rows if line.startswith(finished_job.id)]
    assert f"succeeded  {TINY}" in row
    assert f"{finished_job.trained_tokens:,} tokens" in row and row.endswith(finished_job.fine_tuned_model)


def test_list_as_json(cli, finished_job) -> None:
    code, out, err = cli("jobs", "list", "--json", "--limit", "50")
    assert code == 0, err
    records = json.loads(out)
    assert all(set(record) == RECORD_KEYS for record in records)
    (record,) = [r for r in records if r["id"] == finished_job.id]
    assert record["status"] == record["service_status"] == "succeeded"
    assert record["model"] == TINY and record["fine_tuned_model"] == finished_job.fine_tuned_model
    assert record["trained_tokens"] == finished_job.trained_tokens > 0 and record["error"] is None


def test_profile_option_and_unknown_profiles(cli, finished_job) -> None:
    code, out, _ = cli("jobs", "list", "--profile", "engine")
    assert code == 0 and finished_job.id in out
    code, out, err = cli("jobs", "list", "--profile", "nowhere")
    assert code == 2 and out == "" and err.startswith("ftui: Could not reach 127.0.0.1:") and " — " in err
    code, _, err = cli("jobs", "list", "--profile", "missing")
    assert code == 2 and err == "ftui: no profile named 'missing'; the profiles are: nowhere, engine\n"


# --- watch ----------------------------------------------------------------------------------------------------------


def test_watch_a_finished_job_prints_every_event_then_the_summary(cli, finished_job) -> None:
    code, out, err = cli("jobs", "watch", finished_job.id, "--interval", "0.2")
    assert code == 0, err
    *events, summary = out.splitlines()
    assert "info   Created fine-tuning job: " + finished_job.id in events[0]
    assert events[-1].endswith("The job has successfully completed")
    assert any("Step 1/" in line for line in events)
    assert summary.startswith(f"{finished_job.id} succeeded  step ")
    assert summary.endswith(f"model {finished_job.fine_tuned_model}")
    assert err == ""


def test_watch_as_json_lines(cli, finished_job) -> None:
    code, out, err = cli("jobs", "watch", finished_job.id, "--json", "--interval", "0.2")
    assert code == 0, err
    *events, final = [json.loads(line) for line in out.splitlines()]
    assert {e["object"] for e in events} == {"fine_tuning.job.event"}
    assert {"id", "created_at", "level", "message", "type", "data"} <= set(events[0])
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    metrics = [e for e in events if e["type"] == "metrics"]
    assert metrics and metrics[-1]["data"]["step"] == metrics[-1]["data"]["total_steps"]
    assert final["object"] == "fine_tuning.job" and set(final) == RECORD_KEYS | {
        "object",
        "step",
        "total_steps",
        "progress",
    }
    assert (final["id"], final["status"], final["progress"]) == (finished_job.id, "succeeded", 1.0)


def test_unknown_job_id_is_a_clear_error(cli) -> None:
    code, out, err = cli("jobs", "watch", "ftjob-doesnotexist")
    assert code == 2 and out == ""
    assert err.startswith("ftui: ") and "ftjob-doesnotexist" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_ctrl_c_then_watching_a_job_cancelled_meanwhile(
    engine: EngineProcess, client: openai.OpenAI, training_file: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    use_engine(cli_env, tmp_path, engine)
    job = create_job(client, training_file, n_epochs=50)
    interrupted = Watch(cli_env, job.id, "--interval", "0.2")
    watch = Watch(cli_env, job.id, "--interval", "0.2")
    try:
        interrupted.wait_until(lambda: len(interrupted.out) > 0)
        interrupted.process.send_signal(signal.SIGINT)
        assert interrupted.finish(timeout=30) == 130
        assert interrupted.err == ["ftui: interrupted"]
        watch.wait_until(lambda: len(watch.out) > 0)
        client.fine_tuning.jobs.cancel(job.id)
        assert watch.finish() == 3, watch.err
        assert watch.out[-1].startswith(f"{job.id} cancelled")
        assert watch.err == []
    finally:
        interrupted.stop()
        watch.stop()
        wait_finished(client, job.id)


def test_watch_rides_out_an_engine_restart(tmp_path: Path, models_cache: Path, cli_env: dict[str, str]) -> None:
    engine = EngineProcess(tmp_path / "home", models_cache)
    engine.home.mkdir()
    engine.start()
    watch = None
    try:
        client = engine.client()
        job = create_job(client, upload_sample(client)[0], n_epochs=2)
        use_engine(cli_env, tmp_path, engine)
        watch = Watch(cli_env, job.id, "--json", "--interval", "0.2")
        wait_for(client, job.id, lambda j: j.status == "running")
        watch.wait_until(lambda: len(watch.out) >= 3)
        engine.kill()
        watch.wait_until(lambda: any("reconnecting in" in line for line in watch.err), timeout=30)
        engine.start()
        assert watch.finish() == 0, watch.err
    finally:
        if watch:
            watch.stop()
        engine.stop()
    assert watch.err[0].startswith("ftui: Could not reach ") and watch.err[0].endswith(" — reconnecting in 1s…")
    assert all("reconnecting in" in line for line in watch.err)
    *events, final = [json.loads(line) for line in watch.out]
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)), "an event was printed twice"
    assert events[-1]["message"] == "The job has successfully completed"
    assert (final["id"], final["status"]) == (job.id, "succeeded")
