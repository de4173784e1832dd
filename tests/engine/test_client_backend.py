"""The client layer against the real local engine: a server process on loopback training the tiny model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from server_harness import TINY, EngineProcess, all_events, write_jsonl

from ftui.catalog import Provider
from ftui.client import Backend, BackendError, ErrorKind
from ftui.config import BackendKind, Profile
from ftui.dataset.fixes import sample_files

FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, models_cache: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(tmp_path_factory.mktemp("home"), models_cache).start()
    yield process
    process.stop()


def local_profile(engine: EngineProcess, key: str | None = None) -> Profile:
    return Profile(
        name="test", kind=BackendKind.LOCAL, base_url=engine.base_url, api_key=SecretStr(key or engine.token)
    )


@pytest.fixture(scope="module")
def backend(engine: EngineProcess) -> Iterator[Backend]:
    connected = Backend.from_profile(local_profile(engine), max_retries=0)
    yield connected
    connected.close()


@pytest.fixture(scope="module")
def sample_ids(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The first lines of the bundled sample: enough for the tiny model to train a few steps in seconds."""
    folder = tmp_path_factory.mktemp("sample")
    ids = []
    for path, count in zip(sample_files(), (16, 6), strict=True):
        head = folder / path.name
        head.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))
        ids.append(backend.upload_file(head).id)
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def finished_job(backend: Backend, sample_ids: tuple[str, str]) -> tuple[str, list[list[str]], list[str]]:
    """Train one epoch, reading events incrementally the way the dashboard does: (job id, batches of ids, all ids)."""
    job = backend.create_job(request(*sample_ids))
    batches, last = [], None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = backend.retrieve_job(job.id).status
        events = backend.job_events_after(job.id, last)
        batches.append(events)
        last = events[-1].id if events else last
        if status in FINISHED:
            break
        time.sleep(0.3)
    tail = backend.job_events_after(job.id, last)
    batches.append(tail)
    return job.id, [[e.id for e in batch] for batch in batches], [e.created_at for b in batches for e in b]


def request(training: str, validation: str | None, **hyper: object) -> dict[str, object]:
    return {
        "model": TINY,
        "training_file": training,
        "validation_file": validation,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4} | hyper}},
        "seed": 42,
        "suffix": "client",
        "metadata": {"by": "test_client_backend"},
    }


def test_check_lists_the_base_models(backend: Backend, engine: EngineProcess) -> None:
    check = backend.check()
    assert check.ok and check.detail.startswith(f"Connected to 127.0.0.1:{engine.port} — ")
    assert backend.label == f"Local engine · 127.0.0.1:{engine.port}" and backend.provider is Provider.LOCAL
    tiny = next(model for model in check.models if model.id == TINY)
    assert tiny.fine_tunable is True and tiny.owned_by == "ftui" and not tiny.is_fine_tuned


def test_upload_reports_progress_and_is_processed(backend: Backend) -> None:
    training = sample_files()[0]
    size = training.stat().st_size
    calls: list[tuple[int, int]] = []
    uploaded = backend.upload_file(training, progress=lambda sent, total: calls.append((sent, total)))
    assert uploaded.bytes == size and uploaded.status == "processed"
    assert len(calls) >= 2 and calls[-1] == (size, size) and all(total == size for _, total in calls)
    assert [sent for sent, _ in calls] == sorted(sent for sent, _ in calls)
    seen: list[str] = []
    assert backend.wait_until_processed(uploaded.id, poll=0.05, on_status=seen.append).status == "processed"
    assert seen == ["processed"]
    assert uploaded.id in [item.id for item in backend.list_files()]


def test_a_rejected_file_says_why(backend: Backend, tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "no messages here"}])
    uploaded = backend.upload_file(bad)
    with pytest.raises(BackendError) as caught:
        backend.wait_until_processed(uploaded.id, poll=0.05)
    assert caught.value.kind is ErrorKind.INVALID and "bad.jsonl" in caught.value.message


def test_job_events_arrive_once_each_oldest_first(
    backend: Backend, engine: EngineProcess, finished_job: tuple[str, list[list[str]], list[int]]
) -> None:
    job_id, batches, times = finished_job
    assert backend.retrieve_job(job_id).status == "succeeded"
    received = [event_id for batch in batches for event_id in batch]
    assert len(received) == len(set(received)), "no event is delivered twice"
    assert received == [event.id for event in all_events(engine.client(), job_id)]
    assert times == sorted(times)
    assert sum(1 for batch in batches if batch) >= 2, "events came in more than one poll"


def test_checkpoints_and_the_fine_tuned_model(backend: Backend, finished_job: tuple[str, object, object]) -> None:
    job = backend.retrieve_job(finished_job[0])
    checkpoints = backend.job_checkpoints(job.id)
    assert checkpoints and [c.step_number for c in checkpoints] == sorted(c.step_number for c in checkpoints)
    tuned = next(model for model in backend.list_models() if model.id == job.fine_tuned_model)
    assert tuned.is_fine_tuned and tuned.base_model == TINY and tuned.fine_tunable is False
    assert job.id in [listed.id for listed in backend.list_jobs()]


def test_deploy_then_chat_streams_text(backend: Backend, finished_job: tuple[str, object, object]) -> None:
    model = backend.retrieve_job(finished_job[0]).fine_tuned_model
    assert model is not None and backend.deploy(model) == model
    pieces = list(backend.chat_stream(model, [{"role": "user", "content": "Where is my order?"}], max_tokens=8))
    assert pieces and all(isinstance(piece, str) and piece for piece in pieces)


def test_cancel_a_job(backend: Backend, sample_ids: tuple[str, str]) -> None:
    job = backend.create_job(request(sample_ids[0], None, n_epochs=3))
    assert backend.cancel_job(job.id).status in {"cancelled", "running"}
    deadline = time.monotonic() + 240
    while backend.retrieve_job(job.id).status != "cancelled":
        assert time.monotonic() < deadline, "the job was not cancelled"
        time.sleep(0.2)
    assert backend.list_jobs()[0].id == job.id, "newest first"


def test_a_wrong_key_is_an_auth_error(engine: EngineProcess) -> None:
    wrong = "ftui-not-the-token-at-all"
    with pytest.raises(BackendError) as caught:
        Backend.from_profile(local_profile(engine, wrong), max_retries=0).check()
    assert caught.value.kind is ErrorKind.AUTH and "token" in caught.value.hint
    assert wrong not in str(caught.value)


def test_the_default_local_profile_finds_the_running_engine(
    engine: EngineProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTUI_HOME", str(engine.home))
    backend = Backend.from_profile(Profile(name="local", kind=BackendKind.LOCAL), start_local=False)
    assert backend.base_url.rstrip("/") == engine.base_url and backend.check().ok
