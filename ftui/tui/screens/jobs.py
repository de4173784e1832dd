"""F3: every fine-tuning job on the active backend, refreshed in place while the list is on screen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static
from textual.widgets.data_table import RowKey

from ftui.client import BackendError
from ftui.jobs import STATUS_LABELS, JobStatus, backoff_seconds, normalize_status
from ftui.tui.base import FtuiScreen, show_text

JOBS_PER_PAGE = 50

# Symbols carry the state where colour does not (NO_COLOR, monochrome terminals).
STATUS_SYMBOLS: dict[str, tuple[str, str]] = {
    "validating": ("…", "cyan"),
    "unknown": ("?", ""),
    "queued": ("…", "cyan"),
    "running": ("●", "yellow"),
    "pausing": ("‖", "yellow"),
    "paused": ("‖", "yellow"),
    "resuming": ("●", "yellow"),
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "magenta"),
}


def field(item: Any, name: str, default: Any = None) -> Any:
    """A field of an API object, whether the client hands back a dict or a typed object."""
    value = item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)
    return default if value is None else value


def status_text(status: JobStatus | str) -> Text:
    """The status as "<symbol> <label>", coloured as well where colour is available."""
    key = str(getattr(status, "value", status))
    symbol, colour = STATUS_SYMBOLS.get(key, ("●", ""))
    label = STATUS_LABELS.get(status, key.replace("_", " ")) if isinstance(status, JobStatus) else key
    return Text(f"{symbol} {label}", style=colour)


def format_time(timestamp: float | None, tz: tzinfo | None = None) -> str:
    """A Unix time as "YYYY-MM-DD HH:MM" in ``tz`` (None: this computer's local time)."""
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, tz).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def reconnect_text(attempt: int, delay: float, error: BackendError) -> str:
    return f"! Reconnecting in {delay:.0f} s… (attempt {attempt}) — {error.message}"


def progress_cell(job: Any) -> str:
    status = str(normalize_status(field(job, "status", "")))
    tokens = field(job, "trained_tokens")
    if status.endswith("succeeded"):
        return "✓ 100 %"
    return f"{tokens:,} tok" if tokens else "—"


# Most telling first: an 80-column terminal shows status, id and progress without scrolling.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "Status"),
    ("id", "Job"),
    ("progress", "Progress"),
    ("created", "Created"),
    ("model", "Base model"),
    ("fine_tuned", "Fine-tuned model"),
)


class JobsTable(DataTable):
    BINDINGS: ClassVar[list[Binding]] = [Binding("enter", "select_cursor", "Open job")]


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

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "new_fine_tune", "New fine-tune"),
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]

    # Time zone for the Created column; None is this computer's. Tests fix it.
    timezone: ClassVar[tzinfo | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, Any] = {}
        self.failures = 0
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._loading = False
        self._timer = None
        self._loaded_once = False

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

    # -- polling: one request at a time, re-armed after each answer ---------------------------------------------

    def on_screen_resume(self) -> None:
        self.query_one(JobsTable).focus()
        self.action_refresh()

    def on_screen_suspend(self) -> None:
        self._stop_timer()

    def action_refresh(self) -> None:
        if self._loading:
            return
        self._stop_timer()
        self._loading = True
        self.call_backend(
            lambda backend: backend.list_jobs(JOBS_PER_PAGE),
            done=self._loaded,
            failed=self._load_failed,
            group="jobs-list",
        )

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _arm(self, delay: float) -> None:
        self._stop_timer()
        if self.is_current:
            self._timer = self.set_timer(delay, self.action_refresh)

    def _loaded(self, jobs: Sequence[Any]) -> None:
        self._loading = False
        self.failures = 0
        self._loaded_once = True
        show_text(self.query_one("#jobs-banner", Static), "")
        self.query_one("#jobs-banner").display = False
        self.show_jobs(list(jobs))
        self._arm(float(self.ftui.settings.poll_seconds))

    def _load_failed(self, error: BackendError) -> None:
        self._loading = False
        self.failures += 1
        delay = backoff_seconds(self.failures)
        banner = self.query_one("#jobs-banner", Static)
        banner.update(reconnect_text(self.failures, delay, error))
        banner.display = True
        if not self._loaded_once:
            self.query_one("#jobs-state", Static).update(error.hint or "The backend did not answer.")
        self._arm(delay)

    # -- the table, updated in place by job id ------------------------------------------------------------------

    def row_cells(self, job: Any) -> tuple[Any, ...]:
        return (
            status_text(normalize_status(field(job, "status", ""))),
            field(job, "id", "?"),
            progress_cell(job),
            format_time(field(job, "created_at"), self.timezone),
            field(job, "model", "—"),
            field(job, "fine_tuned_model", "—"),
        )

    def show_jobs(self, jobs: list[Any]) -> None:
        table = self.query_one(JobsTable)
        incoming = {str(field(job, "id")): job for job in jobs}
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
