"""The catalog step against the real local engine: live merge, filters, search, refusals, choosing, errors."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static
from walk import until

from ftui.availability import Mark, merge
from ftui.catalog import Method, Provider, Task, load_catalog
from ftui.client import LiveModel
from ftui.config import BackendKind, Profile, Settings, save_settings
from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.setup import SetupScreen
from ftui.tui.state import WizardState
from ftui.tui.widgets.modelcard import card_text

TINY = "ftui-tiny-random"


def run(app: FtuiApp, scenario: Callable[[Pilot], Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot: Pilot) -> CatalogScreen:
    screen = pilot.app.screen
    if isinstance(screen, CatalogScreen):  # the backend is asked after the first frame
        await until(pilot, lambda: screen.live_settled, "the backend's model list")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, CatalogScreen)
    return screen


def shown_ids(screen: CatalogScreen) -> list[str]:
    return [entry.model_id for entry in screen.shown]


def marks(screen: CatalogScreen) -> dict[str, Mark]:
    return {entry.model_id: entry.availability.mark for entry in screen.shown}


async def highlight(pilot: Pilot, screen: CatalogScreen, model_id: str) -> None:
    table = screen.query_one("#models", DataTable)
    table.focus()
    table.move_cursor(row=shown_ids(screen).index(model_id))
    await pilot.pause()


def shown_card(screen: CatalogScreen) -> str:
    content = screen.query_one("#card", Static).content
    assert isinstance(content, Text)
    return content.plain


# -- merging, without a screen --------------------------------------------------------------------------------


def test_merge_marks_each_card_for_the_backend() -> None:
    live = [
        LiveModel("gpt-35-turbo-0125", fine_tunable=True),
        LiveModel("gpt-4o-2024-08-06", fine_tunable=False, reason="Fine-tuning retired for this model."),
        LiveModel("gpt-4o-2024-08-06.ft-abc", fine_tunable=False, is_fine_tuned=True),
        LiveModel("custom-base", fine_tunable=True, owned_by="lab"),
    ]
    entries = {e.model_id: e for e in merge(load_catalog(), provider=Provider.AZURE, backend_label="Azure", live=live)}
    assert entries["gpt-35-turbo-0125"].card is load_catalog().get("gpt-3.5-turbo-0125")  # the alias Azure uses
    assert entries["gpt-35-turbo-0125"].availability.mark is Mark.AVAILABLE
    assert entries["gpt-4o-2024-08-06"].availability.reason == "Fine-tuning retired for this model."
    assert entries["gpt-4.1-2025-04-14"].availability.mark is Mark.UNAVAILABLE  # not listed by this resource
    assert entries["SmolLM2-135M-Instruct"].availability.reason.endswith("switch to the local engine profile (F2).")
    assert "Foundry portal" in entries["Phi-4-mini-instruct"].availability.reason
    assert entries["custom-base"].card is None and entries["custom-base"].availability.usable
    assert "gpt-4o-2024-08-06.ft-abc" not in entries  # fine-tuned models are not base models


def test_merge_before_the_backend_answers_and_card_text() -> None:
    entries = merge(load_catalog(), provider=Provider.OPENAI, backend_label="OpenAI", live=None)
    gpt = next(e for e in entries if e.model_id == "gpt-4o-mini-2024-07-18")
    assert gpt.availability.mark is Mark.UNKNOWN and gpt.availability.usable
    text = card_text(gpt, "OpenAI").plain
    for heading in ("Capabilities", "Pretraining data", "Known limitations", "Biases", "Sources"):
        assert f"\n{heading}" in text
    assert "Methods: Supervised (SFT) (unconfirmed)" in text
    assert "Context: 128,000 tokens" in text and "Languages: " in text and "License: " in text


def test_card_sources_wrap_between_words_and_link_to_the_page() -> None:
    """A source's address would be cut mid-word in the card pane; it shows as its site and page, linked."""
    from rich.console import Console

    entries = merge(load_catalog(), provider=Provider.OPENAI, backend_label="OpenAI", live=None)
    for entry in entries:
        if entry.card is None or not entry.card.sources:
            continue
        text = card_text(entry, "OpenAI")
        assert "https://" not in text.plain
        links = {span.style.link for span in text.spans if not isinstance(span.style, str) and span.style.link}
        assert links == set(entry.card.sources)
        words = set(text.plain.split())
        console = Console(width=30, color_system=None, file=io.StringIO())
        for line in console.render_lines(text, pad=False):
            for word in "".join(segment.text for segment in line).split():
                assert word in words, f"{entry.model_id}: {word!r} is part of a word cut at 30 columns"


