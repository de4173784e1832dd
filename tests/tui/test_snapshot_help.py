"""Snapshot of F1 help over the model catalog, at 80×24 and 120×40."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from walk import until

from ftui.tui.app import FtuiApp
from ftui.tui.screens.help import HelpScreen


async def open_help(pilot: Pilot) -> None:
    catalog = pilot.app.screen
    await until(pilot, lambda: catalog.live_settled, "the catalog's model list")  # type: ignore[attr-defined]
    await pilot.app.workers.wait_for_complete()
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_help_over_the_catalog(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_help)
