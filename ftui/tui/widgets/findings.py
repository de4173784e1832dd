"""The validator's findings, one row each, by line: counts per kind on top, severity symbols, never colour alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ftui.dataset.findings import Code, DataFile, Finding, Severity, severity_of
from ftui.dataset.validator import ValidationReport
from ftui.textfmt import plural

# Rows kept in the list; the rest are counted in the summary. Keeps a file with many problems responsive.
MAX_ROWS = 2000
SYMBOLS = {Severity.ERROR: "✗", Severity.WARNING: "!"}

SHORT_LABELS: dict[Code, str] = {
    Code.INVALID_JSON: "not valid JSON",
    Code.NOT_UTF8: "not UTF-8 text",
    Code.NOT_AN_OBJECT: "not a JSON object",
    Code.NO_TRAINABLE_ASSISTANT: "no assistant reply to learn",
    Code.MISSING_MESSAGES: "no messages list",
    Code.EMPTY_MESSAGES: "empty messages list",
    Code.MISSING_CONTENT: "message without content",
    Code.MISSING_ROLE: "message without role",
    Code.NO_SYSTEM_MESSAGE: "no system message",
    Code.NO_USER_MESSAGE: "no user message",
    Code.LAST_NOT_ASSISTANT: "does not end with the assistant",
    Code.EMPTY_ASSISTANT_REPLY: "empty assistant reply",
    Code.DUPLICATE_EXAMPLE: "duplicate example",
    Code.SENSITIVE_DATA: "possible personal data",
    Code.TRAIN_VALIDATION_OVERLAP: "also in the training file",
    Code.TOO_MANY_TOKENS: "too many tokens",
    Code.FEW_EXAMPLES: "few examples",
    Code.TOO_FEW_EXAMPLES: "too few examples",
    Code.EMPTY_FILE: "empty file",
}


def short_label(finding: Finding) -> str:
    label = SHORT_LABELS.get(finding.code, finding.code.value.replace("_", " "))
    if finding.code is Code.SENSITIVE_DATA and finding.kind:
        label = f"possible {finding.kind.replace('_', ' ')}"
    return label


def finding_row(finding: Finding, *, name_files: bool) -> Text:
    """'✗ line 12  no assistant reply to learn'; with two files, 'val' marks the validation file's lines."""
    where = "file" if finding.line is None else f"line {finding.line}"
    if name_files and finding.file is DataFile.VALIDATION:
        where = f"val {where}"
    row = Text(f"{SYMBOLS[finding.severity]} ", style="bold", no_wrap=True, overflow="ellipsis")
    row.append(f"{where:<10} ", style="bold" if finding.is_error else "")
    row.append(short_label(finding))
    return row


def counts_text(errors: int, warnings: int, per_code: Counter[str], running: bool) -> Text:
    if not errors and not warnings:
        return Text("Checking…" if running else "✓ No problems found.", style="bold")
    head = Text(f"✗ {plural(errors, 'error')}", style="bold")
    head.append(f"  ! {plural(warnings, 'warning')}", style="bold")
    if running:
        head.append("  (so far)", style="italic")
    ordered = sorted(per_code.items(), key=lambda item: (severity_of(Code(item[0])) is Severity.WARNING, -item[1]))
    kinds = " · ".join(f"{SHORT_LABELS.get(Code(code), code.replace('_', ' '))} {n:,}" for code, n in ordered)
    head.append(f"\n{kinds}", style="dim")
    return head


class FindingsList(Vertical):
    """Counts per kind of problem, then one row per finding; highlighting a row announces it."""

    DEFAULT_CSS = """
    FindingsList { height: 1fr; }
    FindingsList #findings-summary { height: auto; max-height: 3; }
    FindingsList OptionList, FindingsList OptionList:focus {
        height: 1fr; border: none; padding: 0; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    class Highlighted(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    class Chosen(Message):
        """Enter or a click on a row: show its example."""

        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.findings: list[Finding] = []
        self.per_code: Counter[str] = Counter()
        self.errors = 0
        self.warnings = 0
        self.running = False
        self.name_files = False

    def compose(self) -> ComposeResult:
        yield Static("", id="findings-summary")
        yield OptionList(id="findings-options")

    @property
    def options(self) -> OptionList:
        return self.query_one("#findings-options", OptionList)

    def reset(self, note: str, *, running: bool, name_files: bool = False) -> None:
        self.findings = []
        self.per_code = Counter()
        self.errors = self.warnings = 0
        self.running = running
        self.name_files = name_files
        self.options.clear_options()
        self.query_one("#findings-summary", Static).update(Text(note, style="italic"))

    def add(self, findings: Iterable[Finding]) -> None:
        new_rows: list[Option] = []
        for item in findings:
            self.per_code[item.code.value] += 1
            if item.is_error:
                self.errors += 1
            else:
                self.warnings += 1
            if len(self.findings) < MAX_ROWS:
                new_rows.append(Option(finding_row(item, name_files=self.name_files), id=str(len(self.findings))))
                self.findings.append(item)
        if new_rows:
            self.options.add_options(new_rows)
        self._show_counts()

    def set_report(self, report: ValidationReport) -> None:
        """The final, complete picture: every count (also of findings not listed) and the findings in file order."""
        chosen = self.selected
        self.running = False
        self.errors, self.warnings = report.errors, report.warnings
        self.per_code = Counter(report.training.finding_counts)
        if report.validation is not None:
            self.per_code.update(report.validation.finding_counts)
        self.findings = list(report.findings[:MAX_ROWS])
        options = self.options
        options.clear_options()
        options.add_options(
            Option(finding_row(item, name_files=self.name_files), id=str(index))
            for index, item in enumerate(self.findings)
        )
        if chosen is not None and chosen in self.findings:
            options.highlighted = self.findings.index(chosen)
        self._show_counts()

    @property
    def selected(self) -> Finding | None:
        index = self.options.highlighted
        return self.findings[index] if index is not None and index < len(self.findings) else None

    def _show_counts(self) -> None:
        text = counts_text(self.errors, self.warnings, self.per_code, self.running)
        listed = len(self.findings)
        total = self.errors + self.warnings
        if total > listed and not self.running:
            text.append(f"\n{total - listed:,} more not listed.", style="dim")
        self.query_one("#findings-summary", Static).update(text)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index < len(self.findings):
            self.post_message(self.Highlighted(self.findings[event.option_index]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.findings):
            self.post_message(self.Chosen(self.findings[event.option_index]))
