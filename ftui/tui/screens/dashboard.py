"""One job, live: status, progress and ETA, loss and accuracy charts, events, checkpoints, settings and controls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from typing import ClassVar, NamedTuple

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, DataTable, ProgressBar, Static, TabbedContent, TabPane

from ftui.client import Backend
from ftui.jobs import (
    TERMINAL,
    EventLine,
    JobStatus,
    JobTracker,
    can_cancel,
    can_pause,
    can_resume,
    format_duration,
    normalize_status,
)
from ftui.options import HYPERPARAMETER_LABELS
from ftui.tui.base import FtuiModal, FtuiScreen, show_text
from ftui.tui.poller import Poller, Reconnecting
from ftui.tui.widgets.charts import MetricChart, accuracy_series, loss_series
from ftui.tui.widgets.eventlog import EventLog
from ftui.tui.widgets.jobstatus import format_time, status_text

LEVEL_STYLES: dict[str, tuple[str, str]] = {
    "info": ("·", ""),
    "warn": ("!", "yellow"),
    "error": ("✗", "red"),
}
# Cells between the longest label of the Details tab and the values.
DETAILS_GAP = 2
# While a job trains, checkpoints (one per epoch) are asked for at most this often; always when it ends.
CHECKPOINT_POLL_SECONDS = 10.0
# Short enough for 80 columns; the highlighted checkpoint's model name is shown in full under the table.
CHECKPOINT_COLUMNS = (
    ("step", "Step"),
    ("train", "Train loss"),
    ("valid", "Valid loss"),
    ("full", "Full val. loss"),
    ("acc", "Full val. acc."),
)


class Snapshot(NamedTuple):
    """What one poll brought back."""

    job: FineTuningJob
    events: list[FineTuningJobEvent]
    checkpoints: list[FineTuningJobCheckpoint] | None
    supports_pause: bool


def _setting(value: object) -> str:
    if value in ("auto", -1):
        return "auto"
    return f"{value:g}" if isinstance(value, float) else str(value)


def details_text(tracker: JobTracker) -> Text:
    """Settings, files and (when failed) the error, as "label  value" lines: the labels the wizard's forms use, then
    two spaces at least."""
    rows: list[tuple[str, str]] = [
        ("Job", tracker.job_id),
        ("Base model", tracker.model or "—"),
        ("Method", tracker.method or "supervised"),
    ]
    hyperparameters = tracker.hyperparameters
    rows += [
        (label, _setting(hyperparameters[name]))
        for name, label in HYPERPARAMETER_LABELS.items()
        if name in hyperparameters
    ]
    rows += [
        ("Seed", str(tracker.seed) if tracker.seed is not None else "—"),
        ("Suffix", tracker.suffix or "—"),
        ("Fine-tuned model", tracker.fine_tuned_model or "—"),
        ("Training file", tracker.training_file or "—"),
        ("Validation file", tracker.validation_file or "—"),
        ("Result files", ", ".join(tracker.result_files) or "—"),
    ]
    error = tracker.error or {}
    problem = [(name.capitalize(), str(error[name])) for name in ("code", "message", "param") if error.get(name)]
    width = max(len(label) for label, _ in rows + problem) + DETAILS_GAP
    text = Text()
    for label, value in rows:
        text.append(label.ljust(width), style="bold")
        text.append(f"{value}\n")
    if problem:
        text.append("\n✗ Error\n", style="bold red")
        for label, value in problem:
            text.append(label.ljust(width), style="bold")
            text.append(f"{value}\n")
    return text


def event_line(event: EventLine, tz: tzinfo | None) -> Text:
    symbol, style = LEVEL_STYLES.get(event.level, ("·", ""))
    stamp = format_time(event.created_at, tz)[-5:]
    line = Text(f"{stamp} {symbol} ", style=style if style else "dim")
    line.append(event.message, style=style)
    return line


def _metric(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "—"


class ConfirmCancel(FtuiModal[bool]):
    """Asks before cancelling: a cancelled job cannot be resumed."""

    HELP_TITLE = "Cancel the job?"
    HELP = """\
