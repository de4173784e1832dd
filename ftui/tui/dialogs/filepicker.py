"""The data step's file picker: browse this folder, type a path (with completion), pick a file already uploaded to
the backend, or the bundled sample. A dialog over the data step; it returns the chosen file(s) by slot."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.suggester import Suggester
from textual.widgets import Button, DirectoryTree, Input, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ftui.dataset.fixes import sample_files
from ftui.submit import DataChoice
from ftui.textfmt import format_size
from ftui.tui.base import FtuiModal

if TYPE_CHECKING:  # the client layer imports the openai SDK: loaded by the first backend call, in a worker
    from openai.types import FileObject

    from ftui.client import BackendError

TRAINING = "training"
VALIDATION = "validation"
SLOT_TITLES = {TRAINING: "training file", VALIDATION: "validation file (optional)"}
DATA_SUFFIXES = (".jsonl", ".jsonl.gz")


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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "tab",
            "complete",
            "Complete the path",
            id="picker_complete",
            tooltip="Accept the suggested completion, else move on",
            show=False,
        )
    ]

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


class FilePicker(FtuiModal[dict[str, DataChoice] | None]):
    """Choose a file for one slot: browse, type a path, an uploaded file, or the bundled sample."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="picker_cancel", tooltip="Close without choosing"),
        Binding(
            "ctrl+b",
            "show_tab('tab-browse')",
            "Browse folders",
            id="picker_browse",
            tooltip="Browse this folder's data files",
        ),
        Binding(
            "ctrl+l", "show_tab('tab-path')", "Type a path", id="picker_path", tooltip="Type a file's path, completed"
        ),
        Binding(
            "ctrl+o",
            "show_tab('tab-uploaded')",
            "Uploaded files",
            id="picker_uploaded",
            tooltip="Files already uploaded to the backend",
        ),
        Binding(
            "ctrl+s",
            "show_tab('tab-sample')",
            "Sample dataset",
            id="picker_sample",
            tooltip="The bundled Northwind support conversations",
        ),
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
            self.call_backend(
                lambda backend: list(backend.list_files()),
                done=self._show_uploads,
                failed=self._uploads_failed,
                group="uploads",
                exclusive=True,
                description="list uploaded files",
            )
        elif event.pane.id == "tab-path":
            self.query_one("#picker-path", Input).focus()
        elif event.pane.id == "tab-sample":
            self.query_one("#picker-sample", Button).focus()

    def _uploads_failed(self, error: BackendError) -> None:
        status = self.query_one("#picker-uploaded-status", Static)
        status.update(f"✗ {error.message}" + (f"\n{error.hint}" if error.hint else ""))
        self.uploads_loaded = False  # try again next time the tab opens

    def _show_uploads(self, files: list[FileObject]) -> None:
        status = self.query_one("#picker-uploaded-status", Static)
        usable = [f for f in files if getattr(f, "purpose", "fine-tune") in ("fine-tune", None)]
        options = self.query_one("#picker-uploaded", OptionList)
        options.clear_options()
        for item in usable:
            size = getattr(item, "bytes", None)
            detail = f" · {format_size(size)}" if isinstance(size, int) else ""
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
