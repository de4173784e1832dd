"""Snapshots of the advanced-options step at 80x24 and 120x40."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from ftui.dataset.fixes import copy_sample
from ftui.dataset.validator import validate_to_report
from ftui.options import Hyperparameters
from ftui.submit import DataChoice
from ftui.tui.app import FtuiApp
from ftui.tui.screens.options import OptionsScreen
from ftui.tui.state import WizardState

SIZES = [(80, 24), (120, 40)]


def sample_wizard() -> WizardState:
    training, validation = copy_sample(Path("data"))
    return WizardState(
        model="SmolLM2-135M-Instruct",
        training=DataChoice.local(training),
        validation=DataChoice.local(validation),
        report=validate_to_report(training, validation, model="SmolLM2-135M-Instruct"),
        hyperparameters=Hyperparameters(n_epochs=2, learning_rate_multiplier=0.5),
    )


async def settle(pilot: Pilot) -> None:
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_options(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        app.wizard = sample_wizard()
        await app.push_screen(OptionsScreen())
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_options_with_an_invalid_suffix(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        app.wizard = sample_wizard()
        app.wizard.suffix = "my model"
        app.wizard.hyperparameters = Hyperparameters()
        await app.push_screen(OptionsScreen())
        app.screen.query_one("#input-batch_size", Input).focus()
        await pilot.press("0")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
