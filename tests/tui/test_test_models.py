"""The tiny test model is the tests' alone: a user's catalog never offers it."""

from __future__ import annotations

import pytest
from test_catalog_screen import TINY, marks, run, settle, shown_ids
from textual.pilot import Pilot

from ftui.availability import Mark
from ftui.engine import models
from ftui.tui.app import FtuiApp


def test_the_catalog_offers_no_test_model_to_a_user(app: FtuiApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(models.TEST_MODELS_VARIABLE)  # as a user runs it: the engine the app starts inherits this

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        assert TINY not in shown_ids(screen)
        assert marks(screen)["SmolLM2-135M-Instruct"] is Mark.AVAILABLE

    run(app, scenario)
