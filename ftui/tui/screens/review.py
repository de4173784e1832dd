"""Step 4: review everything on one screen, then submit through ``ftui.submit``: validate, upload, wait until
processed, create the job. ``s`` saves the choices as a job file (``job.toml``) to submit again from a script."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Label, ProgressBar, Static

from ftui.catalog import METHOD_LABELS, load_catalog
from ftui.client_types import BackendError, ErrorKind
from ftui.config import provider_of
from ftui.dataset.validator import FileStats
from ftui.options import AUTO, HYPERPARAMETER_LABELS, JobOptions, generate_seed
from ftui.submit import ROLES, DataChoice, DataErrors, Role, Stage, Submission, SubmitPlan, SubmitStatus
from ftui.textfmt import format_size, plural
from ftui.tui.base import Call, FtuiScreen
from ftui.tui.dialogs.savejob import SaveJobFile
from ftui.tui.state import WizardState
from ftui.tui.widgets.estimate import summary_line

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

    from ftui.tui.app import WizardStep

# The width of the summary's labels: its longest, "Validation".
LABEL_WIDTH = 10
JOB_FILE_NAME = "job.toml"
# The data errors a failed submit lists before "and N more".
ERRORS_SHOWN = 5


@dataclass(frozen=True)
class BytesSent:
    """Upload progress of one file, from the submit thread."""

    role: Role
    sent: int
    total: int


SubmitEvent = SubmitStatus | BytesSent


def _event_key(event: SubmitEvent) -> Hashable:
    """Events with the same key replace each other while they wait for the screen: the latest says it all."""
    return ("bytes", event.role) if isinstance(event, BytesSent) else ("status", event.role)


def data_errors_text(error: DataErrors) -> BackendError:
    """The findings that stopped a submit, as the failure panel shows them."""
    report = error.report
    errors = [finding for finding in report.findings if finding.is_error]
    lines = [f"{finding.where()}: {finding.message}" for finding in errors[:ERRORS_SHOWN]]
    more = report.errors - len(lines)
    if more > 0:
        lines.append(f"and {more:,} more")
    message = f"The data has {plural(report.errors, 'error')}; nothing was uploaded.\n" + "\n".join(lines)
    return BackendError(ErrorKind.INVALID, message, "Press d to see and fix them on the data step (c cleans a copy).")


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

`s` saves these choices as a **job file** (`job.toml`, beside the training file unless you name another path),
which `ftui jobs create --from job.toml` submits from a script. An existing file is replaced only when you say so.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s", "submit", "Submit", id="review_submit", tooltip="Upload the data and create the fine-tuning job"
        ),
        Binding("escape", "back", "Back", id="review_back", tooltip="Back to the options step"),
        Binding("escape", "cancel_submit", "Cancel submit", id="review_cancel", tooltip="Stop the upload or the wait"),
        Binding("m", "edit('model')", "Edit model", id="review_model", tooltip="Back to the model step"),
        Binding("d", "edit('data')", "Edit data", id="review_data", tooltip="Back to the data step"),
        Binding("o", "edit('options')", "Edit options", id="review_options", tooltip="Back to the options step"),
        Binding(
            "s",
            "save_job_file",
            "Save job file",
            id="review_save_job",
            tooltip="Save these choices as a job file, for 'ftui jobs create --from'",
            show=False,  # the footer has no room left at 80 columns; F1 and the palette list it
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.submitting = False
        self.failed = False
        # One submit, tried as often as needed: files that reached the backend are not uploaded again.
        self.submission = Submission()
        self._submit_call: Call[SubmitEvent] | None = None

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
        # The labels keep a column of their own, a space clear of the values; a long path folds within its column.
        grid.add_column(style="bold", no_wrap=True, width=LABEL_WIDTH)
        grid.add_column(ratio=1, overflow="fold")
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
        return METHOD_LABELS[self.wizard.method]

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
        return text.append(summary_line(self.wizard.estimate(options, kind), kind))

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
        if action == "save_job_file":
            return None if self.wizard.missing() else True
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cancel_submit(self) -> None:
        if self.submitting and self._submit_call is not None:
            self._submit_call.stop()
            self._set_status("Cancelling…")

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
        report = self.wizard.report_for_files()
        self.submitting = True
        self.failed = False
        self._prepare_progress(plan)
        self.query_one("#review-error").display = False
        self.show_review()
        submission = self.submission

        def submit(call: Call[SubmitEvent]) -> FineTuningJob:
            def on_progress(role: Role, sent: int, total: int) -> None:
                call.progress(BytesSent(role, sent, total))

            try:
                return submission.run(
                    call.backend(),
                    plan,
                    on_status=call.progress,
                    on_progress=on_progress,
                    cancel=call.cancel,
                    report=report,
                )
            except DataErrors as exc:
                raise data_errors_text(exc) from None

        self._submit_call = self.call_in_thread(
            submit,
            done=self._submit_done,
            failed=self._submit_failed,
            progress=self._submit_progress,
            coalesce=_event_key,
            group="submit",
            exclusive=True,
            description="submit the fine-tuning job",
        )

    def _plan(self) -> SubmitPlan:
        wizard = self.wizard
        if wizard.seed is None:
            wizard.seed = generate_seed()  # kept, so a retry and the job use the same seed
        return wizard.submit_plan(wizard.seed)

    def _prepare_progress(self, plan: SubmitPlan) -> None:
        self.query_one("#review-progress").display = True
        files = plan.files()
        for role in ROLES:
            choice = files.get(role)
            row = self.query_one(f"#upload-{role}")
            row.display = choice is not None
            if choice is None:
                continue
            bar = self.query_one(f"#bar-{role}", ProgressBar)
            if choice.path is None or (role, choice.path) in self.submission.uploaded:
                bar.update(total=1, progress=1)
                self._set_bytes(role, "already uploaded")
            else:
                bar.update(total=local_size(choice.path), progress=0)
                self._set_bytes(role, "waiting")
        self._set_status("Starting…")

    def _set_bytes(self, role: str, text: str) -> None:
        self.query_one(f"#bytes-{role}", Static).update(text)

    def _set_status(self, text: str) -> None:
        self.query_one("#review-status", Static).update(text)

    def _submit_progress(self, event: SubmitEvent) -> None:
        if isinstance(event, BytesSent):
            self._upload_progress(event.role, event.sent, event.total)
            return
        if event.stage is Stage.CREATED:
            return  # the job's dashboard says so
        self._set_status(event.text)
        if event.role is not None and event.file_status is not None:
            self._set_bytes(event.role, event.file_status)

    def _upload_progress(self, role: str, sent: int, total: int) -> None:
        self.query_one(f"#bar-{role}", ProgressBar).update(total=max(total, 1), progress=sent)
        self._set_bytes(role, f"{format_size(sent)} of {format_size(total)}")

    def _submit_done(self, job: FineTuningJob) -> None:
        self.submitting = False
        self._submit_call = None
        # A clone of this job can fall back on these files once the backend no longer has the uploads.
        uploaded = self.submission.uploaded.items()
        self.ftui.uploaded_from.update({file_id: path.absolute() for (_, path), file_id in uploaded})
        self._set_status(f"✓ Job {job.id} created")
        self.ftui.show_submitted_job(job.id)

    def _submit_failed(self, error: BackendError) -> None:
        self.submitting = False
        call, self._submit_call = self._submit_call, None
        cancelled = error.kind is ErrorKind.CANCELLED or (call is not None and call.cancelled)
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
        uploaded = len(self.submission.uploaded)
        if uploaded:
            kept += f"; {plural(uploaded, 'uploaded file')} will not be uploaded again"
        text.append(f"\n{kept}. Press Ctrl+S (Retry) to try again, or Esc to go back and change something.")
        return text

    # -- the job file -------------------------------------------------------------------------------------------

    def default_job_file(self) -> Path:
        """``job.toml`` beside the local training file, else in the working folder."""
        training = self.wizard.training
        folder = training.path.parent if training is not None and training.path is not None else Path.cwd()
        return folder / JOB_FILE_NAME

    def action_save_job_file(self) -> None:
        if self.wizard.missing():
            self.notify(f"Choose {' and '.join(self.wizard.missing())} first.", severity="warning")
            return
        self.app.push_screen(SaveJobFile(self.default_job_file()), self._save_job_file)

    def _save_job_file(self, path: Path | None) -> None:
        if path is None:
            return
        from ftui.jobfile import JobFile

        wizard = self.wizard
        assert wizard.training is not None
        try:
            job_file = JobFile.from_options(
                wizard.job_options(), wizard.training, wizard.validation, relative_to=path.parent
            )
        except ValueError as exc:
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return

        def save(call: Call[None]) -> Path:
            try:
                return job_file.save(path, force=True)  # the dialog asked before replacing a file
            except OSError as exc:
                raise BackendError(ErrorKind.INVALID, f"Could not write {path}: {exc.strerror or exc}.") from None

        self.call_in_thread(save, done=self._job_file_saved, group="job-file", exclusive=True)

    def _job_file_saved(self, path: Path) -> None:
        self.notify(f"ftui jobs create --from {path} submits it.", title=f"✓ Saved {path.name}", timeout=10)
