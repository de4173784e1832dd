"""The job dashboard says everything at 80×24 and 120×40: events wrapped at the log's width, a pause's checkpoint in
the Checkpoints tab, headers and hints that fit, the Details tab's labels apart from their values."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from openai.types.fine_tuning import FineTuningJob
from rich.console import Console
from rich.text import Text
from test_jobs_screens import fast_app, open_dashboard, start_job, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable, Footer, Static, TabbedContent
from textual.widgets._footer import FooterKey

from ftui.jobs import JobStatus, JobTracker
from ftui.options import HYPERPARAMETER_LABELS
from ftui.tui.app import FtuiApp
from ftui.tui.screens.dashboard import DashboardScreen, details_text
from ftui.tui.widgets.eventlog import EventLog

__all__ = ["fast_app"]  # the fixture, used by name


def job(**fields: object) -> FineTuningJob:
    body: dict[str, object] = {
        "id": "ftjob-7d1c0e9a4b2f",
        "object": "fine_tuning.job",
        "created_at": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "organization_id": "org-1",
        "result_files": [],
        "seed": 7,
        "status": "running",
        "training_file": "file-train",
        "validation_file": None,
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "trained_tokens": None,
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1},
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1}},
        },
    }
    return FineTuningJob.model_validate(body | fields)


def details_rows(tracker: JobTracker) -> dict[str, str]:
    """Each "label  value" line of the Details tab, split where two spaces or more end the label."""
    rows = {}
    for line in details_text(tracker).plain.splitlines():
        if "  " in line:
            label, value = re.split(r" {2,}", line, maxsplit=1)
            rows[label] = value
    return rows


def test_details_use_the_forms_labels_apart_from_their_values() -> None:
    tracker = JobTracker("ftjob-7d1c0e9a4b2f")
    tracker.update_job(job())
    rows = details_rows(tracker)
    assert rows["Epochs"] == "3" and rows["Batch size"] == "1" and rows["LR multiplier"] == "0.1"
    assert rows["Seed"] == "7" and rows["Base model"] == "gpt-4o-mini-2024-07-18"
    assert not any(name in details_text(tracker).plain for name in HYPERPARAMETER_LABELS)
    failed = JobTracker("ftjob-7d1c0e9a4b2f")
    error = {"code": "invalid_training_file", "message": "Line 3 has no assistant message.", "param": "training_file"}
    failed.update_job(job(status="failed", error=error))
    rows = details_rows(failed)
    assert rows["Code"] == "invalid_training_file" and rows["Param"] == "training_file"
    assert rows["Message"] == "Line 3 has no assistant message."


# -- against the local engine --------------------------------------------------------------------------------------


def static_overflow(screen: DashboardScreen) -> list[str]:
    """Visible Static widgets whose text, wrapped at their width, needs more lines than they show (a widget taller
    than its container shows only the lines the container has room for)."""
    found = []
    visible = screen._compositor.visible_widgets
    for widget in screen.query(Static):
        if widget not in visible:
            continue
        content = widget.content
        plain = content.plain if isinstance(content, Text) else str(content)
        if not plain.strip():
            continue
        _region, clip = visible[widget]
        shown = widget.content_region.intersection(clip)
        width, height = shown.width, shown.height
        console = Console(width=width, color_system=None)
        needed = len(Text(plain).wrap(console, width))
        if needed > height:
            found.append(f"#{widget.id}: {plain!r} needs {needed} lines of {width}, has {height}")
    return found


def log_fits(log: EventLog, texts: list[str]) -> None:
    width = log.scrollable_content_region.width
    console = Console(width=width, color_system=None)
    expected = [line.plain.rstrip() for text in texts for line in Text(text).wrap(console, width)]
    shown = [strip.text.rstrip() for strip in log.lines]
    assert shown == expected, (width, shown)


def footer_shows_f1(pilot: Pilot) -> bool:
    footer = pilot.app.screen.query_one(Footer)
    return any(key.key == "f1" and key.region.right <= footer.region.right for key in footer.query(FooterKey))


async def show_tab(pilot: Pilot, dashboard: DashboardScreen, tab: str) -> None:
    dashboard.query_one(TabbedContent).active = tab
    await pilot.pause(0.3)


def test_a_paused_job_at_120_then_80_columns(fast_app: FtuiApp, tmp_path: Path) -> None:
    job_id = start_job(tmp_path, n_epochs=50)

    async def scenario() -> None:
        async with fast_app.run_test(size=(120, 40)) as pilot:
            dashboard = await open_dashboard(pilot, job_id)
            await wait_until(pilot, lambda: (dashboard.tracker.step or 0) >= 6, 180, "training steps")
            await pilot.press("p")
            await wait_until(pilot, lambda: dashboard.tracker.status is JobStatus.PAUSED, 60, "the pause")
            messages = [event.message for event in dashboard.tracker.events]
            await wait_until(pilot, lambda: any("job paused" in e.message for e in dashboard.tracker.events), 30)
            paused = next(e.message for e in dashboard.tracker.events if "job paused" in e.message)
            step = int(re.search(r"paused at step (\d+)", paused).group(1))  # type: ignore[union-attr]

            # The pause's checkpoint is in the Checkpoints tab, its model named under the table.
            await show_tab(pilot, dashboard, "tab-checkpoints")
            await wait_until(pilot, lambda: any(c.step_number == step for c in dashboard.checkpoints), 30)
            await pilot.pause(0.3)
            table = dashboard.query_one("#dash-checkpoints", DataTable)
            steps = [str(table.get_row_at(row)[0]) for row in range(table.row_count)]
            assert steps[-1] == str(step), steps
            table.focus()
            table.move_cursor(row=table.row_count - 1)
            await pilot.pause(0.3)
            model = str(dashboard.query_one("#dash-checkpoint-model", Static).render())
            assert model.endswith(f":ckpt-step-{step}"), model
            assert "No checkpoints yet" not in str(dashboard.query_one("#dash-checkpoints-state", Static).render())

            # Every event arrived while the Events tab was hidden; shown, each wraps at the log's width.
            await show_tab(pilot, dashboard, "tab-events")
            log = dashboard.query_one("#dash-events", EventLog)
            texts = [text.plain for text in log.texts]
            assert len(texts) == len(dashboard.tracker.events) >= len(messages)
            log_fits(log, texts)

            await pilot.resize_terminal(80, 24)
            await pilot.pause(0.5)
            log_fits(log, texts)
            assert any("alpha=32" in strip.text for strip in log.lines)
            for tab in ("tab-charts", "tab-events", "tab-checkpoints", "tab-details"):
                await show_tab(pilot, dashboard, tab)
                assert static_overflow(dashboard) == [], tab
                assert footer_shows_f1(pilot), tab
            # The Checkpoints tab's columns all fit, headers included.
            await show_tab(pilot, dashboard, "tab-checkpoints")
            widths = sum(column.get_render_width(table) for column in table.columns.values())
            assert widths <= table.scrollable_content_region.width
            await show_tab(pilot, dashboard, "tab-details")
            details = str(dashboard.query_one("#dash-details", Static).render())
            assert re.search(r"^LR multiplier {2,}10$", details, re.MULTILINE), details
            await pilot.press("c", "y")
            await wait_until(pilot, lambda: dashboard.finished, 60, "the cancellation")

    asyncio.run(scenario())
