"""The footer shows the same keys as Textual's, without restyling each key after building it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

from ftui.tui.app import FtuiApp
from ftui.tui.widgets.footer import KeysFooter


class FooterApp(App[None]):
    BINDINGS: ClassVar = [("f1", "help", "Help"), ("f3", "jobs", "Jobs")]

    def __init__(self, footer: Footer) -> None:
        super().__init__()
        self.footer = footer

    def compose(self) -> ComposeResult:
        yield self.footer


def footer_keys(footer_class: type[Footer], monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple], int]:
    flips = 0
    watch = FooterKey._watch_compact

    def counting_watch(self: FooterKey, compact: bool) -> None:
        nonlocal flips
        flips += self.has_class("-compact") != compact  # a change of class restyles the key
        watch(self, compact)

    monkeypatch.setattr(FooterKey, "_watch_compact", counting_watch)

    async def scenario() -> list[tuple]:
        app = FooterApp(footer_class())
        async with app.run_test(size=(80, 3)) as pilot:
            await pilot.pause()
            return [
                (key.key, key.description, key.compact, key.has_class("-compact"))
                for key in app.footer.query(FooterKey)
            ]

    keys = asyncio.run(scenario())
    return keys, flips


def test_same_keys_and_styles_as_textuals_footer_without_restyling(monkeypatch: pytest.MonkeyPatch) -> None:
    textual_keys, textual_flips = footer_keys(Footer, monkeypatch)
    ours, our_flips = footer_keys(KeysFooter, monkeypatch)
    assert ours == textual_keys
    assert ("f1", "Help", False, False) in ours
    assert any(compact for *_, compact in ours), "the command palette key stays compact"
    assert textual_flips >= len(textual_keys)
    assert our_flips == 0


class TwoFieldsApp(App[None]):
    BINDINGS: ClassVar = [("f1", "help", "Help"), ("ctrl+s", "save", "Save")]

    def __init__(self, footer: Footer) -> None:
        super().__init__()
        self.footer = footer
        self.can_save = True

    def compose(self) -> ComposeResult:
        yield Input(id="first")
        yield Input(id="second")
        yield self.footer

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.can_save or action != "save"  # False hides the key

    def action_save(self) -> None:
        pass


def keys_through_focus_moves_and_a_change(footer: Footer) -> tuple[list[str], list[str]]:
    """The keys shown after four focus moves, and after the save key stopped applying."""

    async def scenario() -> tuple[list[str], list[str]]:
        app = TwoFieldsApp(footer)
        async with app.run_test(size=(80, 5)) as pilot:
            await pilot.pause()
            for _ in range(4):
                await pilot.press("tab")
                await pilot.pause()
            before = [key.key for key in app.query(FooterKey)]
            app.can_save = False
            app.refresh_bindings()
            await pilot.pause(0.3)
            return before, [key.key for key in app.query(FooterKey)]

    return asyncio.run(scenario())


def test_the_footer_is_rebuilt_only_when_the_keys_it_shows_change(monkeypatch: pytest.MonkeyPatch) -> None:
    rebuilds: list[str] = []
    recompose = Footer.recompose

    async def counting_recompose(self: Footer) -> None:
        rebuilds.append(type(self).__name__)
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counting_recompose)
    textual_keys = keys_through_focus_moves_and_a_change(Footer())
    our_keys = keys_through_focus_moves_and_a_change(KeysFooter())
    assert our_keys == textual_keys
    assert our_keys == (["f1", "ctrl+s", "ctrl+p"], ["f1", "ctrl+p"])
    # Built once when the bindings were ready, once when the save key went; not on each move of focus.
    assert rebuilds.count("KeysFooter") == 2
    assert rebuilds.count("Footer") > 2


def shown_keys(footer: Footer) -> list[FooterKey]:
    """The footer's keys that are on screen, each whole within the footer."""
    visible = footer.screen._compositor.visible_widgets
    return [key for key in footer.query(FooterKey) if key.display and key in visible]


def test_f1_comes_first_and_keys_that_do_not_fit_are_left_out_whole(tui_env: Path) -> None:
    """At 80 columns the profiles screen has more keys than room: F1 stays in view and no key is cut."""
    from ftui.tui.app import make_app
    from ftui.tui.screens.setup import SetupScreen

    app = make_app(settings_path=tui_env)  # no settings yet: the first-run profiles screen

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            assert isinstance(app.screen, SetupScreen)
            footer = app.screen.query_one(Footer)
            keys = shown_keys(footer)
            palette = [key for key in keys if key.has_class("-command-palette")]
            assert len(palette) == 1
            for key in keys:
                assert footer.region.x <= key.region.x and key.region.right <= footer.region.right
                if key is not palette[0]:
                    assert key.region.right <= palette[0].region.x, f"{key.key} runs under the palette key"
            wide = [key.key for key in footer.query(FooterKey)]
            await pilot.resize_terminal(200, 24)
            await pilot.pause(0.3)
            return [key.key for key in keys], wide, [key.key for key in shown_keys(footer)]

    at_80, built, at_200 = asyncio.run(scenario())
    assert at_80[0] == "f1"
    assert len(at_80) < len(built), "the profiles screen has more keys than 80 columns hold"
    # With room for them, every key is back.
    assert sorted(at_200) == sorted(built)


def test_help_and_dialogs_show_f1_in_a_footer_of_their_own(app: FtuiApp) -> None:
    from ftui.tui.dialogs.savejob import SaveJobFile
    from ftui.tui.screens.help import HelpScreen

    async def scenario() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("f1")
            await pilot.pause(0.5)
            assert isinstance(app.screen, HelpScreen)
            seen["help"] = [key.key for key in shown_keys(app.screen.query_one(Footer))]
            await pilot.press("f1")
            await pilot.pause(0.3)
            assert not isinstance(app.screen, HelpScreen), "F1 closes help"
            await app.push_screen(SaveJobFile(Path("job.toml")))
            await pilot.pause(0.5)
            dialog = app.screen
            assert isinstance(dialog, SaveJobFile)
            seen["dialog"] = [key.key for key in shown_keys(dialog.query_one(Footer))]
            await pilot.press("f1")  # the app's keys stop at a dialog: it binds F1 itself
            await pilot.pause(0.5)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause(0.3)
            assert app.screen is dialog
        return seen

    seen = asyncio.run(scenario())
    assert seen["help"][0] == "f1"
    assert seen["dialog"][0] == "f1" and "escape" in seen["dialog"], seen
