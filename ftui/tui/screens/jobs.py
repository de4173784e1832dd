"""F3: every fine-tuning job on the active backend, refreshed in place while the list is on screen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static
from textual.widgets.data_table import RowKey

from ftui.jobs import TERMINAL, JobStatus, normalize_status
from ftui.textfmt import plural
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


# Most telling first. The table shows the columns that fit whole at the terminal's width, in this order (status and
# job always); the line under the table names the highlighted job's models in full.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("id", "Job"),
    ("progress", "Progress"),
    ("created", "Created"),
    ("model", "Base model"),
    ("fine_tuned", "Fine-tuned model"),
)
ALWAYS_SHOWN = 2


def models_text(job: FineTuningJob | None) -> Text:
    """The highlighted job's fine-tuned and base model, in full: a name may be longer than its column."""
    if job is None:
        return Text("")
    text = Text("Fine-tuned ", style="bold")
    if job.fine_tuned_model:
        text.append(job.fine_tuned_model).append("  y copies it", style="dim")
    elif normalize_status(job.status) in TERMINAL:
        text.append("none: the job did not succeed", style="dim")
    else:
        text.append("named when the job succeeds", style="dim")
    return text.append("\nBase model ", style="bold").append(job.model or "—")


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
- The line under the table names the highlighted job's base model and fine-tuned model in full; **y** copies the
  fine-tuned model's name to the clipboard, to use it elsewhere.
- **k** clones the highlighted job: a new wizard run with its model, files and settings, to change and submit.
- **n** starts a new fine-tune. **Ctrl+R** refreshes now.

At 80 columns the table shows status, job, progress and creation time; a wider terminal adds the base and
fine-tuned models.

**Status**: `…` queued or validating files · `●` running · `‖` paused · `✓` succeeded · `✗` failed ·
`⊘` cancelled. **Progress** is the share of training done and the tokens trained so far.

If the backend stops answering, a *Reconnecting* line says when the next try is; waits grow from 1 s to 30 s and
the list recovers by itself once the backend answers again.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "y",
            "copy_model",
            "Copy model",
            id="jobs.copy_model",
            tooltip="Copy the highlighted job's fine-tuned model name to the clipboard",
        ),
        Binding("k", "clone", "Clone", id="jobs.clone", tooltip="A new wizard run with the highlighted job's settings"),
        Binding("n", "new_fine_tune", "New", id="jobs.new", tooltip="Start a new wizard run"),
        Binding("escape", "back", "Back", id="jobs.back", tooltip="Back to the wizard"),
        # Shown in F1 help and the palette: the list refreshes by itself.
        Binding(
            "ctrl+r", "refresh", "Refresh", id="jobs.refresh", tooltip="Ask the backend for the jobs now", show=False
        ),
    ]

    # Time zone for the Created column; None is this computer's. Tests fix it.
    timezone: ClassVar[tzinfo | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, FineTuningJob] = {}
        self._cells: dict[str, tuple[Text | str, ...]] = {}
        self._loaded_once = False
        self.shown_columns: tuple[str, ...] = tuple(key for key, _ in COLUMNS[:ALWAYS_SHOWN])
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
        for key, label in COLUMNS[:ALWAYS_SHOWN]:
            table.add_column(label, key=key)
        return [
            Vertical(
                Static("Loading jobs…", id="jobs-state", classes="hint"),
                Static("", id="jobs-banner", classes="warning-text"),
                table,
                Static("", id="jobs-model"),
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
        keys = [key for key, _ in COLUMNS]
        with self.app.batch_update():
            for job_id in [key for key in self._cells if key not in incoming]:
                table.remove_row(job_id)
                del self._cells[job_id]
            for job_id, job in incoming.items():
                cells = self.row_cells(job)
                previous = self._cells.get(job_id)
                self._cells[job_id] = cells
                if previous is None:
                    table.add_row(*self._shown_cells(cells), key=job_id)
                    added = True
                else:
                    for column, old, new in zip(keys, previous, cells, strict=True):
                        if old != new and column in self.shown_columns:
                            table.update_cell(job_id, column, new)
            if added:
                order = {job_id: index for index, job_id in enumerate(incoming)}
                table.sort("id", key=lambda job_id: order.get(str(job_id), len(order)))
            self.jobs = incoming
            self.fit_columns()
        count = len(incoming)
        state = plural(count, "job") if count else "No jobs yet. Press n to start a fine-tune."
        show_text(self.query_one("#jobs-state", Static), state)
        self._show_models()

    def _shown_cells(self, cells: tuple[Text | str, ...]) -> list[Text | str]:
        return [cell for (key, _), cell in zip(COLUMNS, cells, strict=True) if key in self.shown_columns]

    # -- the columns that fit whole ---------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.fit_columns)

    def columns_that_fit(self, width: int) -> tuple[str, ...]:
        """The columns, in order, that fit whole in ``width`` cells with what the table holds now."""
        table = self.query_one(JobsTable)
        room = width
        if len(self._cells) + 1 > table.size.height:  # the rows and the header: a scroll bar takes room too
            room -= table.styles.scrollbar_size_vertical
        shown: list[str] = []
        for index, (key, label) in enumerate(COLUMNS):
            cells = [label, *(row[index] for row in self._cells.values())]
            needed = max(cell_len(cell) if isinstance(cell, str) else cell.cell_len for cell in cells)
            needed += 2 * table.cell_padding
            if index >= ALWAYS_SHOWN and needed > room:
                break
            shown.append(key)
            room -= needed
        return tuple(shown)

    def fit_columns(self) -> None:
        """Show the columns that fit whole; the table is rebuilt only when that set changes."""
        table = self.query_one(JobsTable)
        width = table.size.width
        if not width:
            return
        shown = self.columns_that_fit(width)
        if shown == self.shown_columns:
            return
        highlighted = self.highlighted_job_id()
        self.shown_columns = shown
        with self.app.batch_update():
            table.clear(columns=True)
            for key, label in COLUMNS:
                if key in shown:
                    table.add_column(label, key=key)
            for job_id, cells in self._cells.items():
                table.add_row(*self._shown_cells(cells), key=job_id)
            if highlighted is not None and highlighted in self._cells:
                table.move_cursor(row=table.get_row_index(highlighted))

    # -- the highlighted job's models, in full ----------------------------------------------------------------

    def highlighted_job(self) -> FineTuningJob | None:
        job_id = self.highlighted_job_id()
        return self.jobs.get(job_id) if job_id is not None else None

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._show_models()

    def _show_models(self) -> None:
        line = self.query_one("#jobs-model", Static)
        show_text(line, models_text(self.highlighted_job()))
        self.refresh_bindings()

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_model":
            job = self.highlighted_job() if self.is_mounted else None
            return True if job is not None and job.fine_tuned_model else None
        if action == "clone":
            return True if self.is_mounted and self.highlighted_job() is not None else None
        return True

    def action_copy_model(self) -> None:
        job = self.highlighted_job()
        if job is None or not job.fine_tuned_model:
            return
        self.app.copy_to_clipboard(job.fine_tuned_model)
        self.notify(job.fine_tuned_model, title="Fine-tuned model name copied")

    def action_clone(self) -> None:
        job = self.highlighted_job()
        if job is not None:
            self.ftui.clone_job(self, job)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
