"""Statistics of a validated dataset: examples, token distribution, trainable and trained tokens, system prompts."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ftui.dataset.validator import Distribution, FileStats, ValidationReport
from ftui.estimates import APPROXIMATE, estimate_marker
from ftui.report import report_training_line
from ftui.textfmt import format_number


def _part(distribution: Distribution | None, name: str) -> str:
    return "-" if distribution is None else format_number(getattr(distribution, name))


Row = tuple[str, Callable[[FileStats], str]]

# Labels fit a 36-column pane (80-column terminals) beside two figures.
ROWS: tuple[Row, ...] = (
    ("examples", lambda s: format_number(s.examples)),
    ("invalid lines", lambda s: format_number(s.invalid_lines)),
    ("multi-turn", lambda s: f"{format_number(s.multi_turn_examples)} ({s.multi_turn_share:.0%})"),
    ("system messages", lambda s: format_number(s.role_counts.get("system", 0))),
    ("  distinct", lambda s: format_number(s.distinct_system_prompts)),
    ("tokens/ex. min", lambda s: _part(s.tokens_per_example, "min")),
    ("  median", lambda s: _part(s.tokens_per_example, "median")),
    ("  90th pct", lambda s: _part(s.tokens_per_example, "p90")),
    ("  max", lambda s: _part(s.tokens_per_example, "max")),
    ("total tokens", lambda s: format_number(s.total_tokens)),
    ("trainable tokens", lambda s: format_number(s.trainable_tokens)),
    ("over token limit", lambda s: format_number(s.examples_over_limit)),
    ("weight-0 turns", lambda s: format_number(s.weight_zero_turns)),
)
# Rows whose figures are token counts: marked as estimates when no exact tokenizer counted them.
TOKEN_ROWS = frozenset({"tokens/ex. min", "  median", "  90th pct", "  max", "total tokens", "trainable tokens"})


def stats_table(report: ValidationReport) -> Table:
    table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("train", justify="right", no_wrap=True)
    if report.validation is not None:
        table.add_column("valid.", justify="right", no_wrap=True)
    mark = "" if report.tokenizer.exact else APPROXIMATE
    for label, render in ROWS:
        prefix = mark if label in TOKEN_ROWS else ""
        cells = [prefix + render(report.training)]
        if report.validation is not None:
            cells.append(prefix + render(report.validation))
        table.add_row(label, *cells)
    return table


def marker_text(report: ValidationReport) -> Text | None:
    """Above the figures, so it is read first: the token counts are estimates, why, and when they become exact."""
    if report.tokenizer.exact:
        return None
    return Text(estimate_marker(report.tokenizer.note), style="italic")


def summary_text(report: ValidationReport) -> Text:
    text = Text()
    text.append(report_training_line(report), style="bold")
    if report.tokenizer.exact:
        text.append("\nTokens ", style="bold")
        text.append(f"counted exactly ({report.tokenizer.name})")
    text.append("\nChecked against ", style="bold")
    limit = report.training_context_limit
    text.append(report.model + (f", {limit:,} tokens per example" if limit else ""))
    if report.cancelled:
        text.append("\nThe check stopped early; these figures are partial.", style="italic")
    return text


def render_stats(report: ValidationReport) -> RenderableType:
    marker = marker_text(report)
    parts: list[RenderableType] = [marker, Text("")] if marker is not None else []
    return Group(*parts, stats_table(report), Text(""), summary_text(report))


class StatsPanel(VerticalScroll):
    """The statistics of the last finished validation, or a note saying why there are none."""

    DEFAULT_CSS = """
    StatsPanel { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Choose a training file to see its statistics.", id="stats-body")

    def show_note(self, note: str) -> None:
        self.query_one("#stats-body", Static).update(Text(note, style="italic"))

    def show_report(self, report: ValidationReport) -> None:
        self.query_one("#stats-body", Static).update(render_stats(report))
