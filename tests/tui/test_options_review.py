"""The advanced-options and review & submit steps, driven by keys and clicks against the real local engine."""

from __future__ import annotations

import asyncio
import io
import math
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from ftui.catalog import Method
from ftui.config import BackendKind, Profile
from ftui.dataset.fixes import copy_sample
from ftui.dataset.validator import validate_to_report
from ftui.engine import paths, server
from ftui.options import Estimate, Hyperparameters
from ftui.submit import DataChoice
from ftui.tui.app import FtuiApp
from ftui.tui.screens.options import OptionsScreen
from ftui.tui.screens.review import ReviewScreen
from ftui.tui.state import WizardState
from ftui.tui.widgets.estimate import EstimatePanel

MODEL = "ftui-tiny-random"
# The tiny model has no catalog card; the data is checked against the local model it shares a tokenizer with.
CHECK_MODEL = "SmolLM2-135M-Instruct"
WAIT_S = 90


def wizard_with_sample(**choices: object) -> WizardState:
    """The bundled sample copied next to the test (relative paths), checked, with the tiny model chosen."""
    training, validation = copy_sample(Path("data"))
    report = validate_to_report(training, validation, model=CHECK_MODEL)
    return WizardState(
        model=MODEL,
        training=DataChoice.local(training),
        validation=DataChoice.local(validation),
        report=report,
        **choices,  # type: ignore[arg-type]
    )


