"""Snapshots of the data step: the sample dataset's statistics, a file with errors and one example, the picker."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from ftui.catalog import LOCAL_BASE_MODEL, load_catalog
from ftui.tui.app import FtuiApp
from ftui.tui.screens.data import DataScreen
from ftui.tui.widgets.findings import FindingsList
from tests.tui.test_data_screen import choose_path, choose_sample, settle, write_bad_file

SIZES = [(80, 24), (120, 40)]


async def open_data(pilot: Pilot) -> DataScreen:
    app: FtuiApp = pilot.app  # type: ignore[assignment]
    await settle(pilot)
    app.wizard.model = LOCAL_BASE_MODEL
    app.wizard.card = load_catalog().get(LOCAL_BASE_MODEL)
    screen = DataScreen()
    await app.push_screen(screen)
    await settle(pilot)
    return screen


async def sample(pilot: Pilot) -> None:
    await open_data(pilot)
    await choose_sample(pilot)
    await settle(pilot)


async def errors(pilot: Pilot) -> None:
    write_bad_file(Path("bad.jsonl"))
    screen = await open_data(pilot)
    await choose_path(pilot, "t", "bad.jsonl")
    findings = screen.query_one(FindingsList)
    findings.options.focus()
    findings.options.highlighted = next(i for i, f in enumerate(findings.findings) if f.line == 7)
    await pilot.press("enter")
    await settle(pilot)


async def picker(pilot: Pilot) -> None:
    Path("datasets").mkdir()
    write_bad_file(Path("datasets") / "support.jsonl")
    Path("notes.txt").write_text("not shown: only folders and .jsonl files are")
    write_bad_file(Path("train.jsonl"))
    await open_data(pilot)
    await pilot.press("t")
    await settle(pilot)
    await pilot.pause(0.2)  # the tree loads its folder


@pytest.mark.parametrize("size", SIZES)
def test_data_sample(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=sample)


@pytest.mark.parametrize("size", SIZES)
def test_data_errors_with_example(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=errors)


def test_data_picker(snap_compare, app: FtuiApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=picker)
