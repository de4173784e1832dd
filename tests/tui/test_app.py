"""App-wide behaviour: F1 help for the current screen, every action in the command palette, NO_COLOR."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Select

from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.help import HelpScreen, key_label


def run(
    app: FtuiApp,
    scenario: Callable[[Pilot], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
    *,
    notifications: bool = False,
) -> None:
    async def main() -> None:
        async with app.run_test(size=size, notifications=notifications) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def test_f1_shows_help_for_the_current_screen_with_its_keys(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        assert isinstance(pilot.app.screen, CatalogScreen)
        await pilot.press("f1")
        await pilot.pause()
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        text = help_screen.source
        assert "base model" in text
        assert "| `Ctrl+N` | Continue |" in text or "Continue" in text
        assert "Ctrl+P" in text
        # The keys that work everywhere come from the app's bindings, each with its tooltip, listed once.
        for binding in FtuiApp.BINDINGS:
            assert f"| `{key_label(binding.key)}` | {binding.tooltip} |" in text
        assert text.count("`F3`") == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CatalogScreen)

    run(app, scenario)


def test_command_palette_lists_the_screen_actions_and_runs_them(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        commands = {command.title for command in pilot.app.get_system_commands(pilot.app.screen)}
        assert {"Continue", "Search", "Task filter", "Help", "Profiles", "Jobs", "Quit"} <= commands
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CommandPalette)
        await pilot.press(*"task filter")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CatalogScreen)
        task = pilot.app.screen.query_one("#task", Select)
        assert task.expanded and task.has_focus_within  # the task list is open

    run(app, scenario)


def test_no_color_turns_the_interface_monochrome(configured: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(settings_path=configured)
    assert app.no_color

    async def scenario(pilot: Pilot) -> None:
        assert isinstance(pilot.app.screen, CatalogScreen)
        assert pilot.app.screen.query_one("#search", Input)

    run(app, scenario)


def test_the_catalog_asks_the_backend_only_once_its_first_frame_is_painted(
    app: FtuiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connecting imports the openai SDK in a thread, which would compete with the first paint.
    painted_when_asked: list[bool] = []
    ask = CatalogScreen.query_live

    def recording_query_live(screen: CatalogScreen) -> None:
        painted_when_asked.append(screen.ftui._painted)
        ask(screen)

    monkeypatch.setattr(CatalogScreen, "query_live", recording_query_live)

    async def scenario(pilot: Pilot) -> None:
        catalog = pilot.app.screen
        assert isinstance(catalog, CatalogScreen)
        for _ in range(600):
            if catalog.live_settled:
                break
            await pilot.pause(0.05)
        assert catalog.live_settled and catalog.live_error is None

    run(app, scenario)
    assert painted_when_asked == [True]


def test_what_startup_loaded_is_left_out_of_garbage_collections_until_the_app_ends(app: FtuiApp) -> None:
    # A full collection over Textual, pydantic and the openai SDK took up to 120 ms, in the middle of keystrokes.
    frozen: list[int] = []

    async def scenario(pilot: Pilot) -> None:
        frozen.append(gc.get_freeze_count())

    run(app, scenario)
    assert frozen[0] > 10_000
    assert gc.get_freeze_count() == 0, "handed back when the app ended"


def test_the_palette_lists_each_action_once_without_cursor_moves(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        catalog = pilot.app.screen
        assert isinstance(catalog, CatalogScreen)
        assert pilot.app.focused is catalog.query_one("#models")  # a table, whose own keys move its cursor
        titles = [command.title for command in pilot.app.get_system_commands(catalog)]
        assert len(titles) == len(set(titles)), titles
        assert titles.count("Quit") == 1
        assert not [title for title in titles if title.startswith(("Cursor", "Page", "Scroll"))], titles
        assert "Bottom" not in titles and "Top" not in titles
        assert {"Continue", "Search", "Help", "Jobs", "Theme"} <= set(titles)

    run(app, scenario)


def test_notifications_leave_the_buttons_at_the_bottom_clear(app: FtuiApp) -> None:
    from textual.widgets import Button
    from textual.widgets._toast import Toast

    async def scenario(pilot: Pilot) -> None:
        button = pilot.app.screen.query_one("#continue", Button)
        pilot.app.notify("The backend answered in a long sentence that wraps onto a second line.", title="Note")
        pilot.app.notify("A second notification.", severity="warning")
        await pilot.pause(0.3)
        toasts = list(pilot.app.screen.query(Toast))
        assert len(toasts) == 2
        for toast in toasts:
            assert not toast.region.overlaps(button.region)
            assert toast.region.bottom <= 12, "toasts sit in the top half"
            assert toast.region.right == 80, "flush with the right edge: no column of the screen below beside it"

    run(app, scenario, notifications=True)
