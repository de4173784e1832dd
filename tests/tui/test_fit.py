"""Every screen says everything at 80×24 and at 120×40: no line of the app's own text is cut mid-word, and every
screen's footer shows F1.

One walk per size through the whole wizard against the real engine and its tiny model: first-run setup, the catalog
with a model card read to its end, help, the data step with a file full of errors and with the sample, the file
picker, the options with a bad value, review, the dashboard's tabs while the job trains and after it ends, the jobs
list and the playground. The walk collects what it finds on each screen and reports all of it at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fit import problems
from test_data_screen import choose_path, choose_sample, settle, write_bad_file
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent
from walk import on_screen, pick_model, save_first_profile, set_options, submit, until, watch_to_end

from ftui.jobs import TERMINAL
from ftui.tui.app import make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.data import DataScreen
from ftui.tui.screens.jobs import JobsScreen
from ftui.tui.screens.playground import PlaygroundScreen
from ftui.tui.screens.review import ReviewScreen

TINY = "ftui-tiny-random"
DASHBOARD_TABS = ("tab-charts", "tab-events", "tab-checkpoints", "tab-details")


class Walk:
    """The pilot, and what each screen showed cut."""

    def __init__(self, pilot: Pilot) -> None:
        self.pilot = pilot
        self.found: dict[str, list[str]] = {}

    async def look(self, where: str) -> None:
        """Let the screen settle, without toasts over it (they pass), and note what it cuts."""
        self.pilot.app.clear_notifications()
        await self.pilot.pause(0.3)
        if cut := problems(self.pilot.app):
            self.found[where] = cut

    async def tabs(self, where: str, tab_ids: tuple[str, ...]) -> None:
        tabs = self.pilot.app.screen.query_one(TabbedContent)
        for tab_id in tab_ids:
            tabs.active = tab_id
            await self.look(f"{where}, {tab_id}")

    def report(self) -> str:
        return "\n".join(f"{where}:\n  " + "\n  ".join(cut) for where, cut in self.found.items())


async def catalog_and_help(walk: Walk) -> None:
    pilot = walk.pilot
    catalog = await on_screen(pilot, CatalogScreen)
    assert isinstance(catalog, CatalogScreen)
    await until(pilot, lambda: any(entry.model_id == TINY for entry in catalog.shown), "the engine's models")
    await walk.look("catalog")
    table = catalog.query_one(DataTable)
    table.focus()
    table.move_cursor(row=next(i for i, e in enumerate(catalog.shown) if e.model_id.startswith("gpt-4o-mini")))
    await pilot.pause()
    catalog.query_one("#card-pane", VerticalScroll).scroll_end(animate=False)
    await walk.look("catalog, a cloud model's card read to its end")
    await pilot.press("f1")
    await walk.look("help over the catalog")
    await pilot.press("escape")


async def data_step(walk: Walk) -> None:
    pilot = walk.pilot
    data = await pick_model(pilot, TINY)
    await walk.look("data step, no file yet")
    write_bad_file(Path("bad.jsonl"))
    await choose_path(pilot, "t", "bad.jsonl")
    await walk.look("data step, a file with errors")
    await pilot.press("down", "down")
    await walk.look("data step, a file with errors, third finding")
    await choose_sample(pilot)
    await until(pilot, lambda: data.report is not None and data.report.errors == 0, "the sample's check")
    await walk.look("data step, the sample")
    await walk.tabs("data step, the sample", ("tab-stats", "tab-example"))
    await pilot.press("t")
    await settle(pilot)
    await walk.look("file picker")
    await pilot.press("escape")
    await on_screen(pilot, DataScreen)


async def options_and_review(walk: Walk) -> None:
    pilot = walk.pilot
    options = await set_options(pilot, n_epochs="1", learning_rate_multiplier="abc")
    await walk.look("options, LR multiplier 'abc'")
    field = options.query_one("#input-learning_rate_multiplier", Input)
    field.focus()
    field.value = ""
    await pilot.press("1", "0")
    await walk.look("options")
    await pilot.press("ctrl+n")
    await on_screen(pilot, ReviewScreen)
    await walk.look("review")
    await pilot.press("escape")


async def job_screens(walk: Walk) -> None:
    pilot = walk.pilot
    dashboard = await submit(pilot)
    await until(pilot, lambda: dashboard.tracker.status is not None, "the job's first status")
    await walk.tabs("dashboard, training", DASHBOARD_TABS)
    await watch_to_end(pilot, dashboard)
    assert dashboard.tracker.status in TERMINAL
    await walk.tabs("dashboard, ended", DASHBOARD_TABS)
    await pilot.press("t")
    playground = await on_screen(pilot, PlaygroundScreen)
    assert isinstance(playground, PlaygroundScreen)
    await until(pilot, lambda: playground.ready, "the models to load", 300)
    await walk.look("playground")
    await pilot.press("f3")
    await on_screen(pilot, JobsScreen)
    await walk.look("jobs list")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_every_screen_says_everything(tui_env: Path, size: tuple[int, int]) -> None:
    app = make_app(settings_path=tui_env)

    async def main() -> Walk:
        async with app.run_test(size=size) as pilot:
            walk = Walk(pilot)
            await save_first_profile(pilot)
            await catalog_and_help(walk)
            await data_step(walk)
            await options_and_review(walk)
            await job_screens(walk)
            return walk

    walk = asyncio.run(main())
    assert not walk.found, "cut text or a footer without F1:\n" + walk.report()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_first_run_setup_says_everything(tui_env: Path, size: tuple[int, int]) -> None:
    app = make_app(settings_path=tui_env)

    async def main() -> Walk:
        async with app.run_test(size=size) as pilot:
            walk = Walk(pilot)
            await until(pilot, lambda: type(app.screen).__name__ == "SetupScreen", "the setup screen")
            await walk.look("first-run setup")
            return walk

    walk = asyncio.run(main())
    assert not walk.found, "cut text or a footer without F1:\n" + walk.report()


class _Lines(App[None]):
    """A line of text in a box 14 cells wide, wrapped or not, above a footer with or without F1."""

    CSS = "Static { width: 14; }  .nowrap { text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, wrap: bool, help_key: bool) -> None:
        super().__init__()
        self.wrap, self.help_key = wrap, help_key
        if help_key:
            self.bind("f1", "help", description="Help")

    def compose(self) -> ComposeResult:
        yield Static("Full validation accuracy", classes="" if self.wrap else "nowrap")
        yield Footer()


@pytest.mark.parametrize(("wrap", "help_key", "expected"), [(True, True, 0), (False, True, 1), (True, False, 1)])
def test_the_check_finds_cut_words_and_a_footer_without_f1(wrap: bool, help_key: bool, expected: int) -> None:
    app = _Lines(wrap=wrap, help_key=help_key)

    async def main() -> list[str]:
        async with app.run_test(size=(40, 6)) as pilot:
            await pilot.pause()
            return problems(app)

    found = asyncio.run(main())
    assert len(found) == expected, found