A cancelled job stops training for good: it cannot be resumed, and no fine-tuned model is made from it. The
checkpoints it has saved are kept. To stop for now and go on later, keep it running (n) and pause it from the
dashboard (p) instead.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Cancel the job", id="confirm_cancel.yes", tooltip="Stop training for good"),
        Binding("n,escape", "answer(False)", "Keep it", id="confirm_cancel.no", tooltip="Leave the job running"),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(f"Cancel {self.job_id}?", classes="section-title")
            yield Static("Training stops and the job cannot be resumed. Checkpoints already saved are kept.")
            with Horizontal(id="confirm-buttons"):
                yield Button("Keep running (n)", id="confirm-no", compact=True)
                yield Button("Cancel job (y)", id="confirm-yes", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class DashboardScreen(FtuiScreen):
    HELP_TITLE = "Job dashboard"
    HELP = """\
Follows one fine-tuning job while it runs, and shows what it produced when it ends. It asks the backend every few
seconds (the interval is in your settings) and fetches only events it has not seen yet. While another screen
covers it (this help, the playground) it waits, and asks again as soon as it is back.

- **Charts**: *loss* (lower is better) and *token accuracy* (the share of the answer's tokens the model predicts
  exactly) for each step. *train* is measured on the batch just trained; *validation* on a sample of the
  validation file; *full validation* on the whole validation file, at the end of each epoch. Training loss that
  keeps falling while validation loss rises means the model is memorising the examples (overfitting).
- **Events**: the service's log, oldest first. `!` is a warning, `✗` an error.
- **Checkpoints**: models saved along the way (one per epoch), each usable like the final model. While the job
  trains they are looked up every 10 s at most, and again whenever its status changes.
- **Details**: the hyperparameters the service resolved ("auto" replaced by real values), the seed to reproduce
  the run, and the input files. A failed job shows its error here.

**Actions**: `c` cancel (asks first) · `p` pause and `r` resume (where the backend supports it) · `k` clone into a
new wizard run with the same settings · `t` open the playground to chat with the fine-tuned model beside its base
model, once the job has succeeded. Keys that do not apply right now are dimmed, and the reason is shown.

If the backend stops answering, the header says *Reconnecting* and when the next try is; the dashboard recovers
by itself. A bell rings when the job ends (turn it off in the settings).
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_job", "Cancel job", id="dashboard.cancel", tooltip="Stop the job (asks first)"),
        Binding("p", "pause_job", "Pause", id="dashboard.pause", tooltip="Pause training; a checkpoint is saved"),
        Binding("r", "resume_job", "Resume", id="dashboard.resume", tooltip="Continue a paused job"),
        Binding("k", "clone", "Clone", id="dashboard.clone", tooltip="A new wizard run with this job's settings"),
        Binding("t", "playground", "Playground", id="dashboard.playground", tooltip="Chat with the fine-tuned model"),
        Binding("escape", "back", "Back", id="dashboard.back", tooltip="Back to the jobs list"),
    ]

    # Time zone for event times (None: this computer's) and the clock for the ETA; tests fix both.
    timezone: ClassVar[tzinfo | None] = None
    clock: ClassVar[Callable[[], float]] = staticmethod(time.time)

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.tracker = JobTracker(job_id)
        self.job: FineTuningJob | None = None
        self.supports_pause = False
        self.checkpoints: list[FineTuningJobCheckpoint] = []
        self.finished = False
        self.bell_rung = False
        self._last_status: JobStatus | None = None
        self._seen_end = False
        # Polls that arrive while a dialog is over the dashboard only update the tracker; the widgets catch up when
        # this screen is the active one again, so the dialog stays quick.
        self._unshown_events: list[EventLine] = []
        self._checkpoints_stale = False
        self._checkpoints_asked_at: float | None = None
        self._shown_actions: tuple[object, ...] | None = None
        self.poller: Poller[Snapshot] = Poller(
            self,
            self._request,
            done=self._fetched,
            failed=self._fetch_failed,
            # The first answer that shows the job ended gets one more fetch soon (its last events and checkpoints).
            interval=lambda: 0.5 if self.tracker.status in TERMINAL else float(self.ftui.settings.poll_seconds),
            group="dashboard-poll",
        )

    @property
    def failures(self) -> int:
        """Polls in a row the backend did not answer."""
        return self.poller.failures

    # -- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(classes="body", id="dash-body"):
            yield from self._header()
            with TabbedContent(id="dash-tabs"):
                with TabPane("Charts", id="tab-charts"), Grid(id="dash-charts"):
                    yield MetricChart("Loss", select=loss_series, bounds=(0.0, None), id="chart-loss")
                    yield MetricChart("Token accuracy", select=accuracy_series, bounds=(0.0, 1.0), id="chart-accuracy")
                with TabPane("Events", id="tab-events"):
                    yield EventLog(id="dash-events")
                with TabPane("Checkpoints", id="tab-checkpoints"):
                    yield Static("No checkpoints yet.", id="dash-checkpoints-state", classes="hint")
                    yield self._checkpoints_table()
                    yield Static("", id="dash-checkpoint-model")
                with TabPane("Details", id="tab-details"), VerticalScroll():
                    yield Static("", id="dash-details")
            yield self._actions()

    def _header(self) -> list[Widget]:
        return [
            Horizontal(
                Static(Text(self.job_id, style="bold"), id="dash-title"),
                Static("Loading…", id="dash-status"),
                id="dash-head",
            ),
            Horizontal(
                ProgressBar(total=100, show_eta=False, id="dash-progress"),
                Static("", id="dash-steps"),
                id="dash-progress-row",
            ),
            Static("", id="dash-banner", classes="warning-text"),
        ]

    def _checkpoints_table(self) -> DataTable[str]:
        table: DataTable[str] = DataTable(id="dash-checkpoints", cursor_type="row", zebra_stripes=True)
        for key, label in CHECKPOINT_COLUMNS:
            table.add_column(label, key=key)
        return table

    def _actions(self) -> Horizontal:
        return Horizontal(
            Static("", id="dash-reason", classes="hint"),
            Button("Cancel", id="btn-cancel", variant="error", compact=True, action="screen.cancel_job"),
            Button("Pause", id="btn-pause", compact=True, action="screen.pause_job"),
            Button("Resume", id="btn-resume", compact=True, action="screen.resume_job"),
            Button("Clone", id="btn-clone", compact=True, action="screen.clone"),
            Button("Playground", id="btn-playground", variant="primary", compact=True, action="screen.playground"),
            id="dash-actions",
        )

    def on_mount(self) -> None:
        self.query_one("#dash-banner").display = False
        self._update_actions()
        self.poller.start()

    def on_unmount(self) -> None:
        self.poller.stop()

    # -- polling: the job, the events not seen yet, and the checkpoints when they may have changed ---------------

    def poll_now(self) -> None:
        """Fetch now, or right after the fetch in flight."""
        self.poller.poll_now()

    def _request(self) -> Callable[[Backend], Snapshot]:
        job_id, after = self.job_id, self.tracker.last_event_id
        need_checkpoints = not self.checkpoints or not self.finished
        asked_at, last_status = self._checkpoints_asked_at, self._last_status
        checkpoints_due = asked_at is None or time.monotonic() - asked_at >= CHECKPOINT_POLL_SECONDS

        def fetch(backend: Backend) -> Snapshot:
            job = backend.retrieve_job(job_id)
            events = backend.job_events_after(job_id, after)
            status = normalize_status(job.status)
            # A pause saves a checkpoint too, and an ended job has all of its own.
            moved_on = last_status is None or status != last_status or status in TERMINAL
            has_metrics = any(event.type == "metrics" for event in events)
            checkpoints = None
            if need_checkpoints and (moved_on or (checkpoints_due and (has_metrics or after is None))):
                checkpoints = backend.job_checkpoints(job_id)
            return Snapshot(job, events, checkpoints, backend.supports_pause)

        return fetch

    def _fetched(self, snapshot: Snapshot) -> None:
        self.query_one("#dash-banner").display = False
        self.job = snapshot.job
        self.supports_pause = snapshot.supports_pause
        self.tracker.update_job(snapshot.job)
        self._unshown_events.extend(self.tracker.add_events(snapshot.events))
        if snapshot.checkpoints is not None:
            self._checkpoints_asked_at = time.monotonic()
        if snapshot.checkpoints is not None and snapshot.checkpoints != self.checkpoints:
            self.checkpoints = snapshot.checkpoints
            self._checkpoints_stale = True  # the table is rebuilt only when a checkpoint was added or changed
        status = self.tracker.status
        ended = status in TERMINAL
        self._ring_if_ended(status)
        self._last_status = status
        if self.poller.on_view:
            self._show_all()
        # The first answer that shows the job ended gets one more fetch (the last events and checkpoints); then
        # polling stops.
        self.finished = ended and self._seen_end
        self._seen_end = ended
        if self.finished:
            self.poller.stop()

    def on_screen_resume(self) -> None:
        if self.job is not None:
            self._show_all()

    def _show_all(self) -> None:
        if self._checkpoints_stale:
            self._checkpoints_stale = False
            self._show_checkpoints()
        events, self._unshown_events = self._unshown_events, []
        self._show_events(events)
        self._show_status()
        self._show_charts()
        show_text(self.query_one("#dash-details", Static), details_text(self.tracker))
        self._update_actions()

    def _fetch_failed(self, reconnecting: Reconnecting) -> None:
        banner = self.query_one("#dash-banner", Static)
        banner.update(reconnecting.text())
        banner.display = True

    def _ring_if_ended(self, status: JobStatus) -> None:
        previous = self._last_status
        if previous is not None and previous not in TERMINAL and status in TERMINAL and not self.bell_rung:
            self.bell_rung = True
            if self.ftui.settings.bell:
                self.app.bell()
            self.notify(f"{self.job_id} {status_text(status).plain}", title="Job ended")

    # -- rendering ----------------------------------------------------------------------------------------------

    def _show_status(self) -> None:
        tracker = self.tracker
        status = status_text(tracker.status)
        tokens = tracker.trained_tokens
        if tokens:
            status.append(f"  ·  {tokens:,} tokens trained", style="")
        show_text(self.query_one("#dash-status", Static), status)
        progress = tracker.progress
        self.query_one("#dash-progress", ProgressBar).update(total=100, progress=round((progress or 0) * 100, 1))
        show_text(self.query_one("#dash-steps", Static), self._steps_text())

    def _steps_text(self) -> str:
        tracker = self.tracker
        parts = []
        if tracker.total_steps:
            parts.append(f"step {tracker.step or 0}/{tracker.total_steps}")
        elif tracker.step:
            parts.append(f"step {tracker.step}")
        if tracker.status in TERMINAL:
            if tracker.finished_at:
                parts.append(f"ended {format_time(tracker.finished_at, self.timezone)}")
        else:
            eta = tracker.eta_seconds(type(self).clock())
            if eta is not None:
                parts.append(f"ETA {format_duration(eta)}")
        return "  ".join(parts)

    def _show_events(self, events: Sequence[EventLine]) -> None:
        self.query_one("#dash-events", EventLog).add(event_line(event, self.timezone) for event in events)

    def _show_charts(self) -> None:
        metrics = self.tracker.metrics
        for chart in self.query(MetricChart):
            chart.show_metrics(metrics)

    def _show_checkpoints(self) -> None:
        table: DataTable[str] = self.query_one("#dash-checkpoints", DataTable)
        ordered = sorted(self.checkpoints, key=lambda item: item.step_number)
        with self.app.batch_update():
            table.clear()
            for item in ordered:
                metrics = item.metrics
                table.add_row(
                    str(item.step_number),
                    _metric(metrics.train_loss),
                    _metric(metrics.valid_loss),
                    _metric(metrics.full_valid_loss),
                    _metric(metrics.full_valid_mean_token_accuracy),
                    key=item.id or str(item.step_number),
                )
        count = len(ordered)
        self.query_one("#dash-checkpoints-state", Static).update(
            f"{count} checkpoint{'s' if count != 1 else ''}, oldest first; the highlighted one's model is named below."
            if count
            else "No checkpoints yet."
        )
        self._show_checkpoint_model()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "dash-checkpoints":
            self._show_checkpoint_model()

    def _show_checkpoint_model(self) -> None:
        """The full model name of the highlighted checkpoint, under the table (too long for a column at 80)."""
        table: DataTable[str] = self.query_one("#dash-checkpoints", DataTable)
        shown = self.query_one("#dash-checkpoint-model", Static)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        item = next((c for c in self.checkpoints if (c.id or str(c.step_number)) == key), None)
        text = Text()
        if item is not None:
            text.append(f"Step {item.step_number}: ", style="bold")
            text.append(item.fine_tuned_model_checkpoint or "no model name")
        show_text(shown, text)

    # -- actions ------------------------------------------------------------------------------------------------

    def _status(self) -> JobStatus | None:
        return self.tracker.status if self.job is not None else None

    def _playground_ready(self) -> bool:
        return self._status() == JobStatus.SUCCEEDED and bool(self.tracker.fine_tuned_model)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self._status()
        if action in ("pause_job", "resume_job") and self.job is not None and not self.supports_pause:
            return False
        allowed = {
            "cancel_job": status is not None and can_cancel(status),
            "pause_job": status is not None and can_pause(status),
            "resume_job": status is not None and can_resume(status),
            "clone": self.job is not None,
            "playground": self._playground_ready(),
        }.get(action)
        if allowed is None:
            return True
        return True if allowed else None

    def _update_actions(self) -> None:
        buttons = (
            ("cancel_job", "btn-cancel"),
            ("pause_job", "btn-pause"),
            ("resume_job", "btn-resume"),
            ("clone", "btn-clone"),
            ("playground", "btn-playground"),
        )
        allowed = [self.check_action(action, ()) for action, _ in buttons]
        reason = self._reason()
        # Restyling buttons and rebuilding the footer is the costly part of a poll: only when something changed.
        if (*allowed, reason) == self._shown_actions:
            return
        self._shown_actions = (*allowed, reason)
        for (_, button_id), state in zip(buttons, allowed, strict=True):
            button = self.query_one(f"#{button_id}", Button)
            button.display = state is not False
            button.disabled = not state
        show_text(self.query_one("#dash-reason", Static), reason)
        self.refresh_bindings()

    def _reason(self) -> str:
        status = self._status()
        if status is None:
            return "Waiting for the backend…"
        if status == JobStatus.SUCCEEDED and not self._playground_ready():
            return "No fine-tuned model to try."
        if status in TERMINAL:
            return "The job has ended: k clones it." if status != JobStatus.SUCCEEDED else "t tries the model."
        return "Playground when it succeeds."

    def action_cancel_job(self) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._control("Cancelling", lambda backend: backend.cancel_job(self.job_id))

        self.app.push_screen(ConfirmCancel(self.job_id), answered)

    def action_pause_job(self) -> None:
        self._control("Pausing", lambda backend: backend.pause_job(self.job_id))

    def action_resume_job(self) -> None:
        self._control("Resuming", lambda backend: backend.resume_job(self.job_id))

    def _control(self, doing: str, call: Callable[[Backend], object]) -> None:
        self.notify(f"{doing} {self.job_id}…")
        self.finished = self._seen_end = False
        self.call_backend(call, done=lambda _: self.poll_now(), group="dashboard-control")

    def action_clone(self) -> None:
        if self.job is not None:
            self.ftui.clone_job(self, self.job)  # the app carries the job's files and says what it carried

    def action_playground(self) -> None:
        if not self._playground_ready():
            return
        model, base = str(self.tracker.fine_tuned_model), str(self.tracker.model)
        wizard = self.ftui.wizard
        path = wizard.training.path if wizard.training is not None and wizard.model == base else None
        self.ftui.open_playground(model, base, training_path=path)

    def action_back(self) -> None:
        self.app.pop_screen()
