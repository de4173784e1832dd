"""Wizard step 2: choose the training (and optional validation) data, see it checked live, fix it, continue.

Validation runs in a thread (``call_in_thread``) the moment a file is chosen and again when the file changes on
disk. Its findings reach the screen as typed messages (``ValidationBatch``, at most one every ~50 ms, and
``ValidationFinished``), each carrying the number of its run, so a stale run's batches are dropped and a file with
many problems cannot flood the UI. The file picker is its own dialog, in ``filepicker``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Label, ProgressBar, Static, TabbedContent, TabPane

from ftui.catalog import ModelCard, load_catalog
from ftui.client_types import BackendError, ErrorKind
from ftui.dataset.examples import read_example
from ftui.dataset.findings import DataFile, Finding, Progress
from ftui.dataset.fixes import CleanResult, SplitResult, clean_dataset, derived_path, sample_files, split_dataset
from ftui.dataset.reader import DatasetFileError
from ftui.dataset.validator import Validation, ValidationReport
from ftui.fsutil import OutputExistsError, Signature, file_signature
from ftui.submit import DataChoice
from ftui.textfmt import plural
from ftui.tui.base import Call, FtuiScreen
from ftui.tui.dialogs.filepicker import TRAINING, VALIDATION, FilePicker, display_path, local_choice
from ftui.tui.widgets.chatview import ChatView, render_example
from ftui.tui.widgets.findings import FindingsList
from ftui.tui.widgets.stats import StatsPanel

BATCH_SECONDS = 0.05
CLEAN_ACTION = "Clean (c)"  # how findings that cleaning fixes name it on this screen
FINDINGS_TITLE = "Findings f"
WATCH_SECONDS = 1.0
SPLIT_FRACTION = 0.1
FixResult = TypeVar("FixResult")


def free_outputs(source: Path, labels: tuple[str, ...]) -> tuple[Path, ...]:
    """New file names beside ``source`` (or in the working folder when that is read-only or the bundled sample).

    Never an existing file: ``data.train.jsonl``, then ``data.train-2.jsonl`` and so on.
    """
    folder = source.parent
    if source in sample_files() or not os.access(folder, os.W_OK):
        folder = Path.cwd()
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        paths = tuple(folder / derived_path(source, label + suffix).name for label in labels)
        if not any(path.exists() for path in paths):
            return paths
    raise OutputExistsError(f"too many earlier outputs beside {source}; tidy them up and try again")


# -- the screen ------------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One validation run: its number (stale messages are dropped), the object that can cancel it, and its call."""

    number: int
    validation: Validation
    call: Call[Message]


class ValidationBatch(Message):
    """Findings and progress of validation run ``run``, from its thread."""

    def __init__(self, run: int, findings: list[Finding], progress: Progress | None) -> None:
        super().__init__()
        self.run = run
        self.findings = findings
        self.progress = progress


class ValidationFinished(Message):
    """The report of validation run ``run``."""

    def __init__(self, run: int, report: ValidationReport) -> None:
        super().__init__()
        self.run = run
        self.report = report


