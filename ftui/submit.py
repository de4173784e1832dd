"""The submit pipeline, shared by the wizard's review step and ``ftui jobs create``.

Validate the local files (errors stop it, nothing is uploaded) → upload each one (the client layer switches to the
chunked Uploads API above the backend's single-file limit) → wait until the backend has processed it → create the
job. Runs on the caller's thread; it reports through two callbacks and stops when ``cancel`` is set. It imports no
Textual and no network code: the ``Backend`` it drives is handed in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ftui.catalog import ModelCard
from ftui.client_types import BackendError, ErrorKind
from ftui.options import JobOptions

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

    from ftui.client import Backend
    from ftui.dataset.validator import ValidationReport

Role = Literal["training", "validation"]
ROLES: tuple[Role, ...] = ("training", "validation")
# Byte progress is thinned to this interval (the last report of a file always goes through).
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class DataChoice:
    """A training or validation file: a file on this machine, or one already uploaded to the backend."""

    label: str
    path: Path | None = None
    file_id: str | None = None

    @classmethod
    def local(cls, path: Path) -> DataChoice:
        return cls(label=str(path), path=path)

    @classmethod
    def uploaded(cls, file_id: str, filename: str | None = None) -> DataChoice:
        return cls(label=f"{filename} ({file_id})" if filename else file_id, file_id=file_id)


class Stage(StrEnum):
    VALIDATING = "validating"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    CREATING = "creating"
    CREATED = "created"


@dataclass(frozen=True)
class SubmitStatus:
    """One step of the pipeline: what it is doing now, in words, and for which file."""

    stage: Stage
    text: str
    role: Role | None = None
    file_id: str | None = None
    # The backend's word for the file while it is processed ("uploaded", "pending", "processed" …).
    file_status: str | None = None


@dataclass(frozen=True)
class SubmitPlan:
    """Everything a job is created from. ``seed`` is resolved: generate one before the first try and keep it."""

    options: JobOptions
    training: DataChoice
    seed: int
    validation: DataChoice | None = None
    card: ModelCard | None = None

    def files(self) -> dict[Role, DataChoice]:
        chosen: dict[Role, DataChoice] = {"training": self.training}
        if self.validation is not None:
            chosen["validation"] = self.validation
        return chosen

    def local_paths(self) -> tuple[Path | None, Path | None]:
        validation = self.validation.path if self.validation is not None else None
        return self.training.path, validation


class DataErrors(Exception):
    """Local validation found errors: nothing was uploaded. ``report`` lists the findings."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(f"the data has {report.errors:,} error(s)")
        self.report = report


StatusCallback = Callable[[SubmitStatus], None]
ProgressCallback = Callable[[Role, int, int], None]


def _ignore_status(status: SubmitStatus) -> None:
    return None


def _ignore_progress(role: Role, sent: int, total: int) -> None:
    return None


