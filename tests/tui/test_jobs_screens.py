"""The jobs list and the job dashboard against the real local engine and its tiny model."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fit import problems
from textual.pilot import Pilot
from textual.widgets import DataTable, ProgressBar, RichLog, Static, TabbedContent

from ftui.client import Backend
from ftui.config import Settings, save_settings
from ftui.dataset.fixes import sample_files
from ftui.engine import server
from ftui.jobs import JobStatus
from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens import dashboard as dashboard_screen
from ftui.tui.screens.dashboard import ConfirmCancel, DashboardScreen
from ftui.tui.screens.help import HelpScreen
from ftui.tui.screens.jobs import JobsScreen, JobsTable
from ftui.tui.widgets.charts import MetricChart

TINY = "ftui-tiny-random"


@pytest.fixture
def fast_app(configured: Path) -> FtuiApp:
    """The app with a short poll interval, so the tests follow jobs quickly."""
    save_settings(Settings(poll_seconds=0.5), configured)
    return make_app(settings_path=configured)


def start_job(folder: Path, *, n_epochs: int, training_lines: int = 16, validation_lines: int = 6) -> str:
    """A job on the local engine, created through the client layer from the head of the bundled sample."""
    backend = Backend.from_profile(Settings().active_profile())
    try:
        ids = []
        for path, count in zip(sample_files(), (training_lines, validation_lines), strict=True):
            head = folder / path.name
            head.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:count]))
            ids.append(backend.upload_file(head).id)
        hyperparameters = {"n_epochs": n_epochs, "batch_size": 4, "learning_rate_multiplier": 10.0}
        job = backend.create_job(
            {
                "model": TINY,
                "training_file": ids[0],
                "validation_file": ids[1],
                "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
                "seed": 7,
                "suffix": "support",
            }
        )
        return job.id
    finally:
        backend.close()


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert pilot.app.is_running, "the app stopped"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.1)


async def open_dashboard(pilot: Pilot, job_id: str) -> DashboardScreen:
    await pilot.press("f3")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen), 30, "the jobs list")
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    await wait_until(pilot, lambda: job_id in screen.jobs, 60, "the job in the list")
    table = screen.query_one(JobsTable)
    table.move_cursor(row=table.get_row_index(job_id))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen), 30, "the dashboard")
    dashboard = pilot.app.screen
    assert isinstance(dashboard, DashboardScreen) and dashboard.job_id == job_id
    return dashboard


def restart_engine_on(port: int) -> None:
    """Start the engine again at the address the app already knows.

    ``server.start_detached`` may pick another port, and the client layer keeps the local engine's first address,
    so the restart keeps the port: this test is about the dashboard riding out the outage.
    """
    subprocess.Popen(
        [sys.executable, "-m", "ftui", "engine", "serve", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while server.running_engine() is None:
        assert time.monotonic() < deadline, "the engine did not come back"
        time.sleep(0.2)


def count_bells(app: FtuiApp) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)  # type: ignore[method-assign]
    return rung


def test_the_list_shows_a_job_and_updates_it_in_place(fast_app: FtuiApp, tmp_path: Path) -> None:
    job_id = start_job(tmp_path, n_epochs=1)

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen), 30)
            screen = pilot.app.screen
            assert isinstance(screen, JobsScreen)
            table = screen.query_one(JobsTable)
            await wait_until(pilot, lambda: job_id in screen.jobs, 60, "the job")
            seen_statuses = set()

            def status_cell() -> str:
                text = str(table.get_cell(job_id, "status"))
                seen_statuses.add(text)
                return text

            await wait_until(pilot, lambda: "succeeded" in status_cell(), 240, "success in the list")
            assert table.row_count == 1 and table.get_row_index(job_id) == 0
            assert "✓" in status_cell()
            # At 80 columns the models are named in full under the table.
            models = str(screen.query_one("#jobs-model", Static).render())
            assert f"Base model {TINY}" in models and f"Fine-tuned ft:{TINY}:support:" in models
            assert "100 %" in str(table.get_cell(job_id, "progress"))
            assert "tokens" not in str(table.get_cell(job_id, "created"))
            # The status changed in place: the same row went through earlier states.
            assert len(seen_statuses) >= 2 or screen.failures == 0

    asyncio.run(scenario())


def test_the_dashboard_follows_a_job_to_success(
    fast_app: FtuiApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = start_job(tmp_path, n_epochs=2)
    rung = count_bells(fast_app)
    table_builds: list[int] = []
    show_checkpoints = DashboardScreen._show_checkpoints

    def counting_show_checkpoints(self: DashboardScreen) -> None:
        table_builds.append(len(self.checkpoints))
        show_checkpoints(self)

    monkeypatch.setattr(DashboardScreen, "_show_checkpoints", counting_show_checkpoints)
    polls: list[str] = []  # the status each poll saw
    checkpoint_requests: list[tuple[float, str]] = []  # when, and the status of the poll that asked
    retrieve_job, job_checkpoints = Backend.retrieve_job, Backend.job_checkpoints

    def recording_retrieve(backend: Backend, job: str):
        found = retrieve_job(backend, job)
        polls.append(str(found.status))
        return found

    def recording_checkpoints(backend: Backend, job: str):
        checkpoint_requests.append((time.monotonic(), polls[-1]))
        return job_checkpoints(backend, job)

    # A shorter interval than the app's, so even a quick job shows several requests while it runs.
    interval = 3.0
    monkeypatch.setattr(dashboard_screen, "CHECKPOINT_POLL_SECONDS", interval)
    monkeypatch.setattr(Backend, "retrieve_job", recording_retrieve)
    monkeypatch.setattr(Backend, "job_checkpoints", recording_checkpoints)

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24)) as pilot:
            dashboard = await open_dashboard(pilot, job_id)
            await wait_until(pilot, lambda: dashboard.finished, 240, "the job to end")
            # While the job trains, checkpoints are asked for when it starts running and then at most every
            # CHECKPOINT_POLL_SECONDS; polls that see a new status (the end) ask as well.
            while_running = [when for when, status in checkpoint_requests if status == "running"]
            gaps = [later - earlier for earlier, later in itertools.pairwise(while_running)]
            assert gaps and all(gap >= interval * 0.99 for gap in gaps), gaps
            assert polls.count("running") > len(while_running) + 5
            assert checkpoint_requests[-1][1] == "succeeded"
            assert dashboard.tracker.status is JobStatus.SUCCEEDED
            await pilot.pause(0.5)
            charts = dashboard.query(MetricChart)
            assert all(chart.point_count > 0 for chart in charts)
            assert "validation" in dashboard.query_one("#chart-loss", MetricChart).series
            ids = [event.id for event in dashboard.tracker.events]
            assert len(ids) == len(set(ids)) > 3
            dashboard.query_one(TabbedContent).active = "tab-events"
            await pilot.pause(0.5)
            assert len(dashboard.query_one("#dash-events", RichLog).lines) >= len(ids)
            checkpoints = dashboard.query_one("#dash-checkpoints", DataTable)
            assert checkpoints.row_count == 2
            # Polls that bring the same checkpoints leave the table alone: one build per new checkpoint at most.
            assert table_builds and table_builds[-1] == 2 and len(table_builds) <= 2
            assert dashboard.query_one("#dash-progress", ProgressBar).percentage == 1
            details = str(dashboard.query_one("#dash-details", Static).render())
            assert "Epochs" in details and "Seed" in details and "file-" in details
            assert rung == [1]
            # Cancel and pause no longer apply; the playground and clone do.
            assert dashboard.check_action("cancel_job", ()) is None
            assert dashboard.check_action("playground", ()) is True
            await pilot.press("k")
            await wait_until(pilot, lambda: fast_app.wizard.model == TINY, 30, "the clone")
            # The app says what the clone carried.
            assert any(f"Cloned {job_id}: model {TINY}" in note.message for note in fast_app._notifications)
            assert fast_app.wizard.hyperparameters.n_epochs == 2 and fast_app.wizard.seed == 7
            assert fast_app.wizard.suffix == "support"
            # The clone carries the job's files too, as the uploaded files they are.
            training, validation = fast_app.wizard.training, fast_app.wizard.validation
            assert training is not None and training.file_id == dashboard.tracker.training_file
            assert validation is not None and validation.file_id == dashboard.tracker.validation_file

    asyncio.run(scenario())


def test_cancelling_a_running_job_asks_first(fast_app: FtuiApp, tmp_path: Path) -> None:
    job_id = start_job(tmp_path, n_epochs=50)
    rung = count_bells(fast_app)

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24)) as pilot:
            dashboard = await open_dashboard(pilot, job_id)
            await wait_until(pilot, lambda: dashboard.tracker.step is not None, 180, "training steps")
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmCancel), 10, "the confirmation")
            assert problems(pilot.app) == [], "the question is said in full, with F1 in its footer"
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), 10, "the dialog's help")
            assert "cannot be resumed" in pilot.app.screen.source
            await pilot.press("escape")
            await pilot.press("n")
            await pilot.pause(0.5)
            assert pilot.app.screen is dashboard and dashboard.tracker.status is JobStatus.RUNNING
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmCancel), 10, "the confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: dashboard.finished, 120, "the cancellation")
            assert dashboard.tracker.status is JobStatus.CANCELLED
            assert dashboard.check_action("playground", ()) is None
            assert rung == [1]

    asyncio.run(scenario())


def test_the_dashboard_reconnects_after_the_engine_restarts(fast_app: FtuiApp, tmp_path: Path) -> None:
    job_id = start_job(tmp_path, n_epochs=6)

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24)) as pilot:
            dashboard = await open_dashboard(pilot, job_id)
            await wait_until(pilot, lambda: dashboard.tracker.step is not None, 180, "training steps")
            banner = dashboard.query_one("#dash-banner", Static)
            state = server.read_state()
            assert state is not None
            port = state.port
            await asyncio.to_thread(server.stop)
            await wait_until(pilot, lambda: dashboard.failures > 0, 30, "a failed poll")
            assert banner.display and "Reconnecting" in str(banner.render())
            await asyncio.to_thread(restart_engine_on, port)
            await wait_until(pilot, lambda: dashboard.failures == 0, 60, "the dashboard to recover")
            assert not banner.display
            await wait_until(pilot, lambda: dashboard.finished, 240, "the job to end")
            assert dashboard.tracker.status is JobStatus.SUCCEEDED
            ids = [event.id for event in dashboard.tracker.events]
            assert len(ids) == len(set(ids))

    asyncio.run(scenario())
