"""Step 4: review everything on one screen, then submit: upload, wait until processed, create the job."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Label, ProgressBar, Static

from ftui.catalog import Method, load_catalog
from ftui.client import Backend, BackendError, ErrorKind, describe_error
from ftui.config import provider_of
from ftui.dataset.validator import FileStats
from ftui.options import AUTO, JobOptions, generate_seed
from ftui.submit import DataChoice
from ftui.textfmt import plural
from ftui.tui.base import FtuiScreen
from ftui.tui.state import WizardState
from ftui.tui.widgets.estimate import estimate_for, summary_line

if TYPE_CHECKING:
    from ftui.tui.app import WizardStep

ROLES = ("training", "validation")
# In the order the options step shows them.
HYPERPARAMETER_LABELS = {
    "n_epochs": "Epochs",
    "batch_size": "Batch size",
    "learning_rate_multiplier": "LR multiplier",
    "beta": "Beta",
}
# Progress updates from the upload thread are thinned to this interval, so the UI thread is not flooded.
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class SubmitPlan:
    """What the submit worker needs, read from the wizard on the UI thread before it starts."""

    files: dict[str, DataChoice]
    options: JobOptions
    seed: int


def file_size_text(size: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return str(size)


def local_size(path: Path) -> int:
    """The file's size for its progress bar; 1 when it cannot be read (the upload then says why)."""
    try:
        return max(path.stat().st_size, 1)
    except OSError:
        return 1


def stats_text(stats: FileStats | None, report_ok: bool | None) -> str:
    if stats is None:
        return ""
    parts = [plural(stats.examples, "example")]
    if stats.invalid_lines:
        parts.append(f"{plural(stats.invalid_lines, 'invalid line')}")
    if report_ok is True:
        parts.append("✓ checked")
    elif report_ok is False:
        parts.append("✗ the check found errors")
    return " · ".join(parts)


def value_text(value: object) -> str:
    if value == AUTO:
        return "auto"
    return f"{value:g}" if isinstance(value, float) else str(value)