@dataclass
class Submission:
    """One job's submit, tried as often as needed: a file that reached the backend is not uploaded again."""

    # File ids already on the backend, by role and local path.
    uploaded: dict[tuple[Role, Path], str] = field(default_factory=dict)

    def run(
        self,
        backend: Backend,
        plan: SubmitPlan,
        *,
        on_status: StatusCallback = _ignore_status,
        on_progress: ProgressCallback = _ignore_progress,
        cancel: threading.Event | None = None,
        report: ValidationReport | None = None,
    ) -> FineTuningJob:
        """Validate, upload, wait until processed, create; return the created job.

        ``report`` is a finished validation of exactly these files (the wizard keeps one live); without it the local
        files are validated here. Raises ``DataErrors`` when the data has errors, ``BackendError`` for everything
        else (``ErrorKind.CANCELLED`` when ``cancel`` was set); nothing is created in either case.
        """
        cancel = cancel or threading.Event()
        self._check_data(plan, report, on_status, cancel)
        file_ids: dict[Role, str] = {}
        for role, choice in plan.files().items():
            file_ids[role] = self._file_on_backend(backend, role, choice, on_status, on_progress, cancel)
        _stop_if_cancelled(cancel)
        on_status(SubmitStatus(Stage.CREATING, "Creating the job…"))
        request = plan.options.to_request(file_ids["training"], file_ids.get("validation"), seed=plan.seed)
        job = backend.create_job(request)
        on_status(SubmitStatus(Stage.CREATED, f"✓ Job {job.id} created"))
        return job

    # -- steps --------------------------------------------------------------------------------------------------

    def _check_data(
        self, plan: SubmitPlan, report: ValidationReport | None, on_status: StatusCallback, cancel: threading.Event
    ) -> None:
        if report is None and plan.training.path is not None:
            on_status(SubmitStatus(Stage.VALIDATING, "Checking the data…"))
            report = validate_locally(plan, cancel)
        _stop_if_cancelled(cancel)
        if report is not None and report.errors:
            raise DataErrors(report)

    def _file_on_backend(
        self,
        backend: Backend,
        role: Role,
        choice: DataChoice,
        on_status: StatusCallback,
        on_progress: ProgressCallback,
        cancel: threading.Event,
    ) -> str:
        _stop_if_cancelled(cancel)
        path = choice.path
        if choice.file_id is not None:
            file_id = choice.file_id
        elif path is not None and (role, path) in self.uploaded:
            file_id = self.uploaded[(role, path)]
        elif path is not None:
            on_status(SubmitStatus(Stage.UPLOADING, f"Uploading the {role} file…", role=role))
            uploaded = backend.upload_file(path, progress=_thinned(role, on_progress), cancel=cancel)
            file_id = uploaded.id
            self.uploaded[(role, path)] = file_id
        else:
            raise BackendError(ErrorKind.INVALID, f"The {role} file has neither a path nor an id.", "Choose it again.")
        on_status(
            SubmitStatus(
                Stage.PROCESSING,
                f"{role.capitalize()} file {file_id}: waiting until the backend has processed it…",
                role=role,
                file_id=file_id,
            )
        )

        def file_status(status: str) -> None:
            text = f"{role.capitalize()} file {file_id}: {status}"
            on_status(SubmitStatus(Stage.PROCESSING, text, role=role, file_id=file_id, file_status=status))

        try:
            backend.wait_until_processed(file_id, on_status=file_status, cancel=cancel)
        except BackendError as exc:
            if exc.kind in (ErrorKind.INVALID, ErrorKind.NOT_FOUND) and path is not None:
                self.uploaded.pop((role, path), None)  # the backend will not use it: upload afresh next time
            raise
        return file_id


def validate_locally(plan: SubmitPlan, cancel: threading.Event | None = None) -> ValidationReport | None:
    """Validate the plan's local files for its model and epochs; None when the training file is already uploaded."""
    from ftui.dataset.reader import DatasetFileError
    from ftui.dataset.validator import Validation, ValidationReport
    from ftui.options import AUTO

    training, validation = plan.local_paths()
    if training is None:
        return None
    epochs = plan.options.hyperparameters.n_epochs
    try:
        run = Validation(
            training,
            validation,
            model=plan.card or target_card(plan.options.model),
            n_epochs=None if epochs == AUTO else int(epochs),
        )
        for event in run.events():
            if cancel is not None and cancel.is_set():
                run.cancel()
            if isinstance(event, ValidationReport):
                return event
    except DatasetFileError as exc:
        raise BackendError(ErrorKind.INVALID, str(exc), "Check the path and that the file can be read.") from None
    return None


def target_card(model: str) -> ModelCard | None:
    """The card local validation checks against: the model's, or its base model's for a fine-tuned one
    (``ft:<base>:…``); None for a model the catalog does not know (the validator's default target then)."""
    from ftui.catalog import load_catalog

    catalog = load_catalog()
    card = catalog.get(model)
    if card is None and model.startswith("ft:") and model.count(":") >= 2:
        card = catalog.get(model.split(":")[1])
    return card


def _stop_if_cancelled(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise BackendError(ErrorKind.CANCELLED, "Submit was cancelled.", "Nothing was created.")


def _thinned(role: Role, on_progress: ProgressCallback) -> Callable[[int, int], None]:
    last = 0.0

    def report(sent: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if sent < total and now - last < PROGRESS_INTERVAL_S:
            return
        last = now
        on_progress(role, sent, total)

    return report


__all__ = [
    "ROLES",
    "DataChoice",
    "DataErrors",
    "Role",
    "Stage",
    "Submission",
    "SubmitPlan",
    "SubmitStatus",
    "target_card",
    "validate_locally",
]
