"""What a job will do before it is submitted: steps, tokens, cost and time, from the data check's figures."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ftui.config import BackendKind
from ftui.estimates import cost_text, estimate_marker, token_figure, training_line
from ftui.options import Estimate
from ftui.textfmt import plural


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


def estimate_duration_text(result: Estimate) -> str:
    """'about 3 min, including about 1 min to prepare SmolLM2' while the local engine has not prepared the model."""
    text = duration_text(result.duration_seconds)
    if result.prepare_seconds and result.prepare_model:
        text += f", including {duration_text(result.prepare_seconds)} to prepare {result.prepare_model}"
    return text


def _local(kind: BackendKind) -> bool:
    return kind is BackendKind.LOCAL


def summary_line(result: Estimate | str, kind: BackendKind) -> str:
    """One line for the review screen."""
    if isinstance(result, str):
        return result
    line = training_line(
        result.trained_tokens,
        result.n_epochs,
        result.n_epochs_auto,
        local=_local(kind),
        cost_usd=result.cost_usd,
        exact=result.tokens_exact,
    )
    return f"{plural(result.steps, 'step')} · {line} · {estimate_duration_text(result)}"


def estimate_renderable(result: Estimate | str, kind: BackendKind) -> Group | Text:
    if isinstance(result, str):
        return Text(result)
    local = _local(kind)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Epochs", f"{result.n_epochs}" + (" (auto)" if result.n_epochs_auto else ""))
    grid.add_row("Batch size", f"{result.batch_size}")
    grid.add_row("Steps", f"{result.steps:,}")
    grid.add_row(
        "Trained" if local else "Billable", f"{token_figure(result.trained_tokens, result.tokens_exact)} tokens"
    )
    grid.add_row(
        "Cost", cost_text(result.cost_usd, local) + ("" if local or result.cost_usd is not None else " (see notes)")
    )
    grid.add_row("Duration", estimate_duration_text(result))
    parts: list[Table | Text] = [grid]
    if not result.tokens_exact:
        parts.append(Text(estimate_marker(result.tokens_note), style="italic"))
    notes = Text()
    for note in result.notes:
        notes.append(f"\n• {note}", style="dim")
    parts.append(notes)
    return Group(*parts)


class EstimatePanel(Static):
    """The estimate as a small table with its notes; ``show`` replaces it."""

    DEFAULT_CSS = """
    EstimatePanel { height: auto; }
    """

    result: Estimate | str | None = None

    def show(self, result: Estimate | str, kind: BackendKind) -> None:
        self.result = result
        self.update(estimate_renderable(result, kind))