class ReviewScreen(FtuiScreen):
    STEP = "review"
    HELP_TITLE = "Review and submit"
    HELP = """\
Everything the job will be created with, on one screen. Check it, then press `Ctrl+S` (or the Submit button).

**Submit** uploads each local data file (a progress bar shows the bytes sent), waits until the backend has
processed it, and creates the fine-tuning job; its dashboard opens when the backend accepts it. `Esc` while
submitting cancels the upload or the wait; nothing is created.

If something fails, a panel says what went wrong and what to do next. Every choice is kept: press `Ctrl+S`
again to retry. Files that already reached the backend are not uploaded twice.

**Seed**: when blank, one is generated at submit and kept, so a retry (and the job) uses the same one; the
same seed, data and settings give the same results, with rare exceptions.

To change something, jump back: `m` model, `d` data, `o` options.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+s", "submit", "Submit", tooltip="Upload the data and create the fine-tuning job"),
        Binding("escape", "back", "Back", tooltip="Back to the options step"),
        Binding("escape", "cancel_submit", "Cancel submit", tooltip="Stop the upload or the wait"),
        Binding("m", "edit('model')", "Edit model", tooltip="Back to the model step"),
        Binding("d", "edit('data')", "Edit data", tooltip="Back to the data step"),
        Binding("o", "edit('options')", "Edit options", tooltip="Back to the options step"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.submitting = False
        self.failed = False
        self._cancel = threading.Event()
        # File ids already on the backend, by role and local path: a retry does not upload them again.
        self.uploaded: dict[tuple[str, Path], str] = {}
        self._last_progress: dict[str, float] = {}

    # -- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        summary = VerticalScroll(classes="pane", id="review-summary")
        summary.border_title = "Review"
        with Vertical(classes="body"):
            with summary:
                yield Static(id="review-table")
                yield Static(id="review-estimate")
            with Vertical(id="review-progress"):
                for role in ROLES:
                    with Horizontal(classes="upload-row", id=f"upload-{role}"):
                        yield Label(f"{role.capitalize()} file", classes="upload-label")
                        yield ProgressBar(show_eta=False, id=f"bar-{role}")
                        yield Static("", classes="upload-bytes", id=f"bytes-{role}")
                yield Static("", id="review-status")
            yield Static("", id="review-error")
        with Horizontal(classes="actions"):
            yield Static("", classes="reason", id="review-reason")
            yield Button("Back", id="review-back")
            yield Button("Submit", variant="primary", id="review-submit")

    def on_mount(self) -> None:
        self.query_one("#review-progress").display = False
        self.query_one("#review-error").display = False
        self.show_review()

    def on_screen_resume(self) -> None:
        if self.is_mounted and not self.submitting:
            self.show_review()

    # -- what the job will be -----------------------------------------------------------------------------------

    @property
    def wizard(self) -> WizardState:
        return self.ftui.wizard

    def show_review(self) -> None:
        self.query_one("#review-table", Static).update(self._summary_table())
        self.query_one("#review-estimate", Static).update(self._estimate_text())
        self._show_reason()

    def _summary_table(self) -> Table:
        wizard = self.wizard
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(style="dim", no_wrap=True, justify="right")
        grid.add_row("Backend", self.ftui.profile_label, "F2")
        grid.add_row("Model", self._model_text(), "m edit")
        grid.add_row("Method", self._method_text(), "o edit")
        grid.add_row("Training", self._file_text("training"), "d edit")
        grid.add_row("Validation", self._file_text("validation"), "d edit")
        hyperparameters = wizard.hyperparameters.for_method(wizard.method)
        values = " · ".join(
            f"{label} {value_text(hyperparameters[name])}"
            for name, label in HYPERPARAMETER_LABELS.items()
            if name in hyperparameters
        )
        grid.add_row("Options", values, "o edit")
        grid.add_row("Seed", "generated at submit" if wizard.seed is None else str(wizard.seed), "o edit")
        grid.add_row("Suffix", wizard.suffix or "none", "o edit")
        return grid

    def _model_text(self) -> Text:
        wizard = self.wizard
        if wizard.model is None:
            return Text("✗ not chosen", style="bold")
        card = wizard.card or load_catalog().get(wizard.model)
        text = Text(wizard.model)
        if card is not None and card.name != wizard.model:
            text.append(f" ({card.name})", style="dim")
        return text

    def _method_text(self) -> str:
        return {Method.SUPERVISED: "supervised", Method.DPO: "DPO (preferences)"}.get(
            self.wizard.method, str(self.wizard.method)
        )

    def _file_text(self, role: str) -> Text:
        choice: DataChoice | None = getattr(self.wizard, role)
        if choice is None:
            return Text("✗ not chosen" if role == "training" else "none (optional)")
        text = Text(choice.label)
        report = self.wizard.report
        if choice.path is None:
            text.append("\nalready uploaded; not checked here", style="dim")
        elif report is not None:
            stats = report.training if role == "training" else report.validation
            detail = stats_text(stats, report.ok)
            if detail:
                text.append(f"\n{detail}", style="dim")
        return text

    def _estimate_text(self) -> Text:
        options = self._options()
        text = Text("Estimate ", style="bold")
        if options is None:
            return text.append("appears once a model is chosen.")
        kind = self.ftui.profile.kind
        return text.append(summary_line(estimate_for(self.wizard, options, kind), kind))

    def _options(self) -> JobOptions | None:
        try:
            return self.wizard.job_options()
        except ValueError:
            return None

    def blocked_reason(self) -> str:
        """Why Submit is unavailable now; empty when it is available."""
        if self.submitting:
            return "Submitting… Esc cancels"
        missing = self.wizard.missing()
        if missing:
            return f"✗ Choose {' and '.join(missing)} first"
        options = self._options()
        problems = options.validate_for(provider_of(self.ftui.profile.kind), self.wizard.card) if options else []
        if problems:
            return f"✗ {problems[0]} (o: options)"
        return ""

    def _show_reason(self) -> None:
        reason = self.blocked_reason()
        label = self.query_one("#review-reason", Static)
        if reason:
            label.update(reason)
        elif self.failed:
            label.update("! Submit failed; your choices are kept")
        else:
            label.update("✓ Ready to submit")
        label.set_class(not reason and not self.failed, "ok-text")
        button = self.query_one("#review-submit", Button)
        button.label = "Retry" if self.failed else "Submit"
        button.disabled = bool(reason)
        self.query_one("#review-back", Button).label = "Cancel" if self.submitting else "Back"
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_submit":
            return self.submitting
        if action == "back":
            return not self.submitting
        if action == "edit":
            return None if self.submitting else True
        if action == "submit" and self.is_mounted and self.blocked_reason():
            return None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cancel_submit(self) -> None:
        if self.submitting:
            self._cancel.set()
            self.query_one("#review-status", Static).update("Cancelling…")

    def action_edit(self, step: WizardStep) -> None:
        """Back to the screen of ``step`` in this run; the options step is opened anew if it is not there."""
        if step != "options" and not self.ftui.step_is_open(step):
            self.notify(f"The {step} step is not open in this run; press F4 to start a new run.", severity="warning")
            return
        self.ftui.open_step(step, replace_current=True)

    @on(Button.Pressed, "#review-submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#review-back")
    def _back_pressed(self) -> None:
        if self.submitting:
            self.action_cancel_submit()
        else:
            self.action_back()

    # -- submit -------------------------------------------------------------------------------------------------

    def action_submit(self) -> None:
        reason = self.blocked_reason()
        if reason:
            self.notify(reason, severity="warning")
            return
        plan = self._plan()
        self.submitting = True
        self.failed = False
        self._cancel = threading.Event()
        self._prepare_progress(plan)
        self.query_one("#review-error").display = False
        self.show_review()
        self.run_worker(
            lambda: self._submit(plan, self._cancel),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="submit",
            description="submit the fine-tuning job",
        )

    def _plan(self) -> SubmitPlan:
        wizard = self.wizard
        if wizard.seed is None:
            wizard.seed = generate_seed()  # kept, so a retry and the job use the same seed
        files = {role: choice for role in ROLES if (choice := getattr(wizard, role)) is not None}
        return SubmitPlan(files=files, options=wizard.job_options(), seed=wizard.seed)

    def _prepare_progress(self, plan: SubmitPlan) -> None:
        self.query_one("#review-progress").display = True
        for role in ROLES:
            choice = plan.files.get(role)
            row = self.query_one(f"#upload-{role}")
            row.display = choice is not None
            if choice is None:
                continue
            bar = self.query_one(f"#bar-{role}", ProgressBar)
            if choice.path is None or (role, choice.path) in self.uploaded:
                bar.update(total=1, progress=1)
                self._set_bytes(role, "already uploaded")
            else:
                bar.update(total=local_size(choice.path), progress=0)
                self._set_bytes(role, "waiting")
        self.query_one("#review-status", Static).update("Starting…")

    def _set_bytes(self, role: str, text: str) -> None:
        self.query_one(f"#bytes-{role}", Static).update(text)

    # The worker: runs in a thread; every screen update goes through call_from_thread.

    def _submit(self, plan: SubmitPlan, cancel: threading.Event) -> None:
        try:
            backend = self.ftui.connect()
            file_ids = {
                role: self._file_on_backend(backend, role, choice, cancel) for role, choice in plan.files.items()
            }
            if cancel.is_set():
                raise BackendError(ErrorKind.CANCELLED, "Submit was cancelled.", "Nothing was created.")
            self._post(self._set_status, "Creating the job…")
            request = plan.options.to_request(file_ids["training"], file_ids.get("validation"), seed=plan.seed)
            job = backend.create_job(request)
        except BackendError as exc:
            self._post(self._submit_failed, exc)
        except Exception as exc:  # every failure becomes a message, never a crash
            self._post(self._submit_failed, describe_error(exc))
        else:
            self._post(self._submit_done, job.id)

    def _file_on_backend(self, backend: Backend, role: str, choice: DataChoice, cancel: threading.Event) -> str:
        name = role.capitalize()
        if choice.file_id is not None:
            file_id = choice.file_id
        elif (role, choice.path) in self.uploaded:
            file_id = self.uploaded[(role, choice.path)]
        else:
            assert choice.path is not None
            self._post(self._set_status, f"Uploading the {role} file…")
            uploaded = backend.upload_file(choice.path, progress=self._progress_reporter(role), cancel=cancel)
            file_id = uploaded.id
            self.uploaded[(role, choice.path)] = file_id
        self._post(self._set_status, f"{name} file {file_id}: waiting until the backend has processed it…")
        try:
            backend.wait_until_processed(
                file_id, on_status=lambda status: self._post(self._file_status, role, file_id, status), cancel=cancel
            )
        except BackendError as exc:
            if exc.kind in (ErrorKind.INVALID, ErrorKind.NOT_FOUND) and choice.path is not None:
                self.uploaded.pop((role, choice.path), None)  # the backend will not use it: upload afresh
            raise
        return file_id

    def _progress_reporter(self, role: str) -> Callable[[int, int], None]:
        def report(sent: int, total: int) -> None:
            now = time.monotonic()
            if sent < total and now - self._last_progress.get(role, 0.0) < PROGRESS_INTERVAL_S:
                return
            self._last_progress[role] = now
            self._post(self._upload_progress, role, sent, total)

        return report

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._deliver_many, callback, args)

    def _deliver_many(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        if self.is_attached:
            callback(*args)

    # Back on the UI thread.

    def _set_status(self, text: str) -> None:
        self.query_one("#review-status", Static).update(text)

    def _upload_progress(self, role: str, sent: int, total: int) -> None:
        self.query_one(f"#bar-{role}", ProgressBar).update(total=max(total, 1), progress=sent)
        self._set_bytes(role, f"{file_size_text(sent)} of {file_size_text(total)}")

    def _file_status(self, role: str, file_id: str, status: str) -> None:
        self._set_bytes(role, status)
        self._set_status(f"{role.capitalize()} file {file_id}: {status}")

    def _submit_done(self, job_id: str) -> None:
        self.submitting = False
        self._set_status(f"✓ Job {job_id} created")
        self.ftui.show_submitted_job(job_id)

    def _submit_failed(self, error: BackendError) -> None:
        self.submitting = False
        cancelled = error.kind is ErrorKind.CANCELLED or self._cancel.is_set()
        self.failed = not cancelled
        panel = self.query_one("#review-error", Static)
        if cancelled:
            self._set_status("Submit cancelled; nothing was created. Ctrl+S submits again.")
            panel.display = False
        else:
            self._set_status("✗ Submit stopped.")
            panel.update(self._failure_text(error))
            panel.display = True
        self.show_review()

    def _failure_text(self, error: BackendError) -> Text:
        text = Text("✗ Submit failed: ", style="bold")
        text.append(error.message)
        if error.hint:
            text.append("\nWhat to do next: ", style="bold")
            text.append(error.hint)
        kept = "Every choice is kept"
        if self.uploaded:
            kept += f"; {plural(len(self.uploaded), 'uploaded file')} will not be uploaded again"
        text.append(f"\n{kept}. Press Ctrl+S (Retry) to try again, or Esc to go back and change something.")
        return text
