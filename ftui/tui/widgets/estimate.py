"""What a job will do before it is submitted: steps, tokens, cost and time, from the data check's figures."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ftui.config import BackendKind
from ftui.options import Estimate


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown: depends on the service's queue"
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def cost_text(result: Estimate, kind: BackendKind) -> str:
    if kind is BackendKind.LOCAL:
        return "free (local)"
    if result.cost_usd is None:
        return "unknown (see notes)"
    return f"about ${result.cost_usd:,.2f}"


def summary_line(result: Estimate | str, kind: BackendKind) -> str:
    """One line for the review screen."""
    if isinstance(result, str):
        return result
    return (
        f"{result.steps:,} steps · {result.trained_tokens:,} trained tokens · "
        f"{cost_text(result, kind)} · {duration_text(result.duration_seconds)}"
    )


def estimate_renderable(result: Estimate | str, kind: BackendKind) -> Group | Text:
    if isinstance(result, str):
        return Text(result)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Epochs", f"{result.n_epochs}")
    grid.add_row("Batch size", f"{result.batch_size}")
    grid.add_row("Steps", f"{result.steps:,}")
    grid.add_row("Tokens", f"{result.trained_tokens:,} trained")
    grid.add_row("Billable", f"{result.billable_tokens:,} tokens")
    grid.add_row("Cost", cost_text(result, kind))
    grid.add_row("Duration", duration_text(result.duration_seconds))
    notes = Text()
    for note in result.notes:
        notes.append(f"\n• {note}", style="dim")
    return Group(grid, notes)


class EstimatePanel(Static):
    """The estimate as a small table with its notes; ``show`` replaces it."""

    DEFAULT_CSS = """
    EstimatePanel { height: auto; }
    """

    result: Estimate | str | None = None

    def show(self, result: Estimate | str, kind: BackendKind) -> None:
        self.result = result
        self.update(estimate_renderable(result, kind))
