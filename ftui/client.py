"""The one client layer: every backend (local engine, OpenAI, Azure OpenAI) through the ``openai`` SDK.

Provider differences live here and nowhere else. Screens and commands build a ``Backend`` from a profile and call
its methods; every failure comes out as a ``BackendError`` that says, in plain words, what failed and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import openai
from openai.types import FileObject, Model
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from ftui.catalog import Provider
from ftui.client_types import BackendError, ConnectionCheck, ErrorKind, LiveModel
from ftui.config import BACKEND_LABELS, OPENAI_DEFAULT_BASE_URL, BackendKind, Profile, provider_of
from ftui.engine import paths, server
from ftui.textfmt import plural

# Files above this go through the Uploads API in parts (OpenAI and Azure both cap a single upload at 512 MB).
SINGLE_UPLOAD_LIMIT = 512 * 1024 * 1024
UPLOAD_PART_SIZE = 64 * 1024 * 1024
# Uploads wait for the server to check the file, and the local engine loads a model before its first token.
LONG_TIMEOUT_SECONDS = 600.0
PAGE_CAP = 10_000
MAX_PAGE_SIZE = 100
NO_KEY_PLACEHOLDER = "no-key"


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


# --- errors ----------------------------------------------------------------------------------------------------


# Key-shaped words in servers' messages ("Incorrect API key provided: sk-abc***1234"): a prefix, then 8+ characters
# with a digit among them, so ordinary words such as "key-value" stay.
_KEYLIKE = re.compile(r"\b(?:sk|key|ftui)-(?=[A-Za-z0-9_*\-]*\d)[A-Za-z0-9_*\-]{8,}")


def describe_error(exc: BaseException, profile: Profile | None = None) -> BackendError:
    """Any failure as a ``BackendError`` with plain words and a next step. Keys never appear in the text."""
    if isinstance(exc, BackendError):
        return exc
    error = _describe(exc, profile)
    error.message = error.message[:1].upper() + error.message[1:]  # messages may start with "the local engine"
    return error


def _describe(exc: BaseException, profile: Profile | None) -> BackendError:
    if isinstance(exc, BackendUnavailable):
        return BackendError(ErrorKind.NETWORK, str(exc), f"The engine's log is {paths.log_path()}.")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, profile)
    if isinstance(exc, openai.APITimeoutError):
        host = _host(exc, profile)
        return BackendError(ErrorKind.TIMEOUT, f"{host} did not answer in time.", _network_hint(profile))
    if isinstance(exc, openai.APIConnectionError):
        return BackendError(ErrorKind.NETWORK, f"Could not reach {_host(exc, profile)}.", _network_hint(profile))
    if isinstance(exc, openai.OpenAIError):
        return BackendError(ErrorKind.INVALID, _scrub(str(exc), profile), "Check the profile's settings.")
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return BackendError(ErrorKind.INVALID, f"Could not read{where}: {exc.strerror or exc}.", "Check the path.")
    return BackendError(
        ErrorKind.UNEXPECTED,
        f"Unexpected error: {type(exc).__name__}: {_scrub(str(exc), profile)}",
        "This is a bug in ftui. Please report it with the steps that led here.",
    )


def _status_error(exc: openai.APIStatusError, profile: Profile | None) -> BackendError:
    status, host = exc.status_code, _host(exc, profile)
    detail = _api_message(exc, profile)
    if status == 401:
        # The server's text is left out: OpenAI's quotes part of the rejected key.
        return BackendError(ErrorKind.AUTH, f"The API key was rejected by {host}.", _key_hint(profile), status)
    if status == 403:
        return BackendError(ErrorKind.AUTH, _joined(f"{host} refused access", detail), _PERMISSION_HINT, status)
    if status == 404:
        return BackendError(ErrorKind.NOT_FOUND, _joined(f"Not found at {host}", detail), _NOT_FOUND_HINT, status)
    if status == 429:
        return _rate_limit_error(exc, host, detail)
    if status >= 500:
        message = _joined(f"{host} had an internal error (HTTP {status})", detail)
        return BackendError(ErrorKind.SERVER, message, "Try again in a few minutes.", status)
    hint = f"Check {exc.param}." if exc.param else "Check the values and try again."
    return BackendError(ErrorKind.INVALID, _joined(f"{host} refused the request", detail), hint, status)


def _rate_limit_error(exc: openai.APIStatusError, host: str, detail: str) -> BackendError:
    if exc.code == "insufficient_quota":
        return BackendError(
            ErrorKind.RATE_LIMIT,
            f"The account's quota at {host} is used up.",
            "Add credit or raise the limit in the provider's billing settings, then try again.",
            exc.status_code,
        )
    message = _joined(f"{host} is limiting requests", detail)
    return BackendError(ErrorKind.RATE_LIMIT, message, "Wait a minute and try again.", exc.status_code)


_PERMISSION_HINT = (
    "The key is valid but may not do this: check its project or role (on Azure, 'Cognitive Services OpenAI "
    "Contributor') and that fine-tuning is offered in this region."
)
_NOT_FOUND_HINT = "Check the name or id (it may belong to another profile or be deleted) and the profile's base URL."


def _joined(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else f"{message}."


def _api_message(exc: openai.APIStatusError, profile: Profile | None) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    text = body.get("message") if isinstance(body, dict) else None
    return _scrub(str(text), profile).rstrip(".") if text else ""


def _scrub(text: str, profile: Profile | None) -> str:
    key = profile.resolved_api_key() if profile is not None else None
    if key:
        text = text.replace(key, "***")
    return _KEYLIKE.sub("***", text)


def _host(exc: openai.APIError, profile: Profile | None) -> str:
    if profile is not None and profile.kind is BackendKind.LOCAL:
        return "the local engine"
    try:
        url = exc.request.url
        return f"{url.host}:{url.port}" if url.port else str(url.host)
    except AttributeError:
        return profile.host() if profile is not None else "the server"


def _key_hint(profile: Profile | None) -> str:
    if profile is None:
        return "Check the API key."
    if profile.kind is BackendKind.LOCAL:
        return "The engine's token has changed: restart ftui, or run 'ftui engine env' to see the current one."
    if profile.api_key is not None:
        return f"Check the key saved in profile '{profile.name}': it may be mistyped, revoked, or for another account."
    if profile.api_key_env:
        return f"Check the key in ${profile.api_key_env}: it may be mistyped, revoked, or for another account."
    return f"Profile '{profile.name}' has no key: type one or name the environment variable that holds it."


def _network_hint(profile: Profile | None) -> str:
    if profile is not None and profile.kind is BackendKind.LOCAL:
        return "Check that the local engine runs: 'ftui engine serve' starts it in a terminal."
    where = f" and the base URL ({profile.base_url})" if profile is not None and profile.base_url else ""
    return f"Check the network connection{where}, then try again."


# --- results -----------------------------------------------------------------------------------------------------


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Listed = TypeVar("Listed", bound=_Identified)


class _Page(Protocol[Listed]):
    """What the SDK's list pages have in common: the items and whether more follow (absent on some Azure replies)."""

    @property
    def data(self) -> list[Listed]: ...

    @property
    def has_more(self) -> bool | None: ...


