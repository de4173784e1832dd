"""Does the screen say everything it has to say? Finds the app's own text cut at the edge of its widget, and footers
without F1.

A line is cut when the last word it shows touches the right edge of the widget's visible area and is only the start of
a word the widget holds ("Full valid a" for "Full validation accuracy", "no assistant reply to l…"). Words are compared
with the text the widget renders at unlimited width, so a wrapped line (which breaks between words) passes, and so does
a word that happens to end exactly at the edge. What the user typed (inputs, text areas) is theirs and is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.text import Text
from textual.app import App
from textual.content import Content
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, OptionList, RichLog, TextArea
from textual.widgets._footer import FooterKey

# Characters that separate words on screen besides spaces: box drawing, blocks and scrollbar parts.
_SEPARATORS = re.compile(r"[\s\u2500-\u259f▏▎▍▌▋▊▉]+")
_ELLIPSIS = "…"


def problems(app: App[object]) -> list[str]:
    """Each cut line and each footer without F1 on the app's current screen, described for an assertion message."""
    screen = app.screen
    compositor = screen._compositor
    lines = [strip.text for strip in compositor.render_strips()]
    found: list[str] = []
    for widget, (region, clip) in compositor.visible_widgets.items():
        if isinstance(widget, RichLog):
            found.extend(_log_lines_wider_than_view(widget))
            continue
        words = _own_words(widget)
        if not words:
            continue
        area = widget.content_region.intersection(clip).intersection(region)
        if area.width <= 1:
            continue
        for y in range(area.y, area.bottom):
            visible = lines[y][area.x : area.right]
            cut = _cut_word(visible, words)
            if cut is not None:
                found.append(f"{_name(widget)} line {y}: {visible.strip()!r} cuts {cut!r}")
    found.extend(_footer_problems(app))
    return found


def _cut_word(visible: str, words: set[str]) -> str | None:
    """The last word of ``visible`` when it touches the right edge and is only the start of one of ``words``."""
    if not visible or visible[-1].isspace():
        return None
    tokens = _SEPARATORS.split(visible)
    last = tokens[-1] if tokens else ""
    if not last or last in words:
        return None
    stem = last.removesuffix(_ELLIPSIS)
    if any(word.startswith(stem) and word != stem for word in words):
        return last
    return None


def _own_words(widget: Widget) -> set[str]:
    """The words of the text the widget shows, at unlimited width; empty for what the user typed."""
    if isinstance(widget, Input | TextArea) or widget.children:
        return set()  # typed by the user, or a container: its children hold its text
    return {word for text in _own_texts(widget) for word in _SEPARATORS.split(text) if word}


def _own_texts(widget: Widget) -> Iterable[str]:
    if isinstance(widget, DataTable):
        for column in widget.columns.values():
            yield column.label.plain
        for row_index in range(widget.row_count):
            for cell in widget.get_row_at(row_index):
                yield _plain(cell)
        return
    if isinstance(widget, OptionList):
        for index in range(widget.option_count):
            yield _plain(widget.get_option_at_index(index).prompt)
        return
    try:
        yield _plain(widget.render())
    except Exception:  # a widget that only renders inside its layout: nothing to compare with
        return


def _plain(renderable: object) -> str:
    if isinstance(renderable, str):
        return renderable
    if isinstance(renderable, Content | Text):
        return renderable.plain
    console = Console(width=1000, record=True, file=_Discard(), color_system=None)
    console.print(renderable)  # type: ignore[arg-type]
    return console.export_text()


def _log_lines_wider_than_view(log: RichLog) -> list[str]:
    """A log's lines are rendered at a width when written; none may be wider than the log shows."""
    width = log.scrollable_content_region.width
    return [
        f"{_name(log)} line {index}: {strip.text.strip()!r} is {strip.cell_length} cells in a {width}-cell log"
        for index, strip in enumerate(log.lines)
        if strip.text.rstrip() and len(strip.text.rstrip()) > width
    ]


def _footer_problems(app: App[object]) -> list[str]:
    footers = list(app.screen.query(Footer))
    if not footers:
        return [f"{_name(app.screen)} has no footer"]
    visible = app.screen._compositor.visible_widgets
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    for footer in footers:
        for key in footer.query(FooterKey):
            if key.key == "f1" and key in visible:
                region = key.region
                shown = lines[region.y][region.x : region.right]
                if "f1" in shown.lower() and region.right <= footer.region.right:
                    return []
    return [f"{_name(app.screen)}: the footer does not show F1"]


def _name(widget: Widget | object) -> str:
    if isinstance(widget, Widget):
        return f"{type(widget).__name__}#{widget.id}" if widget.id else type(widget).__name__
    return type(widget).__name__


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
