"""The one-line bar at the top of every screen: the wizard's steps and the active backend profile."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

WIZARD_STEPS: tuple[tuple[str, str], ...] = (
    ("model", "Model"),
    ("data", "Data"),
    ("options", "Options"),
    ("review", "Review"),
)


def steps_text(current: str | None) -> Text:
    text = Text("ftui ", style="bold")
    if current is None:
        return text
    names = [key for key, _ in WIZARD_STEPS]
    position = names.index(current) if current in names else -1
    for index, (key, label) in enumerate(WIZARD_STEPS):
        if index:
            text.append(" › ", style="dim")
        style = "bold reverse" if key == current else ("" if index < position else "dim")
        text.append(f"{index + 1} {label}", style=style)
    return text


class TopBar(Horizontal):
    DEFAULT_CSS = """
    TopBar { height: 1; dock: top; background: $panel; }
    TopBar #steps { width: 1fr; padding: 0 1; }
    TopBar #profile {
        width: auto; max-width: 34; padding: 0 1; color: $text-muted; text-align: right;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, step: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.step = step

    def compose(self) -> ComposeResult:
        yield Static(steps_text(self.step), id="steps")
        yield Static("", id="profile")

    def on_mount(self) -> None:
        self.refresh_profile()

    def refresh_profile(self) -> None:
        self.query_one("#profile", Static).update(getattr(self.app, "profile_label", ""))