Params = ParamSpec("Params")
Returned = TypeVar("Returned")


__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "ConnectionCheck",
    "ErrorKind",
    "LiveModel",
    "describe_error",
    "ensure_local_engine",
    "local_client",
]


def _translated(
    method: Callable[Concatenate[Backend, Params], Returned],
) -> Callable[Concatenate[Backend, Params], Returned]:
    """Every failure inside a ``Backend`` method leaves it as a ``BackendError``."""

    def wrapper(self: Backend, /, *args: Params.args, **kwargs: Params.kwargs) -> Returned:
        try:
            return method(self, *args, **kwargs)
        except BackendError:
            raise
        except openai.APIConnectionError as exc:
            # Refused, not timed out: the request never arrived, so asking a restarted local engine again is safe.
            if isinstance(exc, openai.APITimeoutError) or not self._follow_local_engine():
                raise describe_error(exc, self.profile) from exc
        except Exception as exc:
            raise describe_error(exc, self.profile) from exc
        try:
            return method(self, *args, **kwargs)
        except BackendError:
            raise
        except Exception as exc:
            raise describe_error(exc, self.profile) from exc

    functools.update_wrapper(wrapper, method)
    return wrapper


# --- building the SDK client ---------------------------------------------------------------------------------------


def _require_key(profile: Profile) -> str:
    key = profile.resolved_api_key()
    if key:
        return key
    if profile.api_key_env:
        message = f"${profile.api_key_env} is not set, so profile '{profile.name}' has no API key."
        hint = f"Set {profile.api_key_env} in this terminal, or save the key in the profile."
    else:
        message = f"Profile '{profile.name}' has no API key."
        hint = "Edit the profile: type the key or name the environment variable that holds it."
    raise BackendError(ErrorKind.AUTH, message, hint)


