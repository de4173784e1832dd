"""Polls that bring the same text do not touch the screen's layout."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from ftui.tui.base import show_text


class OneStatic(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("first", id="s")


def test_show_text_updates_only_on_change() -> None:
    async def scenario() -> list[str]:
        app = OneStatic()
        updates: list[str] = []
        async with app.run_test() as pilot:
            static = app.query_one("#s", Static)
            original = static.update

            def counting_update(content="", *, layout=True) -> None:
                updates.append(str(content))
                original(content, layout=layout)

            static.update = counting_update  # type: ignore[method-assign]
            show_text(static, "first")
            show_text(static, Text("styled", style="bold"))
            show_text(static, Text("styled", style="bold"))
            show_text(static, Text("styled", style="italic"))
            await pilot.pause()
            assert "styled" in str(static.render())
        return updates

    assert asyncio.run(scenario()) == ["styled", "styled"]
