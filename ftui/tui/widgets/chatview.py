"""One example of a data file, rendered as a chat with the problem a finding points at marked.

Secrets never appear in full: every sensitive span in the shown text is masked, the selected one highlighted.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ftui.dataset.examples import Turn, example_turns
from ftui.dataset.findings import Finding, Severity
from ftui.dataset.line_rules import content_text
from ftui.dataset.sensitive import SensitiveSpan, find_sensitive, line_may_contain_sensitive
from ftui.textfmt import plural

MAX_MESSAGE_CHARS = 1500
RAW_WINDOW_CHARS = 160
MARK = "reverse"
SYMBOLS = {Severity.ERROR: "✗", Severity.WARNING: "!"}


def mask_secret(text: str) -> str:
    """Enough of a matched secret to recognise it, never the whole of it."""
    shown = text[:2] if len(text) > 6 else ""
    return shown + "•" * min(8, max(3, len(text) - len(shown)))


def _points_at(location: str | None, path: str) -> bool:
    return location is not None and (location == path or location.startswith((path + ".", path + "[")))


def _role_label(turn: Turn) -> str:
    message = turn.message
    if not isinstance(message, dict):
        return f"{turn.heading}(not a message object)"
    role = message.get("role")
    label = f"{turn.heading}{role}" if isinstance(role, str) else f"{turn.heading}(no role)"
    if role == "assistant" and message.get("weight", 1) == 0:
        label += " · weight 0, not trained"
    if role == "tool" and isinstance(message.get("tool_call_id"), str):
        label += f" · answers {message['tool_call_id']}"
    if isinstance(message.get("name"), str):
        label += f" · {message['name']}"
    return label


def masked_text(text: str, scan: bool, selected: tuple[int, int] | None) -> Text:
    """``text`` with sensitive spans masked; the ``selected`` span (a finding's) highlighted."""
    spans: list[SensitiveSpan] = find_sensitive(text) if scan else []
    out = Text()
    cursor = 0
    for span in spans:
        out.append(text[cursor : span.start])
        is_selected = selected is not None and span.start < selected[1] and selected[0] < span.end
        masked = f"⟨{span.kind.value}: {mask_secret(text[span.start : span.end])}⟩"
        out.append(masked, style=f"bold {MARK}" if is_selected else "underline")
        cursor = span.end
    out.append(text[cursor:])
    if len(out) > MAX_MESSAGE_CHARS:
        hidden = len(out) - MAX_MESSAGE_CHARS
        out = out[:MAX_MESSAGE_CHARS]
        out.append(f" … ({hidden:,} more characters)", style="dim")
    return out


def _tool_calls(message: dict[str, Any]) -> Text:
    out = Text()
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                arguments = str(function.get("arguments", ""))[:200]
                out.append(f"\n→ calls {function.get('name', '?')}({arguments})", style="italic")
            else:
                out.append("\n→ (malformed tool call)", style="italic")
    return out


def _render_turn(turn: Turn, finding: Finding | None, scan: bool) -> Text:
    marked = finding is not None and _points_at(finding.location, turn.path)
    out = Text()
    heading = _role_label(turn).upper() if turn.heading else _role_label(turn)
    if marked and finding is not None:
        out.append(f"{SYMBOLS[finding.severity]} {heading}", style=f"bold {MARK}")
        out.append("  ← the problem is here", style="bold")
    else:
        out.append(heading, style="bold")
    out.append("\n")
    message = turn.message
    if not isinstance(message, dict):
        out.append(orjson.dumps(message).decode()[:MAX_MESSAGE_CHARS])
        return out
    content = message.get("content")
    text = content_text(content)
    selected = finding.span if marked and finding is not None and finding.span else None
    body = masked_text(text, scan, selected) if text else Text("(no text)", style="dim")
    if marked and finding is not None and not finding.span:
        body.stylize("underline")
    out.append_text(body)
    if isinstance(content, list):
        other = sum(1 for part in content if not (isinstance(part, dict) and part.get("type") == "text"))
        if other:
            out.append(f"\n(+{plural(other, 'non-text part')})", style="dim")
    out.append_text(_tool_calls(message))
    return out


_POSITION = re.compile(r"at character (\d+)")


def _raw_line(raw: bytes, finding: Finding | None) -> Text:
    """The raw text of a line that is not a JSON object, with the error position marked."""
    text = raw.decode("utf-8", errors="replace")
    position: int | None = None
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        position = exc.pos
    if position is None and finding is not None:
        match = _POSITION.search(finding.message)
        position = int(match.group(1)) - 1 if match else None
    scan = line_may_contain_sensitive(raw)
    out = Text("The raw line", style="bold")
    if position is None or position > len(text):
        out.append(":\n")
        out.append_text(masked_text(text[: RAW_WINDOW_CHARS * 2], scan, None))
        return out
    start = max(0, position - RAW_WINDOW_CHARS)
    out.append(f", around character {position + 1}:\n")
    if start:
        out.append("…", style="dim")
    out.append_text(masked_text(text[start:position], scan, None))
    out.append("⟦✗ here⟧", style=f"bold {MARK}")
    out.append_text(masked_text(text[position : position + RAW_WINDOW_CHARS], scan, None))
    if position + RAW_WINDOW_CHARS < len(text):
        out.append("…", style="dim")
    return out


def render_example(raw: bytes | None, finding: Finding | None) -> Text:
    """The example as a chat (or its raw text when it is not a JSON object), with ``finding`` marked."""
    if raw is None:
        return Text("This line is too long to show.", style="italic")
    try:
        example = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _raw_line(raw, finding)
    if not isinstance(example, dict):
        return _raw_line(raw, finding)
    turns = example_turns(example)
    if not turns:
        return _raw_line(raw, finding)
    scan = line_may_contain_sensitive(raw)
    out = Text()
    if finding is not None and not any(_points_at(finding.location, t.path) for t in turns):
        where = finding.location if finding.location not in (None, "messages") else "the conversation as a whole"
        out.append(f"{SYMBOLS[finding.severity]} The problem is in {where}.\n\n", style="bold")
    for index, turn in enumerate(turns):
        if index:
            out.append("\n\n")
        out.append_text(_render_turn(turn, finding, scan))
    return out


def finding_header(finding: Finding, clean_action: str) -> Text:
    """'✗ error · training, line 7', then the finding's message; ``clean_action`` names cleaning where it helps."""
    header = Text(f"{SYMBOLS[finding.severity]} {finding.severity.value}", style="bold")
    header.append(f" · {finding.where()}\n", style="bold")
    header.append(finding.text(clean_action))
    return header


class ChatView(VerticalScroll):
    """Shows one finding (its message, then its example as a chat), or an example with a note above it."""

    DEFAULT_CSS = """
    ChatView { height: 1fr; }
    ChatView #chat-header { padding: 0 0 1 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-header")
        yield Static("Select a finding to see its example here.", id="chat-body", classes="hint")

    def show_note(self, note: str) -> None:
        self.query_one("#chat-header", Static).update("")
        self.query_one("#chat-body", Static).update(note)
        self.scroll_home(animate=False)

    def show_example(self, note: str, example: Text | str) -> None:
        self.query_one("#chat-header", Static).update(Text(note, style="italic"))
        self.query_one("#chat-body", Static).update(example)
        self.scroll_home(animate=False)

    def show_finding(self, finding: Finding, example: Text | str | None, *, clean_action: str) -> None:
        """``clean_action`` is how this screen names cleaning ("Clean (c)"), for the findings that cleaning fixes."""
        self.query_one("#chat-header", Static).update(finding_header(finding, clean_action))
        if example is None:
            example = "This finding is about the whole file; there is no single example to show."
        self.query_one("#chat-body", Static).update(example)
        self.scroll_home(animate=False)
