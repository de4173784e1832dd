"""The trainer process: ``python -m ftui.engine.runner JOB_ID``.

It runs one job and records everything in the engine's store: resolved hyperparameters, events, metrics,
checkpoints, the result CSV and the fine-tuned model. A crash or kill here never takes the service down; the
service sees the process end and resumes from the last checkpoint or fails the job with a clear error.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ftui.engine import paths
from ftui.engine.service import new_id
from ftui.engine.store import CheckpointRecord, FileRecord, JobRecord, ModelRecord, Store, now
from ftui.engine.training import (
    CheckpointEvent,
    Control,
    MessageEvent,
    MetricsEvent,
    ProgressEvent,
    TrainConfig,
    TrainEvent,
    TrainOutcome,
    train,
)
from ftui.estimates import auto_epochs, local_auto_batch_size
from ftui.textfmt import plural

AUTO_LEARNING_RATE_MULTIPLIER = 0.1
# Training takes every core; at a lower priority it still gets all the CPU nobody else wants, while the wizard,
# the engine's API and the user's other programs answer at once instead of waiting for a time slice.
TRAINER_NICENESS = 10
RESULT_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def fine_tuned_name(job: JobRecord) -> str:
    return f"ft:{job.model}:{job.suffix or 'ftui'}:{job.id.removeprefix('ftjob-')[:8]}"


def _count_examples(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


class JobRun:
    def __init__(self, store: Store, job: JobRecord) -> None:
        self.store = store
        self.job = job
        self.job_dir = paths.jobs_dir() / job.id
        self.model_name = fine_tuned_name(job)
        self.started = time.monotonic()

    def event(
        self, message: str, *, level: str = "info", type: str = "message", data: dict[str, Any] | None = None
    ) -> None:
        self.store.add_event(self.job.id, new_id("ftevent"), message, level=level, type=type, data=data)

    def file(self, file_id: str | None) -> FileRecord | None:
        return self.store.get_file(file_id) if file_id else None

    def resolve_hyperparameters(self, n_examples: int) -> dict[str, Any]:
        requested = self.job.method["supervised"]["hyperparameters"]
        resolved = {
            "n_epochs": auto_epochs(n_examples) if requested["n_epochs"] == "auto" else requested["n_epochs"],
            "batch_size": local_auto_batch_size(n_examples)
            if requested["batch_size"] == "auto"
            else requested["batch_size"],
            "learning_rate_multiplier": AUTO_LEARNING_RATE_MULTIPLIER
            if requested["learning_rate_multiplier"] == "auto"
            else requested["learning_rate_multiplier"],
        }
        resolved["batch_size"] = min(resolved["batch_size"], max(1, n_examples))
        method = {"type": "supervised", "supervised": {"hyperparameters": resolved}}
        self.store.update_job(self.job.id, method=method)
        return resolved

    def control(self) -> Control:
        requested = self.store.job_control(self.job.id)
        return "cancel" if requested == "cancel" else "pause" if requested == "pause" else "continue"

    def run(self) -> int:
        from ftui.engine import models

        self.event(
            "Fine-tuning job started"
            if not self.job.resume_from
            else f"Fine-tuning job resumed from step {self.job.step}"
        )
        training_file = self.file(self.job.training_file)
        validation_file = self.file(self.job.validation_file)
        if training_file is None:
            return self.fail("training_file_missing", f"The training file {self.job.training_file} no longer exists.")
        n_examples = _count_examples(training_file.path)
        hyper = self.resolve_hyperparameters(n_examples)
        base_dir = models.resolve_base_model(self.job.model, progress=self._model_progress)
        learning_rate = models.base_learning_rate(self.job.model) * hyper["learning_rate_multiplier"]
        self.event(
            f"Training {self.job.model} on {plural(n_examples, 'example')}: {plural(hyper['n_epochs'], 'epoch')}, batch size "
            f"{hyper['batch_size']}, learning rate {learning_rate:.2e}, seed {self.job.seed}"
        )
        config = TrainConfig(
            base_model_dir=base_dir,
            training_file=Path(training_file.path),
            validation_file=Path(validation_file.path) if validation_file else None,
            output_dir=self.job_dir,
            n_epochs=hyper["n_epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=learning_rate,
            seed=self.job.seed,
            max_length=models.training_context_length(self.job.model),
            resume_from=Path(self.job.resume_from) if self.job.resume_from else None,
        )
        outcome = train(config, self.on_event, self.control)
        return self.finish(outcome)

    def _model_progress(self, stage: str, fraction: float | None) -> None:
        suffix = f" ({fraction:.0%})" if fraction is not None else ""
        self.event(f"Preparing base model: {stage}{suffix}")

    def on_event(self, event: TrainEvent) -> None:
        if isinstance(event, MessageEvent):
            self.event(event.text, level={"warning": "warn"}.get(event.level, event.level))
        elif isinstance(event, MetricsEvent):
            data = {k: v for k, v in event.model_dump().items() if k != "type" and v is not None}
            self.event(
                f"Step {event.step}/{event.total_steps}: training loss={event.train_loss:.4f}",
                type="metrics",
                data=data,
            )
            self.store.update_job(
                self.job.id, step=event.step, total_steps=event.total_steps, trained_tokens=event.trained_tokens
            )
        elif isinstance(event, ProgressEvent):
            finish = (
                now() + math.ceil(event.estimated_seconds_left) if event.estimated_seconds_left is not None else None
            )
            self.store.update_job(self.job.id, step=event.step, total_steps=event.total_steps, estimated_finish=finish)
        elif isinstance(event, CheckpointEvent):
            self.checkpoint(event)

    def checkpoint(self, event: CheckpointEvent) -> None:
        name = f"{self.model_name}:ckpt-step-{event.step}"
        metrics = {k: v for k, v in dict(event.metrics).items() if v is not None}
        metrics.setdefault("step", event.step)
        self.store.add_checkpoint(
            CheckpointRecord(
                id=new_id("ftckpt"),
                job_id=self.job.id,
                created_at=now(),
                step_number=event.step,
                metrics=metrics,
                path=str(event.path),
                model_name=name,
            )
        )
        self.store.update_job(self.job.id, resume_from=str(event.path), step=event.step)
        self.event(f"Checkpoint created at step {event.step}")

    def finish(self, outcome: TrainOutcome) -> int:
        status = outcome.status
        if status == "paused":
            self.store.update_job(
                self.job.id,
                status="paused",
                control=None,
                estimated_finish=None,
                resume_from=str(outcome.checkpoint_path),
            )
            self.event(
                f"Fine-tuning job paused at step {outcome.step}; resume it to continue from the checkpoint"
                if outcome.step
                else "Fine-tuning job paused before its first step; resume it to start training"
            )
            return 0
        if status == "cancelled":
            self.store.update_job(
                self.job.id, status="cancelled", control=None, finished_at=now(), estimated_finish=None
            )
            self.event("Fine-tuning job cancelled")
            return 0
        result_file = self.write_results()
        self.store.add_model(
            ModelRecord(
                id=self.model_name,
                base_model=self.job.model,
                job_id=self.job.id,
                created_at=now(),
                adapter_path=str(outcome.adapter_path),
            )
        )
        self.store.update_job(
            self.job.id,
            status="succeeded",
            control=None,
            finished_at=now(),
            estimated_finish=None,
            fine_tuned_model=self.model_name,
            trained_tokens=outcome.trained_tokens,
            result_files=[result_file],
        )
        self.event(f"New fine-tuned model created: {self.model_name}")
        self.event("The job has successfully completed")
        return 0

    def write_results(self) -> str:
        """The per-step metrics as a CSV file object (Azure's columns), returned as its file id."""
        rows = [event.data or {} for event in self.store.metrics_events(self.job.id)]
        checkpoints, _ = self.store.list_checkpoints(self.job.id, limit=1)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        final = checkpoints[0].metrics if checkpoints else {}
        for index, row in enumerate(rows):
            last = index == len(rows) - 1
            writer.writerow(
                [
                    row.get("step"),
                    row.get("train_loss"),
                    row.get("train_mean_token_accuracy"),
                    row.get("valid_loss", ""),
                    row.get("valid_mean_token_accuracy", ""),
                    final.get("full_valid_loss", "") if last else "",
                    final.get("full_valid_mean_token_accuracy", "") if last else "",
                ]
            )
        data = buffer.getvalue().encode()
        file_id = new_id("file")
        target = paths.blobs_dir() / file_id
        target.write_bytes(data)
        self.store.add_file(
            FileRecord(
                id=file_id,
                filename="step_metrics.csv",
                purpose="fine-tune-results",
                bytes=len(data),
                created_at=now(),
                status="processed",
                path=str(target),
            )
        )
        return file_id

    def fail(self, code: str, message: str) -> int:
        self.store.update_job(
            self.job.id,
            status="failed",
            control=None,
            finished_at=now(),
            estimated_finish=None,
            error={"code": code, "message": message, "param": None},
        )
        self.event(message, level="error")
        return 1


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        try:
            os.nice(TRAINER_NICENESS)
        except OSError as exc:  # not fatal: the job trains at normal priority
            print(f"could not lower the trainer's priority: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ftui.engine.runner JOB_ID", file=sys.stderr)
        return 2
    _lower_priority()
    store = Store(paths.database_path())
    job = store.get_job(argv[0])
    if job is None:
        print(f"no job {argv[0]}", file=sys.stderr)
        return 2
    run = JobRun(store, job)
    try:
        return run.run()
    except Exception as exc:  # the job fails with the reason; the traceback goes to the job's trainer.log only
        traceback.print_exc()
        return run.fail("training_error", f"Training failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
