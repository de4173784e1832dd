"""Job status vocabulary, the job tracker fed with OpenAI-, Azure- and engine-shaped objects, and formatting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from ftui.jobs import (
    STATUS_LABELS,
    TERMINAL,
    EventLine,
    JobStatus,
    JobTracker,
    MetricPoint,
    can_cancel,
    can_pause,
    can_resume,
    format_duration,
    format_event_line,
    format_metrics_line,
    normalize_status,
)

AZURE = Path(__file__).parent / "data" / "azure-examples"


def azure_body(name: str) -> dict[str, Any]:
    return json.loads((AZURE / name).read_text())["responses"]["200"]["body"]


def metrics_event(step: int, created_at: int, total_steps: int = 40, **values: float) -> dict[str, Any]:
    return {
        "id": f"ftevent-m{step}-{created_at}",
        "object": "fine_tuning.job.event",
        "created_at": created_at,
        "level": "info",
        "message": f"Step {step}/{total_steps}",
        "type": "metrics",
        "data": {"step": step, "total_steps": total_steps, **values},
    }


def job(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "ftjob-1",
        "object": "fine_tuning.job",
        "model": "gpt-4.1-mini-2025-04-14",
        "created_at": 1_700_000_000,
        "organization_id": "org-1",
        "status": status,
        "training_file": "file-t",
        "result_files": [],
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2.0},
        "seed": 42,
        **fields,
    }


# --- statuses -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("validating_files", JobStatus.VALIDATING),
        ("queued", JobStatus.QUEUED),
        ("running", JobStatus.RUNNING),
        ("succeeded", JobStatus.SUCCEEDED),
        ("failed", JobStatus.FAILED),
        ("cancelled", JobStatus.CANCELLED),
        ("pending", JobStatus.QUEUED),
        ("pausing", JobStatus.PAUSING),
        ("paused", JobStatus.PAUSED),
        ("resuming", JobStatus.RESUMING),
        ("notRunning", JobStatus.QUEUED),
        ("created", JobStatus.QUEUED),
        (" Running ", JobStatus.RUNNING),
        ("canceled", JobStatus.CANCELLED),
        ("deleting", JobStatus.UNKNOWN),
        ("", JobStatus.UNKNOWN),
        (None, JobStatus.UNKNOWN),
    ],
)
def test_normalize_status(raw: str | None, status: JobStatus):
    assert normalize_status(raw) is status


@given(st.one_of(st.text(), st.none(), st.integers()))
def test_normalize_status_never_raises(raw: Any):
    assert isinstance(normalize_status(raw), JobStatus)


def test_every_status_has_a_label_and_actions_follow_the_state():
    assert set(STATUS_LABELS) == set(JobStatus)
    assert {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED} == TERMINAL
    assert [s for s in JobStatus if can_pause(s)] == [JobStatus.RUNNING]
    assert [s for s in JobStatus if can_resume(s)] == [JobStatus.PAUSED]
    assert {s for s in JobStatus if not can_cancel(s)} == TERMINAL


# --- events ---------------------------------------------------------------------------------------------------------


def test_azure_example_events_in_order_and_deduplicated():
    events = azure_body("get_finetuning_job_events.json")["data"]
    tracker = JobTracker("ft-72a2792ef7d24ba7b82c7fe4a37e379f")
    new = tracker.add_events(events)
    assert [e.message for e in new] == [
        "Job enqueued. Waiting for jobs ahead to complete.",
        "Job started.",
        "Job succeeded.",
    ]
    assert tracker.last_event_id == "ftevent-2d47d651d2f3484c8187c88c00078147"
    assert tracker.add_events(events) == []
    assert tracker.add_events(reversed(events)) == []
    assert len(tracker.events) == 3 and tracker.metrics == []


def test_newest_first_pages_are_put_in_order():
    tracker = JobTracker("ftjob-1")
    page = [metrics_event(2, 110, train_loss=1.0), metrics_event(1, 100, train_loss=2.0)]
    assert [e.created_at for e in tracker.add_events(page)] == [100, 110]
    assert tracker.last_event_id == page[0]["id"]


def test_sdk_event_objects_are_accepted():
    tracker = JobTracker("ftjob-1")
    event = FineTuningJobEvent.model_validate(metrics_event(3, 100, train_loss=1.5, train_mean_token_accuracy=0.4))
    (line,) = tracker.add_events([event])
    assert line == EventLine(
        id=event.id,
        created_at=100,
        level="info",
        message="Step 3/40",
        type="metrics",
        data={"step": 3, "total_steps": 40, "train_loss": 1.5, "train_mean_token_accuracy": 0.4},
    )
    assert tracker.metrics == [MetricPoint(step=3, train_loss=1.5, train_accuracy=0.4)]


def test_warning_level_is_spelled_warn():
    tracker = JobTracker("ftjob-1")
    (line,) = tracker.add_events([{"id": "e1", "created_at": 1, "level": "warning", "message": "careful"}])
    assert (line.level, line.type) == ("warn", "message")


# --- metrics and progress -------------------------------------------------------------------------------------------


def test_metrics_are_one_point_per_step_sorted_and_merged():
    tracker = JobTracker("ftjob-1")
    tracker.add_events([metrics_event(5, 105, train_loss=1.0), metrics_event(2, 102, train_loss=2.0)])
    late = metrics_event(5, 106, valid_loss=1.2, valid_mean_token_accuracy=0.5, full_valid_loss=1.1)
    tracker.add_events([late, metrics_event(3, 107, train_loss=1.5)])
    assert [p.step for p in tracker.metrics] == [2, 3, 5]
    assert tracker.metrics[-1] == MetricPoint(
        step=5, train_loss=1.0, valid_loss=1.2, valid_accuracy=0.5, full_valid_loss=1.1
    )
    assert tracker.total_steps == 40


def test_the_local_engines_metrics_data():
    data = {
        "step": 4,
        "total_steps": 12,
        "epoch": 1,
        "train_loss": 2.5,
        "train_mean_token_accuracy": 0.31,
        "trained_tokens": 4_000,
        "elapsed_seconds": 3.2,
    }
    tracker = JobTracker("ftjob-1")
    tracker.add_events([{"id": "e", "created_at": 1, "level": "info", "message": "m", "type": "metrics", "data": data}])
    assert tracker.metrics == [MetricPoint(step=4, train_loss=2.5, train_accuracy=0.31)]
    assert (tracker.step, tracker.total_steps, tracker.progress) == (4, 12, pytest.approx(1 / 3))


def test_bad_metric_values_are_skipped():
    tracker = JobTracker("ftjob-1")
    tracker.add_events([metrics_event(1, 1, train_loss=float("nan"), valid_loss="x")])  # type: ignore[arg-type]
    tracker.add_events(
        [{"id": "no-step", "created_at": 2, "level": "info", "message": "", "type": "metrics", "data": {}}]
    )
    assert tracker.metrics == [MetricPoint(step=1)]


def test_eta_from_the_service_then_from_the_step_rate():
    tracker = JobTracker("ftjob-1")
    tracker.update_job(job("running", estimated_finish=1_000))
    assert tracker.eta_seconds(now=900) == 100
    assert tracker.eta_seconds(now=1_100) == 0
    tracker.update_job(job("running"))
    assert tracker.eta_seconds(now=0) is None
    tracker.add_events([metrics_event(10, 100, train_loss=1.0), metrics_event(20, 120, train_loss=0.9)])
    # 2 s per step, 20 steps left after t=120: finish at 160.
    assert tracker.eta_seconds(now=130) == 30
    tracker.update_job(job("paused"))
    assert tracker.eta_seconds(now=130) is None


def test_summary_line_while_running_and_at_the_end():
    tracker = JobTracker("ftjob-abc")
    tracker.update_job(job("running", estimated_finish=1_130))
    tracker.add_events([metrics_event(12, 100, train_loss=1.23449)])
    assert tracker.summary_line(now=1_000) == "ftjob-abc running  step 12/40 (30%)  loss 1.234  ETA 2m10s"
    tracker.update_job(job("succeeded", fine_tuned_model="ft:gpt-4.1-mini-2025-04-14:org::abc", trained_tokens=9))
    assert tracker.progress == 1.0
    assert tracker.summary_line(now=1_000) == (
        "ftjob-abc succeeded  step 12/40 (30%)  loss 1.234  model ft:gpt-4.1-mini-2025-04-14:org::abc"
    )
    assert JobTracker("ftjob-x").summary_line(now=0) == "ftjob-x unknown"


def test_failed_job_with_its_error():
    tracker = JobTracker("ftjob-1")
    error = {"code": "invalid_training_file", "message": "The file has 3 examples; 10 are required.", "param": None}
    tracker.update_job(FineTuningJob.model_validate(job("failed", error=error, finished_at=1_700_000_100)))
    assert tracker.status is JobStatus.FAILED
    assert tracker.error_message == "The file has 3 examples; 10 are required."
    assert tracker.summary_line(now=0) == "ftjob-1 failed  The file has 3 examples; 10 are required."
    assert tracker.progress is None


def test_update_job_reads_azures_example_job():
    tracker = JobTracker("ft-72a2792ef7d24ba7b82c7fe4a37e379f")
    tracker.update_job(azure_body("get_finetuning_job.json"))
    assert tracker.status is JobStatus.SUCCEEDED
    assert (tracker.trained_tokens, tracker.finished_at, tracker.created_at) == (2342, 1646127311, 1646126127)
    assert tracker.fine_tuned_model == "curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f"
    assert (tracker.method, tracker.hyperparameters) == ("supervised", {"n_epochs": -1})
    assert (tracker.error, tracker.estimated_finish, tracker.seed) == (None, None, None)


def test_update_job_prefers_method_hyperparameters():
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 2}}}
    tracker = JobTracker("ftjob-1")
    tracker.update_job(job("queued", method=method, validation_file="file-v"))
    assert (tracker.method, tracker.hyperparameters) == ("dpo", {"beta": 0.1, "n_epochs": 2})
    assert (tracker.status, tracker.seed, tracker.validation_file) == (JobStatus.QUEUED, 42, "file-v")


# --- formatting -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (float("inf"), "—"),
        (-5, "0s"),
        (0, "0s"),
        (44.6, "45s"),
        (59.6, "1m00s"),
        (130, "2m10s"),
        (3_599, "59m59s"),
        (3_900, "1h05m"),
        (86_399, "23h59m"),
        (2 * 86_400 + 3 * 3_600, "2d03h"),
    ],
)
def test_format_duration(seconds: float | None, text: str):
    assert format_duration(seconds) == text


def test_format_metrics_line():
    assert format_metrics_line(MetricPoint(step=3)) == "step 3"
    point = MetricPoint(step=12, train_loss=1.2345, train_accuracy=0.567, valid_loss=1.3, full_valid_accuracy=0.6)
    assert format_metrics_line(point) == "step 12  train loss 1.234 acc 56.7%  valid loss 1.300  full valid acc 60.0%"


def test_format_event_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        line = EventLine(id="e", created_at=1_646_126_169, level="warn", message="Job started.")
        assert format_event_line(line) == "2022-03-01 09:16:09  warn   Job started."
    finally:
        monkeypatch.undo()
        time.tzset()
