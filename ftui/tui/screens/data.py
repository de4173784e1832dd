"""Wizard step 2: choose the training (and optional validation) data, see it checked live, fix it, continue.

Validation runs in a thread worker the moment a file is chosen and again when the file changes on disk. Its
findings reach the screen in batches (at most one every ~50 ms), so a file with many problems cannot flood the UI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import (
    Button,
    DirectoryTree,
    Input,
    Label,
    OptionList,
    ProgressBar,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ftui.catalog import ModelCard, load_catalog
from ftui.dataset.examples import read_example
from ftui.dataset.findings import DataFile, Finding, Progress
from ftui.dataset.fixes import clean_dataset, derived_path, sample_files, split_dataset
from ftui.dataset.reader import DatasetFileError, describe_size
from ftui.dataset.validator import Validation, ValidationReport
from ftui.fsutil import OutputExistsError
from ftui.submit import DataChoice
from ftui.tui.base import FtuiScreen
from ftui.tui.widgets.chatview import ChatView, render_example
from ftui.tui.widgets.findings import FindingsList
from ftui.tui.widgets.stats import StatsPanel

if TYPE_CHECKING:  # the client layer imports the openai SDK: loaded by the first backend call, in a worker
    from ftui.client import BackendError

TRAINING = "training"
VALIDATION = "validation"
SLOT_TITLES = {TRAINING: "training file", VALIDATION: "validation file (optional)"}
DATA_SUFFIXES = (".jsonl", ".jsonl.gz")
BATCH_SECONDS = 0.05
WATCH_SECONDS = 1.0
SPLIT_FRACTION = 0.1

Signature = tuple[int, int] | None


def is_data_file(path: Path) -> bool:
    return path.name.lower().endswith(DATA_SUFFIXES)


def display_path(path: Path) -> str:
    """A short label: relative to the working folder when inside it, with ~ for the home folder."""
    training, validation = sample_files()
    if path in (training, validation):
        return f"sample · {path.name} (Northwind support)"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        pass
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def local_choice(path: Path) -> DataChoice:
    return DataChoice(label=display_path(path), path=path)


def file_signature(path: Path) -> Signature:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def check_data_path(text: str) -> Path:
    """The file a typed path names; ValueError with a message saying what is wrong and what to do."""
    text = text.strip()
    if not text:
        raise ValueError("Type the path of a .jsonl file (Tab or → completes names).")
    path = Path(text).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.exists():
        raise ValueError(f"✗ {text}: no such file. Check the spelling; Tab or → completes names.")
    if path.is_dir():
        raise ValueError(f"✗ {text} is a folder. Type the name of a .jsonl file inside it.")
    if not os.access(path, os.R_OK):
        raise ValueError(f"✗ {text}: permission denied. Make the file readable (chmod u+r) or copy it.")
    return path


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


class PathSuggester(Suggester):
    """Completes the last part of a typed path from the folder it names: folders and data files."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(("/.", "/..")):
            return None
        head, _, prefix = value.rpartition("/")
        folder = Path(head or ("/" if value.startswith("/") else ".")).expanduser()
        if head == "" and value.startswith("/"):
            folder = Path("/")
        if not folder.is_absolute():
            folder = Path.cwd() / folder
        try:
            names = sorted(entry.name for entry in os.scandir(folder) if entry.name.startswith(prefix))
        except OSError:
            return None
        for name in names:
            if name.startswith(".") and not prefix.startswith("."):
                continue
            candidate = folder / name
            if candidate.is_dir():
                return f"{value[: len(value) - len(prefix)]}{name}/"
            if is_data_file(candidate):
                return value[: len(value) - len(prefix)] + name
        return None


class PathInput(Input):
    """An Input whose Tab accepts the completion (when there is one) before moving focus."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("tab", "complete", "Complete the path", show=False)]

    def action_complete(self) -> None:
        if self._suggestion and self.cursor_at_end and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


class DataTree(DirectoryTree):
    """Folders and JSON Lines files only; hidden entries left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or is_data_file(p))]


# -- the picker ------------------------------------------------------------------------------------------------------


