"""Markdown shown as one rich renderable, laid out once per width.

Textual's ``Markdown`` widget mounts a widget per block, which costs style work on every screen that shows a help
page; one ``Static`` holding rich's rendering of the same text is drawn at once. Textual renders a widget's content
twice per layout (once to measure its height, once to draw it), so the rendered lines are kept per width.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment
from textual.widgets import Static


class _RenderedOnce:
    """A renderable that keeps its lines for each width it was rendered at."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._lines: dict[int, list[list[Segment]]] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self._lines.get(options.max_width)
        if lines is None:
            lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
            self._lines[options.max_width] = lines
        newline = Segment.line()
        for line in lines:
            yield from line
            yield newline


class MarkdownText(Static):
    def __init__(self, source: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(_RenderedOnce(Markdown(source)), id=id, classes=classes)
        self._source = source

    @property
    def source(self) -> str:
        return self._source

    def show(self, source: str) -> None:
        if source != self._source:
            self._source = source
            self.update(_RenderedOnce(Markdown(source)))
