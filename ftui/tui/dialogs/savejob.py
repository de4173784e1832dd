"""A small dialog asking where to save a job file; it asks again before replacing an existing file."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from ftui.tui.base import FtuiModal


class SaveJobFile(FtuiModal[Path | None]):
    """Type the job file's path (Enter saves); an existing file is replaced only after a second Enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="save_job_cancel", tooltip="Close without saving"),
    ]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default
        self._confirmed: Path | None = None  # the existing file Enter was pressed on once

    def compose(self) -> ComposeResult:
        with Vertical(id="save-job"):
            yield Label("Save the job file as (Enter saves, Esc cancels):")
            yield Input(str(self.default), id="save-job-path")
            yield Static("", id="save-job-message")

    def on_mount(self) -> None:
        self.query_one("#save-job").border_title = "Save job file"
        self.query_one("#save-job-path", Input).focus()

    @on(Input.Changed, "#save-job-path")
    def _changed(self) -> None:
        self._confirmed = None
        self._say("")

    @on(Input.Submitted, "#save-job-path")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._say("✗ Type a path, such as job.toml.", error=True)
            return
        path = Path(text).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if path.is_dir():
            self._say(f"✗ {text} is a folder: add a file name, such as {text.rstrip('/')}/job.toml.", error=True)
            return
        if path.exists() and self._confirmed != path:
            self._confirmed = path
            self._say(f"! {text} exists. Press Enter again to replace it, or change the name.", error=True)
            return
        self.dismiss(path)

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#save-job-message", Static)
        message.update(text)
        message.set_class(error, "error-text")
