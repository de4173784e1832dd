"""What every ftui screen shares: the top bar, the footer, F1 help, and work off the UI thread.

Screens never talk HTTP, and never block the UI thread on a file: they hand a function to ``call_backend`` (a
function of the ``Backend``) or ``call_in_thread`` (a function of its ``Call``), which runs it in a thread worker
and delivers the result, or a ``BackendError`` with a plain message and a hint, back on the UI thread. The job can
report progress through its ``Call`` (delivered on the UI thread, thinned) and stops when its cancel event is set:
by the screen (Esc), by a newer call in the same exclusive group, or when the screen goes away. Full screens
(``FtuiScreen``) and dialogs (``FtuiModal``) share the one mechanism, ``ThreadCalls``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Callback
from textual.screen import ModalScreen, Screen
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker

from ftui.tui.widgets.footer import KeysFooter
from ftui.tui.widgets.topbar import TopBar

if TYPE_CHECKING:  # the client layer imports the openai SDK, which the first screen must not wait for
    from ftui.client import Backend, BackendError
    from ftui.tui.app import FtuiApp

    _ScreenBase = Screen[Any]
else:
    _ScreenBase = object

Result = TypeVar("Result")
Progress = TypeVar("Progress")
ModalResult = TypeVar("ModalResult")
# Progress reaches the screen at most this often; values reported in between wait and arrive together.
PROGRESS_INTERVAL_S = 0.05


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


class Call(Generic[Progress]):
    """One job in a thread, as the job sees it (``progress``, ``cancel``, ``backend``) and as the screen does
    (``stop``, ``finished``).

    ``progress(value)`` may be called from the job's thread as often as it likes: values are delivered on the UI
    thread in order, at most every ``PROGRESS_INTERVAL_S``. With ``coalesce``, a value replaces the one still
    waiting before it when both have the same key (byte counts of one file, say), so the screen sees the latest.
    """

    def __init__(
        self,
        owner: ThreadCalls,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        coalesce: Callable[[Progress], Hashable] | None = None,
        interval: float = PROGRESS_INTERVAL_S,
    ) -> None:
        self.cancel = threading.Event()
        self.finished = False
        self.worker: Worker[None] | None = None
        self._owner = owner
        self._on_progress = on_progress
        self._coalesce = coalesce
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: list[Progress] = []
        self._flush_posted = False
        self._last_flush = 0.0

    # -- for the job, in its thread -----------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def backend(self) -> Backend:
        """The app's backend for the active profile, connected on first use."""
        return self._owner.ftui.connect()

    def progress(self, value: Progress) -> None:
        """Hand ``value`` to the screen's progress callback (on the UI thread, soon)."""
        if self._on_progress is None:
            return
        with self._lock:
            last = self._pending[-1] if self._pending else None
            if last is not None and self._coalesce is not None and self._coalesce(last) == self._coalesce(value):
                self._pending[-1] = value
            else:
                self._pending.append(value)
            if self._flush_posted:
                return
            self._flush_posted = True
        self._owner.post_message(Callback(self._flush_soon))

    # -- for the screen, on the UI thread -----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the job to stop: sets ``cancel``. What it has delivered stays; ``failed`` or ``done`` still come."""
        self.cancel.set()

    def _live(self) -> bool:
        return self._owner.is_attached and not (self.worker is not None and self.worker.is_cancelled)

    def _flush_soon(self) -> None:
        wait = self._last_flush + self._interval - time.monotonic()
        if wait > 0:
            self._owner.set_timer(wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            values, self._pending = self._pending, []
            self._flush_posted = False
        self._last_flush = time.monotonic()
        if self._on_progress is not None:
            for value in values:
                if not self._live():
                    return
                self._on_progress(value)

    def _finish(self, deliver: Callable[[], None]) -> None:
        self.finished = True
        self._owner._forget(self)
        self._flush()  # progress reported before the end arrives before it
        if self._live():
            deliver()


class ThreadCalls(_ScreenBase):
    """Run jobs in thread workers and deliver their progress and outcome on the UI thread (screens and dialogs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._calls: dict[str, list[Call[Any]]] = {}  # running calls by group

    @property
    def ftui(self) -> FtuiApp:
        return cast("FtuiApp", self.app)

    def call_in_thread(
        self,
        job: Callable[[Call[Progress]], Result],
        *,
        done: Callable[[Result], None],
        failed: Callable[[BackendError], None] | None = None,
        progress: Callable[[Progress], None] | None = None,
        coalesce: Callable[[Progress], Hashable] | None = None,
        group: str = "thread",
        exclusive: bool = False,
        description: str = "",
    ) -> Call[Progress]:
        """Run ``job(call)`` in a thread; ``done(result)`` or ``failed(error)`` on the UI thread if this screen is
        still up and no newer call replaced it (``exclusive``: a newer call in ``group`` stops this one).

        Every exception becomes a ``BackendError`` (a message and what to do next); without ``failed`` it becomes a
        notification. ``progress`` gets what the job hands to ``call.progress``, on the UI thread.
        """
        call: Call[Progress] = Call(self, on_progress=progress, coalesce=coalesce)
        if exclusive:  # the worker manager cancels the older workers of the group: they deliver nothing
            self.stop_calls(group)
            self._calls.pop(group, None)
        self._calls.setdefault(group, []).append(call)
        report_failure = failed or self.notify_error

        def run() -> None:
            try:
                result = job(call)
            except Exception as exc:  # every failure becomes a message, never a crash
                from ftui.client import describe_error  # loads the openai SDK: here, off the UI thread

                error = describe_error(exc)
                self.post_message(Callback(partial(call._finish, partial(report_failure, error))))
            else:
                self.post_message(Callback(partial(call._finish, partial(done, result))))

        call.worker = self.run_worker(
            run, thread=True, group=group, exclusive=exclusive, exit_on_error=False, description=description
        )
        return call

    def call_backend(
        self,
        job: Callable[[Backend], Result],
        *,
        done: Callable[[Result], None],
        failed: Callable[[BackendError], None] | None = None,
        group: str = "backend",
        exclusive: bool = False,
        description: str = "",
    ) -> Call[None]:
        """Run ``job(backend)`` in a thread, as ``call_in_thread`` does. A job that reports progress or stops on
        request takes its ``Call`` instead: ``call_in_thread(lambda call: ...(call.backend(), cancel=call.cancel))``.
        """
        return self.call_in_thread(
            lambda call: job(call.backend()),
            done=done,
            failed=failed,
            group=group,
            exclusive=exclusive,
            description=description,
        )

    def stop_calls(self, group: str | None = None) -> None:
        """Set the cancel event of every running call (of ``group`` only, when given)."""
        for name, calls in self._calls.items():
            if group is None or name == group:
                for call in calls:
                    call.stop()

    def running_calls(self, group: str) -> list[Call[Any]]:
        return list(self._calls.get(group, []))

    def notify_error(self, error: BackendError) -> None:
        self.notify(error.hint or " ", title=error.message, severity="error", timeout=10)

    def on_unmount(self) -> None:
        self.stop_calls()  # the screen is gone: its jobs stop, and nothing they deliver is shown

    def _forget(self, call: Call[Any]) -> None:
        for calls in self._calls.values():
            if call in calls:
                calls.remove(call)


class FtuiScreen(ThreadCalls, Screen[Any]):
    """Base screen: a top bar naming the wizard step and profile, a body, and the footer with bindings."""

    # Which wizard step this screen is ("model", "data", "options", "review"), for the step bar; None elsewhere.
    STEP: ClassVar[str | None] = None
    # Markdown shown by F1: what this screen is for and how to use it.
    HELP: ClassVar[str] = ""

    BINDINGS: ClassVar[list[BindingType]] = []

    def compose(self) -> ComposeResult:
        yield TopBar(step=self.STEP, id="topbar")
        yield from self.compose_body()
        yield KeysFooter()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def refresh_topbar(self) -> None:
        for bar in self.query(TopBar):
            bar.refresh_profile()


class FtuiModal(ThreadCalls, ModalScreen[ModalResult]):
    """Base dialog: a modal screen that runs its work off the UI thread the way screens do, with a footer of its
    own keys (F1 first) under it."""

    # A dialog is modal: the app's own keys do not reach past it, so it binds F1 itself.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help", id="dialog.help", tooltip="What this dialog is for, and its keys"),
    ]

    def on_mount(self) -> None:  # called besides a dialog's own on_mount
        self.mount(KeysFooter())
