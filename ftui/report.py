"""Plain-text renderings of validation reports and model cards, for the terminal and for logs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from ftui.catalog import TASK_LABELS, ModelCard, load_catalog
from ftui.dataset.findings import Finding, Severity
from ftui.dataset.validator import Distribution, FileStats, ValidationReport
from ftui.estimates import APPROXIMATE, training_line, training_price_text, trains_locally
from ftui.textfmt import format_number, plural

MAX_LISTED_PER_SEVERITY = 50
CLEAN_COMMAND = "'ftui data clean'"  # how findings that cleaning fixes name it here


def _distribution(value: Distribution | None) -> str:
    if value is None:
        return "-"
    return f"{format_number(value.min)} / {format_number(value.median)} / {format_number(value.p90)} / {format_number(value.max)}"


def _finding_line(item: Finding) -> str:
    return f"  {item.where()}: {item.text(CLEAN_COMMAND)} [{item.code}]"


def _findings_section(title: str, items: list[Finding], total: int) -> list[str]:
    if not total:
        return []
    lines = [f"{title} ({total:,})"]
    lines.extend(_finding_line(item) for item in items[:MAX_LISTED_PER_SEVERITY])
    hidden = total - min(len(items), MAX_LISTED_PER_SEVERITY)
    if hidden > 0:
        lines.append(f"  ... and {hidden:,} more (--json lists up to 1,000 of each kind)")
    return [*lines, ""]


def render_errors(report: ValidationReport, limit: int = 10) -> str:
    """The report's errors only, one line each (at most ``limit``), for a command that stops on them."""
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    lines = [_finding_line(item) for item in errors[:limit]]
    hidden = report.errors - len(lines)
    if hidden > 0:
        lines.append(f"  ... and {hidden:,} more")
    return "\n".join(lines)


def _stat_rows(training: FileStats, validation: FileStats | None, exact: bool) -> list[tuple[str, str, str]]:
    mark = "" if exact else APPROXIMATE  # token figures counted from an estimate

    def row(label: str, render: Callable[[FileStats], str], tokens: bool = False) -> tuple[str, str, str]:
        prefix = mark if tokens else ""
        return label, prefix + render(training), prefix + render(validation) if validation else ""

    return [
        row("lines", lambda s: format_number(s.lines)),
        row("valid examples", lambda s: format_number(s.examples)),
        row("lines with errors", lambda s: format_number(s.invalid_lines)),
        row("messages / example (min/med/p90/max)", lambda s: _distribution(s.messages_per_example)),
        row("tokens / example", lambda s: _distribution(s.tokens_per_example), tokens=True),
        row("trainable tokens / example", lambda s: _distribution(s.trainable_tokens_per_example), tokens=True),
        row("total tokens", lambda s: format_number(s.total_tokens), tokens=True),
        row("trainable tokens", lambda s: format_number(s.trainable_tokens), tokens=True),
        row("examples over the token limit", lambda s: format_number(s.examples_over_limit)),
        row("distinct system prompts", lambda s: format_number(s.distinct_system_prompts)),
        row("multi-turn examples", lambda s: f"{format_number(s.multi_turn_examples)} ({s.multi_turn_share:.0%})"),
        row("assistant turns with weight 0", lambda s: format_number(s.weight_zero_turns)),
        row("messages by role", lambda s: ", ".join(f"{k} {v:,}" for k, v in sorted(s.role_counts.items())) or "-"),
    ]


def _stat_table(training: FileStats, validation: FileStats | None, exact: bool) -> list[str]:
    """The statistics as columns: labels on the left, each file's figures right-aligned under its heading."""
    rows = _stat_rows(training, validation, exact)
    width = max(len(label) for label, _, _ in rows)
    train_width = max(len("training"), *(len(value) for _, value, _ in rows))
    header = f"{'Statistics':<{width}}  {'training':>{train_width}}"
    if validation is None:
        return [header, *(f"{label:<{width}}  {value:>{train_width}}" for label, value, _ in rows)]
    valid_width = max(len("validation"), *(len(value) for _, _, value in rows))
    return [
        f"{header}  {'validation':>{valid_width}}",
        *(f"{label:<{width}}  {value:>{train_width}}  {other:>{valid_width}}" for label, value, other in rows),
    ]


def render_report(report: ValidationReport) -> str:
    training, validation = report.training, report.validation
    files = training.path + (f" + {validation.path}" if validation else "")
    counted = f"tokenizer {report.tokenizer.name}" if report.tokenizer.exact else "token counts estimated (bytes/4)"
    lines = [f"ftui validate: {files}", f"model {report.model}, {counted}", ""]
    if report.cancelled:
        lines.append("Cancelled before the end of the file; the figures below are partial.")
    elif report.errors:
        lines.append(
            f"FAILED: {plural(report.errors, 'error')}, {plural(report.warnings, 'warning')}. "
            "Fix the errors before uploading."
        )
    elif report.warnings:
        lines.append(f"OK with {plural(report.warnings, 'warning')}.")
    else:
        lines.append("OK: no problems found.")
    lines.append("")
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    warnings = [f for f in report.findings if f.severity is Severity.WARNING]
    lines += _findings_section("Errors", errors, report.errors)
    lines += _findings_section("Warnings", warnings, report.warnings)
    lines += _stat_table(training, validation, report.tokenizer.exact)
    lines.append("")
    local = trains_locally(load_catalog().get(report.model))
    lines.append(
        report_training_line(report) + ("" if local or report.estimated_cost_usd is None else " at list price")
    )
    if report.tokenizer.note:
        lines.append(report.tokenizer.note)
    return "\n".join(lines)


def _wrapped(label: str, text: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=f"{label:<18}", subsequent_indent=" " * 18) or [label]


def render_card(card: ModelCard) -> str:
    def mark(field: str) -> str:
        return " (unconfirmed)" if not card.is_confirmed(field) else ""

    price = training_price_text(card)
    if card.training_price_note:
        price += f". {card.training_price_note}"
    facts = [
        ("Publisher", f"{card.publisher} ({card.family})"),
        ("Available on", ", ".join(card.providers) + mark("providers")),
        ("Tasks", ", ".join(TASK_LABELS[t] for t in card.tasks) + mark("tasks")),
        ("Methods", ", ".join(card.methods) + mark("methods")),
        ("Context window", format_number(card.context_window) + mark("context_window")),
        (
            "Training limit",
            f"{format_number(card.training_context_limit)} tokens per example" + mark("training_context_limit"),
        ),
        ("Tokenizer", card.tokenizer + mark("tokenizer")),
        ("Languages", ", ".join(card.languages) + mark("languages")),
        ("Capabilities", card.capabilities + mark("capabilities")),
        ("Pretraining data", card.pretraining_data + mark("pretraining_data")),
        ("Limitations", card.limitations + mark("limitations")),
        ("Biases", card.biases + mark("biases")),
        ("License", card.license + mark("license")),
        ("Training price", price + mark("training_price_per_1m_tokens")),
    ]
    lines = [f"{card.name}  [{card.id}]", ""]
    for label, text in facts:
        lines += _wrapped(label, text)
    if card.sources:
        lines += ["", "Sources:", *(f"  {source}" for source in card.sources)]
    return "\n".join(lines)


def report_training_line(report: ValidationReport) -> str:
    """A data check's trained tokens and their cost, as the CLI report and the data step's statistics say them."""
    return training_line(
        report.billable_tokens,
        report.n_epochs,
        report.n_epochs_auto,
        local=trains_locally(load_catalog().get(report.model)),
        cost_usd=report.estimated_cost_usd,
        exact=report.tokenizer.exact,
    )
