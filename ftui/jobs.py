"""What ftui knows about a fine-tuning job while it runs: one status vocabulary, its events, its metrics, its progress.

OpenAI, Azure and the local engine report jobs and events in the same shapes but with different status words;
``normalize_status`` maps them all onto ``JobStatus``. ``JobTracker`` is fed job objects and event pages as they
are polled (SDK objects or plain dicts) and keeps the deduplicated event log, one metrics point per step, and the
progress a dashboard or ``ftui jobs watch`` shows.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK's types only: tracking a job needs no network code
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent


class JobStatus(StrEnum):
    VALIDATING = "validating"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


STATUS_LABELS: dict[JobStatus, str] = {
    JobStatus.VALIDATING: "validating files",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.PAUSING: "pausing",
    JobStatus.PAUSED: "paused",
    JobStatus.RESUMING: "resuming",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
    JobStatus.UNKNOWN: "unknown",
}

TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# Keys are lower case: Azure writes "notRunning". Azure's "pending", "created" and "notRunning" all mean
# "accepted, not started".
_RAW_STATUSES: dict[str, JobStatus] = {
    "validating_files": JobStatus.VALIDATING,
    "validating": JobStatus.VALIDATING,
    "queued": JobStatus.QUEUED,
    "pending": JobStatus.QUEUED,
    "created": JobStatus.QUEUED,
    "notrunning": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "pausing": JobStatus.PAUSING,
    "paused": JobStatus.PAUSED,
    "resuming": JobStatus.RESUMING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
}


def normalize_status(raw: str | None) -> JobStatus:
    """Any service's status word as a ``JobStatus``; UNKNOWN for anything else. Never raises."""
    if not isinstance(raw, str):
        return JobStatus.UNKNOWN
    return _RAW_STATUSES.get(raw.strip().lower(), JobStatus.UNKNOWN)


def can_cancel(status: JobStatus) -> bool:
    # An unknown status may be a new word for an active job: offer cancel and let the service decide.
    return status not in TERMINAL


def can_pause(status: JobStatus) -> bool:
    return status is JobStatus.RUNNING


def can_resume(status: JobStatus) -> bool:
    return status is JobStatus.PAUSED


# --- events and metrics ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    id: str
    created_at: int
    level: str  # info | warn | error
    message: str
    type: str = "message"  # message | metrics
    data: Mapping[str, Any] | None = None


@dataclass
class MetricPoint:
    """One training step's measurements. Accuracies are fractions (0..1), as the services report them."""

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_accuracy: float | None = None

    def merge(self, other: MetricPoint) -> None:
        """Take ``other``'s measured values, keeping this point's where ``other`` has none."""
        for item in fields(self):
            value = getattr(other, item.name)
            if value is not None:
                setattr(self, item.name, value)


