"""Snapshots of the catalog on the local engine: its own models first, then a cloud model's card with the reason."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from walk import until

from ftui.tui.app import FtuiApp


async def settle(pilot: Pilot) -> None:
    screen = pilot.app.screen
    await until(pilot, lambda: screen.live_settled, "the backend's model list")  # type: ignore[attr-defined]
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.2)  # the card's markdown renders after the table


async def cloud_card(pilot: Pilot) -> None:
    await settle(pilot)
    screen = pilot.app.screen
    ids = [entry.model_id for entry in screen.shown]  # type: ignore[attr-defined]
    screen.query_one("#models", DataTable).move_cursor(row=ids.index("gpt-4o-mini-2024-07-18"))
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_catalog_on_local_engine(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_cloud_model_card_on_local_engine(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=cloud_card)
