"""The client layer against cloud stand-ins on loopback: OpenAI's error shapes and Azure's published examples.

The engine-backed tests of the same layer are in tests/engine/test_client_backend.py.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_double import CloudDouble, multipart_payload
from pydantic import SecretStr

from ftui import client
from ftui.catalog import Provider
from ftui.client import Backend, BackendError, ErrorKind, azure_endpoint, azure_live_model, describe_error
from ftui.config import BackendKind, Profile

KEY = "sk-right-key-0123456789"
WRONG = "sk-wrong-key-9876543210"
API_VERSION = "2025-04-01-preview"


@pytest.fixture
def openai_double() -> Iterator[CloudDouble]:
    with CloudDouble("openai", KEY) as double:
        yield double


@pytest.fixture
def azure_double() -> Iterator[CloudDouble]:
    with CloudDouble("azure", KEY) as double:
        yield double


def openai_profile(double: CloudDouble, **fields: object) -> Profile:
    return Profile.model_validate(
        {"name": "openai", "kind": "openai", "base_url": f"{double.url}/v1", "api_key_env": "FTUI_TEST_KEY"} | fields
    )


def azure_profile(double: CloudDouble, api_version: str | None = None) -> Profile:
    return Profile(
        name="azure",
        kind=BackendKind.AZURE,
        base_url=double.url,
        api_version=api_version,
        api_key=SecretStr(KEY),
    )


def connect(profile: Profile, **options: float) -> Backend:
    return Backend.from_profile(profile, max_retries=0, **options)


@pytest.fixture(params=[None, API_VERSION], ids=["v1", "classic"])
def azure(request: pytest.FixtureRequest, azure_double: CloudDouble) -> Iterator[Backend]:
    backend = connect(azure_profile(azure_double, request.param))
    yield backend
    backend.close()


# --- keys and errors ---------------------------------------------------------------------------------------------


def test_a_wrong_openai_key_is_an_auth_error_naming_the_key_source(
    openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", WRONG)
    with pytest.raises(BackendError) as caught:
        connect(openai_profile(openai_double)).check()
    error = caught.value
    assert error.kind is ErrorKind.AUTH and error.status == 401
    assert error.message == f"The API key was rejected by {openai_double.url.removeprefix('http://')}."
    assert "$FTUI_TEST_KEY" in error.hint
    text = f"{error} {error!r}"
    assert WRONG not in text and WRONG[-4:] not in text and "sk-" not in text


def test_a_missing_environment_key_is_reported_before_any_request(
    openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FTUI_TEST_KEY", raising=False)
    with pytest.raises(BackendError) as caught:
        connect(openai_profile(openai_double))
    assert caught.value.kind is ErrorKind.AUTH and "FTUI_TEST_KEY" in str(caught.value)
    assert openai_double.requests == []


def test_a_wrong_azure_key_is_an_auth_error(azure_double: CloudDouble) -> None:
    profile = azure_profile(azure_double).model_copy(update={"api_key": SecretStr(WRONG)})
    with pytest.raises(BackendError) as caught:
        connect(profile).list_jobs()
    assert caught.value.kind is ErrorKind.AUTH and "profile 'azure'" in caught.value.hint
    assert WRONG not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (403, {"error": {"message": "Region not supported"}}, ErrorKind.AUTH, "refused access: Region not supported"),
        (404, {"error": {"message": "The model 'x' does not exist"}}, ErrorKind.NOT_FOUND, "does not exist"),
        (
            400,
            {"error": {"message": "Invalid suffix", "param": "suffix", "code": "invalid"}},
            ErrorKind.INVALID,
            "Check suffix.",
        ),
        (429, {"error": {"message": "Slow down", "code": "rate_limit_exceeded"}}, ErrorKind.RATE_LIMIT, "Slow down"),
        (429, {"error": {"message": "No credit", "code": "insufficient_quota"}}, ErrorKind.RATE_LIMIT, "quota"),
        (500, {"error": {"message": "Boom"}}, ErrorKind.SERVER, "internal error (HTTP 500): Boom"),
    ],
)
def test_http_errors_become_plain_backend_errors(
    openai_double: CloudDouble,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, object],
    kind: ErrorKind,
    words: str,
) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    openai_double.fail_next = (status, body)
    with pytest.raises(BackendError) as caught:
        connect(openai_profile(openai_double)).retrieve_job("ftjob-1")
    assert caught.value.kind is kind and caught.value.status == status
    assert words in str(caught.value) and caught.value.hint


def test_an_unreachable_host_is_a_network_error(openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    profile = openai_profile(openai_double)
    openai_double.stop()
    with pytest.raises(BackendError) as caught:
        connect(profile).list_models()
    assert caught.value.kind is ErrorKind.NETWORK and caught.value.message.startswith("Could not reach 127.0.0.1:")
    assert profile.base_url is not None and profile.base_url in caught.value.hint


def test_a_slow_host_is_a_timeout(openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    openai_double.delay_seconds = 1.0
    with pytest.raises(BackendError) as caught:
        connect(openai_profile(openai_double), timeout=0.2).list_models()
    assert caught.value.kind is ErrorKind.TIMEOUT


def test_describe_error_never_repeats_a_key() -> None:
    profile = Profile(name="p", kind=BackendKind.OPENAI, api_key=SecretStr("abc-secret-value"))
    error = describe_error(RuntimeError("failed with abc-secret-value and key-12345678"), profile)
    assert error.kind is ErrorKind.UNEXPECTED and "abc-secret-value" not in str(error) and "12345678" not in str(error)
    assert describe_error(error) is error
    assert "key-value" in str(describe_error(ValueError("a key-value pair"), profile))
    unavailable = describe_error(client.BackendUnavailable("The local engine is not running."))
    assert unavailable.kind is ErrorKind.NETWORK


def test_local_profile_without_an_engine_is_a_network_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    with pytest.raises(BackendError) as caught:
        Backend.from_profile(Profile(name="local", kind=BackendKind.LOCAL), start_local=False)
    assert caught.value.kind is ErrorKind.NETWORK and "ftui engine serve" in caught.value.message


# --- OpenAI and compatible ---------------------------------------------------------------------------------------


def test_openai_backend_facts(openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    backend = connect(openai_profile(openai_double))
    assert backend.kind is BackendKind.OPENAI and backend.provider is Provider.OPENAI
    assert backend.label == f"OpenAI · {openai_double.url.removeprefix('http://')}"
    assert backend.supports_pause and not backend.requires_processed_files
    default = Backend.from_profile(Profile(name="o", kind=BackendKind.OPENAI, api_key=SecretStr(KEY)))
    assert default.label == "OpenAI · api.openai.com"


def test_openai_chat_streams_text_and_deploy_is_immediate(
    openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    backend = connect(openai_profile(openai_double))
    model = "ft:gpt-4o-mini-2024-07-18:org:support:abc123"
    assert backend.deploy(model) == model
    assert list(backend.chat_stream(model, [{"role": "user", "content": "Hi"}], max_tokens=5)) == [
        "Hello",
        " there",
        "!",
    ]
    sent = openai_double.last("/chat/completions").json()
    assert sent["stream"] is True and sent["max_completion_tokens"] == 5 and sent["model"] == model


def test_openai_live_models_do_not_claim_fine_tunability(
    openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTUI_TEST_KEY", KEY)
    models = connect(openai_profile(openai_double)).list_models()
    assert [m.fine_tunable for m in models] == [None, None]


def test_a_compatible_endpoint_gets_no_openai_organization(
    openai_double: CloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-for-openai-only")
    openai_double.key = "no-key"
    backend = connect(Profile(name="c", kind=BackendKind.COMPATIBLE, base_url=f"{openai_double.url}/v1"))
    backend.list_jobs()
    headers = openai_double.last("/fine_tuning/jobs").headers
    assert "openai-organization" not in headers and headers["authorization"] == "Bearer no-key"


# --- Azure, parsing Azure's own example bodies ---------------------------------------------------------------------


def test_azure_surfaces_use_their_paths(azure_double: CloudDouble) -> None:
    v1 = connect(azure_profile(azure_double))
    v1.list_models()
    first = azure_double.last("/models")
    assert first.path == "/openai/v1/models" and first.headers["api-key"] == KEY
    classic = connect(azure_profile(azure_double, API_VERSION))
    classic.list_models()
    second = azure_double.last("/models")
    assert second.path == "/openai/models" and second.query["api-version"] == API_VERSION
    assert second.headers["api-key"] == KEY
    assert v1.provider is Provider.AZURE and v1.requires_processed_files and v1.supports_pause


def test_azure_endpoint_accepts_what_users_paste() -> None:
    for typed in ("https://r.openai.azure.com", "https://r.openai.azure.com/", "https://r.openai.azure.com/openai/v1/"):
        assert azure_endpoint(typed) == "https://r.openai.azure.com"


def test_azure_models_say_whether_they_can_be_fine_tuned(azure: Backend) -> None:
    check = azure.check()
    assert check.ok and "2 models" in check.detail and check.backend_label.startswith("Azure OpenAI")
    base, tuned = check.models
    assert (base.id, base.fine_tunable, base.is_fine_tuned, base.created) == ("curie", False, False, 1646126127)
    assert base.reason == "Fine-tuning this model was retired on 2023-03-01."
    assert tuned.is_fine_tuned and tuned.base_model == "curie" and tuned.fine_tunable is False
    assert tuned.reason is not None and "does not offer fine-tuning" in tuned.reason


def test_azure_capabilities_decide_before_the_retirement_date(azure: Backend) -> None:
    curie = azure.sdk.models.list().data[0]
    assert azure_live_model(curie, now=1600000000).fine_tunable is True


def test_azure_jobs_events_and_checkpoints(azure: Backend) -> None:
    job = azure.retrieve_job("ft-72a2792ef7d24ba7b82c7fe4a37e379f")
    assert (job.status, job.fine_tuned_model, job.trained_tokens) == (
        "succeeded",
        "curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f",
        2342,
    )
    assert [j.id for j in azure.list_jobs()] == [job.id]
    events = azure.job_events_after(job.id, None)
    assert [e.message for e in events] == [
        "Job enqueued. Waiting for jobs ahead to complete.",
        "Job started.",
        "Job succeeded.",
    ]
    assert [e.message for e in azure.job_events_after(job.id, events[0].id)] == ["Job started.", "Job succeeded."]
    assert azure.job_events_after(job.id, events[-1].id) == []
    checkpoints = azure.job_checkpoints(job.id)
    assert [c.step_number for c in checkpoints] == [10, 20, 30]
    assert checkpoints[-1].metrics.full_valid_loss == 0.114


def test_azure_job_control(azure: Backend, azure_double: CloudDouble) -> None:
    request = {"model": "curie", "training_file": "file-181a", "validation_file": None, "seed": 7, "suffix": "pets"}
    created = azure.create_job(request)
    assert created.status == "pending" and created.id == "ft-72a2792ef7d24ba7b82c7fe4a37e379f"
    assert azure_double.last("/fine_tuning/jobs", "POST").json() == {
        "model": "curie",
        "training_file": "file-181a",
        "seed": 7,
        "suffix": "pets",
    }
    assert azure.cancel_job(created.id).status == "cancelled"
    assert azure.pause_job(created.id).status == "paused"
    assert azure.resume_job(created.id).status == "resuming"


def test_azure_deploy_is_not_in_this_release(azure: Backend) -> None:
    with pytest.raises(BackendError) as caught:
        azure.deploy("curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f")
    assert caught.value.kind is ErrorKind.UNSUPPORTED and "Foundry portal" in caught.value.hint


def test_azure_lists_training_files_only(azure: Backend) -> None:
    assert [(f.filename, f.purpose) for f in azure.list_files()] == [("puppy.jsonl", "fine-tune")]


def test_azure_file_is_waited_for_until_processed(azure: Backend, azure_double: CloudDouble) -> None:
    azure_double.file_statuses = [("pending", None), ("running", None), ("processed", None)]
    seen: list[str] = []
    done = azure.wait_until_processed("file-1", poll=0.01, on_status=seen.append)
    assert done.status == "processed" and seen == ["pending", "running", "processed"]


def test_a_file_azure_rejects_is_invalid(azure: Backend, azure_double: CloudDouble) -> None:
    azure_double.file_statuses = [("error", "Line 3: missing 'messages'.")]
    with pytest.raises(BackendError) as caught:
        azure.wait_until_processed("file-1", poll=0.01)
    assert caught.value.kind is ErrorKind.INVALID and "Line 3: missing 'messages'" in caught.value.message


def test_waiting_can_time_out_and_be_cancelled(azure: Backend, azure_double: CloudDouble) -> None:
    azure_double.file_statuses = [("running", None)]
    with pytest.raises(BackendError) as caught:
        azure.wait_until_processed("file-1", timeout=0.05, poll=0.01)
    assert caught.value.kind is ErrorKind.TIMEOUT
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(BackendError) as stopped:
        azure.wait_until_processed("file-1", poll=5, cancel=cancel)
    assert stopped.value.kind is ErrorKind.CANCELLED


# --- uploads -----------------------------------------------------------------------------------------------------


def test_upload_streams_the_file_with_progress(azure: Backend, azure_double: CloudDouble, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"messages": []}\n' * 20_000)
    before = path.read_bytes()
    calls: list[tuple[int, int]] = []
    uploaded = azure.upload_file(path, progress=lambda sent, total: calls.append((sent, total)))
    assert uploaded.status == "pending" and uploaded.filename == "puppy.jsonl"
    assert multipart_payload(azure_double.last("/files", "POST")) == before == path.read_bytes()
    assert len(calls) > 2 and calls[-1] == (len(before), len(before))
    assert [sent for sent, _ in calls] == sorted(sent for sent, _ in calls)


def test_upload_can_be_cancelled(azure: Backend, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"x" * 300_000)
    cancel = threading.Event()
    with pytest.raises(BackendError) as caught:
        azure.upload_file(path, progress=lambda sent, total: cancel.set(), cancel=cancel)
    assert caught.value.kind is ErrorKind.CANCELLED


def test_large_files_go_through_the_uploads_api_in_parts(
    azure: Backend, azure_double: CloudDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "SINGLE_UPLOAD_LIMIT", 1_000)
    monkeypatch.setattr(client, "UPLOAD_PART_SIZE", 400)
    path = tmp_path / "big.jsonl"
    path.write_bytes(bytes(range(256)) * 10)
    calls: list[int] = []
    uploaded = azure.upload_file(path, progress=lambda sent, total: calls.append(sent))
    assert uploaded.id == "file-181a1cbdcdcf4677ada87f63a0928099"
    started = azure_double.last("/uploads", "POST").json()
    assert started == {"bytes": 2560, "filename": "big.jsonl", "mime_type": "text/jsonl", "purpose": "fine-tune"}
    assert azure_double.parts == [400] * 6 + [160]
    assert azure_double.completed == {
        "part_ids": [f"part_{n}" for n in range(1, 8)],
        "md5": hashlib.md5(path.read_bytes()).hexdigest(),
    }
    assert calls == sorted(calls) and calls[-1] == 2560
