"""The footer shows the same keys as Textual's, without restyling each key after building it."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

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
