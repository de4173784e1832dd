"""F1: what the current screen is for, and every key it answers to."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ftui.tui.widgets.mdtext import MarkdownText

GLOBAL_HELP = """\
**Everywhere**: `F1` this help · `Ctrl+P` every action, searchable · `F2` backend profiles · `F3` jobs ·
`F4` start a new fine-tune · `Esc` back · `Ctrl+Q` quit. The mouse works too.
"""


def _key_label(key: str) -> str:
    return "+".join(part.capitalize() if len(part) > 1 else part for part in key.split("+"))


def bindings_table(screen: Screen) -> str:
    rows = ["| key | action |", "| --- | --- |"]
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        label = binding.description or binding.action
        if not binding.description or label in seen:
            continue
        seen.add(label)
        keys = binding.key_display or _key_label(binding.key)
        rows.append(f"| `{keys}` | {label} |")
    return "\n".join(rows) if len(rows) > 2 else ""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,f1,q", "dismiss", "Close help"),
    ]

    # Opaque, unlike a dimmed dialog: a translucent backdrop re-renders the whole screen below (a job's charts and
    # log) on every frame the help is up, which is most of the cost of opening it.
    DEFAULT_CSS = """
    HelpScreen { align: center top; background: $background; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 110; height: 100%; border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-close { color: $text-muted; dock: bottom; height: 1; }
    """

    def __init__(self, title: str, body: str, keys: str) -> None:
        super().__init__()
        self.help_title = title
        self.body = body
        self.keys = keys

    @property
    def source(self) -> str:
        return f"# {self.help_title}\n\n{self.body}\n\n{self.keys}\n\n{GLOBAL_HELP}"

    def compose(self) -> ComposeResult:
        # One rich renderable rather than Textual's Markdown widget (a widget per block): F1 opens at once.
        with VerticalScroll():
            yield MarkdownText(self.source, id="help-text")
            yield Static("Esc or F1 closes this help.", id="help-close")