def azure_endpoint(base_url: str) -> str:
    """The resource endpoint (https://<resource>.openai.azure.com) from what the user typed, with or without /openai/v1."""
    endpoint = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        endpoint = endpoint.removesuffix(suffix)
    return endpoint


def _build_sdk(profile: Profile, *, start_local: bool, timeout: float, max_retries: int) -> openai.OpenAI:
    options: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries, "organization": profile.organization}
    if profile.kind is BackendKind.LOCAL:
        return _local_sdk(profile, start_local, options)
    if profile.kind is BackendKind.AZURE:
        return _azure_sdk(profile, options)
    if profile.kind is BackendKind.OPENAI:
        base_url = profile.base_url or OPENAI_DEFAULT_BASE_URL
        return openai.OpenAI(api_key=_require_key(profile), base_url=base_url, **options)
    key = profile.resolved_api_key() or NO_KEY_PLACEHOLDER  # many self-hosted servers need no key
    return _without_openai_env(openai.OpenAI(api_key=key, base_url=profile.base_url, **options), profile)


def _local_sdk(profile: Profile, start: bool, options: dict[str, Any]) -> openai.OpenAI:
    base_url = profile.base_url or ensure_local_engine(start=start).base_url
    token = profile.resolved_api_key() or paths.read_token()
    if token is None:
        raise BackendError(
            ErrorKind.AUTH,
            "The local engine's token file is missing.",
            "Stop the engine ('ftui engine stop'); ftui starts it again with a new token.",
        )
    return _without_openai_env(openai.OpenAI(api_key=token, base_url=base_url, **options), profile)


def _azure_sdk(profile: Profile, options: dict[str, Any]) -> openai.OpenAI:
    if not profile.base_url:
        raise BackendError(
            ErrorKind.INVALID,
            f"Profile '{profile.name}' has no Azure endpoint.",
            "Edit the profile: the endpoint looks like https://<resource>.openai.azure.com.",
        )
    endpoint, key = azure_endpoint(profile.base_url), _require_key(profile)
    if profile.api_version:
        sdk: openai.OpenAI = openai.AzureOpenAI(
            azure_endpoint=endpoint, api_version=profile.api_version, api_key=key, **options
        )
    else:
        # The SDK sends the key as a bearer token; Azure's own api-key header goes along, as on the classic surface.
        sdk = openai.OpenAI(base_url=f"{endpoint}/openai/v1/", api_key=key, default_headers={"api-key": key}, **options)
    return _without_openai_env(sdk, profile)


def _without_openai_env(sdk: openai.OpenAI, profile: Profile) -> openai.OpenAI:
    """The SDK fills organization and project from OPENAI_* variables; those belong to OpenAI, not to other hosts."""
    sdk.organization = profile.organization
    sdk.project = None
    return sdk


# --- uploads -----------------------------------------------------------------------------------------------------


class _UploadCancelled(Exception):
    pass


