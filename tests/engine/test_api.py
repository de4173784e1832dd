"""The engine end to end: a real server process on loopback, real SQLite, real training, the real openai SDK."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest
from server_harness import (
    TINY,
    EngineProcess,
    all_events,
    train_losses,
    upload,
    upload_sample,
    wait_finished,
    wait_for,
    write_jsonl,
)

from ftui.dataset.fixes import sample_files
from ftui.engine.runner import TRAINER_NICENESS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, models_cache: Path):
    process = EngineProcess(tmp_path_factory.mktemp("home"), models_cache).start()
    yield process
    process.stop()


@pytest.fixture
def fresh_engine(tmp_path: Path, models_cache: Path):
    process = EngineProcess(tmp_path / "home", models_cache)
    process.home.mkdir()
    yield process.start()
    process.stop()


@pytest.fixture(scope="module")
def client(engine: EngineProcess) -> openai.OpenAI:
    return engine.client()


@pytest.fixture(scope="module")
def sample_ids(client: openai.OpenAI) -> tuple[str, str]:
    return upload_sample(client)


def create_job(client: openai.OpenAI, training: str, validation: str | None = None, *, seed: int = 1234, **hyper):
    hyperparameters = {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 10.0} | hyper
    return client.fine_tuning.jobs.create(
        model=TINY,
        training_file=training,
        validation_file=validation,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        seed=seed,
        suffix="support",
        metadata={"purpose": "test"},
    )


# --- security and errors ---------------------------------------------------------------------------------


def test_requests_without_the_token_get_401(engine: EngineProcess) -> None:
    wrong = openai.OpenAI(base_url=engine.base_url, api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    raw = httpx.get(f"{engine.base_url}/fine_tuning/jobs")
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "invalid_request_error"


def test_token_file_is_private_and_not_logged(engine: EngineProcess) -> None:
    token_file = engine.home / "engine" / "token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert engine.token not in (engine.home / "server-test.log").read_text()


def test_unknown_route_and_malformed_bodies_get_openai_errors(engine: EngineProcess) -> None:
    headers = {"Authorization": f"Bearer {engine.token}"}
    missing = httpx.get(f"{engine.base_url}/no/such/route", headers=headers)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}
    broken = httpx.post(
        f"{engine.base_url}/fine_tuning/jobs",
        headers=headers | {"Content-Type": "application/json"},
        content=b"{not json",
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_request"
    wrong_type = httpx.post(
        f"{engine.base_url}/fine_tuning/jobs", headers=headers, json={"model": TINY, "training_file": 5}
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "training_file"
    extra = httpx.post(
        f"{engine.base_url}/fine_tuning/jobs", headers=headers, json={"model": TINY, "training_file": "x", "bogus": 1}
    )
    assert extra.status_code == 400


def test_missing_objects_are_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ft:nope")


def test_hyperparameters_are_validated(client: openai.OpenAI, sample_ids: tuple[str, str]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create_job(client, sample_ids[0], batch_size=0)
    assert "batch_size" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=sample_ids[0])


# --- files -----------------------------------------------------------------------------------------------


def test_file_lifecycle(client: openai.OpenAI, tmp_path: Path) -> None:
    training, _ = sample_files()
    created = upload(client, training, "support.jsonl")
    assert created.status == "processed" and created.bytes == training.stat().st_size
    assert client.files.retrieve(created.id).filename == "support.jsonl"
    assert created.id in [f.id for f in client.files.list().data]
    assert client.files.content(created.id).content == training.read_bytes()
    assert client.files.delete(created.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_a_file_with_errors_is_marked_and_never_starts_a_job(client: openai.OpenAI, tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}] * 3)
    record = upload(client, bad)
    assert record.status == "error"
    assert "line 1" in record.status_details and "no_trainable_assistant" in record.status_details
    before = len(client.fine_tuning.jobs.list(limit=100).data)
    with pytest.raises(openai.BadRequestError) as caught:
        create_job(client, record.id)
    assert caught.value.body["code"] == "invalid_training_file"
    assert len(client.fine_tuning.jobs.list(limit=100).data) == before


def test_path_tricks_in_file_names_are_refused(engine: EngineProcess) -> None:
    headers = {"Authorization": f"Bearer {engine.token}"}
    response = httpx.post(
        f"{engine.base_url}/files",
        headers=headers,
        files={"file": ("../../evil.jsonl", b'{"messages": []}\n')},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_filename"
    assert not (engine.home / "evil.jsonl").exists()


def test_uploads_over_the_size_cap_get_413(tmp_path: Path, models_cache: Path) -> None:
    process = EngineProcess(tmp_path, models_cache, {"FTUI_ENGINE_MAX_UPLOAD_BYTES": "1000"}).start()
    try:
        big = write_jsonl(tmp_path / "big.jsonl", [{"messages": [{"role": "user", "content": "x" * 500}]}] * 5)
        with pytest.raises(openai.APIStatusError) as caught:
            upload(process.client(), big)
        assert caught.value.status_code == 413
    finally:
        process.stop()


# --- training ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_job(client: openai.OpenAI, sample_ids: tuple[str, str]):
    job = create_job(client, *sample_ids, n_epochs=3)
    assert job.status == "queued" and job.seed == 1234
    return wait_finished(client, job.id)


def test_job_trains_to_success_and_loss_falls(client: openai.OpenAI, finished_job) -> None:
    job = finished_job
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:{TINY}:support:{job.id.removeprefix('ftjob-')[:8]}"
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.hyperparameters.n_epochs == 3 and job.hyperparameters.batch_size == 4
    assert job.metadata == {"purpose": "test"} and job.estimated_finish is None
    losses = train_losses(client, job.id)
    assert len(losses) >= 10
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_events_are_newest_first_with_metrics_and_validation(client: openai.OpenAI, finished_job) -> None:
    page = client.fine_tuning.jobs.list_events(finished_job.id, limit=5)
    assert len(page.data) == 5 and page.has_more
    assert page.data[0].created_at >= page.data[-1].created_at
    older = client.fine_tuning.jobs.list_events(finished_job.id, after=page.data[-1].id, limit=5)
    assert not {e.id for e in older.data} & {e.id for e in page.data}
    events = all_events(client, finished_job.id)
    metrics = [e.data for e in events if e.type == "metrics"]
    assert all({"step", "train_loss", "train_mean_token_accuracy"} <= set(m) for m in metrics)
    assert any("valid_loss" in m and "valid_mean_token_accuracy" in m for m in metrics)
    messages = [e.message for e in events if e.type == "message"]
    assert messages[0].startswith("Created fine-tuning job") and messages[-1] == "The job has successfully completed"


def test_checkpoints_one_per_epoch_and_result_csv(client: openai.OpenAI, finished_job) -> None:
    checkpoints = client.fine_tuning.jobs.checkpoints.list(finished_job.id).data
    assert len(checkpoints) == 3
    assert [c.step_number for c in checkpoints] == sorted((c.step_number for c in checkpoints), reverse=True)
    assert all(c.metrics.train_loss is not None for c in checkpoints)
    assert checkpoints[0].metrics.full_valid_loss is not None
    assert checkpoints[0].fine_tuned_model_checkpoint.startswith(finished_job.fine_tuned_model + ":ckpt-step-")
    (result_id,) = finished_job.result_files
    rows = list(csv.DictReader(io.StringIO(client.files.content(result_id).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "validation_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    ]
    assert len(rows) == len(train_losses(client, finished_job.id)) and rows[-1]["full_valid_loss"]


def test_fine_tuned_model_is_listed_and_answers(client: openai.OpenAI, finished_job) -> None:
    name = finished_job.fine_tuned_model
    assert name in [m.id for m in client.models.list().data]
    assert TINY in [m.id for m in client.models.list().data]
    assert client.models.retrieve(name).id == name
    messages = [{"role": "user", "content": "My parcel is late."}]
    answer = client.chat.completions.create(model=name, messages=messages, max_tokens=12, temperature=0)
    assert answer.choices[0].message.role == "assistant"
    assert answer.usage.completion_tokens <= 12 and answer.choices[0].finish_reason in ("stop", "length")
    streamed = client.chat.completions.create(model=name, messages=messages, max_tokens=12, temperature=0, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text == answer.choices[0].message.content
    base = client.chat.completions.create(model=TINY, messages=messages, max_tokens=12, temperature=0)
    assert base.choices[0].message.content != answer.choices[0].message.content


def test_same_seed_gives_the_same_loss_curve(client: openai.OpenAI, sample_ids: tuple[str, str], finished_job) -> None:
    again = create_job(client, *sample_ids, n_epochs=3)
    assert wait_finished(client, again.id).status == "succeeded"
    assert train_losses(client, again.id) == train_losses(client, finished_job.id)


def test_deleting_a_fine_tuned_model(client: openai.OpenAI, sample_ids: tuple[str, str]) -> None:
    job = wait_finished(client, create_job(client, sample_ids[0], n_epochs=1).id)
    assert client.models.delete(job.fine_tuned_model).deleted
    assert job.fine_tuned_model not in [m.id for m in client.models.list().data]
    with pytest.raises(openai.NotFoundError):
        client.models.delete(TINY)


def test_cancel_mid_run(client: openai.OpenAI, sample_ids: tuple[str, str]) -> None:
    job = create_job(client, sample_ids[0], n_epochs=50)
    wait_for(client, job.id, lambda j: j.status == "running" and (j.trained_tokens or 0) > 0)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status in ("running", "cancelled")
    final = wait_finished(client, job.id, timeout=60)
    assert final.status == "cancelled" and final.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_pause_then_resume_continues_the_same_curve(client: openai.OpenAI, sample_ids: tuple[str, str]) -> None:
    job = create_job(client, sample_ids[0], n_epochs=6, seed=77)
    wait_for(client, job.id, lambda j: j.status == "running" and (j.trained_tokens or 0) > 0)
    client.fine_tuning.jobs.pause(job.id)
    paused = wait_for(client, job.id, lambda j: j.status == "paused", timeout=60)
    assert paused.status == "paused"
    # The pause saved a checkpoint at the last step trained, and the checkpoints API lists it.
    wait_for(client, job.id, lambda j: "job paused" in all_events(client, j.id)[-1].message, timeout=30)
    events = all_events(client, job.id)
    step = [e.data["step"] for e in events if e.type == "metrics"][-1]
    assert f"paused at step {step};" in events[-1].message
    newest = client.fine_tuning.jobs.checkpoints.list(job.id).data[0]
    assert newest.step_number == step and newest.metrics.train_loss is not None
    assert newest.fine_tuned_model_checkpoint.endswith(f":ckpt-step-{step}")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.pause(job.id)
    client.fine_tuning.jobs.resume(job.id)
    assert wait_finished(client, job.id).status == "succeeded"
    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=100).data]
    assert step in steps and len(steps) == len(set(steps))
    straight = create_job(client, sample_ids[0], n_epochs=6, seed=77)
    assert wait_finished(client, straight.id).status == "succeeded"
    assert train_losses(client, job.id) == train_losses(client, straight.id)


# --- crashes -------------------------------------------------------------------------------------------------


def _trainer_pid(engine: EngineProcess, job_id: str) -> int:
    import sqlite3

    with sqlite3.connect(engine.home / "engine" / "engine.db") as db:
        return db.execute("SELECT trainer_pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def test_killed_trainer_resumes_from_its_checkpoint(fresh_engine: EngineProcess) -> None:
    client = fresh_engine.client()
    training, _ = upload_sample(client)
    job = create_job(client, training, n_epochs=8)
    wait_for(client, job.id, lambda j: len(client.fine_tuning.jobs.checkpoints.list(j.id).data) >= 1)
    # The trainer yields the CPU to interactive work: the wizard stays responsive while a job uses every core.
    trainer_priority = os.getpriority(os.PRIO_PROCESS, _trainer_pid(fresh_engine, job.id))
    assert trainer_priority == min(19, os.getpriority(os.PRIO_PROCESS, fresh_engine.process.pid) + TRAINER_NICENESS)
    os.kill(_trainer_pid(fresh_engine, job.id), signal.SIGKILL)
    final = wait_finished(client, job.id)
    assert final.status == "succeeded", final.error
    messages = [e.message for e in all_events(client, job.id)]
    assert any("resumes from the checkpoint" in m for m in messages)


def test_killed_trainer_without_checkpoint_fails_clearly(fresh_engine: EngineProcess) -> None:
    client = fresh_engine.client()
    training, _ = upload_sample(client)
    job = create_job(client, training, n_epochs=2, batch_size=1)  # the first checkpoint comes after 16 steps
    wait_for(client, job.id, lambda j: (j.trained_tokens or 0) > 0)
    assert not client.fine_tuning.jobs.checkpoints.list(job.id).data
    os.kill(_trainer_pid(fresh_engine, job.id), signal.SIGKILL)
    final = wait_finished(client, job.id)
    assert final.status == "failed"
    assert "killed by SIGKILL" in final.error.message and "Start the job again" in final.error.message


def test_killed_service_keeps_its_state_and_the_job_finishes(fresh_engine: EngineProcess) -> None:
    client = fresh_engine.client()
    training, validation = upload_sample(client)
    job = create_job(client, training, validation, n_epochs=6)
    wait_for(client, job.id, lambda j: (j.trained_tokens or 0) > 0)
    fresh_engine.kill(signal.SIGKILL)
    fresh_engine.start()
    client = fresh_engine.client()
    assert {training, validation} <= {f.id for f in client.files.list().data}
    final = wait_finished(client, job.id)
    assert final.status == "succeeded", final.error
    assert final.fine_tuned_model in [m.id for m in client.models.list().data]


def test_engine_env_points_the_sdk_at_the_engine(engine: EngineProcess, run_cli, cli_env) -> None:
    cli_env["FTUI_HOME"] = str(engine.home)
    code, out, err = run_cli("engine", "env")
    assert code == 0, err
    lines = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert lines["OPENAI_BASE_URL"] == engine.base_url and lines["OPENAI_API_KEY"] == engine.token
    sdk = openai.OpenAI(base_url=lines["OPENAI_BASE_URL"], api_key=lines["OPENAI_API_KEY"], max_retries=0)
    assert TINY in [m.id for m in sdk.models.list().data]


def test_engine_status_reports_address_and_models(engine: EngineProcess, run_cli, cli_env) -> None:
    cli_env["FTUI_HOME"] = str(engine.home)
    code, out, _ = run_cli("engine", "status")
    assert code == 0 and engine.base_url in out and TINY in out


def test_engine_status_lists_paused_and_queued_jobs(
    engine: EngineProcess, client: openai.OpenAI, sample_ids: tuple[str, str], run_cli, cli_env
) -> None:
    cli_env["FTUI_HOME"] = str(engine.home)
    first = create_job(client, sample_ids[0], n_epochs=50)
    wait_for(client, first.id, lambda j: j.status == "running" and (j.trained_tokens or 0) > 0)
    second = create_job(client, sample_ids[0], n_epochs=50)
    third = create_job(client, sample_ids[0], n_epochs=50)
    try:
        client.fine_tuning.jobs.pause(first.id)
        wait_for(client, first.id, lambda j: j.status == "paused", timeout=60)
        code, out, _ = run_cli("engine", "status")
        assert code == 0
        lines = out.splitlines()
        assert f"job           {first.id} paused ({TINY})" in lines, out
        assert f"job           {third.id} queued ({TINY})" in lines, out
        assert any(line.startswith(f"job           {second.id} ") for line in lines), out  # started, or about to
        assert "none running" not in out
    finally:
        for job in (first, second, third):
            with contextlib.suppress(openai.BadRequestError):
                client.fine_tuning.jobs.cancel(job.id)
        wait_finished(client, second.id, timeout=60)


def test_start_on_demand_reuses_a_running_engine(tmp_path: Path, models_cache: Path, monkeypatch) -> None:
    from ftui import client as client_layer
    from ftui.engine import server

    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    monkeypatch.setenv("FTUI_MODELS_DIR", str(models_cache))
    first = client_layer.ensure_local_engine()
    try:
        again = client_layer.ensure_local_engine()
        assert again == first
        sdk = client_layer.local_client()
        assert TINY in [m.id for m in sdk.models.list().data]
    finally:
        assert server.stop()
    deadline = time.monotonic() + 10
    while server.running_engine() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.running_engine() is None


def test_registering_a_model_missing_from_the_hf_cache_says_what_to_do(run_cli, cli_env, tmp_path) -> None:
    cli_env["HF_HOME"] = str(tmp_path / "hf")
    code, _, err = run_cli("engine", "register", "nobody/not-cached")
    assert code == 2 and "not in the local Hugging Face cache" in err and "Traceback" not in err
