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


class SizedStatics(App[None]):
    CSS = "#fixed { height: 1; width: 1fr; } #auto-height { width: 1fr; }"

    def compose(self) -> ComposeResult:
        yield Static("", id="fixed")
        yield Static("", id="auto-height")


def test_a_widget_whose_styles_fix_its_size_is_repainted_without_a_layout() -> None:
    async def scenario() -> dict[str, list[bool]]:
        app = SizedStatics()
        layouts: dict[str, list[bool]] = {"fixed": [], "auto-height": []}
        async with app.run_test() as pilot:
            for name, flags in layouts.items():
                static = app.query_one(f"#{name}", Static)
                original = static.update

                def recording_update(content="", *, layout=True, flags=flags, original=original) -> None:
                    flags.append(layout)
                    original(content, layout=layout)

                static.update = recording_update  # type: ignore[method-assign]
                show_text(static, "step 3/10")
            await pilot.pause()
            assert "step 3/10" in str(app.query_one("#fixed", Static).render())
        return layouts

    assert asyncio.run(scenario()) == {"fixed": [False], "auto-height": [True]}