# Metrics event ``data`` keys (and the result CSV's spelling of validation accuracy) -> MetricPoint fields.
_METRIC_KEYS = {
    "train_loss": "train_loss",
    "train_mean_token_accuracy": "train_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_accuracy",
    "validation_mean_token_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def metric_point(data: Mapping[str, Any]) -> MetricPoint | None:
    """The point in a metrics event's ``data``; None without a step."""
    step = _whole(data.get("step"))
    if step is None:
        return None
    point = MetricPoint(step=step)
    for key, name in _METRIC_KEYS.items():
        value = _number(data.get(key))
        if value is not None:
            setattr(point, name, value)
    return point


def _as_dict(source: Any) -> dict[str, Any]:
    """An SDK object (pydantic) or a mapping as a plain dict."""
    if isinstance(source, Mapping):
        return dict(source)
    dump = getattr(source, "model_dump", None)
    if callable(dump):
        dumped: dict[str, Any] = dump()
        return dumped
    return dict(vars(source))


def event_line(source: Any) -> EventLine:
    data = _as_dict(source)
    level = str(data.get("level") or "info").lower()
    return EventLine(
        id=str(data.get("id") or ""),
        created_at=_whole(data.get("created_at")) or 0,
        level="warn" if level == "warning" else level,
        message=str(data.get("message") or ""),
        type=str(data.get("type") or "message"),
        data=data.get("data") or None,
    )


# --- the tracker ----------------------------------------------------------------------------------------------------


class JobTracker:
    """Everything known about one job, fed incrementally from polling."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last_event_id: str | None = None
        self.events: list[EventLine] = []
        self.metrics: list[MetricPoint] = []
        self.total_steps: int | None = None
        self.status = JobStatus.UNKNOWN
        self.raw_status: str | None = None
        self.model: str | None = None
        self.created_at: int | None = None
        self.finished_at: int | None = None
        self.trained_tokens: int | None = None
        self.estimated_finish: int | None = None
        self.fine_tuned_model: str | None = None
        self.error: dict[str, Any] | None = None
        self.method: str | None = None
        self.hyperparameters: dict[str, Any] = {}
        self.training_file: str | None = None
        self.validation_file: str | None = None
        self.seed: int | None = None
        self.suffix: str | None = None
        self.result_files: list[str] = []
        self._event_ids: set[str] = set()
        self._points: dict[int, MetricPoint] = {}
        self._step_times: list[tuple[int, int]] = []  # (created_at, step) of metrics events, in arrival order

    # feeding

    def add_events(self, events: Iterable[FineTuningJobEvent | Mapping[str, Any]]) -> list[EventLine]:
        """Add a page of events (either order); returns the ones not seen before, oldest first."""
        lines = [event_line(event) for event in events]
        if len(lines) > 1 and lines[0].created_at > lines[-1].created_at:
            lines.reverse()  # a newest-first page, as the services list them
        new = [line for line in lines if line.id not in self._event_ids]
        for line in new:
            self._event_ids.add(line.id)
            self.events.append(line)
            if line.type == "metrics" and line.data:
                self._add_metrics(line)
        if new:
            self.last_event_id = new[-1].id
        return new

    def _add_metrics(self, line: EventLine) -> None:
        assert line.data is not None
        total = _whole(line.data.get("total_steps"))
        if total:
            self.total_steps = total
        point = metric_point(line.data)
        if point is None:
            return
        self._step_times.append((line.created_at, point.step))
        known = self._points.get(point.step)
        if known is not None:
            known.merge(point)
            return
        self._points[point.step] = point
        bisect.insort(self.metrics, point, key=lambda p: p.step)

    def update_job(self, job: FineTuningJob | Mapping[str, Any]) -> None:
        """Take the fields of a job object (SDK ``FineTuningJob`` or a dict)."""
        data = _as_dict(job)
        self.raw_status = data.get("status")
        self.status = normalize_status(self.raw_status)
        self.model = data.get("model") or self.model
        self.created_at = _whole(data.get("created_at"))
        self.finished_at = _whole(data.get("finished_at"))
        self.trained_tokens = _whole(data.get("trained_tokens"))
        self.estimated_finish = _whole(data.get("estimated_finish"))
        self.fine_tuned_model = data.get("fine_tuned_model")
        error = _as_dict(data["error"]) if data.get("error") else {}
        self.error = error if error.get("message") or error.get("code") else None
        self.training_file = data.get("training_file")
        self.validation_file = data.get("validation_file")
        self.seed = _whole(data.get("seed"))
        self.suffix = data.get("user_provided_suffix") or None
        self.result_files = [str(name) for name in data.get("result_files") or ()]
        method = data.get("method") or {}
        self.method = method.get("type") or self.method or "supervised"
        reported = (method.get(self.method) or {}).get("hyperparameters") or data.get("hyperparameters") or {}
        self.hyperparameters = {key: value for key, value in dict(reported).items() if value is not None}

    # reading

    @property
    def step(self) -> int | None:
        return self.metrics[-1].step if self.metrics else None

    @property
    def progress(self) -> float | None:
        """0..1 from the last step and the step count; 1.0 once succeeded; None when unknown."""
        if self.status is JobStatus.SUCCEEDED:
            return 1.0
        if self.step is None or not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))

    @property
    def latest_loss(self) -> float | None:
        return next((p.train_loss for p in reversed(self.metrics) if p.train_loss is not None), None)

    @property
    def error_message(self) -> str | None:
        if not self.error:
            return None
        return str(self.error.get("message") or self.error.get("code"))

    def eta_seconds(self, now: float) -> float | None:
        """Seconds to the end: the service's ``estimated_finish``, else extrapolated from the step rate."""
        if self.status in TERMINAL or self.status in (JobStatus.PAUSED, JobStatus.PAUSING):
            return None
        if self.estimated_finish:
            return max(0.0, self.estimated_finish - now)
        if not self.total_steps or len(self._step_times) < 2:
            return None
        (first_time, first_step), (last_time, last_step) = self._step_times[0], self._step_times[-1]
        if last_time <= first_time or last_step <= first_step:
            return None
        seconds_per_step = (last_time - first_time) / (last_step - first_step)
        finish = last_time + (self.total_steps - last_step) * seconds_per_step
        return max(0.0, finish - now)

    def summary_line(self, now: float | None = None) -> str:
        """``ftjob-… running  step 12/40 (30%)  loss 1.234  ETA 2m10s``"""
        parts = [f"{self.job_id} {STATUS_LABELS[self.status]}"]
        if self.step is not None:
            if self.total_steps:
                parts.append(f"step {self.step}/{self.total_steps} ({self.step / self.total_steps:.0%})")
            else:
                parts.append(f"step {self.step}")
        if self.latest_loss is not None:
            parts.append(f"loss {self.latest_loss:.3f}")
        eta = self.eta_seconds(time.time() if now is None else now)
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        if self.status is JobStatus.SUCCEEDED and self.fine_tuned_model:
            parts.append(f"model {self.fine_tuned_model}")
        if self.status is JobStatus.FAILED and self.error_message:
            parts.append(self.error_message)
        return "  ".join(parts)


# --- formatting -----------------------------------------------------------------------------------------------------


MAX_BACKOFF_SECONDS = 30.0


def backoff_seconds(attempt: int) -> float:
    """Seconds before try ``attempt`` (1, 2, 3 …) while the backend does not answer: 1, 2, 4 … up to 30."""
    return min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempt - 1))