class _ProgressReader(io.RawIOBase):
    """A read-only view of a file that reports how far the upload has read, and stops when cancelled."""

    def __init__(
        self,
        source: io.BufferedIOBase | io.BytesIO,
        report: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> None:
        super().__init__()
        self._source = source
        self._report = report
        self._cancel = cancel

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._source.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._source.seek(offset, whence)

    def tell(self) -> int:
        return self._source.tell()

    def fileno(self) -> int:
        return self._source.fileno()

    def read(self, size: int = -1) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise _UploadCancelled
        chunk = self._source.read(size)
        self._report(self._source.tell())
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _cancelled(what: str) -> BackendError:
    return BackendError(
        ErrorKind.CANCELLED, f"{what} was cancelled.", "Nothing was changed; start it again when ready."
    )


# --- the backend -------------------------------------------------------------------------------------------------


class Backend:
    """One profile's backend. All provider differences live in this class."""

    def __init__(self, profile: Profile, sdk: openai.OpenAI) -> None:
        self.profile = profile
        self._sdk = sdk

    @classmethod
    def from_profile(
        cls, profile: Profile, *, start_local: bool = True, timeout: float = 30.0, max_retries: int = 1
    ) -> Backend:
        """A backend for ``profile``; for the local kind the engine is started first unless ``start_local`` is False."""
        try:
            sdk = _build_sdk(profile, start_local=start_local, timeout=timeout, max_retries=max_retries)
        except Exception as exc:
            raise describe_error(exc, profile) from exc
        return cls(profile, sdk)

    def _follow_local_engine(self) -> bool:
        """Point at the local engine again after it restarted elsewhere; False when it is where we already asked.

        Never starts an engine: one that was stopped stays stopped until the user (or a new connection) starts it.
        """
        if self.kind is not BackendKind.LOCAL or self.profile.base_url:
            return False
        try:
            engine = ensure_local_engine(start=False)
        except BackendUnavailable as exc:
            raise describe_error(exc, self.profile) from None
        if str(self._sdk.base_url).rstrip("/") == engine.base_url.rstrip("/"):
            return False
        token = self.profile.resolved_api_key() or paths.read_token()
        self._sdk = self._sdk.with_options(base_url=engine.base_url, api_key=token)
        return True

    # -- what it is ---------------------------------------------------------------------------------------------

    @property
    def kind(self) -> BackendKind:
        return self.profile.kind

    @property
    def base_url(self) -> str:
        return str(self._sdk.base_url)

    @property
    def host(self) -> str:
        url = urlsplit(self.base_url)
        return url.netloc or self.profile.host()

    @property
    def label(self) -> str:
        return f"{BACKEND_LABELS[self.kind]} · {self.host}"

    @property
    def provider(self) -> Provider:
        return provider_of(self.kind)

    @property
    def sdk(self) -> openai.OpenAI:
        """The SDK client itself, for tests. Application code calls the methods below."""
        return self._sdk

    @property
    def supports_pause(self) -> bool:
        # OpenAI, Azure and the local engine all serve POST /fine_tuning/jobs/{id}/pause and /resume.
        return True

    @property
    def requires_processed_files(self) -> bool:
        """Azure refuses a job whose files are not yet 'processed'; OpenAI accepts 'uploaded' files."""
        return self.kind is BackendKind.AZURE

    # -- models -------------------------------------------------------------------------------------------------

    @_translated
    def check(self) -> ConnectionCheck:
        """List the models to prove the address and key work."""
        models = self.list_models()
        detail = f"Connected to {self.host} — {plural(len(models), 'model')}"
        tunable = sum(1 for model in models if model.fine_tunable)
        if any(model.fine_tunable is not None for model in models):
            detail += f", {tunable:,} can be fine-tuned"
        return ConnectionCheck(ok=True, backend_label=self.label, detail=detail, models=models)

    @_translated
    def list_models(self) -> list[LiveModel]:
        page = self._sdk.models.list()
        return [self._live_model(model) for model in page.data]

    def _live_model(self, model: Model) -> LiveModel:
        if self.kind is BackendKind.AZURE:
            return azure_live_model(model, now=time.time())
        if self.kind is BackendKind.LOCAL:
            return _local_live_model(model)
        return _openai_live_model(model)

    # -- files --------------------------------------------------------------------------------------------------

    @_translated
    def list_files(self) -> list[FileObject]:
        """Training files (purpose fine-tune), newest first."""
        files = self._all_pages(lambda after: self._sdk.files.list(purpose="fine-tune", **_after(after)))
        tuning = [item for item in files if item.purpose == "fine-tune"]
        return sorted(tuning, key=lambda item: item.created_at or 0, reverse=True)

    @_translated
    def upload_file(
        self,
        path: Path,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> FileObject:
        """Upload a training file; ``progress(bytes_sent, total)`` is called as the body streams. Reads only."""
        total = path.stat().st_size

        def report(sent: int) -> None:
            if progress is not None:
                progress(min(sent, total), total)

        try:
            if total > SINGLE_UPLOAD_LIMIT and self.kind is not BackendKind.LOCAL:
                return self._upload_in_parts(path, total, report, cancel)
            with path.open("rb") as handle:
                body = _ProgressReader(handle, report, cancel)
                uploads = self._sdk.with_options(timeout=LONG_TIMEOUT_SECONDS)
                created = uploads.files.create(file=(path.name, cast(IO[bytes], body)), purpose="fine-tune")
        except _UploadCancelled:
            raise _cancelled("The upload") from None
        report(total)
        return created

    def _upload_in_parts(
        self, path: Path, total: int, report: Callable[[int], None], cancel: threading.Event | None
    ) -> FileObject:
        upload = self._sdk.uploads.create(bytes=total, filename=path.name, mime_type="text/jsonl", purpose="fine-tune")
        digest, part_ids = hashlib.md5(usedforsecurity=False), []
        try:
            with path.open("rb") as handle:
                for offset in range(0, total, UPLOAD_PART_SIZE):
                    chunk = handle.read(UPLOAD_PART_SIZE)
                    digest.update(chunk)
                    body = _ProgressReader(io.BytesIO(chunk), _shifted(report, offset), cancel)
                    part = self._sdk.uploads.parts.create(upload.id, data=(path.name, cast(IO[bytes], body)))
                    part_ids.append(part.id)
        except _UploadCancelled:
            self._sdk.uploads.cancel(upload.id)
            raise
        # Azure requires the MD5 of the whole file to complete an upload; OpenAI checks it when given.
        done = self._sdk.uploads.complete(upload.id, part_ids=part_ids, md5=digest.hexdigest())
        if done.file is None:
            raise BackendError(ErrorKind.SERVER, f"{self.host} completed the upload without a file.", "Upload again.")
        return done.file

    @_translated
    def wait_until_processed(
        self,
        file_id: str,
        *,
        timeout: float = 1800,
        poll: float = 2.0,
        on_status: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> FileObject:
        """Poll the file until the backend may train on it; a file the backend rejected raises INVALID."""
        deadline, last = time.monotonic() + timeout, None
        while True:
            item = self._sdk.files.retrieve(file_id)
            if item.status != last and on_status is not None:
                on_status(item.status)
            last = item.status
            if self._usable(item):
                return item
            self._raise_if_unusable(item)
            if time.monotonic() + poll > deadline:
                raise BackendError(
                    ErrorKind.TIMEOUT,
                    f"{item.filename} was still {item.status} at {self.host} after {timeout:.0f} s.",
                    "Wait a little and check the file again; large files take longer.",
                )
            if _sleep_unless_cancelled(poll, cancel):
                raise _cancelled("Waiting for the file")

    def _usable(self, item: FileObject) -> bool:
        if item.status == "processed":
            return True
        return item.status == "uploaded" and self.kind in (BackendKind.OPENAI, BackendKind.COMPATIBLE)

    def _raise_if_unusable(self, item: FileObject) -> None:
        if item.status == "error":
            details = _scrub(item.status_details or "no details given", self.profile)
            raise BackendError(
                ErrorKind.INVALID,
                f"{self.host} could not use {item.filename}: {details}",
                "Fix the file (ftui validate shows the problems) and upload it again.",
            )
        if item.status in ("deleting", "deleted"):
            raise BackendError(ErrorKind.NOT_FOUND, f"{item.filename} was deleted at {self.host}.", "Upload it again.")

    # -- jobs ---------------------------------------------------------------------------------------------------

    @_translated
    def create_job(self, request: dict[str, Any]) -> FineTuningJob:
        """Start a job from its JSON body (model, training_file, validation_file, method, seed, suffix, metadata).

        Keys whose value is None are left out. The body goes to every backend as is: OpenAI, Azure and the local
        engine take the same fields, so no key is dropped or added for Azure.
        """
        body = {key: value for key, value in request.items() if value is not None}
        model, training_file = body.pop("model", None), body.pop("training_file", None)
        if not model or not training_file:
            raise BackendError(ErrorKind.INVALID, "A job needs a model and a training file.", "Choose both first.")
        return self._sdk.fine_tuning.jobs.create(model=model, training_file=training_file, extra_body=body)

    @_translated
    def list_jobs(self, limit: int = 50) -> list[FineTuningJob]:
        """The most recent jobs, newest first."""
        jobs = self._sdk.fine_tuning.jobs.list(limit=min(limit, MAX_PAGE_SIZE)).data
        return sorted(jobs, key=lambda job: job.created_at or 0, reverse=True)[:limit]

    @_translated
    def retrieve_job(self, job_id: str) -> FineTuningJob:
        return self._sdk.fine_tuning.jobs.retrieve(job_id)

    @_translated
    def job_events_after(self, job_id: str, after: str | None, limit: int = 100) -> list[FineTuningJobEvent]:
        """Events newer than the event ``after`` (all events when None), oldest first.

        The API lists newest first and its ``after`` cursor pages towards older events, so this reads pages until it
        meets ``after``. Azure's published example lists oldest first; the order is detected from the timestamps.
        """
        jobs = self._sdk.fine_tuning.jobs
        events = self._all_pages(
            lambda cursor: jobs.list_events(job_id, limit=limit, **_after(cursor)),
            until=lambda event: event.id == after,
        )
        return _events_newer_than(events, after)

    @_translated
    def job_checkpoints(self, job_id: str) -> list[FineTuningJobCheckpoint]:
        """The job's saved checkpoints, in training order (lowest step first)."""
        checkpoints = self._sdk.fine_tuning.jobs.checkpoints
        found = self._all_pages(lambda after: checkpoints.list(job_id, limit=100, **_after(after)))
        return sorted(found, key=lambda checkpoint: checkpoint.step_number)

    @_translated
    def cancel_job(self, job_id: str) -> FineTuningJob:
        return self._sdk.fine_tuning.jobs.cancel(job_id)

    @_translated
    def pause_job(self, job_id: str) -> FineTuningJob:
        return self._sdk.fine_tuning.jobs.pause(job_id)

    @_translated
    def resume_job(self, job_id: str) -> FineTuningJob:
        return self._sdk.fine_tuning.jobs.resume(job_id)

    @_translated
    def download_file(self, file_id: str) -> bytes:
        """A file's content as stored (``GET /files/{id}/content``)."""
        return self._sdk.with_options(timeout=LONG_TIMEOUT_SECONDS).files.content(file_id).read()

    def download_result_file(self, file_id: str) -> bytes:
        """A job's result file (its metrics CSV). OpenAI serves it base64-encoded; this returns the CSV itself."""
        return decode_result_file(self.download_file(file_id))

    # -- using a model ------------------------------------------------------------------------------------------

    def chat_stream(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """The reply's text as it is generated. Stops early when ``cancel`` is set."""
        try:
            created = self._sdk.with_options(timeout=LONG_TIMEOUT_SECONDS).chat.completions.create(
                model=model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=temperature,
                stream=True,
                **self._token_limit(max_tokens),
            )
            # stream=True beside the token-limit keyword: the SDK's overloads cannot tell, so the type is named here.
            stream = cast("openai.Stream[ChatCompletionChunk]", created)
            with stream:
                for chunk in stream:
                    if cancel is not None and cancel.is_set():
                        return
                    text = "".join(choice.delta.content or "" for choice in chunk.choices if choice.delta)
                    if text:
                        yield text
        except BackendError:
            raise
        except Exception as exc:
            raise describe_error(exc, self.profile) from exc

    def _token_limit(self, count: int) -> dict[str, Any]:
        # Reasoning models refuse max_tokens; older Azure api-versions and other servers know only max_tokens.
        if self.kind is BackendKind.COMPATIBLE or (self.kind is BackendKind.AZURE and self.profile.api_version):
            return {"max_tokens": count}
        return {"max_completion_tokens": count}

    @_translated
    def deploy(self, model: str) -> str:
        """Make a fine-tuned model callable and return the name to chat with."""
        if self.kind is BackendKind.AZURE:
            raise BackendError(
                ErrorKind.UNSUPPORTED,
                "Deploying on Azure is not in this release.",
                f"Deploy {model} in the Microsoft Foundry portal (Fine-tuning → the job → Deploy), "
                "then chat with the deployment's name as the model.",
            )
        if self.kind is BackendKind.LOCAL:
            # One token is enough for the engine to load the model, so the first real chat answers at once.
            self._sdk.with_options(timeout=LONG_TIMEOUT_SECONDS).chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=1
            )
        return model

    def close(self) -> None:
        self._sdk.close()

    # -- paging -------------------------------------------------------------------------------------------------

    def _all_pages(
        self, fetch: Callable[[str | None], _Page[Listed]], until: Callable[[Listed], bool] | None = None
    ) -> list[Listed]:
        """Items of every page, following ``has_more`` (absent counts as no more) until ``until`` matches one."""
        items: list[Listed] = []
        seen: set[str] = set()
        cursor: str | None = None
        while len(items) < PAGE_CAP:
            page = fetch(cursor)
            fresh = [item for item in page.data if item.id not in seen]
            items.extend(fresh)
            seen.update(item.id for item in fresh)
            if not fresh or not page.has_more or (until is not None and any(until(item) for item in fresh)):
                break
            cursor = fresh[-1].id
        return items


def _sleep_unless_cancelled(seconds: float, cancel: threading.Event | None) -> bool:
    """Wait ``seconds``; True when ``cancel`` was set meanwhile."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


def _shifted(report: Callable[[int], None], offset: int) -> Callable[[int], None]:
    """``report`` for one part of a file: bytes read in the part, counted from the part's offset."""
    return lambda sent: report(offset + sent)


def _after(cursor: str | None) -> dict[str, Any]:
    return {"after": cursor} if cursor else {}


def _events_newer_than(events: Sequence[FineTuningJobEvent], after: str | None) -> list[FineTuningJobEvent]:
    times = [event.created_at for event in events]
    oldest_first = len(set(times)) > 1 and times == sorted(times)
    ordered = list(events) if oldest_first else list(reversed(events))
    ids = [event.id for event in ordered]
    return ordered[ids.index(after) + 1 :] if after in ids else ordered


# --- models as each backend describes them -------------------------------------------------------------------------


def _extra(model: Model, name: str) -> Any:
    return getattr(model, name, None)


def _fine_tuned_base(model_id: str) -> str | None:
    """'ft:gpt-4o-mini-2024-07-18:org:suffix:id' -> 'gpt-4o-mini-2024-07-18'."""
    parts = model_id.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "ft" else None


def _openai_live_model(model: Model) -> LiveModel:
    base = _fine_tuned_base(model.id)
    return LiveModel(
        id=model.id,
        fine_tunable=None,
        owned_by=_extra(model, "owned_by"),
        created=_extra(model, "created"),
        base_model=base,
        is_fine_tuned=base is not None,
    )


def _local_live_model(model: Model) -> LiveModel:
    owned_by = _extra(model, "owned_by")
    if owned_by == "ftui":
        return LiveModel(id=model.id, fine_tunable=True, owned_by=owned_by, created=_extra(model, "created"))
    return LiveModel(
        id=model.id,
        fine_tunable=False,
        owned_by=owned_by,
        created=_extra(model, "created"),
        base_model=_fine_tuned_base(model.id),
        reason="The local engine fine-tunes base models only.",
        is_fine_tuned=True,
    )


def azure_live_model(model: Model, *, now: float) -> LiveModel:
    """Azure says per model whether this resource can fine-tune it (capabilities) and until when (deprecation)."""
    capabilities = _extra(model, "capabilities") or {}
    deprecation = _extra(model, "deprecation") or {}
    fine_tunable, reason = _azure_fine_tunable(
        capabilities.get("fine_tune"), deprecation.get("fine_tune"), _extra(model, "lifecycle_status"), now
    )
    base = _extra(model, "model")
    return LiveModel(
        id=model.id,
        fine_tunable=fine_tunable,
        owned_by=_extra(model, "owned_by"),
        created=_extra(model, "created") or _extra(model, "created_at"),
        base_model=base,
        reason=reason,
        is_fine_tuned=base is not None or _extra(model, "fine_tune") is not None,
    )


def _azure_fine_tunable(
    flag: bool | None, retires_at: float | None, lifecycle: str | None, now: float
) -> tuple[bool | None, str | None]:
    if flag is False:
        return False, "This Azure resource does not offer fine-tuning for this model."
    if isinstance(retires_at, int | float) and retires_at <= now:
        day = datetime.fromtimestamp(retires_at, tz=UTC).date().isoformat()
        return False, f"Fine-tuning this model was retired on {day}."
    if lifecycle == "deprecated":
        return False, "Azure lists this model as deprecated."
    return flag, None


def decode_result_file(content: bytes) -> bytes:
    """A result file as CSV: OpenAI base64-encodes it, Azure and the local engine send the text; either comes out as
    the text."""
    import base64
    import binascii

    head = content[:200].lstrip()
    if not head or b"," in head.split(b"\n", 1)[0]:
        return content
    try:
        decoded = base64.b64decode(content, validate=False)
    except (binascii.Error, ValueError):
        return content
    return decoded if b"," in decoded.split(b"\n", 1)[0] else content
