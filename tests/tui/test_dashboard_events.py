"""The dashboard's events log wraps its lines at the width it has on screen: lines written while its tab is hidden,
and lines written before the terminal was resized, are laid out again when it is shown or resized."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static, TabbedContent, TabPane

from ftui.tui.widgets.eventlog import EventLog

EVENTS = [
    "12:00 · Created fine-tuning job: ftjob-2a6f3c9d0e1b4a5c8d7e6f90",
    "12:00 · Training SmolLM2-135M-Instruct on 120 examples: 3 epochs, batch size 4, learning rate 2.00e-04, seed 7",
    "12:01 · Training 90 steps (30 per epoch, batch size 4) with LoRA r=16, alpha=32 on 2 CPU threads.",
    "12:03 · New fine-tuned model created: ft:SmolLM2-135M-Instruct:northwind-v1:2a6f3c9d",
]


def expected_lines(texts: list[str], width: int) -> list[str]:
    """The texts wrapped at word boundaries to ``width`` cells, as rich wraps them."""
    console = Console(width=width, color_system=None)
    return [line.plain.rstrip() for text in texts for line in Text(text).wrap(console, width)]


def shown_lines(log: EventLog) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


def assert_fits(log: EventLog, texts: list[str]) -> None:
    width = log.scrollable_content_region.width
    assert width > 40, width
    lines = shown_lines(log)
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    assert lines == expected_lines(texts, width), (width, lines)


class Tabs(App[None]):
    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("Charts", id="tab-charts"):
                yield Static("charts")
            with TabPane("Events", id="tab-events"):
                yield EventLog(id="log")


def test_lines_written_while_hidden_wrap_at_the_width_shown_and_again_after_a_resize() -> None:
    async def scenario() -> None:
        app = Tabs()
        async with app.run_test(size=(120, 30)) as pilot:
            log = app.query_one(EventLog)
            await pilot.pause()
            log.add(Text(text) for text in EVENTS[:2])  # the Events tab is hidden
            await pilot.pause()
            app.query_one(TabbedContent).active = "tab-events"
            await pilot.pause()
            await pilot.pause()
            assert_fits(log, EVENTS[:2])
            log.add(Text(text) for text in EVENTS[2:])  # shown: written at once
            await pilot.pause()
            assert_fits(log, EVENTS)
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            await pilot.pause()
            assert_fits(log, EVENTS)
            assert any("alpha=32" in line for line in shown_lines(log))
            await pilot.resize_terminal(120, 30)
            await pilot.pause()
            await pilot.pause()
            assert_fits(log, EVENTS)
            assert len(shown_lines(log)) == len(EVENTS), "at 120 columns every event fits on one line"

    asyncio.run(scenario())


def test_lines_written_at_one_width_while_hidden_follow_a_resize_made_while_hidden() -> None:
    async def scenario() -> None:
        app = Tabs()
        async with app.run_test(size=(120, 30)) as pilot:
            app.query_one(TabbedContent).active = "tab-events"
            await pilot.pause()
            log = app.query_one(EventLog)
            log.add(Text(text) for text in EVENTS[:2])
            await pilot.pause()
            app.query_one(TabbedContent).active = "tab-charts"
            await pilot.pause()
            await pilot.resize_terminal(80, 24)
            log.add(Text(text) for text in EVENTS[2:])
            await pilot.pause()
            app.query_one(TabbedContent).active = "tab-events"
            await pilot.pause()
            await pilot.pause()
            assert_fits(log, EVENTS)

    asyncio.run(scenario())
