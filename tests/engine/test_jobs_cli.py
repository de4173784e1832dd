"""``ftui jobs list`` and ``ftui jobs watch`` against the real local engine, run as the user runs them."""

from __future__ import annotations

import json
import re
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


# --- create ---------------------------------------------------------------------------------------------------------

FAST = ("--n-epochs", "1", "--batch-size", "4", "--learning-rate-multiplier", "10")


def sample_head(folder: Path, training_lines: int = 16, validation_lines: int = 6) -> tuple[Path, Path]:
    """The first lines of the bundled sample, as local files: enough for the tiny model to train in seconds."""
    from ftui.dataset.fixes import sample_files

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, count in zip(sample_files(), (training_lines, validation_lines), strict=True):
        head = folder / path.name
        head.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))
        written.append(head)
    return written[0], written[1]


def file_ids(client: openai.OpenAI) -> set[str]:
    return {item.id for item in client.files.list().data}


def test_create_from_a_job_file_and_watch_to_success(cli, client: openai.OpenAI, tmp_path: Path) -> None:
    sample_head(tmp_path / "project" / "data")
    job_toml = tmp_path / "project" / "job.toml"
    job_toml.write_text(
        f'model = "{TINY}"\n'
        'training_file = "data/train.jsonl"\n'
        'validation_file = "data/validation.jsonl"\n'
        "seed = 11\n"
        'suffix = "from-file"\n'
        "[hyperparameters]\nn_epochs = 1\nbatch_size = 4\nlearning_rate_multiplier = 10\n"
        '[metadata]\nteam = "support"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = cli("jobs", "create", "--from", job_toml, "--watch", "--interval", "0.3", cwd=elsewhere)
    assert code == 0, err
    created, *events, summary = out.splitlines()
    job_id = created.split()[3]
    assert created.startswith(f"Created fine-tuning job {job_id} on ") and created.endswith(f"(model {TINY}, seed 11).")
    assert any("Created fine-tuning job: " + job_id in line for line in events)
    assert summary.startswith(f"{job_id} succeeded") and ":from-file:" in summary
    assert "ftui: Checking the data…" in err and "ftui: uploaded the training file (" in err and "seed" not in err
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert (job.seed, job.metadata) == (11, {"created_with": "ftui", "team": "support"})
    assert job.method.supervised.hyperparameters.n_epochs == 1 and job.validation_file


def test_create_with_flags_as_json_then_pause_resume_and_cancel(cli, client: openai.OpenAI, tmp_path: Path) -> None:
    training, validation = sample_head(tmp_path)
    uploaded = client.files.create(file=(validation.name, validation.read_bytes()), purpose="fine-tune")
    code, out, err = cli(
        "jobs", "create", "--model", TINY, "--training-file", training, "--validation-file", uploaded.id,
        "--n-epochs", "50", "--batch-size", "1", "--metadata", "run=a", "--metadata", "owner=ci",
        "--json", "--save", tmp_path / "saved.toml",
    )  # fmt: skip
    assert code == 0, err
    job = json.loads(out)
    seed = int(err.split("ftui: seed ")[1].split()[0])
    assert (
        f"ftui: seed {seed} was generated; pass --seed {seed} to repeat" in err
        and "ftui: saved the job's fields to " in err
    )
    assert (job["object"], job["seed"], job["validation_file"]) == ("fine_tuning.job", seed, uploaded.id)
    assert job["metadata"] == {"created_with": "ftui", "run": "a", "owner": "ci"}
    saved = (tmp_path / "saved.toml").read_text()
    assert f"seed = {seed}\n" in saved and 'training_file = "train.jsonl"' in saved
    try:
        wait_for(client, job["id"], lambda j: j.status == "running")
        code, out, err = cli("jobs", "pause", job["id"])
        assert (code, err) == (0, "") and out.startswith(f"{job['id']} paus")
        wait_for(client, job["id"], lambda j: j.status == "paused")
        code, out, err = cli("jobs", "resume", job["id"], "--json")
        assert code == 0 and json.loads(out)["id"] == job["id"]
        code, out, err = cli("jobs", "cancel", job["id"])
        # Cancelled at once while queued; a job the trainer has picked up again stops after its current step.
        assert (code, err) == (0, "") and out in (
            f"{job['id']} cancelled\n",
            f"{job['id']} cancelling (still running); 'ftui jobs watch {job['id']}' follows it\n",
        )
    finally:
        wait_finished(client, job["id"])
    code, out, err = cli("jobs", "pause", job["id"])
    assert code == 2 and err.startswith("ftui: ") and len(err.splitlines()) == 1


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_bad_input_gets_one_line_and_nothing_is_uploaded(cli, client: openai.OpenAI, tmp_path: Path) -> None:
    training, _ = sample_head(tmp_path)
    broken = write_lines(
        tmp_path / "broken.jsonl", ['{"messages": [{"role": "user"}]}', "not json", *training.read_text().splitlines()]
    )
    before = file_ids(client)
    model = ("--model", TINY)
    cases = [
        (("--model", "no-such-model", "--training-file", training), "unknown model 'no-such-model': neither ftui's catalog nor "),
        ((*model, "--training-file", tmp_path / "missing.jsonl"), "the training file "),
        ((*model, "--training-file", training, "--suffix", "has space"), "The suffix may hold only letters"),
        ((*model, "--training-file", training, "--beta", "0.1"), "beta applies only to DPO"),
        ((*model, "--training-file", training, "--metadata", "novalue"), "ftui jobs create: argument --metadata: 'novalue' is not KEY=VALUE"),
        ((*model, "--training-file", training, "--n-epochs", "0"), "ftui jobs create: argument --n-epochs: n_epochs must be a whole number from 1 to 50, or auto."),
        (("--training-file", training), "ftui: no model: pass --model, or set model in the job file given with --from"),
        (("--from", tmp_path / "nope.toml"), "ftui: "),
    ]  # fmt: skip
    for args, start in cases:
        code, out, err = cli("jobs", "create", *args)
        line = err.strip()
        assert code == 2 and out == "" and "\n" not in line, (args, err)
        assert line.startswith(start if start.startswith("ftui") else f"ftui: {start}"), (args, err)
    (tmp_path / "job.toml").write_text(f'model = "{TINY}"\ntraining_file = "x.jsonl"\nn_epochs = 3\n')
    code, out, err = cli("jobs", "create", "--from", tmp_path / "job.toml")
    assert (
        code == 2 and err.strip().startswith("ftui: ") and "unknown key 'n_epochs'" in err and "\n" not in err.strip()
    )
    code, out, err = cli("jobs", "create", *model, "--training-file", broken, *FAST)
    progress, first, *findings = err.splitlines()
    assert code == 1 and out == "" and progress == "ftui: Checking the data…", err
    assert re.match(r"ftui: the data has \d errors, so nothing was uploaded; fix them \('ftui validate /", first), first
    assert findings and all(line.startswith("  ") for line in findings)
    assert file_ids(client) == before, "nothing was uploaded"


def test_ctrl_c_while_checking_the_data_creates_nothing(
    engine: EngineProcess, client: openai.OpenAI, cli_env: dict[str, str], tmp_path: Path
) -> None:
    use_engine(cli_env, tmp_path, engine)
    training, _ = sample_head(tmp_path)
    lines = training.read_text().splitlines()
    big = write_lines(tmp_path / "big.jsonl", lines * 4000)
    before = file_ids(client)
    jobs_before = {job.id for job in client.fine_tuning.jobs.list(limit=100).data}
    process = subprocess.Popen(
        [sys.executable, "-m", "ftui", "jobs", "create", "--model", TINY, "--training-file", str(big), *FAST],
        env=cli_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first == "ftui: Checking the data…\n", first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and out == ""
    assert err == "ftui: interrupted; no job was created\n"
    assert file_ids(client) == before
    assert {job.id for job in client.fine_tuning.jobs.list(limit=100).data} == jobs_before


# --- show and results -----------------------------------------------------------------------------------------------


def test_show_a_finished_job(cli, finished_job) -> None:
    code, out, err = cli("jobs", "show", finished_job.id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == finished_job.id
    text = "\n".join(lines)
    assert "  status " in text and "succeeded" in lines[1]
    assert "n_epochs 1" in text and "batch_size 4" in text and f"training file     {finished_job.training_file}" in text
    assert "train loss" in text and "(best " in text and "token accuracy" in text
    code, out, err = cli("jobs", "show", finished_job.id, "--json")
    record = json.loads(out)
    assert set(record) >= RECORD_KEYS and record["status"] == "succeeded"
    assert record["hyperparameters"]["n_epochs"] == 1 and record["seed"] == 7
    assert record["files"]["results"] == finished_job.result_files
    metrics = record["metrics"]
    assert metrics["step"] == metrics["total_steps"] and metrics["best_train_loss"] <= metrics["train_loss"]
    assert 0 <= metrics["train_token_accuracy"] <= 1
    assert isinstance(record["checkpoints"], list)
    code, out, err = cli("jobs", "show", "ftjob-doesnotexist")
    assert code == 2 and out == "" and len(err.splitlines()) == 1


def test_results_downloads_the_metrics_csv(cli, finished_job, tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    code, out, err = cli("jobs", "results", finished_job.id, "-o", target)
    assert code == 0, err
    assert out.startswith(f"Wrote {target} (") and finished_job.result_files[0] in out
    content = target.read_text()
    assert content.startswith("step,") and "train_loss" in content.splitlines()[0]
    code, out, err = cli("jobs", "results", finished_job.id, "-o", target)
    assert code == 2 and "already exists. Pass --force" in err and len(err.splitlines()) == 1
    target.write_text("old")
    code, out, err = cli("jobs", "results", finished_job.id, "-o", target, "--force")
    assert code == 0 and target.read_text() == content
    code, out, err = cli("jobs", "results", finished_job.id, cwd=tmp_path)
    assert code == 0 and (tmp_path / f"{finished_job.id}.csv").read_text() == content
