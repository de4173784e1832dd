"""Asking the backend again and again while a screen shows the answers: the jobs list and the job dashboard.

A ``Poller`` fetches in a worker through the screen's ``call_backend`` and hands the result to the screen on the UI
thread. The next fetch is armed with a one-off timer once the answer is in, so at most one request is in flight
however slow the backend is. While the backend does not answer, the waits grow (``ftui.jobs.backoff_seconds``, as
``ftui jobs watch`` does) and the poller says when it tries again. While another screen covers its screen, a due
fetch waits; it runs as soon as the screen is shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from textual.screen import Screen
from textual.timer import Timer

from ftui.jobs import backoff_seconds

if TYPE_CHECKING:  # the client layer loads the openai SDK; the backend call imports it off the UI thread
    from ftui.client import Backend, BackendError
    from ftui.tui.base import FtuiScreen

Result = TypeVar("Result")


@dataclass(frozen=True)
class Reconnecting:
    """The backend did not answer ``attempt`` times in a row; the next try is in ``delay`` seconds."""

    attempt: int
    delay: float
    error: BackendError

    def text(self) -> str:
        return f"! Reconnecting in {self.delay:.0f} s… (attempt {self.attempt}) — {self.error.message}"


class Poller(Generic[Result]):
    """Fetch ``request()``'s backend call now and every ``interval()`` seconds after each answer.

    ``request`` runs on the UI thread and returns the function to run in the worker, so each fetch can take the
    screen's latest state (the last event seen). ``done`` gets each answer; ``failed`` each failure, with when the
    next try is. ``stop`` ends polling until ``poll_now`` or ``start``.
    """

    def __init__(
        self,
        screen: FtuiScreen,
        request: Callable[[], Callable[[Backend], Result]],
        *,
        done: Callable[[Result], None],
        failed: Callable[[Reconnecting], None],
        interval: Callable[[], float],
        group: str,
    ) -> None:
        self.screen = screen
        self._request = request
        self._done = done
        self._failed = failed
        self._interval = interval
        self._group = group
        self.failures = 0
        self.reconnecting: Reconnecting | None = None
        self.in_flight = False
        self.stopped = False
        self.requests = 0  # fetches started, for tests and benchmarks
        self._again = False  # poll_now was asked for while a fetch was in flight
        self._due = False  # the timer fired while the screen was covered
        self._timer: Timer | None = None
        self._subscribed = False

    def start(self) -> None:
        """Fetch now, and follow the screen being covered and shown again. Call once the screen is mounted."""
        if not self._subscribed:
            self._subscribed = True
            self.screen.app.screen_change_signal.subscribe(self.screen, self._screen_changed)
        self.poll_now()

    def poll_now(self) -> None:
        """Fetch now, or right after the fetch in flight; polling goes on after a ``stop``."""
        self.stopped = False
        if self.in_flight:
            self._again = True
            return
        self._cancel_timer()
        self._due = False
        self.in_flight = True
        self.requests += 1
        self.screen.call_backend(self._request(), done=self._answered, failed=self._unanswered, group=self._group)

    def stop(self) -> None:
        """No more fetches after the one in flight (if any), until ``poll_now``."""
        self.stopped = True
        self._due = False
        self._cancel_timer()

    # -- inside ---------------------------------------------------------------------------------------------

    def _answered(self, result: Result) -> None:
        self.in_flight = False
        self.failures = 0
        self.reconnecting = None
        self._done(result)
        self._next(self._interval)

    def _unanswered(self, error: BackendError) -> None:
        self.in_flight = False
        self.failures += 1
        self.reconnecting = Reconnecting(self.failures, backoff_seconds(self.failures), error)
        self._failed(self.reconnecting)
        delay = self.reconnecting.delay
        self._next(lambda: delay)

    def _next(self, delay: Callable[[], float]) -> None:
        if self.in_flight:  # the callback asked for a fetch itself
            return
        if self._again:
            self._again = False
            self.poll_now()
        elif not self.stopped:
            self._cancel_timer()
            self._timer = self.screen.set_timer(delay(), self._fire, name=f"{self._group}-poll")

    def _fire(self) -> None:
        self._timer = None
        if self.stopped or self.in_flight:
            return
        if self.on_view:
            self.poll_now()
        else:
            self._due = True

    @property
    def on_view(self) -> bool:
        """The screen is on top, or shows through the see-through screens above it (a dialog).

        Textual's ``Screen.is_current`` also holds for the screen right below an opaque one (the help).
        """
        for screen in reversed(self.screen.app.screen_stack):
            if screen is self.screen:
                return True
            if screen.styles.background.a >= 1:
                return False
        return False

    def _screen_changed(self, _shown: Screen[Any]) -> None:
        if self._due and not self.stopped and self.on_view:
            self.poll_now()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