def format_duration(seconds: float | None) -> str:
    """``45s``, ``2m10s``, ``1h05m``, ``2d03h``; ``—`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    if total < 86_400:
        return f"{total // 3600}h{total % 3600 // 60:02d}m"
    return f"{total // 86_400}d{total % 86_400 // 3600:02d}h"


def format_metrics_line(point: MetricPoint) -> str:
    """``step 12  train loss 1.234 acc 56.7%  valid loss 1.301 acc 55.0%`` (only what was measured)."""
    parts = [f"step {point.step}"]
    for label, loss, accuracy in (
        ("train", point.train_loss, point.train_accuracy),
        ("valid", point.valid_loss, point.valid_accuracy),
        ("full valid", point.full_valid_loss, point.full_valid_accuracy),
    ):
        shown = [f"loss {loss:.3f}" if loss is not None else "", f"acc {accuracy:.1%}" if accuracy is not None else ""]
        if any(shown):
            parts.append(f"{label} {' '.join(s for s in shown if s)}")
    return "  ".join(parts)


def format_timestamp(created_at: int | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``; ``—`` when missing."""
    if not created_at:
        return "—"
    return datetime.fromtimestamp(created_at).strftime("%Y-%m-%d %H:%M:%S")


def format_event_line(event: EventLine) -> str:
    """``2026-03-01 12:00:05  info   Step 3/12: training loss=1.2345``"""
    return f"{format_timestamp(event.created_at)}  {event.level:<5}  {event.message}"
