"""Work off the UI thread (``ThreadCalls``): results, failures, thinned progress and cancel, on a bare app."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.widgets import Static

from ftui.client_types import BackendError, ErrorKind
from ftui.tui.base import Call, FtuiModal


class Dialog(FtuiModal[None]):
    """A dialog that records what its calls deliver, and on which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[int] = []
        self.done: list[object] = []
        self.failed: list[BackendError] = []
        self.threads: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static("dialog")

    def got_progress(self, value: int) -> None:
        self.threads.add(threading.get_ident())
        self.progress.append(value)

    def got_done(self, value: object) -> None:
        self.threads.add(threading.get_ident())
        self.done.append(value)

    def got_failed(self, error: BackendError) -> None:
        self.failed.append(error)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def run_with_dialog(scenario: Callable[[App[None], Dialog], object]) -> None:
    async def main() -> None:
        app: App[None] = App()
        async with app.run_test():
            dialog = Dialog()
            await app.push_screen(dialog)
            await scenario(app, dialog)  # type: ignore[misc]

    asyncio.run(main())


def test_progress_arrives_in_order_on_the_ui_thread_thinned_and_before_the_result() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        ui_thread = threading.get_ident()

        def job(call: Call[int]) -> str:
            for value in range(2000):
                call.progress(value)
                if value % 100 == 0:
                    time.sleep(0.02)
            return "finished"

        dialog.call_in_thread(job, done=dialog.got_done, progress=dialog.got_progress, coalesce=lambda _: "count")
        await wait_until(lambda: bool(dialog.done))
        assert dialog.done == ["finished"]
        assert dialog.progress[-1] == 1999, "the last value reported arrives, before the result"
        assert dialog.progress == sorted(dialog.progress)
        assert len(dialog.progress) < 200, "values reported between two deliveries are thinned to the latest"
        assert dialog.threads == {ui_thread}

    run_with_dialog(scenario)


def test_every_value_arrives_without_coalesce() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        def job(call: Call[int]) -> None:
            for value in range(500):
                call.progress(value)

        dialog.call_in_thread(job, done=dialog.got_done, progress=dialog.got_progress)
        await wait_until(lambda: bool(dialog.done))
        assert dialog.progress == list(range(500))

    run_with_dialog(scenario)


def test_stop_sets_the_cancel_event_the_job_watches() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        started = threading.Event()

        def job(call: Call[None]) -> str:
            started.set()
            if not call.cancel.wait(10):
                return "not cancelled"
            raise BackendError(ErrorKind.CANCELLED, "Stopped.")

        call = dialog.call_in_thread(job, done=dialog.got_done, failed=dialog.got_failed, group="work")
        await asyncio.to_thread(started.wait, 10)
        assert dialog.running_calls("work") == [call]
        dialog.stop_calls("work")  # what Esc does
        await wait_until(lambda: bool(dialog.failed))
        assert call.cancelled and call.finished
        assert [error.kind for error in dialog.failed] == [ErrorKind.CANCELLED] and not dialog.done
        assert dialog.running_calls("work") == []

    run_with_dialog(scenario)


def test_any_exception_becomes_a_message() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        def job(call: Call[None]) -> None:
            raise KeyError("oops")

        dialog.call_in_thread(job, done=dialog.got_done, failed=dialog.got_failed)
        await wait_until(lambda: bool(dialog.failed))
        assert dialog.failed[0].kind is ErrorKind.UNEXPECTED and "KeyError" in dialog.failed[0].message

    run_with_dialog(scenario)


def test_a_newer_exclusive_call_stops_the_older_and_only_the_newer_delivers() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        def slow(call: Call[None]) -> str:
            call.cancel.wait(10)
            return "old"

        old = dialog.call_in_thread(slow, done=dialog.got_done, group="load", exclusive=True)
        dialog.call_in_thread(lambda call: "new", done=dialog.got_done, group="load", exclusive=True)
        await wait_until(lambda: bool(dialog.done))
        await asyncio.sleep(0.1)
        assert old.cancelled and dialog.done == ["new"]
        assert dialog.running_calls("load") == []

    run_with_dialog(scenario)


def test_closing_the_dialog_cancels_its_calls_and_drops_their_results() -> None:
    async def scenario(app: App[None], dialog: Dialog) -> None:
        started = threading.Event()

        def job(call: Call[int]) -> str:
            started.set()
            call.cancel.wait(10)
            call.progress(1)
            return "late"

        call = dialog.call_in_thread(job, done=dialog.got_done, progress=dialog.got_progress)
        await asyncio.to_thread(started.wait, 10)
        dialog.dismiss(None)
        await wait_until(lambda: call.cancelled)
        await asyncio.sleep(0.2)
        assert dialog.done == [] and dialog.progress == []

    run_with_dialog(scenario)
