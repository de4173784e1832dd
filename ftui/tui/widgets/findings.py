"""The validator's findings, one row each, by line: counts per kind on top, severity symbols, never colour alone."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.css.styles import RulesMap
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ftui.dataset.findings import Code, DataFile, Finding, Severity, severity_of
from ftui.dataset.validator import ValidationReport
from ftui.textfmt import plural

# Rows kept in the list; the rest are counted in the summary. Keeps a file with many problems responsive.
MAX_ROWS = 2000
SYMBOLS = {Severity.ERROR: "✗", Severity.WARNING: "!"}
WHERE_WIDTH = len("line 9999")  # rows' labels line up up to line 9,999

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


class HangingRow(Visual):
    """``head`` on the first line, ``body`` wrapped beside it: every further line is indented by the head's width,
    so a wrapped finding still reads as one row."""

    def __init__(self, head: Content, body: Content) -> None:
        self.head = head
        self.body = body
        self.indent = head.cell_length

    def __rich__(self) -> Text:
        """The row on one line, for whatever reads it as text rather than drawing it."""
        return Text(self.head.plain + self.body.plain)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return self.indent + self.body.cell_length

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.body.get_height(rules, max(1, width - self.indent))

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        body = self.body.render_strips(max(1, width - self.indent), height, style, options)
        head = self.head.render_strips(self.indent, 1, style, options)
        blank = Strip.blank(self.indent, style.rich_style)
        return [Strip.join([head[0] if index == 0 and head else blank, line]) for index, line in enumerate(body)]


def finding_row(finding: Finding, *, name_files: bool) -> HangingRow:
    """'✗ line 12  no assistant reply to learn', the label wrapped under itself when the pane is narrow; with two
    files, 'val' marks the validation file's lines."""
    where = "file" if finding.line is None else f"line {finding.line}"
    if name_files and finding.file is DataFile.VALIDATION:
        where = f"val {where}"
    width = WHERE_WIDTH + (len("val ") if name_files else 0)
    head = Content.assemble(
        (f"{SYMBOLS[finding.severity]} ", "bold"), (f"{where:<{width}} ", "bold" if finding.is_error else "")
    )
    return HangingRow(head, Content(short_label(finding)))


class Summary(Visual):
    """A head line, then items packed into lines with separators: a line breaks between two items, never inside one
    (unless one alone is wider than the pane), then a tail line."""

    SEPARATOR = " · "

    def __init__(self, head: Content, items: list[Content], tail: Content | None = None) -> None:
        self.head = head
        self.items = items
        self.tail = tail

    def text(self, width: int) -> Content:
        """The whole summary at ``width``, with a newline wherever the items break."""
        lines: list[list[Content]] = []
        used = 0
        for item in self.items:
            extra = len(self.SEPARATOR) + item.cell_length
            if lines and used + extra <= width:
                lines[-1].append(item)
                used += extra
            else:
                lines.append([item])
                used = item.cell_length
        parts = [self.head, *(Content(self.SEPARATOR).join(line).stylize("dim") for line in lines)]
        if self.tail is not None:
            parts.append(self.tail)
        return Content("\n").join(parts)

    def __rich__(self) -> Text:
        """The summary with all the items on one line, for whatever reads it as text rather than drawing it."""
        return Text(self.text(sys.maxsize).plain)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return self.text(container_width).get_optimal_width(rules, container_width)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.text(width).get_height(rules, width)

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        return self.text(width).render_strips(width, height, style, options)


# Counts per kind shown above the rows: the most frequent kinds, errors first; the rows list the rest.
MAX_KINDS_SHOWN = 4


def counts_summary(
    errors: int, warnings: int, per_code: Counter[str], *, running: bool, not_listed: int = 0
) -> Summary:
    """'✗ 2 errors  ! 1 warning', then counts per kind when a kind repeats (else each row names its kind already),
    then how many findings the list leaves out. A symbol only stands beside a count above zero."""
    if not errors and not warnings:
        return Summary(Content.styled("Checking…" if running else "✓ No problems found.", "bold"), [])
    parts = []
    if errors:
        parts.append(f"✗ {plural(errors, 'error')}")
    if warnings:
        parts.append(f"! {plural(warnings, 'warning')}")
    head = Content.styled("  ".join(parts), "bold")
    if running:
        head += Content.styled("  (so far)", "italic")
    kinds: list[str] = []
    if max(per_code.values(), default=0) > 1:
        ordered = sorted(per_code.items(), key=lambda item: (severity_of(Code(item[0])) is Severity.WARNING, -item[1]))
        kinds = [f"{SHORT_LABELS.get(Code(code), code.replace('_', ' '))} {n:,}" for code, n in ordered]
        if len(kinds) > MAX_KINDS_SHOWN:
            kinds = [*kinds[: MAX_KINDS_SHOWN - 1], plural(len(kinds) - MAX_KINDS_SHOWN + 1, "other kind")]
    tail = Content.styled(f"{not_listed:,} more not listed.", "dim") if not_listed and not running else None
    return Summary(head, [Content(kind) for kind in kinds], tail)


class FindingsList(Vertical):
    """Counts per kind of problem, then one row per finding; highlighting a row announces it."""

    DEFAULT_CSS = """
    FindingsList { height: 1fr; }
    FindingsList #findings-summary { height: auto; }
    FindingsList OptionList, FindingsList OptionList:focus { height: 1fr; border: none; padding: 0; text-wrap: wrap; }
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
        not_listed = self.errors + self.warnings - len(self.findings)
        summary = counts_summary(self.errors, self.warnings, self.per_code, running=self.running, not_listed=not_listed)
        self.query_one("#findings-summary", Static).update(summary)

    def focus_rows(self) -> None:
        """Move focus to the rows, the first one highlighted when none is."""
        self.options.focus()
        self._highlight_first()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget is self.options:
            self._highlight_first()

    def _highlight_first(self) -> None:
        if self.options.highlighted is None and self.findings:
            self.options.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index < len(self.findings):
            self.post_message(self.Highlighted(self.findings[event.option_index]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.findings):
            self.post_message(self.Chosen(self.findings[event.option_index]))
