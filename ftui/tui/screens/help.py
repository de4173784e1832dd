"""F1: what the current screen is for, and every key it answers to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ftui.tui.widgets.footer import KeysFooter
from ftui.tui.widgets.mdtext import MarkdownText


def key_label(key: str) -> str:
    """``ctrl+p`` as ``Ctrl+P``, ``f1`` as ``F1``; a single key alone stays as typed (``k``, ``?``); ``n,escape`` as
    ``n/Escape``."""
    if "," in key:
        return "/".join(key_label(one.strip()) for one in key.split(","))
    parts = key.split("+")
    if len(parts) == 1:
        return key if len(key) == 1 else key.capitalize()
    return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in parts)


def bindings_table(bindings: Iterable[BindingType], *, header: str = "action", use_tooltips: bool = False) -> str:
    """A Markdown table of the keys and what they do (the tooltip, or the description); one row per description."""
    rows = [f"| key | {header} |", "| --- | --- |"]
    seen: set[str] = set()
    for binding in Binding.make_bindings(bindings):
        if not binding.description or binding.system or binding.description in seen:
            continue
        seen.add(binding.description)
        keys = binding.key_display or key_label(binding.key)
        rows.append(f"| `{keys}` | {binding.tooltip if use_tooltips and binding.tooltip else binding.description} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def screen_keys(screen: Screen[Any]) -> str:
    """The keys of ``screen`` and its widgets that answer now; the app's own keys are listed apart."""
    return bindings_table(active.binding for active in screen.active_bindings.values() if active.node is not screen.app)


def global_keys(bindings: Iterable[BindingType]) -> str:
    """The app's keys, which work on every screen, each with its tooltip."""
    table = bindings_table(bindings, header="everywhere", use_tooltips=True)
    return f"{table}\n\nThe mouse works too." if table else ""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # F1 opens help and closes it: the footer shows it first, as on every screen.
        Binding("f1", "dismiss", "Close help", id="help.close", tooltip="Back to the screen below"),
        Binding("escape,q", "dismiss", "Close help", id="help.close_other", tooltip="Back to the screen below"),
    ]

    # Opaque, unlike a dimmed dialog: a translucent backdrop re-renders the whole screen below (a job's charts and
    # log) on every frame the help is up, which is most of the cost of opening it.
    DEFAULT_CSS = """
    HelpScreen { align: center top; background: $background; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 110; height: 1fr; border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-close { color: $text-muted; dock: bottom; height: 1; }
    """

    def __init__(self, title: str, body: str, keys: str, everywhere: str = "") -> None:
        super().__init__()
        self.help_title = title
        self.body = body
        self.keys = keys
        self.everywhere = everywhere

    @property
    def source(self) -> str:
        parts = [f"# {self.help_title}", self.body, self.keys, self.everywhere]
        return "\n\n".join(part.strip("\n") for part in parts if part)

    def compose(self) -> ComposeResult:
        # One rich renderable rather than Textual's Markdown widget (a widget per block): F1 opens at once.
        with VerticalScroll():
            yield MarkdownText(self.source, id="help-text")
            yield Static("Esc or F1 closes this help.", id="help-close")
        yield KeysFooter()
