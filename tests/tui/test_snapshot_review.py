"""Snapshots of the review & submit step at 80x24 and 120x40: ready, and after a failed submit."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from ftui.client import BackendError, ErrorKind
from ftui.dataset.fixes import copy_sample
from ftui.dataset.validator import validate_to_report
from ftui.options import Hyperparameters
from ftui.submit import DataChoice
from ftui.tui.app import FtuiApp
from ftui.tui.screens.review import ReviewScreen
from ftui.tui.state import WizardState

SIZES = [(80, 24), (120, 40)]


def sample_wizard() -> WizardState:
    training, validation = copy_sample(Path("data"))
    return WizardState(
        model="SmolLM2-135M-Instruct",
        training=DataChoice.local(training),
        validation=DataChoice.local(validation),
        report=validate_to_report(training, validation, model="SmolLM2-135M-Instruct"),
        hyperparameters=Hyperparameters(n_epochs=2),
        suffix="support-v1",
    )


async def open_review(pilot: Pilot, app: FtuiApp) -> ReviewScreen:
    await pilot.app.workers.wait_for_complete()
    app.wizard = sample_wizard()
    screen = ReviewScreen()
    await app.push_screen(screen)
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_review(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_review(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_review_after_a_failed_submit(snap_compare, app: FtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await open_review(pilot, app)
        # The state a real failure leaves (the failure itself is tested against the engine in test_options_review).
        app.wizard.seed = 1234
        screen.submitting = True
        screen._prepare_progress(screen._plan())
        screen._upload_progress("training", 20_000, 40_000)
        screen._submit_failed(
            BackendError(
                ErrorKind.NETWORK,
                "Could not reach the local engine at 127.0.0.1.",
                "Start it with 'ftui engine serve', then retry.",
            )
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
