"""Snapshots of the jobs list, the dashboard and the playground, against Azure's published example bodies.

A loopback double serves the examples, so job ids, times and metrics are fixed; times are shown in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from cloud_double import CloudDouble
from pydantic import SecretStr
from textual.pilot import Pilot
from walk import until

from ftui.config import BackendKind, Profile, Settings, save_settings
from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.dashboard import DashboardScreen
from ftui.tui.screens.jobs import JobsScreen
from ftui.tui.screens.playground import PlaygroundScreen

JOB_ID = "ft-72a2792ef7d24ba7b82c7fe4a37e379f"
KEY = "snapshot-key"
SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def double() -> Iterator[CloudDouble]:
    with CloudDouble("azure", KEY) as running:
        yield running


@pytest.fixture
def azure_app(configured: Path, double: CloudDouble, monkeypatch: pytest.MonkeyPatch) -> FtuiApp:
    profile = Profile(
        name="azure",
        kind=BackendKind.AZURE,
        base_url=double.url,
        api_version="2025-04-01-preview",
        api_key=SecretStr(KEY),
    )
    save_settings(Settings().with_profile(profile), configured)
    # The double's port changes every run: keep it off the screen.
    monkeypatch.setattr(FtuiApp, "profile_label", property(lambda self: "azure · Azure OpenAI (example data)"))
    monkeypatch.setattr(JobsScreen, "timezone", UTC)
    monkeypatch.setattr(DashboardScreen, "timezone", UTC)
    return make_app(settings_path=configured)


async def settle(pilot: Pilot) -> None:
    screen = pilot.app.screen
    if isinstance(screen, CatalogScreen):  # the catalog asks the backend after its first frame
        await until(pilot, lambda: screen.live_settled, "the catalog's model list")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def show_jobs(pilot: Pilot) -> None:
    await pilot.press("f3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen) and JOB_ID in screen.jobs


async def show_dashboard(pilot: Pilot) -> None:
    await show_jobs(pilot)
    await pilot.press("enter")
    screen = pilot.app.screen
    assert isinstance(screen, DashboardScreen)
    while not screen.finished:
        await settle(pilot)
        await pilot.pause(0.1)
    await settle(pilot)


async def show_dashboard_details(pilot: Pilot) -> None:
    await show_dashboard(pilot)
    pilot.app.screen.query_one("#dash-tabs").active = "tab-details"  # type: ignore[attr-defined]
    await settle(pilot)


async def show_playground(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.push_screen(PlaygroundScreen(f"curie.ft-{JOB_ID.removeprefix('ft-')}", "curie", "You are terse."))
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_jobs_list(snap_compare, azure_app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(azure_app, terminal_size=size, run_before=show_jobs)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_dashboard(snap_compare, azure_app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(azure_app, terminal_size=size, run_before=show_dashboard)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_dashboard_details(snap_compare, azure_app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(azure_app, terminal_size=size, run_before=show_dashboard_details)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_playground_without_deployments(snap_compare, azure_app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(azure_app, terminal_size=size, run_before=show_playground)