# -- the screen against the local engine ------------------------------------------------------------------------


def test_local_backend_marks_models_and_lists_live_ones(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        found = marks(screen)
        assert found[TINY] is Mark.AVAILABLE and found["SmolLM2-135M-Instruct"] is Mark.AVAILABLE
        assert found["gpt-4.1-mini-2025-04-14"] is Mark.UNAVAILABLE
        assert shown_ids(screen)[:2] == ["SmolLM2-135M-Instruct", TINY]  # what can be trained comes first
        assert "fine-tunable here" in str(screen.query_one("#live-status", Static).render())
        await highlight(pilot, screen, TINY)
        assert "No catalog card; reported by the backend." in shown_card(screen)
        await highlight(pilot, screen, "gpt-4.1-mini-2025-04-14")
        assert "switch to an OpenAI or Azure profile (F2)" in shown_card(screen)
        assert "✗" in str(screen.query_one("#reason", Static).render())
        assert screen.check_action("continue", ()) is None  # the footer dims Continue
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen) and app.wizard.model is None
        assert any("cannot be fine-tuned here" in (n.title or "") for n in app._notifications)

    run(app, scenario)


def test_the_table_is_filled_once_at_start_and_once_when_the_backend_answers(
    app: FtuiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    fills: list[bool] = []  # whether the backend had answered
    rebuild = CatalogScreen._rebuild

    def counting_rebuild(screen: CatalogScreen) -> None:
        fills.append(screen.live_settled)
        rebuild(screen)

    monkeypatch.setattr(CatalogScreen, "_rebuild", counting_rebuild)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        await pilot.pause(0.3)
        # The task and method selects report their first values after mount; they match the table already.
        assert fills == [False, True]
        screen.query_one("#method", Select).value = str(Method.DPO)
        await pilot.pause()
        assert fills == [False, True, True]

    run(app, scenario)


def test_filters_and_search(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        assert "t5-base" not in shown_ids(screen)  # chat completion by default
        screen.query_one("#task", Select).value = str(Task.TRANSLATION)
        await pilot.pause()
        assert shown_ids(screen) == ["t5-base"]
        screen.query_one("#task", Select).value = "all"
        screen.query_one("#method", Select).value = str(Method.DPO)
        await pilot.pause()
        assert shown_ids(screen) and all(id_.startswith("gpt-") for id_ in shown_ids(screen))
        screen.query_one("#method", Select).value = "all"
        await pilot.press("slash")
        await pilot.press(*"llama 3.1")
        await pilot.pause()
        assert shown_ids(screen) == ["Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct"]
        await pilot.press(*" nothing-like-this")
        await pilot.pause()
        assert shown_ids(screen) == []
        assert "No model matches" in shown_card(screen)

    run(app, scenario)


def test_choosing_a_local_model_fills_the_wizard_and_opens_the_data_step(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        await highlight(pilot, screen, TINY)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.wizard.model == TINY and app.wizard.card is None
        assert app.wizard.task is Task.CHAT_COMPLETION
        assert type(app.screen).__name__ == "DataScreen"

    run(app, scenario)


def test_a_cloned_run_preselects_its_model(app: FtuiApp) -> None:
    app.wizard.model = TINY

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        entry = screen.highlighted()
        assert entry is not None and entry.model_id == TINY

    run(app, scenario)


def test_a_new_run_starts_the_model_step_over(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        screen.query_one("#method", Select).value = str(Method.SUPERVISED)
        await pilot.press("slash", *"tiny")
        await pilot.pause()
        assert shown_ids(screen) == [TINY]
        await highlight(pilot, screen, TINY)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "DataScreen"
        # A run cloned from a job: back to the first screen, its filters reset, the job's model highlighted.
        app.start_wizard(WizardState(model="SmolLM2-135M-Instruct"))
        await pilot.pause()
        assert app.screen_stack == [screen]
        assert screen.query_one("#method", Select).value == "all"
        assert screen.query_one("#search", Input).value == ""
        assert isinstance(app.focused, DataTable)
        settled = await settle(pilot)
        entry = settled.highlighted()
        assert entry is not None and entry.model_id == "SmolLM2-135M-Instruct"
        assert {TINY, "gpt-4.1-mini-2025-04-14"} <= set(shown_ids(settled))

    run(app, scenario)


def test_an_unreachable_backend_keeps_the_catalog_usable(configured: Path) -> None:
    dead = Profile(name="lab", kind=BackendKind.COMPATIBLE, base_url="http://127.0.0.1:9/v1")
    save_settings(Settings().with_profile(dead), configured)
    app = make_app(settings_path=configured)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        assert "did not answer" in str(screen.query_one("#live-status", Static).render())
        assert "Could not reach 127.0.0.1:9" in shown_card(screen)
        assert marks(screen)["gpt-4o-2024-08-06"] is Mark.UNKNOWN
        assert len(screen.shown) > 5

    run(app, scenario)


def test_switching_profile_queries_the_new_backend(configured: Path) -> None:
    dead = Profile(name="lab", kind=BackendKind.COMPATIBLE, base_url="http://127.0.0.1:9/v1")
    save_settings(Settings().with_profile(dead, activate=False), configured)
    app = make_app(settings_path=configured)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        assert marks(screen)[TINY] is Mark.AVAILABLE
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("down", "enter", "escape")
        screen = await settle(pilot)
        assert app.profile.name == "lab"
        assert TINY not in shown_ids(screen)
        assert marks(screen)["SmolLM2-135M-Instruct"] is Mark.UNAVAILABLE

    run(app, scenario)


def test_the_live_count_is_of_what_the_filters_show(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        status = screen.query_one("#live-status", Static)
        assert str(status.render()) == "✓ Local engine: 2 fine-tunable here"
        screen.query_one("#task", Select).value = str(Task.TRANSLATION)  # lists only t5-base, not on this engine
        await pilot.pause()
        assert shown_ids(screen) == ["t5-base"]
        assert str(status.render()) == "✓ Local engine: 0 of 2 fine-tunable here match the filters"
        await pilot.press("slash", *"tiny")
        screen.query_one("#task", Select).value = "all"
        await pilot.pause()
        assert str(status.render()) == "✓ Local engine: 1 of 2 fine-tunable here match the filters"

    run(app, scenario)


def test_ctrl_t_opens_the_task_list_and_esc_leaves_the_search(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        task = screen.query_one("#task", Select)
        assert task.expanded and task.has_focus_within
        await pilot.press("escape")  # closes the list
        await pilot.pause()
        assert not task.expanded and app.screen is screen
        await pilot.press("slash", *"smol")
        await pilot.pause()
        assert screen.query_one("#search", Input).has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#models", DataTable).has_focus
        assert screen.query_one("#search", Input).value == "smol"  # the search still filters
        assert shown_ids(screen) == ["SmolLM2-135M-Instruct"]

    run(app, scenario)


def test_a_cloned_run_shows_its_model_card_from_the_top(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = await settle(pilot)
        await highlight(pilot, screen, "SmolLM2-135M-Instruct")
        pane = screen.query_one("#card-pane")
        pane.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert pane.scroll_y > 0
        app.start_wizard(WizardState(model="SmolLM2-135M-Instruct"))
        screen = await settle(pilot)
        assert pane.scroll_y == 0
        # Another model's card starts at its top too.
        pane.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        await highlight(pilot, screen, TINY)
        assert pane.scroll_y == 0

    run(app, scenario)