class DataScreen(FtuiScreen):
    STEP = "data"
    HELP_TITLE = "Data: training and validation files"
    HELP = """\
Choose the conversations the model learns from. ftui checks them the moment you choose them, so problems show
up before anything is uploaded.

**Choosing files.** `t` picks the **training file**, `v` the optional **validation file**. In the picker you
can browse this folder (only folders and `.jsonl` / `.jsonl.gz` files are shown), type a path (Tab or → completes
names, Enter chooses), pick a file already **uploaded** to the backend, or use the bundled **sample dataset**
(Northwind Outfitters support conversations, used where they are, nothing copied).

**Findings.** Each problem is listed by line: `✗` marks an **error** (the service would reject the file, so
Continue is blocked), `!` a **warning** (worth a look, never blocking). Move through the list to see each example
as a chat on the right, with the problem marked; personal data is shown masked. Lines that are not valid JSON are
shown raw, with the error position marked `⟦✗ here⟧`. Enter moves into the example to scroll it.

**Panes.** `f` the findings, `i` the statistics, `e` the example; each pane's title shows its key. After you
choose a file, the cursor goes to its findings, or to its statistics when there are none (the example pane then
shows the file's first example).

**Statistics.** Examples, multi-turn share, system prompts, tokens per example (min, median, 90th percentile,
max), **trainable tokens** (assistant replies with weight 1: what the model learns from) and **billable tokens**
(tokens per example, capped at the model's limit, times the number of epochs).

**Fixes** write new files beside the input (or in this folder for the sample), never over an existing file:
`s` **splits off** a validation set (10% of the lines, picked at random) and switches both files to the new
ones; `c` **cleans**: drops lines with errors and duplicates, replaces personal data with placeholders such as
`[EMAIL]`. `x` clears the validation file. Edit a file in another window and it is checked again automatically.

A **validation file** is optional: held-out examples the service scores during training, so you can see whether
the model generalises rather than memorises.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "continue", "Continue", id="data_continue", tooltip="On to the options step"),
        Binding("escape", "back", "Back", id="data_back", tooltip="Back to the model step"),
        # The footer has room at 80 columns for these and F1; the other keys are on their buttons and in F1 help.
        Binding("t", "choose('training')", "Training", id="data_training", tooltip="Choose the training file"),
        Binding(
            "v",
            "choose('validation')",
            "Validation",
            id="data_validation",
            tooltip="Choose the optional validation file",
        ),
        Binding(
            "s",
            "split",
            "Split off validation",
            id="data_split",
            tooltip="Write 10% of the training lines to a new validation file",
            show=False,
        ),
        Binding(
            "c",
            "clean",
            "Clean",
            id="data_clean",
            tooltip="Write a copy without error lines and duplicates, personal data masked",
            show=False,
        ),
        Binding(
            "x", "clear_validation", "Clear validation", id="data_clear", tooltip="Use no validation file", show=False
        ),
        # The panes: each title shows its key.
        Binding(
            "f", "pane('findings')", "Findings", id="data_findings", tooltip="Move to the list of problems", show=False
        ),
        Binding(
            "i",
            "pane('stats')",
            "Statistics",
            id="data_stats",
            tooltip="Examples, tokens per example, trainable and billable tokens",
            show=False,
        ),
        Binding(
            "e",
            "pane('example')",
            "Example",
            id="data_example",
            tooltip="The highlighted finding's example as a chat, to scroll through",
            show=False,
        ),
        Binding("r", "revalidate", "Check again", id="data_revalidate", tooltip="Check the files again", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.training: DataChoice | None = None
        self.validation: DataChoice | None = None
        self.report: ValidationReport | None = None
        self.load_error: str | None = None
        self.running = False
        self.busy: str | None = None  # a fix that is writing files
        self._run: _Run | None = None
        self._run_number = 0
        self._watched: dict[Path, Signature] = {}
        self._follow = False  # the next report moves focus to its findings (or statistics): the user asked for it
        self._focus_at_start: Widget | None = None  # ... unless focus moved while the check ran

    # -- layout -------------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(classes="body", id="data-body"):
            with Horizontal(classes="data-slot"):
                yield Label("Training", classes="slot-name")
                yield Static("", id="slot-training", classes="slot-file")
                yield Button("Choose… t", id="choose-training", compact=True)
            with Horizontal(classes="data-slot"):
                yield Label("Validation", classes="slot-name")
                yield Static("", id="slot-validation", classes="slot-file")
                yield Button("Choose… v", id="choose-validation", compact=True)
            with Horizontal(id="data-status"):
                yield Static("", id="status-text")
                yield ProgressBar(total=100, show_eta=False, id="status-progress")
            with Horizontal(classes="columns", id="data-columns"):
                findings = FindingsList(id="findings", classes="pane")
                findings.border_title = FINDINGS_TITLE
                yield findings
                with TabbedContent(id="data-detail", classes="pane", initial="tab-stats"):
                    with TabPane("Statistics i", id="tab-stats"):
                        yield StatsPanel(id="stats")
                    with TabPane("Example e", id="tab-example"):
                        yield ChatView(id="chat")
        with Horizontal(classes="actions"):
            yield Static("", classes="reason", id="data-reason")
            yield Button("Split s", id="data-split-button")
            yield Button("Clean c", id="data-clean-button")
            yield Button("Continue", id="data-continue-button", variant="primary")

    def on_mount(self) -> None:
        wizard = self.ftui.wizard
        self.training, self.validation = wizard.training, wizard.validation
        self.query_one("#status-progress").display = False
        self._follow = self.training is not None
        self.start_validation()
        self.set_timer(WATCH_SECONDS, self._watch_files)

    # -- choosing files -----------------------------------------------------------------------------------------------

    def action_choose(self, slot: str) -> None:
        self.app.push_screen(FilePicker(slot), self._picked)

    def _picked(self, choice: dict[str, DataChoice] | None) -> None:
        if not choice:
            return
        if TRAINING in choice:
            self.training = choice[TRAINING]
        if VALIDATION in choice:
            self.validation = choice[VALIDATION]
        self._follow = True
        self.start_validation()

    @on(Button.Pressed, "#choose-training")
    def _choose_training(self) -> None:
        self.action_choose(TRAINING)

    @on(Button.Pressed, "#choose-validation")
    def _choose_validation(self) -> None:
        self.action_choose(VALIDATION)

    def action_clear_validation(self) -> None:
        if self.validation is not None:
            self.validation = None
            self.start_validation()

    # -- validation ---------------------------------------------------------------------------------------------------

    def target_card(self) -> ModelCard | None:
        """The model the data is checked against; None means the default target (the local base model)."""
        wizard = self.ftui.wizard
        if wizard.card is not None:
            return wizard.card
        return load_catalog().get(wizard.model) if wizard.model else None

    def start_validation(self) -> None:
        """Check the chosen files from the start, cancelling a run in progress."""
        self._stop_run()
        self._run_number += 1
        self._focus_at_start = self.focused
        self.report = None
        self.load_error = None
        wizard = self.ftui.wizard
        wizard.training, wizard.validation, wizard.report = self.training, self.validation, None
        self._watched = {c.path: file_signature(c.path) for c in (self.training, self.validation) if c and c.path}
        self._show_slots()
        findings = self.query_one(FindingsList)
        stats = self.query_one(StatsPanel)
        self.query_one(ChatView).show_note("Select a finding to see its example here.")
        training, validation = self.training, self.validation
        if training is None:
            self._finish_without_check("No training file yet: press t or choose… to pick one.")
            return
        if training.path is None:
            note = "Uploaded files were checked by the service when they were uploaded; ftui does not check them."
            if validation is not None and validation.path is not None:
                note += " With an uploaded training file, the local validation file is not checked here either."
            self._finish_without_check(note)
            return
        validation_path = validation.path if validation is not None else None
        try:
            run = Validation(training.path, validation_path, model=self.target_card())
        except ValueError as exc:
            self.load_error = str(exc)
            self._finish_without_check(f"✗ {exc}")
            return
        number = self._run_number
        self.running = True
        findings.reset("Checking…", running=True, name_files=validation_path is not None)
        stats.show_note("Checking… the statistics appear when the whole file has been read.")
        self._set_status("Checking the data…", progress=0.0)
        call: Call[Message] = self.call_in_thread(
            partial(_validate, number, run),
            done=self._post,
            failed=lambda error: self._receive_error(number, error.message),
            progress=self._post,
            group="validation",
            exclusive=True,
            description="validate data",
        )
        self._run = _Run(number, run, call)
        self._refresh_actions()

    def _finish_without_check(self, note: str) -> None:
        self.running = False
        self._follow = False
        self.query_one(FindingsList).reset(note, running=False)
        self.query_one(StatsPanel).show_note(note)
        self._set_status("")
        self._refresh_actions()

    def _post(self, message: Message) -> None:
        self.post_message(message)

    def _current(self, number: int) -> bool:
        return self.is_attached and number == self._run_number

    @on(ValidationBatch)
    def _receive_batch(self, batch: ValidationBatch) -> None:
        if not self._current(batch.run):
            return  # a run that was replaced: its findings belong to other files
        if batch.findings:
            self.query_one(FindingsList).add(batch.findings)
        if batch.progress is not None:
            which = "validation file" if batch.progress.file is DataFile.VALIDATION else "training file"
            self._set_status(f"Checking the {which}…", progress=batch.progress.fraction)

    @on(ValidationFinished)
    def _receive_report(self, finished: ValidationFinished) -> None:
        if not self._current(finished.run):
            return
        report = finished.report
        self.running = False
        self._run = None
        self.report = report
        self.ftui.wizard.report = report
        findings = self.query_one(FindingsList)
        findings.set_report(report)
        self.query_one(StatsPanel).show_report(report)
        self._set_status(self._result_line(report))
        self._show_slots()
        self._refresh_actions()
        if not findings.findings:
            self._show_first_example(finished.run)
        if self._follow:
            self._follow = False
            if self.focused is self._focus_at_start:
                self.action_pane("findings" if findings.findings else "stats")

    def _receive_error(self, number: int, message: str) -> None:
        if not self._current(number):
            return
        self._run = None
        self.load_error = message
        self._finish_without_check(f"✗ {message}")

    def _result_line(self, report: ValidationReport) -> str:
        examples = plural(report.training.examples, "training example")
        if report.validation is not None:
            examples += f", {report.validation.examples:,} validation"
        if report.errors:
            return f"✗ {examples}; {plural(report.errors, 'error')} to fix."
        if report.warnings:
            return f"✓ {examples}; {plural(report.warnings, 'warning')} to look at."
        return f"✓ {examples}; no problems found."

    def action_revalidate(self) -> None:
        self.start_validation()

    def _watch_files(self) -> None:
        """Check again when a chosen file changes on disk, or when estimated token counts can now be exact (the
        model's tokenizer was prepared); re-armed after each look, so checks never overlap."""
        if not self.is_attached:
            return
        changed = [path for path, seen in self._watched.items() if file_signature(path) != seen]
        if changed and self.busy is None:
            if self.is_current:
                names = ", ".join(display_path(path) for path in changed)
                self.notify(f"{names} changed on disk; checking again.", title="File changed")
            self.start_validation()
        elif self.busy is None and self.report is not None and self.ftui.wizard.counts_outdated():
            if self.is_current:
                self.notify("The model's tokenizer is ready: counting the tokens exactly.", title="Exact counts")
            self.start_validation()
        self.set_timer(WATCH_SECONDS, self._watch_files)

    # -- the example of a finding ---------------------------------------------------------------------------------------

    def action_pane(self, pane: str) -> None:
        """Move to a pane: the findings list, or the statistics or example tab beside it."""
        if pane == "findings":
            findings = self.query_one(FindingsList)
            findings.focus_rows()
            if findings.findings:  # the highlighted finding's example beside the list
                self.query_one("#data-detail", TabbedContent).active = "tab-example"
            return
        self.query_one("#data-detail", TabbedContent).active = f"tab-{pane}"
        target = self.query_one(StatsPanel) if pane == "stats" else self.query_one(ChatView)
        target.focus()

    @on(FindingsList.Highlighted)
    def _finding_highlighted(self, event: FindingsList.Highlighted) -> None:
        if self.query_one(FindingsList).options.has_focus:  # moving through the list previews each example
            self.query_one("#data-detail", TabbedContent).active = "tab-example"
        self._show_example(event.finding)

    @on(FindingsList.Chosen)
    def _finding_chosen(self, event: FindingsList.Chosen) -> None:
        self._show_example(event.finding)
        self.action_pane("example")

    def _show_first_example(self, number: int) -> None:
        """A file without findings: its first example, so the example pane shows what the data looks like."""
        training = self.training
        path = training.path if training is not None else None
        if path is None:
            return

        def load(call: Call[None]) -> Text | str:
            try:
                return render_example(read_example(path, 1), None)
            except DatasetFileError as exc:
                return f"The example cannot be read now: {exc}"

        def loaded(example: Text | str) -> None:
            if self._current(number):
                self.query_one(ChatView).show_example("No problems found. The training file's first example:", example)

        self.call_in_thread(load, done=loaded, group="example", exclusive=True)

    def _show_example(self, finding: Finding) -> None:
        choice = self.validation if finding.file is DataFile.VALIDATION else self.training
        path = choice.path if choice is not None else None
        chat = self.query_one(ChatView)
        if finding.line is None or path is None:
            chat.show_finding(finding, None, clean_action=CLEAN_ACTION)
            return

        def load(call: Call[None]) -> Text | str:
            try:
                return render_example(read_example(path, finding.line or 0), finding)
            except DatasetFileError as exc:
                return f"The example cannot be read now: {exc}"

        self.call_in_thread(
            load, done=lambda example: self._example_loaded(finding, example), group="example", exclusive=True
        )

    def _example_loaded(self, finding: Finding, example: Text | str) -> None:
        if self.query_one(FindingsList).selected == finding:
            self.query_one(ChatView).show_finding(finding, example, clean_action=CLEAN_ACTION)

    # -- fixes ----------------------------------------------------------------------------------------------------------

    def action_split(self) -> None:
        training = self.training
        if training is None or training.path is None or self.busy:
            return
        source = training.path
        self._run_fix(
            "split",
            lambda: split_dataset(
                source,
                validation_fraction=SPLIT_FRACTION,
                training_out=(outputs := free_outputs(source, ("train", "validation")))[0],
                validation_out=outputs[1],
            ),
            self._after_split,
        )

    def _after_split(self, result: SplitResult) -> None:
        self.training = local_choice(result.training_path)
        self.validation = local_choice(result.validation_path)
        self.notify(result.summary(), title="Split written", timeout=10)
        self._follow = True
        self.start_validation()

    def action_clean(self) -> None:
        training = self.training
        if training is None or training.path is None or self.busy:
            return
        source, card = training.path, self.target_card()
        self._run_fix(
            "clean",
            lambda: clean_dataset(source, output=free_outputs(source, ("clean",))[0], model=card),
            self._after_clean,
        )

    def _after_clean(self, result: CleanResult) -> None:
        self.training = local_choice(result.output)
        self.notify(result.summary(), title="Cleaned copy written", timeout=10)
        self._follow = True
        self.start_validation()

    def _run_fix(self, name: str, job: Callable[[], FixResult], done: Callable[[FixResult], None]) -> None:
        """Write the fix's files in a thread; ``done`` runs on the UI thread with the result."""
        self.busy = name
        self._refresh_actions()

        def run(call: Call[None]) -> FixResult:
            try:
                return job()
            except (OSError, ValueError, DatasetFileError) as exc:
                raise BackendError(ErrorKind.INVALID, str(exc)) from None

        def finished(result: FixResult) -> None:
            self.busy = None
            done(result)
            self._refresh_actions()

        self.call_in_thread(run, done=finished, failed=self._fix_failed, group="fix", exclusive=True)

    def _fix_failed(self, error: BackendError) -> None:
        self.busy = None
        self.notify(error.message, title="Nothing was written", severity="error", timeout=10)
        self._refresh_actions()

    @on(Button.Pressed, "#data-split-button")
    def _split_pressed(self) -> None:
        self.run_action_if_allowed("split")

    @on(Button.Pressed, "#data-clean-button")
    def _clean_pressed(self) -> None:
        self.run_action_if_allowed("clean")

    # -- continue and back ----------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#data-continue-button")
    def _continue_pressed(self) -> None:
        self.run_action_if_allowed("continue")

    def run_action_if_allowed(self, action: str) -> None:
        if self.check_action(action, ()):
            self.call_later(self.run_action, action)
        elif action == "continue":
            self.notify(self.block_reason() or "", title="Not yet", severity="warning")

    def block_reason(self) -> str | None:
        """Why Continue is not possible now, or None."""
        if self.training is None:
            return "Choose a training file (t) to continue."
        if self.load_error:
            return "✗ The data cannot be read: choose another file."
        if self.running or self.busy:
            return "Checking the data… Continue opens when the check ends."
        if self.report is not None and self.report.errors:
            where = "the validation file" if self._errors_only_in_validation() else "the data"
            errors = self.report.errors
            verb, them = ("blocks", "it") if errors == 1 else ("block", "them")
            return f"✗ {plural(errors, 'error')} in {where} {verb} Continue: fix {them}, or {CLEAN_ACTION}."
        return None

    def _errors_only_in_validation(self) -> bool:
        report = self.report
        return report is not None and all(f.file is DataFile.VALIDATION for f in report.findings if f.is_error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        local_training = self.training is not None and self.training.path is not None
        if action == "continue":
            return None if self.block_reason() else True
        if action in ("split", "clean"):
            return True if local_training and not self.busy else None
        if action == "revalidate":
            return True if local_training else None
        if action == "clear_validation":
            return True if self.validation is not None else None
        return True

    def action_continue(self) -> None:
        if self.block_reason():
            return
        wizard = self.ftui.wizard
        wizard.training, wizard.validation, wizard.report = self.training, self.validation, self.report
        self.ftui.open_step("options")

    def action_back(self) -> None:
        self._stop_run()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._stop_run()

    def _stop_run(self) -> None:
        if self._run is not None:
            self._run.call.stop()
            self._run.validation.cancel()
            self._run = None

    # -- display helpers ------------------------------------------------------------------------------------------------

    def _show_slots(self) -> None:
        self.query_one("#slot-training", Static).update(self._slot_text(self.training, "none yet: press t"))
        self.query_one("#slot-validation", Static).update(
            self._slot_text(self.validation, "none (optional): v picks one, s splits one off")
        )

    def _slot_text(self, choice: DataChoice | None, empty: str) -> str:
        if choice is None:
            return empty
        if choice.path is None:
            return f"{choice.label} · uploaded"
        return choice.label

    def _set_status(self, text: str, progress: float | None = None) -> None:
        self.query_one("#status-text", Static).update(text)
        bar = self.query_one("#status-progress", ProgressBar)
        bar.display = progress is not None
        if progress is not None:
            bar.update(progress=round(progress * 100, 1))

    def _refresh_actions(self) -> None:
        reason = self.block_reason()
        label = self.query_one("#data-reason", Static)
        if reason:
            label.update(reason)
            label.set_class(True, "blocked")
        else:
            warnings = self.report.warnings if self.report else 0
            does = "does" if warnings == 1 else "do"
            label.update(
                f"✓ Ready. {plural(warnings, 'warning')} {does} not block." if warnings else "✓ Ready to continue."
            )
            label.set_class(False, "blocked")
        self.query_one("#data-continue-button", Button).disabled = reason is not None
        local_training = self.training is not None and self.training.path is not None
        for button in ("#data-split-button", "#data-clean-button"):
            self.query_one(button, Button).disabled = not local_training or self.busy is not None
        self.refresh_bindings()


def _validate(number: int, run: Validation, call: Call[Message]) -> ValidationFinished:
    """In the thread: stream the run's findings to the screen in batches; the report ends it."""
    batch: list[Finding] = []
    progress: Progress | None = None
    posted = time.monotonic()
    try:
        for event in run.events():
            if call.cancelled:
                run.cancel()
            if isinstance(event, Finding):
                batch.append(event)
            elif isinstance(event, Progress):
                progress = event
            else:
                call.progress(ValidationBatch(number, batch, progress))
                return ValidationFinished(number, event)
            if time.monotonic() - posted >= BATCH_SECONDS:
                call.progress(ValidationBatch(number, batch, progress))
                batch, progress, posted = [], None, time.monotonic()
    except DatasetFileError as exc:
        raise BackendError(ErrorKind.INVALID, str(exc)) from None
    raise BackendError(ErrorKind.UNEXPECTED, "The check ended without a report.")
