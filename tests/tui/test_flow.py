"""The whole wizard against the real local engine and its tiny model, by keys alone, at 80×24:
first-run setup → model → sample data → options → submit → watch to success → chat beside the base model.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from textual.pilot import Pilot
from walk import chat, pick_model, save_first_profile, set_options, submit, use_sample_data, watch_to_end

from ftui.client import Backend
from ftui.config import load_settings
from ftui.jobs import JobStatus
from ftui.tui.app import make_app

TINY = "ftui-tiny-random"


def test_first_run_to_a_trained_model_and_a_chat_with_it(tui_env: Path) -> None:
    app = make_app(settings_path=tui_env)
    bells: list[None] = []
    app.bell = lambda: bells.append(None)  # type: ignore[method-assign]

    async def scenario(pilot: Pilot) -> None:
        await save_first_profile(pilot)
        assert stat.S_IMODE(tui_env.stat().st_mode) == 0o600

        await pick_model(pilot, TINY)
        assert app.wizard.model == TINY

        data = await use_sample_data(pilot)
        assert data.report is not None and data.report.errors == 0
        assert app.wizard.validation is not None, "the sample brings its validation file"

        await set_options(pilot, n_epochs="1", batch_size="8")
        dashboard = await submit(pilot)
        await watch_to_end(pilot, dashboard)
        assert dashboard.tracker.status is JobStatus.SUCCEEDED, dashboard.tracker.error_message
        assert dashboard.tracker.metrics, "the loss chart has points"
        assert bells == [None], "the bell rings once when the watched job ends"

        playground = await chat(pilot, "Where is my order?")
        tuned, base = playground.panes
        assert tuned.reply_text.strip() and base.reply_text.strip()

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(pilot)

    asyncio.run(main())

    backend = Backend.from_profile(load_settings(tui_env).active_profile(), start_local=False)
    [job] = backend.list_jobs()
    assert job.status == "succeeded"
    hyperparameters = job.method.supervised.hyperparameters
    assert (hyperparameters.n_epochs, hyperparameters.batch_size) == (1, 8)
