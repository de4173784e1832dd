"""Snapshots of the setup screen: the first run at 80×24 and 120×40, and an OpenAI profile using $OPENAI_API_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from ftui.tui.app import make_app


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def openai_with_env_key(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("ctrl+n", "down", "enter")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_first_run(snap_compare, tui_env: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(settings_path=tui_env), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_openai_profile_with_environment_key(
    snap_compare, configured: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-snapshot-never-shown")
    app = make_app(settings_path=configured)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f2")
        await openai_with_env_key(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
