"""A log of text lines that wraps them at its own width, and wraps them again whenever that width changes."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.widgets import RichLog


class EventLog(RichLog):
    """A RichLog that keeps the texts it was given and lays them out at its real width.

    A plain RichLog renders each line once, at the width it had when the line was written: lines written while
    the log is hidden (a tab not shown) come out at its minimum width, and lines written before a resize stay cut
    at the old width. This one keeps every text and renders them all again when its width changes, so a line is
    always wrapped at word boundaries to the width on screen.
    """

    DEFAULT_CSS = """
    EventLog { overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=True, min_width=1, id=id)
        self.texts: list[Text] = []
        self._laid_out_at = 0  # the width the lines were rendered at; 0 while the log has no width yet

    @property
    def _width(self) -> int:
        """The cells a line may take now (the vertical scrollbar is always there); 0 while hidden."""
        return max(0, self.scrollable_content_region.width)

    def add(self, texts: Iterable[Text]) -> None:
        """Append ``texts``, one or more screen lines each; they are rendered once the log has a width."""
        added = list(texts)
        if not added:
            return
        self.texts.extend(added)
        width = self._width
        if not width:
            return  # hidden: rendered when shown
        if width != self._laid_out_at:
            self._lay_out(width)
            return
        for text in added:
            self.write(text, width=width)

    def clear_texts(self) -> None:
        self.texts.clear()
        self._laid_out_at = 0
        self.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._catch_up()

    def on_show(self, event: events.Show) -> None:
        self._catch_up()

    def _catch_up(self) -> None:
        width = self._width
        if width and width != self._laid_out_at:
            self._lay_out(width)

    def _lay_out(self, width: int) -> None:
        """Render every text again at ``width``, keeping the view at the end when it was there."""
        self.clear()
        self._laid_out_at = width
        for text in self.texts:
            self.write(text, width=width, scroll_end=False)
        self.scroll_end(animate=False, immediate=False, x_axis=False)
