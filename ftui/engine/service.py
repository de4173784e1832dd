"""The engine's work behind the HTTP routes: files, jobs, the one-at-a-time trainer scheduler, and recovery."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from ftui.dataset.findings import Severity
from ftui.dataset.reader import DatasetFileError
from ftui.dataset.validator import validate_to_report
from ftui.engine import paths
from ftui.engine.schemas import CreateJobRequest, SupervisedHyperparameters
from ftui.engine.store import FileRecord, JobRecord, ModelRecord, Store, now

MAX_UPLOAD_BYTES = int(os.environ.get("FTUI_ENGINE_MAX_UPLOAD_BYTES", 512 * 1024 * 1024))
ACTIVE = ("validating_files", "queued", "running", "pausing", "paused", "resuming")
FINISHED = ("succeeded", "failed", "cancelled")
MAX_ATTEMPTS = 3
CANCEL_GRACE_SECONDS = 20


class EngineError(Exception):
    """An API error: HTTP status, OpenAI error type and code, and a message that says what to do."""

    def __init__(
        self, status: int, message: str, *, code: str, type: str = "invalid_request_error", param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def safe_filename(name: str | None) -> str:
    """The bare file name a client sent; path parts, control characters and odd names are refused."""
    if not name:
        raise EngineError(400, "The upload has no file name.", code="invalid_filename", param="file")
    if any(ord(ch) < 32 for ch in name) or "/" in name or "\\" in name or name in (".", "..") or len(name) > 255:
        raise EngineError(
            400,
            f"The file name {name!r} is not allowed: give a plain name without folders.",
            code="invalid_filename",
            param="file",
        )
    return name


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
        return b"ftui.engine.runner" in command and b"<defunct>" not in command
    except OSError:
        return True


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped without an exit status"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {code}"


class EngineService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._process: subprocess.Popen[bytes] | None = None
        self._adopted_pid: int | None = None
        self._running_job: str | None = None
        self._cancel_requested_at: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._scheduler = threading.Thread(target=self._schedule_forever, name="ftui-scheduler", daemon=True)

    # --- life cycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        self._scheduler.join(timeout=5)

    def recover(self) -> None:
        """After a restart: adopt a trainer that is still running, resume from checkpoints, or fail clearly."""
        for job in self.store.jobs_with_status("running", "pausing", "resuming"):
            if _process_alive(job.trainer_pid) and self._adopted_pid is None:
                self._adopted_pid = job.trainer_pid
                self._running_job = job.id
                self.event(job.id, "The engine restarted; the trainer is still running and was reattached.")
            else:
                self._requeue_or_fail(job, "the engine stopped while the job was running")

    # --- files ---------------------------------------------------------------------------------------------
    def create_file(self, filename: str | None, purpose: str, source: BinaryIO) -> FileRecord:
        name = safe_filename(filename)
        if purpose not in ("fine-tune", "fine-tune-results", "assistants", "batch"):
            raise EngineError(
                400, f"Purpose {purpose!r} is not supported; use 'fine-tune'.", code="invalid_purpose", param="purpose"
            )
        file_id = new_id("file")
        target = paths.blobs_dir() / file_id
        size = self._save_upload(source, target)
        record = FileRecord(
            id=file_id,
            filename=name,
            purpose=purpose,
            bytes=size,
            created_at=now(),
            status="uploaded",
            path=str(target),
        )
        if purpose == "fine-tune":
            record = record.model_copy(update=self._validate_upload(target))
        self.store.add_file(record)
        return record

    def _save_upload(self, source: BinaryIO, target: Path) -> int:
        size = 0
        temporary = target.with_suffix(".part")
        try:
            with temporary.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise EngineError(
                            413,
                            f"The file is larger than the engine's limit of {MAX_UPLOAD_BYTES // (1 << 20)} MB.",
                            code="file_too_large",
                            param="file",
                        )
                    sink.write(chunk)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return size

    def _validate_upload(self, path: Path) -> dict[str, Any]:
        try:
            report = validate_to_report(path, workers=1)
        except DatasetFileError as exc:
            return {"status": "error", "status_details": str(exc)}
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        if not errors:
            return {"status": "processed", "status_details": None}
        shown = "; ".join(
            f"{('line ' + str(f.line) + ': ') if f.line else ''}{f.message} [{f.code}]" for f in errors[:5]
        )
        more = f" (and {report.errors - 5} more)" if report.errors > 5 else ""
        return {"status": "error", "status_details": f"{report.errors} errors{more}: {shown}"}

    def get_file(self, file_id: str) -> FileRecord:
        record = self.store.get_file(file_id)
        if record is None:
            raise EngineError(404, f"No file with id {file_id!r}.", code="file_not_found", param="file_id")
        return record

    def delete_file(self, file_id: str) -> None:
        record = self.get_file(file_id)
        if any(file_id in (job.training_file, job.validation_file) for job in self.store.jobs_with_status(*ACTIVE)):
            raise EngineError(
                409, "The file is in use by a job that has not finished.", code="file_in_use", param="file_id"
            )
        self.store.delete_file(file_id)
        Path(record.path).unlink(missing_ok=True)

    # --- jobs ----------------------------------------------------------------------------------------------
    def create_job(self, request: CreateJobRequest) -> JobRecord:
        from ftui.engine import models

        base = models.canonical_model_id(request.model)
        if base is None:
            raise EngineError(
                400,
                f"Model {request.model!r} cannot be fine-tuned on the local engine. GET /v1/models lists the base models it can train.",
                code="model_not_available",
                param="model",
            )
        method = request.method.type if request.method else "supervised"
        if method != "supervised":
            raise EngineError(
                400,
                f"The local engine trains with the supervised method only, not {method!r}.",
                code="method_not_supported",
                param="method",
            )
        self._usable_file(request.training_file, "training_file")
        if request.validation_file:
            self._usable_file(request.validation_file, "validation_file")
        hyperparameters = (
            request.method.supervised.hyperparameters
            if request.method and request.method.supervised
            else request.hyperparameters or SupervisedHyperparameters()
        )
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        record = JobRecord(
            id=new_id("ftjob"),
            seq=0,
            model=base,
            created_at=now(),
            status="queued",
            training_file=request.training_file,
            validation_file=request.validation_file,
            suffix=request.suffix,
            seed=seed,
            method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters.model_dump()}},
            metadata=request.metadata,
        )
        record = self.store.add_job(record)
        self.event(record.id, f"Created fine-tuning job: {record.id}")
        self.event(
            record.id,
            "Validating training file: "
            + request.training_file
            + (f" and validation file: {request.validation_file}" if request.validation_file else ""),
        )
        self.event(record.id, "Files validated, moving job to queued state")
        return record

    def _usable_file(self, file_id: str, param: str) -> FileRecord:
        record = self.store.get_file(file_id)
        if record is None:
            raise EngineError(400, f"No file with id {file_id!r}; upload it first.", code="file_not_found", param=param)
        if record.purpose != "fine-tune":
            raise EngineError(
                400,
                f"File {file_id} was uploaded with purpose {record.purpose!r}, not 'fine-tune'.",
                code="invalid_file_purpose",
                param=param,
            )
        if record.status != "processed":
            raise EngineError(
                400,
                f"File {file_id} cannot be used for training: {record.status_details or record.status}. Fix the file and upload it again.",
                code="invalid_training_file" if param == "training_file" else "invalid_validation_file",
                param=param,
            )
        return record

    def get_job(self, job_id: str) -> JobRecord:
        record = self.store.get_job(job_id)
        if record is None:
            raise EngineError(
                404, f"No fine-tuning job with id {job_id!r}.", code="job_not_found", param="fine_tuning_job_id"
            )
        return record

    def cancel_job(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job.status in FINISHED:
            raise EngineError(400, f"The job has already {job.status}; it cannot be cancelled.", code="job_finished")
        if job.status in ("queued", "paused", "validating_files"):
            self.store.update_job(job_id, status="cancelled", finished_at=now(), control=None)
            self.event(job_id, "Fine-tuning job cancelled")
        else:
            self.store.update_job(job_id, control="cancel")
            self._cancel_requested_at = time.monotonic()
            self.event(job_id, "Cancellation requested; the trainer stops after the current step")
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job.status != "running":
            raise EngineError(
                400, f"Only a running job can be paused; this one is {job.status}.", code="invalid_job_state"
            )
        self.store.update_job(job_id, only_if_status=("running",), status="pausing", control="pause")
        self.event(job_id, "Pause requested; the trainer saves a checkpoint and stops after the current step")
        return self.get_job(job_id)

    def resume_job(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job.status != "paused":
            raise EngineError(
                400, f"Only a paused job can be resumed; this one is {job.status}.", code="invalid_job_state"
            )
        self.store.update_job(job_id, only_if_status=("paused",), status="queued", control=None)
        self.event(job_id, "Job resumed; it continues from its checkpoint when the trainer is free")
        return self.get_job(job_id)

    def event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.store.add_event(job_id, new_id("ftevent"), message, level=level, type=type, data=data)

    # --- models --------------------------------------------------------------------------------------------
    def delete_model(self, model_id: str) -> None:
        record = self.store.get_model(model_id)
        if record is None or not model_id.startswith("ft:"):
            raise EngineError(
                404, f"No fine-tuned model {model_id!r} to delete.", code="model_not_found", param="model"
            )
        if not self.store.delete_model(model_id):
            raise EngineError(
                400,
                "Checkpoints are deleted together with their job's model.",
                code="model_not_deletable",
                param="model",
            )

    def resolve_model(self, model_id: str) -> tuple[str, ModelRecord | None]:
        """(base model id, fine-tuned model record or None) for a model name; 404 when unknown."""
        from ftui.engine import models

        record = self.store.get_model(model_id)
        if record is not None:
            return record.base_model, record
        base = models.canonical_model_id(model_id)
        if base is None:
            raise EngineError(
                404,
                f"The model {model_id!r} does not exist on the local engine.",
                code="model_not_found",
                param="model",
            )
        return base, None

    # --- scheduling ----------------------------------------------------------------------------------------
    def _schedule_forever(self) -> None:
        while not self._stop.wait(0.3):
            try:
                self.schedule_once()
            except Exception as exc:  # keep scheduling; the failure is recorded on the job where possible
                if self._running_job:
                    self.event(self._running_job, f"Scheduler error: {exc}", level="error")

    def schedule_once(self) -> None:
        with self._lock:
            if self._trainer_busy():
                self._enforce_cancel()
                return
            queued = self.store.jobs_with_status("queued")
            if queued:
                self._start_trainer(queued[0])

    def _trainer_busy(self) -> bool:
        if self._process is not None:
            code = self._process.poll()
            if code is None:
                return True
            self._trainer_exited(self._running_job, code)
            self._process = None
        elif self._adopted_pid is not None:
            if _process_alive(self._adopted_pid):
                return True
            self._trainer_exited(self._running_job, None)
            self._adopted_pid = None
        return False

    def _start_trainer(self, job: JobRecord) -> None:
        job_dir = paths.jobs_dir() / job.id
        job_dir.mkdir(parents=True, exist_ok=True)
        log = (job_dir / "trainer.log").open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ftui.engine.runner", job.id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"FTUI_HOME": str(paths.home())},
        )
        log.close()
        self._running_job = job.id
        self._cancel_requested_at = None
        self.store.update_job(job.id, status="running", trainer_pid=self._process.pid, attempts=job.attempts + 1)

    def _enforce_cancel(self) -> None:
        started = self._cancel_requested_at
        if started is None or time.monotonic() - started < CANCEL_GRACE_SECONDS:
            return
        pid = self._process.pid if self._process is not None else self._adopted_pid
        if pid:
            os.kill(pid, signal.SIGKILL)

    def _trainer_exited(self, job_id: str | None, code: int | None) -> None:
        self._running_job = None
        if job_id is None:
            return
        job = self.store.get_job(job_id)
        if job is None or job.status in (*FINISHED, "paused"):
            return
        if job.control == "cancel":
            self.store.update_job(job_id, status="cancelled", finished_at=now(), control=None, estimated_finish=None)
            self.event(job_id, "Fine-tuning job cancelled")
            return
        self._requeue_or_fail(job, f"the trainer process {_describe_exit(code)}")

    def _requeue_or_fail(self, job: JobRecord, reason: str) -> None:
        if job.control == "cancel":
            self.store.update_job(job.id, status="cancelled", finished_at=now(), control=None, estimated_finish=None)
            self.event(job.id, "Fine-tuning job cancelled")
        elif job.resume_from and Path(job.resume_from).exists() and job.attempts < MAX_ATTEMPTS:
            status = "paused" if job.control == "pause" else "queued"
            self.store.update_job(job.id, status=status, control=None, estimated_finish=None)
            self.event(
                job.id,
                f"Training stopped because {reason}; it resumes from the checkpoint at step {job.step}.",
                level="warn",
            )
        else:
            why = (
                "no checkpoint had been saved yet" if not job.resume_from else f"it already failed {job.attempts} times"
            )
            message = f"Training stopped because {reason}, and {why}. Start the job again."
            self.store.update_job(
                job.id,
                status="failed",
                finished_at=now(),
                control=None,
                estimated_finish=None,
                error={"code": "trainer_stopped", "message": message, "param": None},
            )
            self.event(job.id, message, level="error")

    def running_job(self) -> str | None:
        return self._running_job
