"""What every ftui screen shares: the top bar, the footer, F1 help, and backend calls off the UI thread.

Screens never talk HTTP: they hand a function of the ``Backend`` to ``call_backend``, which runs it in a thread
worker and delivers the result (or a ``BackendError`` with a plain message and a hint) back on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from ftui.tui.widgets.footer import KeysFooter
from ftui.tui.widgets.topbar import TopBar

if TYPE_CHECKING:  # the client layer imports the openai SDK, which the first screen must not wait for
    from ftui.client import Backend, BackendError
    from ftui.tui.app import FtuiApp

Result = TypeVar("Result")


def show_text(widget: Static, content: VisualType) -> None:
    """Set ``widget``'s content unless it already shows that. An update that can change the widget's size lays the
    whole screen out again (tens of milliseconds on a busy screen), so a widget whose size is fixed by its styles
    is only repainted; and most polls bring the same text."""
    if not _same_content(widget.content, content):
        widget.update(content, layout=not _size_is_fixed(widget))


def _size_is_fixed(widget: Widget) -> bool:
    """The styles set the widget's size whatever it shows (no ``auto`` dimension; an unset width fills the row)."""
    width, height = widget.styles.width, widget.styles.height
    return height is not None and not height.is_auto and (width is None or not width.is_auto)


def _same_content(shown: VisualType, new: VisualType) -> bool:
    if isinstance(shown, Text) and isinstance(new, Text):  # Text's own == ignores the style of the whole text
        return (shown.plain, shown.spans, shown.style, shown.justify) == (new.plain, new.spans, new.style, new.justify)
    return type(shown) is type(new) and shown == new


class FtuiScreen(Screen[Any]):
    """Base screen: a top bar naming the wizard step and profile, a body, and the footer with bindings."""

    # Which wizard step this screen is ("model", "data", "options", "review"), for the step bar; None elsewhere.
    STEP: ClassVar[str | None] = None
    # Markdown shown by F1: what this screen is for and how to use it.
    HELP: ClassVar[str] = ""

    BINDINGS: ClassVar[list[Binding]] = []

    @property
    def ftui(self) -> FtuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TopBar(step=self.STEP, id="topbar")
        yield from self.compose_body()
        yield KeysFooter()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def refresh_topbar(self) -> None:
        for bar in self.query(TopBar):
            bar.refresh_profile()

    # -- backend calls ------------------------------------------------------------------------------------------

    def call_backend(
        self,
        job: Callable[[Backend], Result],
        *,
        done: Callable[[Result], None],
        failed: Callable[[BackendError], None] | None = None,
        group: str = "backend",
        exclusive: bool = False,
        description: str = "",
    ) -> Worker[None]:
        """Run ``job(backend)`` in a thread; call ``done`` or ``failed`` on the UI thread if this screen is still up.

        Without ``failed`` the error becomes a notification with the message and what to do next.
        """

        def run() -> None:
            from ftui.client import BackendError, describe_error

            worker = get_current_worker()
            try:
                result = job(self.ftui.connect())
            except BackendError as exc:
                error = exc
            except Exception as exc:  # every failure becomes a message, never a crash
                error = describe_error(exc)
            else:
                if not worker.is_cancelled:
                    self.app.call_from_thread(self._deliver, done, result)
                return
            if not worker.is_cancelled:
                self.app.call_from_thread(self._deliver, failed or self.notify_error, error)

        return self.run_worker(
            run, thread=True, group=group, exclusive=exclusive, exit_on_error=False, description=description
        )

    def _deliver(self, callback: Callable[[Any], None], value: Any) -> None:
        if self.is_attached:
            callback(value)

    def notify_error(self, error: BackendError) -> None:
        self.notify(error.hint or " ", title=error.message, severity="error", timeout=10)
