"""``Submission.run`` against the real local engine: validate, upload, wait until processed, create."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from server_harness import TINY, EngineProcess, wait_finished

from ftui.client import Backend, BackendError, ErrorKind
from ftui.config import BackendKind, Profile
from ftui.dataset.fixes import sample_files
from ftui.jobfile import JobFile
from ftui.options import Hyperparameters, JobOptions
from ftui.submit import DataChoice, DataErrors, Stage, Submission, SubmitPlan, SubmitStatus

OPTIONS = JobOptions(
    model=TINY,
    hyperparameters=Hyperparameters(n_epochs=1, batch_size=4, learning_rate_multiplier=10.0),
    suffix="submit",
    metadata={"suite": "submit"},
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, models_cache: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(tmp_path_factory.mktemp("home"), models_cache).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def backend(engine: EngineProcess) -> Iterator[Backend]:
    profile = Profile(name="t", kind=BackendKind.LOCAL, base_url=engine.base_url, api_key=SecretStr(engine.token))
    connected = Backend.from_profile(profile, max_retries=0)
    yield connected
    connected.close()


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path]:
    written = []
    for path, count in zip(sample_files(), (16, 6), strict=True):
        head = tmp_path / path.name
        head.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))
        written.append(head)
    return written[0], written[1]


def file_ids(backend: Backend) -> set[str]:
    return {item.id for item in backend.list_files()}


def stop(backend: Backend, job_id: str) -> None:
    """Cancel a job the test does not need to finish: the tests share two CPU cores."""
    with contextlib.suppress(BackendError):
        backend.cancel_job(job_id)
    wait_finished(backend.sdk, job_id)


def test_run_validates_uploads_waits_and_creates(backend: Backend, sample: tuple[Path, Path]) -> None:
    training, validation = sample
    statuses: list[SubmitStatus] = []
    progress: list[tuple[str, int, int]] = []
    plan = SubmitPlan(OPTIONS, DataChoice.local(training), seed=5, validation=DataChoice.local(validation))
    submission = Submission()
    job = submission.run(
        backend,
        plan,
        on_status=statuses.append,
        on_progress=lambda role, sent, total: progress.append((role, sent, total)),
    )
    try:
        stages = [status.stage for status in statuses]
        assert stages[0] is Stage.VALIDATING and stages[-2:] == [Stage.CREATING, Stage.CREATED]
        assert [s.role for s in statuses if s.stage is Stage.UPLOADING] == ["training", "validation"]
        assert {s.file_status for s in statuses if s.file_status} <= {"uploaded", "pending", "processed"}
        for role, path in (("training", training), ("validation", validation)):
            size = path.stat().st_size
            assert (role, size, size) in progress
        assert (job.model, job.seed, job.metadata) == (TINY, 5, {"created_with": "ftui", "suite": "submit"})
        assert job.training_file == submission.uploaded[("training", training)]
        assert job.validation_file == submission.uploaded[("validation", validation)]
        # A retry of the same submission does not upload the files again.
        before = file_ids(backend)
        again = submission.run(backend, plan)
        stop(backend, again.id)
        assert file_ids(backend) == before and again.training_file == job.training_file
    finally:
        stop(backend, job.id)


def test_data_errors_stop_before_any_upload(backend: Backend, tmp_path: Path, sample: tuple[Path, Path]) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": []}\nnot json\n' + sample[0].read_text())
    before = file_ids(backend)
    statuses: list[SubmitStatus] = []
    with pytest.raises(DataErrors) as caught:
        Submission().run(backend, SubmitPlan(OPTIONS, DataChoice.local(broken), seed=1), on_status=statuses.append)
    assert caught.value.report.errors >= 2 and str(caught.value).startswith("the data has ")
    assert [s.stage for s in statuses] == [Stage.VALIDATING]
    assert file_ids(backend) == before


def test_an_uploaded_file_is_used_as_it_is_and_cancel_creates_nothing(
    backend: Backend, sample: tuple[Path, Path]
) -> None:
    uploaded = backend.upload_file(sample[0])
    jobs_before = {job.id for job in backend.list_jobs(100)}
    cancel = threading.Event()
    cancel.set()
    plan = SubmitPlan(OPTIONS, DataChoice.uploaded(uploaded.id, uploaded.filename), seed=2)
    with pytest.raises(BackendError) as caught:
        Submission().run(backend, plan, cancel=cancel)
    assert caught.value.kind is ErrorKind.CANCELLED
    assert {job.id for job in backend.list_jobs(100)} == jobs_before
    statuses: list[SubmitStatus] = []
    job = Submission().run(backend, plan, on_status=statuses.append)
    stop(backend, job.id)
    assert job.training_file == uploaded.id
    assert Stage.VALIDATING not in {s.stage for s in statuses} and Stage.UPLOADING not in {s.stage for s in statuses}


def test_a_job_file_plan_submits(backend: Backend, sample: tuple[Path, Path], tmp_path: Path) -> None:
    training, _ = sample
    saved = JobFile.from_options(OPTIONS, DataChoice.local(training), seed=8, relative_to=tmp_path)
    path = saved.save(tmp_path / "job.toml")
    job = Submission().run(backend, JobFile.load(path).to_plan())
    stop(backend, job.id)
    assert (job.seed, job.user_provided_suffix) == (8, "submit")
    assert JobFile.from_job(job).model_dump(exclude={"training_file"}) == saved.model_dump(exclude={"training_file"})
