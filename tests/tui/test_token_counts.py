"""Token counts in the wizard at 80×24: an estimate says so where it is read, and turns exact once the local engine
has prepared the model; the data step, the options and the review show one trained-tokens figure."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ftui.catalog import load_catalog
from ftui.engine import models
from ftui.estimates import trained_tokens_text
from ftui.options import Estimate
from ftui.tui.app import FtuiApp
from ftui.tui.screens.data import DataScreen
from ftui.tui.screens.options import OptionsScreen
from ftui.tui.widgets.estimate import EstimatePanel

SMOLLM2 = "SmolLM2-135M-Instruct"
# What the engine saves when it prepares a model: its tokenizer (the tiny model's is SmolLM2's) and its config.
PREPARED_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json")
WAIT_S = 60.0


def run(app: FtuiApp, scenario: Callable[[Pilot], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def on_screen(app: FtuiApp) -> str:
    """The terminal's 24 lines as the user sees them."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


@pytest.fixture
def models_folder(app: FtuiApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models folder: SmolLM2 is not prepared yet."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("FTUI_MODELS_DIR", str(folder))
    return folder


def prepare_smollm2(tiny: Path, folder: Path) -> None:
    """What the engine leaves when it has prepared SmolLM2, as far as counting and estimating read it."""
    work = folder / f".{SMOLLM2}.partial"
    work.mkdir()
    for name in PREPARED_FILES:
        shutil.copy2(tiny / name, work / name)
    work.rename(folder / SMOLLM2)  # the engine renames a complete folder into place


def test_estimated_counts_are_marked_and_turn_exact_once_the_model_is_prepared(
    app: FtuiApp, models_folder: Path, tui_models: Path
) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard.model = SMOLLM2
        app.wizard.card = load_catalog().get(SMOLLM2)
        data = DataScreen()
        await app.push_screen(data)
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.click("#picker-sample")
        await wait_for(pilot, lambda: data.report is not None, "the sample's check")
        report = data.report
        assert report is not None and not report.tokenizer.exact
        # Marked where the statistics start, without scrolling, and in the figures themselves.
        shown = on_screen(app)
        assert "≈ Estimated token counts" in shown, shown
        assert "not prepared yet" in shown, shown
        estimated = trained_tokens_text(report.billable_tokens, report.n_epochs, True, exact=False)
        assert estimated.startswith("≈68,712")

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OptionsScreen), "the options step")
        await pilot.pause()
        panel = app.screen.query_one(EstimatePanel)
        assert isinstance(panel.result, Estimate) and not panel.result.tokens_exact
        assert panel.result.trained_tokens == report.billable_tokens  # one figure in both steps
        shown = on_screen(app)
        assert "≈68,712 tokens" in shown and "≈ Estimated token counts" in shown, shown
        # The first job prepares the model: its time is counted, and said.
        assert panel.result.prepare_model == "SmolLM2" and "prepare SmolLM2" in shown, shown

        # The engine prepares SmolLM2 (here: its files appear, as after a first job); back at the data step the
        # counts turn exact without the user doing anything.
        prepare_smollm2(tui_models / models.TINY_ID, models_folder)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is data, "the data step")
        await wait_for(
            pilot, lambda: data.report is not None and data.report.tokenizer.exact, "the exact count of the sample"
        )
        exact = data.report
        assert exact is not None and exact.training.total_tokens == 21_363  # what the engine reads for the sample
        await pilot.pause()
        shown = on_screen(app)
        assert "Estimated" not in shown and "≈" not in shown, shown

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, OptionsScreen), "the options step")
        await pilot.pause()
        panel = app.screen.query_one(EstimatePanel)
        assert isinstance(panel.result, Estimate) and panel.result.tokens_exact
        assert panel.result.trained_tokens == exact.billable_tokens == 64_089
        shown = on_screen(app)
        assert "64,089 tokens" in shown and "≈" not in shown and "to prepare" not in shown, shown

    run(app, scenario)
