"""The poller behind the jobs list and the dashboard: one request in flight, backoff, paused while covered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App
from textual.screen import ModalScreen, Screen

from ftui.client_types import BackendError, ErrorKind
from ftui.jobs import backoff_seconds
from ftui.tui import poller as poller_module
from ftui.tui.poller import Poller, Reconnecting

INTERVAL = 0.05


class PolledScreen(Screen[None]):
    """A screen whose backend calls wait until the test answers them."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[Callable[[Any], None], Callable[[BackendError], None]]] = []
        self.results: list[str] = []
        self.failures: list[Reconnecting] = []
        self.poller: Poller[str] = Poller(
            self,  # type: ignore[arg-type]
            lambda: lambda backend: "unused",
            done=self.results.append,
            failed=self.failures.append,
            interval=lambda: INTERVAL,
            group="test-poll",
        )

    def call_backend(
        self, job: object, *, done: Callable[[Any], None], failed: Callable[[BackendError], None], **_: Any
    ) -> None:
        self.pending.append((done, failed))

    def on_mount(self) -> None:
        self.poller.start()

    def answer(self, value: str = "ok") -> None:
        done, _ = self.pending.pop(0)
        done(value)

    def fail(self) -> None:
        _, failed = self.pending.pop(0)
        failed(BackendError(ErrorKind.NETWORK, "The backend did not answer.", "Check the network."))


class PollApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.polled = PolledScreen()

    def on_mount(self) -> None:
        self.push_screen(self.polled)


def run(scenario: Callable[[PollApp, PolledScreen], Any]) -> None:
    async def main() -> None:
        app = PollApp()
        async with app.run_test() as pilot:
            await pilot.pause()
            await scenario(app, app.polled)

    asyncio.run(main())


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_one_request_in_flight_and_a_request_during_it_follows_it() -> None:
    async def scenario(app: PollApp, screen: PolledScreen) -> None:
        poller = screen.poller
        assert poller.requests == 1 and poller.in_flight
        # The timer interval passes, and a refresh is asked for: still the one request.
        await asyncio.sleep(INTERVAL * 4)
        poller.poll_now()
        assert poller.requests == 1 and len(screen.pending) == 1
        screen.answer("first")
        # The refresh asked for during the request runs at once, not after the interval.
        assert screen.results == ["first"] and poller.requests == 2 and poller.in_flight
        screen.answer("second")
        assert not poller.in_flight
        # Then the timer re-arms it.
        await wait_for(lambda: poller.requests == 3)
        assert len(screen.pending) == 1

    run(scenario)


def test_failures_back_off_and_an_answer_resets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # Short waits, in the same proportions as the real ones.
    monkeypatch.setattr(poller_module, "backoff_seconds", lambda attempt: backoff_seconds(attempt) / 20)

    async def scenario(app: PollApp, screen: PolledScreen) -> None:
        poller = screen.poller
        screen.fail()
        assert poller.failures == 1 and poller.reconnecting is not None
        assert poller.reconnecting.delay == pytest.approx(1 / 20)
        assert poller.reconnecting.text().startswith("! Reconnecting in 0 s… (attempt 1) — The backend did not answer.")
        await wait_for(lambda: poller.requests == 2)
        screen.fail()
        assert poller.failures == 2 and poller.reconnecting.delay == pytest.approx(2 / 20)
        assert [failure.attempt for failure in screen.failures] == [1, 2]
        await wait_for(lambda: poller.requests == 3)
        screen.answer()
        assert poller.failures == 0 and poller.reconnecting is None

    run(scenario)


def test_the_poller_waits_while_its_screen_is_covered_and_resumes_when_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: PollApp, screen: PolledScreen) -> None:
        poller = screen.poller
        await app.push_screen(Screen())
        await asyncio.sleep(0.05)
        screen.answer()
        # The interval passes many times over: no request while another screen covers this one.
        await asyncio.sleep(INTERVAL * 8)
        assert poller.requests == 1 and not screen.pending
        app.pop_screen()
        await wait_for(lambda: poller.requests == 2)

    run(scenario)


def test_the_poller_goes_on_under_a_see_through_dialog() -> None:
    async def scenario(app: PollApp, screen: PolledScreen) -> None:
        poller = screen.poller
        await app.push_screen(ModalScreen())
        await asyncio.sleep(0.05)
        assert poller.on_view
        screen.answer()
        await wait_for(lambda: poller.requests == 2)

    run(scenario)


def test_stop_ends_polling_until_asked_again() -> None:
    async def scenario(app: PollApp, screen: PolledScreen) -> None:
        poller = screen.poller
        poller.stop()
        screen.answer()  # the request in flight still delivers
        await asyncio.sleep(INTERVAL * 4)
        assert screen.results == ["ok"] and poller.requests == 1
        poller.poll_now()
        assert poller.requests == 2

    run(scenario)
