"""Markdown shown as one rich renderable.

Textual's ``Markdown`` widget mounts a widget per block, which costs style work on every screen that shows a card
or a help page; one ``Static`` holding rich's rendering of the same text is drawn at once.
"""

from __future__ import annotations

from rich.markdown import Markdown
from textual.widgets import Static


class MarkdownText(Static):
    def __init__(self, source: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Markdown(source), id=id, classes=classes)
        self._source = source

    @property
    def source(self) -> str:
        return self._source

    def show(self, source: str) -> None:
        if source != self._source:
            self._source = source
            self.update(Markdown(source))