def text_of(widget: Static) -> str:
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def run(app: FtuiApp, scenario: Callable[[Pilot], Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def wait_for(pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


async def type_into(pilot: Pilot, field: str, text: str) -> None:
    box = pilot.app.screen.query_one(f"#input-{field}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text)
    await pilot.pause()


# -- options -----------------------------------------------------------------------------------------------------


def test_invalid_values_show_messages_and_block_continue(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample()
        await app.push_screen(OptionsScreen())
        screen = app.screen
        assert isinstance(screen, OptionsScreen)

        await type_into(pilot, "n_epochs", "0")
        assert "Epochs must be a whole number from 1 to 50" in text_of(screen.query_one("#message-n_epochs", Static))
        assert screen.query_one("#options-continue", Button).disabled
        assert "✗ Epochs must be a whole number" in text_of(screen.query_one("#options-reason", Static))
        await pilot.press("ctrl+n")
        assert app.screen is screen, "Continue is blocked while a field is invalid"

        await type_into(pilot, "n_epochs", "2")
        await type_into(pilot, "suffix", "my model!")
        assert "letters" in text_of(screen.query_one("#message-suffix", Static))
        assert screen.query_one("#options-continue", Button).disabled

        await type_into(pilot, "suffix", "x" * 70)
        assert "allows 64" in text_of(screen.query_one("#message-suffix", Static))

        await type_into(pilot, "suffix", "support-v1")
        await type_into(pilot, "seed", "-3")
        assert "Seed must be a whole number" in text_of(screen.query_one("#message-seed", Static))
        await type_into(pilot, "seed", "42")

        await type_into(pilot, "learning_rate_multiplier", "abc")
        assert "LR multiplier must be a number" in text_of(
            screen.query_one("#message-learning_rate_multiplier", Static)
        )
        await type_into(pilot, "learning_rate_multiplier", "0.5")
        warning = text_of(screen.query_one("#message-learning_rate_multiplier", Static))
        assert "above the suggested 0.02-0.2" in warning
        assert not screen.query_one("#options-continue", Button).disabled, "a warning does not block"

        # Only the methods the backend can run are offered; beta (DPO only) is hidden.
        assert not screen.query_one("#row-beta").display

        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert app.wizard.hyperparameters == Hyperparameters(n_epochs=2, learning_rate_multiplier=0.5)
        assert (app.wizard.seed, app.wizard.suffix) == (42, "support-v1")

        # Back and forward keeps the values in their boxes.
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OptionsScreen)
        assert app.screen.query_one("#input-n_epochs", Input).value == "2"

    run(app, scenario)


def test_a_wrong_value_is_explained_in_view_in_the_forms_words(app: FtuiApp) -> None:
    """At 80×24 the LR multiplier's box is at the bottom of its pane: what is wrong with "abc" is on screen as soon
    as it is typed, beside the buttons and under the field, and says "LR multiplier", never the API's name."""

    def on_screen(screen: OptionsScreen) -> str:
        return "\n".join(strip.text for strip in screen._compositor.render_strips())

    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample()
        await app.push_screen(OptionsScreen())
        screen = app.screen
        assert isinstance(screen, OptionsScreen)
        await pilot.pause()
        box = screen.query_one("#input-learning_rate_multiplier", Input)
        for _ in range(6):  # Tab to the LR multiplier's box, as a user does
            if app.focused is box:
                break
            await pilot.press("tab")
        assert app.focused is box
        await pilot.press(*"abc")
        await pilot.pause(0.3)
        shown = on_screen(screen)
        reason = text_of(screen.query_one("#options-reason", Static))
        assert "LR multiplier must be a number above 0 and at most 10" in reason
        assert "learning_rate_multiplier" not in shown and "n_epochs" not in shown
        message = screen.query_one("#message-learning_rate_multiplier", Static)
        fields = screen.query_one("#options-fields")
        assert fields.scrollable_content_region.contains_region(message.region), "the field's message is in view"
        # Two wrong fields: the first is explained, the other named.
        await type_into(pilot, "n_epochs", "0")
        reason = text_of(screen.query_one("#options-reason", Static))
        assert "Epochs must be a whole number from 1 to 50; fix LR multiplier too" in " ".join(reason.split())

    run(app, scenario, size=(80, 24))


def test_valid_values_update_the_estimate(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample()
        examples = app.wizard.report.training.examples  # type: ignore[union-attr]
        await app.push_screen(OptionsScreen())
        panel = app.screen.query_one(EstimatePanel)
        assert isinstance(panel.result, Estimate)
        assert panel.result.cost_usd == 0.0 and panel.result.billable_tokens == 0

        await type_into(pilot, "n_epochs", "2")
        await type_into(pilot, "batch_size", "4")
        assert isinstance(panel.result, Estimate)
        assert (panel.result.n_epochs, panel.result.batch_size) == (2, 4)
        assert panel.result.steps == math.ceil(examples / 4) * 2
        shown = text_of(panel)
        assert f"Steps      {panel.result.steps}" in shown
        assert "free" in shown and "Duration" in shown

        tokens_for_two = panel.result.trained_tokens
        await type_into(pilot, "n_epochs", "1")
        assert panel.result.steps == math.ceil(examples / 4)
        assert panel.result.trained_tokens * 2 == tokens_for_two

        # An invalid value leaves the last valid estimate in place.
        await type_into(pilot, "batch_size", "4x")
        assert panel.result.batch_size == 4

        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen.query_one("#input-batch_size", Input).value == ""
        assert any("auto batch size" in note for note in panel.result.notes)

    run(app, scenario)


def test_dpo_shows_beta_and_a_cloud_backend_has_its_own_suffix_limit(app: FtuiApp) -> None:
    openai = Profile(name="openai", kind=BackendKind.OPENAI, api_key_env="OPENAI_API_KEY")
    app.settings = app.settings.with_profile(openai)

    async def scenario(pilot: Pilot) -> None:
        app.wizard = WizardState(model="gpt-4.1-mini-2025-04-14", training=DataChoice.local(Path("train.jsonl")))
        await app.push_screen(OptionsScreen())
        screen = app.screen
        assert isinstance(screen, OptionsScreen)
        assert not screen.query_one("#row-beta").display
        screen.query_one("#method", Select).focus()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert screen.method is Method.DPO
        assert screen.query_one("#row-beta").display

        await type_into(pilot, "beta", "3")
        assert "Beta (DPO) must be a number above 0 and at most 2" in text_of(screen.query_one("#message-beta", Static))
        assert screen.check_action("continue", ()) is None, "the footer dims Continue"
        await type_into(pilot, "beta", "0.1")
        assert screen.check_action("continue", ())

        await type_into(pilot, "suffix", "s" * 65)
        assert "OpenAI allows 64" in text_of(screen.query_one("#message-suffix", Static))
        await type_into(pilot, "suffix", "prefs")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert app.wizard.method is Method.DPO and app.wizard.hyperparameters.beta == 0.1
        assert "No estimate yet" in text_of(app.screen.query_one("#review-estimate", Static))

    run(app, scenario)


def test_uploaded_training_file_has_no_estimate(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard = WizardState(model=MODEL, training=DataChoice.uploaded("file-abc", "train.jsonl"))
        await app.push_screen(OptionsScreen())
        panel = app.screen.query_one(EstimatePanel)
        assert isinstance(panel.result, str) and "need a local file" in panel.result

    run(app, scenario)


# -- review and submit -------------------------------------------------------------------------------------------


def test_review_labels_keep_their_column_and_the_method_reads_as_elsewhere(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        folder = Path("data") / "a-folder-with-a-rather-long-name" / "and-another-one-under-it"
        training, validation = copy_sample(folder)
        app.wizard = WizardState(
            model=MODEL, training=DataChoice.local(training), validation=DataChoice.local(validation)
        )
        await app.push_screen(ReviewScreen())
        await pilot.pause()
        table = app.screen.query_one("#review-table", Static)
        region = table.content_region
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        rows = [lines[y][region.x : region.right] for y in range(region.y, region.bottom)]
        method = next(row for row in rows if row.startswith("Method"))
        assert method.split() == ["Method", "Supervised", "(SFT)", "o", "edit"]
        # Every value starts in one column, a space clear of the longest label.
        starts = {len(row) - len(row[len("Validation") :].lstrip()) for row in rows if row[:1].strip()}
        assert starts == {len("Validation") + 1}, rows
        # The long path is there in full, folded within its column.
        shown = "".join(row[len("Validation") + 1 :].split("d edit")[0].strip() for row in rows)
        assert str(validation) in shown

    run(app, scenario)


def test_review_blocks_submit_until_a_training_file_is_chosen(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard = WizardState(model=MODEL)
        await app.push_screen(ReviewScreen())
        screen = app.screen
        assert "Choose a training file first" in text_of(screen.query_one("#review-reason", Static))
        assert screen.query_one("#review-submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and not screen.submitting

    run(app, scenario)


def _jobs(app: FtuiApp) -> list:
    return app.connect().list_jobs()


def record_submitted(app: FtuiApp) -> list[str]:
    """The job ids the review hands to ``show_submitted_job``, which still opens the jobs list and dashboard."""
    shown: list[str] = []
    original = app.show_submitted_job

    def show(job_id: str) -> None:
        shown.append(job_id)
        original(job_id)

    app.show_submitted_job = show  # type: ignore[method-assign]
    return shown


def test_submit_uploads_creates_the_job_and_opens_its_dashboard(app: FtuiApp) -> None:
    from ftui.tui.screens.dashboard import DashboardScreen

    shown = record_submitted(app)

    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample(hyperparameters=Hyperparameters(n_epochs=1), suffix="review-test")
        await app.push_screen(ReviewScreen())
        review = app.screen
        summary = text_of(review.query_one("#review-table", Static))
        assert "northwind-train.jsonl" in summary and "Epochs 1" in summary
        assert "generated at submit" in summary and "review-test" in summary

        await pilot.click("#review-submit")
        await wait_for(pilot, lambda: bool(shown), "the submitted job")

        assert app.wizard.seed is not None, "the generated seed is kept in the wizard"
        jobs = await asyncio.to_thread(_jobs, app)
        assert len(jobs) == 1
        job = jobs[0]
        assert shown == [job.id]
        assert job.model == MODEL and job.seed == app.wizard.seed
        assert job.method.supervised.hyperparameters.n_epochs == 1
        assert job.validation_file and job.training_file
        assert job.user_provided_suffix == "review-test" or "review-test" in (job.fine_tuned_model or job.id)
        # A clone of the job can fall back on the local files once the backend no longer has the uploads.
        assert app.wizard.training is not None and app.wizard.validation is not None
        assert app.wizard.training.path is not None and app.wizard.validation.path is not None
        assert app.uploaded_from == {
            job.training_file: app.wizard.training.path.absolute(),
            job.validation_file: app.wizard.validation.path.absolute(),
        }
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the job's dashboard")

    run(app, scenario)


def _restart_engine_on(port: int) -> None:
    """Start the engine again on the port the app's backend already points at."""
    log = paths.log_path().open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "ftui", "engine", "serve", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ | {"FTUI_HOME": str(paths.home())},
    )
    log.close()
    deadline = time.monotonic() + 60
    while server.running_engine() is None:
        assert time.monotonic() < deadline, "the engine did not come back"
        time.sleep(0.1)


def test_a_failed_submit_says_what_to_do_keeps_everything_and_retry_succeeds(app: FtuiApp) -> None:
    from ftui.tui.screens.dashboard import DashboardScreen

    shown = record_submitted(app)

    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample(hyperparameters=Hyperparameters(n_epochs=1), seed=7)
        backend = await asyncio.to_thread(app.connect)
        state = server.running_engine()
        assert state is not None
        await app.push_screen(ReviewScreen())
        review = app.screen
        assert isinstance(review, ReviewScreen)
        before = text_of(review.query_one("#review-table", Static))

        await asyncio.to_thread(server.stop)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: review.failed, "the failure panel")
        panel = text_of(review.query_one("#review-error", Static))
        assert "Submit failed:" in panel and "What to do next:" in panel
        assert "Every choice is kept" in panel
        assert review.query_one("#review-submit", Button).label.plain == "Retry"
        assert text_of(review.query_one("#review-table", Static)) == before
        assert app.wizard.seed == 7 and app.wizard.hyperparameters.n_epochs == 1

        await asyncio.to_thread(_restart_engine_on, state.port)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(shown), "the job after retry")
        jobs = await asyncio.to_thread(backend.list_jobs)
        assert [(job.id, job.seed) for job in jobs] == [(shown[0], 7)]
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the job's dashboard")

    run(app, scenario)


@pytest.mark.parametrize("key", ["m", "d", "o"])
def test_edit_shortcuts_pop_back_to_their_step(app: FtuiApp, key: str) -> None:
    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample()
        await app.push_screen(OptionsScreen())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press(key)
        await pilot.pause()
        expected = {"m": "model", "d": "data", "o": "options"}[key]
        if key == "d":  # no data screen in this stack: the review stays and says so
            assert isinstance(app.screen, ReviewScreen)
        else:
            assert getattr(app.screen, "STEP", None) == expected

    run(app, scenario)


def test_f1_help_explains_every_field() -> None:
    from ftui.options import FIELD_DETAIL

    for detail in FIELD_DETAIL.values():
        assert detail in OptionsScreen.HELP
    assert "Ctrl+R" in OptionsScreen.HELP and "Ctrl+S" in ReviewScreen.HELP


def test_s_saves_the_choices_as_a_job_file_and_asks_before_replacing_one(app: FtuiApp) -> None:
    from ftui.jobfile import JobFile
    from ftui.tui.dialogs.savejob import SaveJobFile

    async def scenario(pilot: Pilot) -> None:
        app.wizard = wizard_with_sample(hyperparameters=Hyperparameters(n_epochs=2), seed=7, suffix="first")
        review = ReviewScreen()
        await app.push_screen(review)
        await pilot.pause()

        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SaveJobFile)
        assert dialog.query_one("#save-job-path", Input).value == str(Path("data") / "job.toml")
        await pilot.press("enter")
        saved = Path("data/job.toml")
        await wait_for(pilot, saved.exists, "the job file")
        assert app.screen is review
        job_file = JobFile.load(saved)
        assert (job_file.model, job_file.seed, job_file.suffix) == (MODEL, 7, "first")
        assert job_file.training_file == "northwind-train.jsonl", "relative to the job file's folder"
        assert job_file.validation_file is not None and job_file.hyperparameters.n_epochs == 2
        loaded = WizardState.from_job_file(job_file).training
        assert loaded is not None and loaded.path is not None and app.wizard.training is not None
        assert app.wizard.training.path is not None
        assert loaded.path.resolve() == app.wizard.training.path.resolve()

        # The file exists now: the first Enter asks, the second replaces it.
        app.wizard.suffix = "second"
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveJobFile)
        assert "exists" in text_of(app.screen.query_one("#save-job-message", Static))
        assert JobFile.load(saved).suffix == "first"
        await pilot.press("enter")
        await wait_for(pilot, lambda: JobFile.load(saved).suffix == "second", "the replaced job file")
        assert app.screen is review

    run(app, scenario)


def test_data_with_errors_stops_submit_with_the_errors_listed_and_nothing_uploaded(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        bad = Path("bad.jsonl")
        bad.write_text('{"messages": [{"role": "user", "content": "Hi"}]}\n{"messages": \n')
        app.wizard = WizardState(model=MODEL, training=DataChoice.local(bad))  # not checked on the data step
        review = ReviewScreen()
        await app.push_screen(review)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: review.failed, "the failure panel")
        panel = text_of(review.query_one("#review-error", Static))
        assert "error" in panel and "nothing was uploaded" in panel
        assert "training, line 2" in panel and "Press d" in panel
        assert review.submission.uploaded == {}
        files = await asyncio.to_thread(lambda: list(app.connect().list_files()))
        assert files == []

    run(app, scenario)
