"""Markdown shown as one rich renderable, laid out once per text and width.

Textual's ``Markdown`` widget mounts a widget per block, which costs style work on every screen that shows a help
page; one ``Static`` holding rich's rendering of the same text is drawn at once. Textual renders a widget's content
twice per layout (once to measure its height, once to draw it) and help pages are opened again and again, so the
rendered lines are kept, for the few texts and widths in use.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment
from textual.widgets import Static

_CACHE_SIZE = 32
_RenderKey = tuple[str, int, bool]
_rendered: OrderedDict[_RenderKey, list[list[Segment]]] = OrderedDict()


def rendered_lines(source: str, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
    """``source`` rendered at ``options.max_width``, from the cache when it was rendered before."""
    key = (source, options.max_width, options.ascii_only)
    lines = _rendered.get(key)
    if lines is None:
        lines = console.render_lines(Markdown(source), options.update(height=None), pad=False)
        _rendered[key] = lines
        if len(_rendered) > _CACHE_SIZE:
            _rendered.popitem(last=False)
    else:
        _rendered.move_to_end(key)
    return lines


class _MarkdownLines:
    def __init__(self, source: str) -> None:
        self.source = source

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in rendered_lines(self.source, console, options):
            yield from line
            yield newline


class MarkdownText(Static):
    def __init__(self, source: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(_MarkdownLines(source), id=id, classes=classes)
