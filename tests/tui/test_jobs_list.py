"""The jobs list at 80 columns: every column it shows whole, the fine-tuned model's full name under the table and a
key to copy it, and a clone that carries the job's files and says what it carried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fit import problems
from test_jobs_screens import TINY, start_job, wait_until
from textual.widgets import Static

from ftui.client import Backend
from ftui.config import Settings, save_settings
from ftui.jobs import JobStatus, normalize_status
from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.data import DataScreen
from ftui.tui.screens.jobs import JobsScreen, JobsTable


@pytest.fixture
def fast_app(configured: Path) -> FtuiApp:
    """The app with a short poll interval, so the list follows the job quickly."""
    save_settings(Settings(poll_seconds=0.5), configured)
    return make_app(settings_path=configured)


def notes(app: FtuiApp) -> list[str]:
    return [f"{note.title}: {note.message}" for note in app._notifications]


def test_the_list_names_the_fine_tuned_model_whole_and_copies_it(fast_app: FtuiApp, tmp_path: Path) -> None:
    job_id = start_job(tmp_path, n_epochs=1)

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, JobsScreen), 30, "the jobs list")
            screen = fast_app.screen
            assert isinstance(screen, JobsScreen)

            def fine_tuned() -> str | None:
                job = screen.jobs.get(job_id)
                return job.fine_tuned_model if job is not None else None

            await wait_until(pilot, lambda: fine_tuned() is not None, 240, "the job to succeed")
            await pilot.pause(0.5)
            name = fine_tuned()
            assert name is not None and name.startswith(f"ft:{TINY}:support:")
            # 80 columns hold status, job, progress and creation time whole; no column is cut off at the edge.
            assert screen.shown_columns == ("status", "id", "progress", "created")
            assert problems(fast_app) == []
            # The line under the table names the highlighted job's models in full.
            line = str(screen.query_one("#jobs-model", Static).render())
            assert name in line and TINY in line
            await pilot.press("y")
            await pilot.pause()
            assert fast_app.clipboard == name
            assert any(name in note for note in notes(fast_app))
            # A wider terminal adds the model columns that fit whole.
            await pilot.resize_terminal(200, 30)
            await pilot.pause(0.5)
            assert screen.shown_columns[-2:] == ("model", "fine_tuned")
            table = screen.query_one(JobsTable)
            assert str(table.get_cell(job_id, "fine_tuned")) == name
            assert problems(fast_app) == []

    asyncio.run(scenario())


def test_a_clone_carries_the_files_the_backend_still_has_and_says_what_it_carried(
    fast_app: FtuiApp, tmp_path: Path
) -> None:
    job_id = start_job(tmp_path, n_epochs=1)
    backend = Backend.from_profile(Settings().active_profile())
    try:
        created = backend.retrieve_job(job_id)
        training_id, validation_id = created.training_file, created.validation_file
        files = {item.id: item.filename for item in backend.list_files()}
    finally:
        backend.close()

    async def scenario() -> None:
        async with fast_app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, JobsScreen), 30, "the jobs list")
            screen = fast_app.screen
            assert isinstance(screen, JobsScreen)

            def ended() -> bool:
                job = screen.jobs.get(job_id)
                return job is not None and normalize_status(job.status) is JobStatus.SUCCEEDED

            await wait_until(pilot, ended, 240, "the job to succeed")
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, CatalogScreen), 30, "the model step")
            await wait_until(pilot, lambda: fast_app.wizard.training is not None, 30, "the clone")
            wizard = fast_app.wizard
            assert wizard.model == TINY and wizard.seed == 7 and wizard.suffix == "support"
            assert wizard.hyperparameters.n_epochs == 1
            assert wizard.training is not None and wizard.training.file_id == training_id
            assert wizard.validation is not None and wizard.validation.file_id == validation_id
            said = notes(fast_app)[-1]
            assert f"Cloned {job_id}: model {TINY}" in said
            assert f"training file {files[training_id]} ({training_id})" in said
            assert f"validation file {files[validation_id]} ({validation_id})" in said
            assert "Supervised (SFT)" in said and "Epochs 1" in said and "Batch size 4" in said
            assert "LR multiplier 10" in said and "seed 7" in said and "suffix support" in said
            assert "n_epochs" not in said and "change anything and submit" in said
            # The data step shows the carried files.
            catalog = fast_app.screen
            assert isinstance(catalog, CatalogScreen)
            await wait_until(pilot, lambda: catalog.live_settled, 30, "the catalog")
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, DataScreen), 30, "the data step")
            slot = str(fast_app.screen.query_one("#slot-training", Static).render())
            assert training_id in slot and "none yet" not in slot

            # The backend loses both files; the training file's local copy is known, the validation file's is not.
            local = Path.cwd() / files[training_id]
            local.write_bytes((tmp_path / files[training_id]).read_bytes())
            fast_app.uploaded_from[training_id] = local
            connected = await asyncio.to_thread(fast_app.connect)
            for file_id in (training_id, validation_id):
                await asyncio.to_thread(connected.sdk.files.delete, file_id)
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, JobsScreen), 30, "the jobs list")
            jobs = fast_app.screen
            assert isinstance(jobs, JobsScreen)
            await wait_until(pilot, lambda: job_id in jobs.jobs, 30, "the job in the list")
            fast_app.clear_notifications()
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(fast_app.screen, CatalogScreen), 30, "the model step")
            await wait_until(pilot, lambda: bool(fast_app._notifications), 30, "the clone's message")
            wizard = fast_app.wizard
            assert wizard.training is not None and wizard.training.path == local and wizard.training.file_id is None
            assert wizard.validation is None
            [note] = fast_app._notifications
            assert note.severity == "warning"
            assert f"training file {local.name} (no longer on the backend: uploaded again at submit)" in note.message
            assert f"validation file {validation_id} is no longer on the backend: choose it again" in note.message

    asyncio.run(scenario())