class FilePicker(ModalScreen[dict[str, DataChoice] | None]):
    """Choose a file for one slot: browse, type a path, an uploaded file, or the bundled sample."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="picker_cancel"),
        Binding("ctrl+b", "show_tab('tab-browse')", "Browse folders", id="picker_browse"),
        Binding("ctrl+l", "show_tab('tab-path')", "Type a path", id="picker_path"),
        Binding("ctrl+o", "show_tab('tab-uploaded')", "Uploaded files", id="picker_uploaded"),
        Binding("ctrl+s", "show_tab('tab-sample')", "Sample dataset", id="picker_sample"),
    ]

    def __init__(self, slot: str) -> None:
        super().__init__()
        self.slot = slot
        self.uploads_loaded = False
        self._uploads: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            with TabbedContent(id="picker-tabs"):
                with TabPane("Browse", id="tab-browse"):
                    yield DataTree(".", id="picker-tree")
                with TabPane("Type a path", id="tab-path"):
                    yield Label("Path of a .jsonl or .jsonl.gz file (Tab or → completes, Enter chooses):")
                    yield PathInput(placeholder="data/train.jsonl", suggester=PathSuggester(), id="picker-path")
                    yield Static("", id="picker-path-message")
                with TabPane("Uploaded", id="tab-uploaded"):
                    yield Static("Files already uploaded to the backend.", id="picker-uploaded-status")
                    yield OptionList(id="picker-uploaded")
                with TabPane("Sample", id="tab-sample"):
                    yield Static(self._sample_text(), id="picker-sample-text")
                    yield Button("Use the sample dataset", id="picker-sample", variant="primary")
            yield Static(
                "^B browse · ^L path · ^O uploaded · ^S sample · Enter chooses · Esc cancels",
                classes="hint",
                id="picker-hint",
            )

    def _sample_text(self) -> str:
        text = (
            "Northwind Outfitters customer-support conversations, bundled with ftui: 73 training and 18 "
            "validation examples in the shop's tone of voice. They are used where they are; nothing is copied."
        )
        if self.slot == TRAINING:
            text += "\n\nChoosing it sets both the training and the validation file."
        return text

    def on_mount(self) -> None:
        self.query_one("#picker").border_title = f"Choose the {SLOT_TITLES[self.slot]}"
        tree = self.query_one(DataTree)
        tree.root.set_label(". (this folder)")
        tree.focus()

    def action_show_tab(self, pane: str) -> None:
        self.query_one("#picker-tabs", TabbedContent).active = pane
        focus = {"tab-browse": "#picker-tree", "tab-path": "#picker-path", "tab-sample": "#picker-sample"}
        if pane in focus:
            self.query_one(focus[pane]).focus()

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = event.path if event.path.is_absolute() else Path.cwd() / event.path
        self.dismiss({self.slot: local_choice(path)})

    @on(Input.Submitted, "#picker-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        message = self.query_one("#picker-path-message", Static)
        try:
            path = check_data_path(event.value)
        except ValueError as exc:
            message.update(str(exc))
            message.set_class(True, "error-text")
            return
        self.dismiss({self.slot: local_choice(path)})

    @on(Button.Pressed, "#picker-sample")
    def _use_sample(self) -> None:
        training, validation = sample_files()
        if self.slot == TRAINING:
            self.dismiss({TRAINING: local_choice(training), VALIDATION: local_choice(validation)})
        else:
            self.dismiss({VALIDATION: local_choice(validation)})

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-uploaded" and not self.uploads_loaded:
            self.uploads_loaded = True
            self.query_one("#picker-uploaded-status", Static).update("Asking the backend for its files…")
            self.run_worker(self._fetch_uploads, thread=True, exit_on_error=False, group="uploads", exclusive=True)
        elif event.pane.id == "tab-path":
            self.query_one("#picker-path", Input).focus()
        elif event.pane.id == "tab-sample":
            self.query_one("#picker-sample", Button).focus()

    def _fetch_uploads(self) -> None:
        from ftui.client import BackendError, describe_error

        worker = get_current_worker()
        try:
            files = list(self.app.connect().list_files())  # type: ignore[attr-defined]
        except BackendError as exc:
            result: list[Any] | BackendError = exc
        except Exception as exc:  # every failure becomes a message
            result = describe_error(exc)
        else:
            result = files
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_uploads, result)

    def _show_uploads(self, result: list[Any] | BackendError) -> None:
        if not self.is_attached:
            return
        status = self.query_one("#picker-uploaded-status", Static)
        if not isinstance(result, list):
            status.update(f"✗ {result.message}" + (f"\n{result.hint}" if result.hint else ""))
            self.uploads_loaded = False  # try again next time the tab opens
            return
        usable = [f for f in result if getattr(f, "purpose", "fine-tune") in ("fine-tune", None)]
        options = self.query_one("#picker-uploaded", OptionList)
        options.clear_options()
        for item in usable:
            size = getattr(item, "bytes", None)
            detail = f" · {describe_size(size)}" if isinstance(size, int) else ""
            options.add_option(Option(f"{item.filename}  ({item.id}{detail})", id=item.id))
        self._uploads = {item.id: item.filename for item in usable}
        if usable:
            status.update("Uploaded files are checked by the service, not here. Enter chooses.")
            options.highlighted = 0
            options.focus()
        else:
            status.update("No fine-tuning files are uploaded yet. Browse or type a path instead.")

    @on(OptionList.OptionSelected, "#picker-uploaded")
    def _upload_chosen(self, event: OptionList.OptionSelected) -> None:
        file_id = event.option_id or ""
        self.dismiss({self.slot: DataChoice.uploaded(file_id, self._uploads.get(file_id, file_id))})


# -- the screen ------------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One validation run: its number (stale batches are dropped) and the object that can cancel it."""

    number: int
    validation: Validation


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
Continue is blocked), `!` a **warning** (worth a look, never blocking). Move through the list to see the example
as a chat on the right, with the problem marked; personal data is shown masked. Lines that are not valid JSON are
shown raw, with the error position marked `⟦✗ here⟧`.

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

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+n", "continue", "Continue", id="data_continue"),
        Binding("escape", "back", "Back", id="data_back"),
        Binding("t", "choose('training')", "Training file", id="data_training"),
        Binding("v", "choose('validation')", "Validation file", id="data_validation"),
        Binding("s", "split", "Split off validation", id="data_split"),
        Binding("c", "clean", "Clean", id="data_clean"),
        Binding("x", "clear_validation", "Clear validation", id="data_clear"),
        Binding("r", "revalidate", "Check again", id="data_revalidate", show=False),
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
                findings.border_title = "Findings"
                yield findings
                with TabbedContent(id="data-detail", classes="pane", initial="tab-stats"):
                    with TabPane("Statistics", id="tab-stats"):
                        yield StatsPanel(id="stats")
                    with TabPane("Example", id="tab-example"):
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
        if self._run is not None:
            self._run.validation.cancel()
            self._run = None
        self._run_number += 1
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
        self._run = _Run(number, run)
        self.running = True
        findings.reset("Checking…", running=True, name_files=validation_path is not None)
        stats.show_note("Checking… the statistics appear when the whole file has been read.")
        self._set_status("Checking the data…", progress=0.0)
        self.run_worker(
            lambda: self._validate(number, run),
            thread=True,
            group="validation",
            exclusive=True,
            exit_on_error=False,
            description="validate data",
        )
        self._refresh_actions()

    def _finish_without_check(self, note: str) -> None:
        self.running = False
        self.query_one(FindingsList).reset(note, running=False)
        self.query_one(StatsPanel).show_note(note)
        self._set_status("")
        self._refresh_actions()

    def _validate(self, number: int, run: Validation) -> None:
        """Worker thread: stream the run's events to the UI in batches."""
        batch: list[Finding] = []
        progress: Progress | None = None
        posted = time.monotonic()
        try:
            for event in run.events():
                if isinstance(event, Finding):
                    batch.append(event)
                elif isinstance(event, Progress):
                    progress = event
                else:
                    self._post(self._receive_batch, number, batch, progress)
                    self._post(self._receive_report, number, event)
                    return
                if time.monotonic() - posted >= BATCH_SECONDS:
                    self._post(self._receive_batch, number, batch, progress)
                    batch, progress, posted = [], None, time.monotonic()
        except DatasetFileError as exc:
            self._post(self._receive_error, number, str(exc))
        except Exception as exc:  # a bug or an odd file must become a message, not a crash
            self._post(self._receive_error, number, f"The check failed: {exc}")

    def _post(self, callback: Callable[..., None], number: int, *args: Any) -> None:
        if number == self._run_number and not get_current_worker().is_cancelled:
            # Blocks until the UI has taken the batch: back-pressure that keeps the message queue short.
            self.app.call_from_thread(callback, number, *args)

    def _current(self, number: int) -> bool:
        return self.is_attached and number == self._run_number

    def _receive_batch(self, number: int, batch: list[Finding], progress: Progress | None) -> None:
        if not self._current(number):
            return
        if batch:
            self.query_one(FindingsList).add(batch)
        if progress is not None:
            which = "validation file" if progress.file is DataFile.VALIDATION else "training file"
            self._set_status(f"Checking the {which}…", progress=progress.fraction)

    def _receive_report(self, number: int, report: ValidationReport) -> None:
        if not self._current(number):
            return
        self.running = False
        self._run = None
        self.report = report
        self.ftui.wizard.report = report
        self.query_one(FindingsList).set_report(report)
        self.query_one(StatsPanel).show_report(report)
        self._set_status(self._result_line(report))
        self._show_slots()
        self._refresh_actions()

    def _receive_error(self, number: int, message: str) -> None:
        if not self._current(number):
            return
        self._run = None
        self.load_error = message
        self._finish_without_check(f"✗ {message}")

    def _result_line(self, report: ValidationReport) -> str:
        examples = f"{report.training.examples:,} training examples"
        if report.validation is not None:
            examples += f", {report.validation.examples:,} validation"
        if report.errors:
            return f"✗ {examples}; {report.errors:,} errors to fix."
        if report.warnings:
            return f"✓ {examples}; {report.warnings:,} warnings to look at."
        return f"✓ {examples}; no problems found."

    def action_revalidate(self) -> None:
        self.start_validation()

    def _watch_files(self) -> None:
        """Check again when a chosen file changes on disk; re-armed after each look, so checks never overlap."""
        if not self.is_attached:
            return
        changed = [path for path, seen in self._watched.items() if file_signature(path) != seen]
        if changed and self.busy is None:
            if self.is_current:
                names = ", ".join(display_path(path) for path in changed)
                self.notify(f"{names} changed on disk; checking again.", title="File changed")
            self.start_validation()
        self.set_timer(WATCH_SECONDS, self._watch_files)

    # -- the example of a finding ---------------------------------------------------------------------------------------

    @on(FindingsList.Highlighted)
    def _finding_highlighted(self, event: FindingsList.Highlighted) -> None:
        self._show_example(event.finding)

    @on(FindingsList.Chosen)
    def _finding_chosen(self, event: FindingsList.Chosen) -> None:
        self.query_one("#data-detail", TabbedContent).active = "tab-example"
        self._show_example(event.finding)

    def _show_example(self, finding: Finding) -> None:
        choice = self.validation if finding.file is DataFile.VALIDATION else self.training
        path = choice.path if choice is not None else None
        chat = self.query_one(ChatView)
        if finding.line is None or path is None:
            chat.show_finding(finding, None)
            return

        def load() -> None:
            try:
                example = render_example(read_example(path, finding.line or 0), finding)
            except DatasetFileError as exc:
                example = f"The example cannot be read now: {exc}"
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._example_loaded, finding, example)

        self.run_worker(load, thread=True, group="example", exclusive=True, exit_on_error=False)

    def _example_loaded(self, finding: Finding, example: Any) -> None:
        if self.is_attached and self.query_one(FindingsList).selected == finding:
            self.query_one(ChatView).show_finding(finding, example)

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

    def _after_split(self, result: Any) -> None:
        self.training = local_choice(result.training_path)
        self.validation = local_choice(result.validation_path)
        self.notify(result.summary(), title="Split written", timeout=10)
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

    def _after_clean(self, result: Any) -> None:
        self.training = local_choice(result.output)
        self.notify(result.summary(), title="Cleaned copy written", timeout=10)
        self.start_validation()

    def _run_fix(self, name: str, job: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Write the fix's files in a worker; ``done`` runs on the UI thread with the result."""
        self.busy = name
        self._refresh_actions()

        def run() -> None:
            try:
                result: Any = job()
                callback = done
            except (OSError, ValueError, DatasetFileError) as exc:
                result, callback = str(exc), self._fix_failed
            self.app.call_from_thread(self._fix_finished, callback, result)

        self.run_worker(run, thread=True, group="fix", exclusive=True, exit_on_error=False)

    def _fix_finished(self, callback: Callable[[Any], None], result: Any) -> None:
        self.busy = None
        if self.is_attached:
            callback(result)
            self._refresh_actions()

    def _fix_failed(self, message: str) -> None:
        self.notify(message, title="Nothing was written", severity="error", timeout=10)

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
            self.run_action(action)
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
            return f"✗ {self.report.errors:,} errors in {where} block Continue: fix them, or Clean (c)."
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
        if self._run is not None:
            self._run.validation.cancel()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        if self._run is not None:
            self._run.validation.cancel()

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
            label.update(f"✓ Ready. {warnings:,} warnings do not block." if warnings else "✓ Ready to continue.")
            label.set_class(False, "blocked")
        self.query_one("#data-continue-button", Button).disabled = reason is not None
        local_training = self.training is not None and self.training.path is not None
        for button in ("#data-split-button", "#data-clean-button"):
            self.query_one(button, Button).disabled = not local_training or self.busy is not None
        self.refresh_bindings()
