"""F3: every fine-tuning job on the active backend, refreshed in place while the list is on screen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static
from textual.widgets.data_table import RowKey

from ftui.jobs import JobStatus, normalize_status
from ftui.tui.base import FtuiScreen, show_text
from ftui.tui.poller import Poller, Reconnecting
from ftui.tui.widgets.jobstatus import format_time, status_text

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

    from ftui.client import Backend

JOBS_PER_PAGE = 50


def progress_cell(job: FineTuningJob) -> str:
    if normalize_status(job.status) is JobStatus.SUCCEEDED:
        return "✓ 100 %"
    return f"{job.trained_tokens:,} tok" if job.trained_tokens else "—"


# Most telling first: an 80-column terminal shows status, id and progress without scrolling.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("id", "Job"),
    ("progress", "Progress"),
    ("created", "Created"),
    ("model", "Base model"),
    ("fine_tuned", "Fine-tuned model"),
)


class JobsTable(DataTable[Text | str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open job", id="jobs.open", tooltip="The highlighted job's dashboard")
    ]


class JobsScreen(FtuiScreen):
    HELP_TITLE = "Jobs"
    HELP = """\
Every fine-tuning job on the active backend profile, newest first. The list refreshes by itself while it is on
screen; rows change in place, so the cursor stays where you put it.

- **Enter** opens a job's dashboard: progress, loss and accuracy charts, events, checkpoints and the settings the
  service resolved; there you can cancel, pause, resume, clone the job or try the fine-tuned model.
- **n** starts a new fine-tune. **Ctrl+R** refreshes now.

**Status**: `…` queued or validating files · `●` running · `‖` paused · `✓` succeeded · `✗` failed ·
`⊘` cancelled. **Progress** is the share of training done and the tokens trained so far.

If the backend stops answering, a *Reconnecting* line says when the next try is; waits grow from 1 s to 30 s and
the list recovers by itself once the backend answers again.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_fine_tune", "New fine-tune", id="jobs.new", tooltip="Start a new wizard run"),
        Binding("ctrl+r", "refresh", "Refresh", id="jobs.refresh", tooltip="Ask the backend for the jobs now"),
        Binding("escape", "back", "Back", id="jobs.back", tooltip="Back to the wizard"),
    ]

    # Time zone for the Created column; None is this computer's. Tests fix it.
    timezone: ClassVar[tzinfo | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, FineTuningJob] = {}
        self._cells: dict[str, tuple[Text | str, ...]] = {}
        self._loaded_once = False
        self.poller: Poller[list[FineTuningJob]] = Poller(
            self,
            self._request,
            done=self._loaded,
            failed=self._load_failed,
            interval=lambda: float(self.ftui.settings.poll_seconds),
            group="jobs-list",
        )

    @property
    def failures(self) -> int:
        """Polls in a row the backend did not answer."""
        return self.poller.failures

    def compose_body(self) -> Sequence[Widget]:
        table = JobsTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        return [
            Vertical(
                Static("Loading jobs…", id="jobs-state", classes="hint"),
                Static("", id="jobs-banner", classes="warning-text"),
                table,
                Horizontal(
                    Static("", classes="reason"),
                    Button("Open", id="jobs-open", compact=True),
                    Button("New fine-tune", id="jobs-new", variant="primary", compact=True),
                    classes="jobs-actions",
                ),
                classes="body",
                id="jobs-body",
            )
        ]

    # -- polling: while the list is on screen ----------------------------------------------------------------

    def on_mount(self) -> None:
        self.poller.start()

    def on_screen_resume(self) -> None:
        self.query_one(JobsTable).focus()

    def action_refresh(self) -> None:
        self.poller.poll_now()

    @staticmethod
    def _request() -> Callable[[Backend], list[FineTuningJob]]:
        return lambda backend: backend.list_jobs(JOBS_PER_PAGE)

    def _loaded(self, jobs: list[FineTuningJob]) -> None:
        self._loaded_once = True
        banner = self.query_one("#jobs-banner", Static)
        show_text(banner, "")
        banner.display = False
        self.show_jobs(jobs)

    def _load_failed(self, reconnecting: Reconnecting) -> None:
        banner = self.query_one("#jobs-banner", Static)
        banner.update(reconnecting.text())
        banner.display = True
        if not self._loaded_once:
            self.query_one("#jobs-state", Static).update(reconnecting.error.hint or "The backend did not answer.")

    # -- the table, updated in place by job id ------------------------------------------------------------------

    def row_cells(self, job: FineTuningJob) -> tuple[Text | str, ...]:
        return (
            status_text(normalize_status(job.status)),
            job.id or "?",
            progress_cell(job),
            format_time(job.created_at, self.timezone),
            job.model or "—",
            job.fine_tuned_model or "—",
        )

    def show_jobs(self, jobs: list[FineTuningJob]) -> None:
        table = self.query_one(JobsTable)
        incoming = {str(job.id): job for job in jobs}
        added = False
        with self.app.batch_update():
            for job_id in [key for key in self._cells if key not in incoming]:
                table.remove_row(job_id)
                del self._cells[job_id]
            for job_id, job in incoming.items():
                cells = self.row_cells(job)
                previous = self._cells.get(job_id)
                if previous is None:
                    table.add_row(*cells, key=job_id)
                    added = True
                else:
                    for (column, _), old, new in zip(COLUMNS, previous, cells, strict=True):
                        if old != new:
                            table.update_cell(job_id, column, new)
                self._cells[job_id] = cells
            if added:
                order = {job_id: index for index, job_id in enumerate(incoming)}
                table.sort("id", key=lambda job_id: order.get(str(job_id), len(order)))
        self.jobs = incoming
        count = len(incoming)
        state = f"{count} job{'s' if count != 1 else ''}" if count else "No jobs yet. Press n to start a fine-tune."
        show_text(self.query_one("#jobs-state", Static), state)

    def highlighted_job_id(self) -> str | None:
        table = self.query_one(JobsTable)
        if not table.row_count:
            return None
        key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    # -- actions ---------------------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.ftui.open_dashboard(str(event.row_key.value))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "jobs-new":
            self.action_new_fine_tune()
        elif event.button.id == "jobs-open":
            job_id = self.highlighted_job_id()
            if job_id:
                self.ftui.open_dashboard(job_id)

    def action_new_fine_tune(self) -> None:
        self.ftui.action_new_run()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
