"""Walk the wizard the way a user does, by keys and clicks: shared by the end-to-end test and the screenshot script.

Each step waits for what the user would wait for (a validation to finish, a job to end, an answer to stream), and
fails with a message naming what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, TabbedContent

from ftui.jobs import TERMINAL
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.dashboard import DashboardScreen
from ftui.tui.screens.data import DataScreen
from ftui.tui.screens.options import OptionsScreen
from ftui.tui.screens.playground import PlaygroundScreen
from ftui.tui.screens.review import ReviewScreen
from ftui.tui.screens.setup import SetupScreen


async def until(pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; screen: {pilot.app.screen!r}")
        await pilot.pause(0.1)


async def on_screen(pilot: Pilot, kind: type[Screen], timeout: float = 30.0) -> Screen:
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), f"the {kind.__name__}", timeout)
    return pilot.app.screen


async def save_first_profile(pilot: Pilot) -> None:
    """First run: the setup screen comes up with the local engine chosen; Ctrl+S saves it and opens the catalog."""
    await on_screen(pilot, SetupScreen)
    await pilot.press("ctrl+s")
    await on_screen(pilot, CatalogScreen)


async def pick_model(pilot: Pilot, model_id: str) -> DataScreen:
    catalog = await on_screen(pilot, CatalogScreen)
    assert isinstance(catalog, CatalogScreen)
    await until(pilot, lambda: any(e.model_id == model_id for e in catalog.shown), f"{model_id} in the catalog")
    await pilot.press("slash", *model_id, "enter")
    await until(
        pilot,
        lambda: (entry := catalog.highlighted()) is not None and entry.model_id == model_id,
        f"{model_id} highlighted",
    )
    await pilot.press("ctrl+n")
    data = await on_screen(pilot, DataScreen)
    assert isinstance(data, DataScreen)
    return data


async def use_sample_data(pilot: Pilot, timeout: float = 120.0) -> DataScreen:
    data = await on_screen(pilot, DataScreen)
    assert isinstance(data, DataScreen)
    await pilot.press("t")
    await until(pilot, lambda: pilot.app.screen is not data, "the file picker")
    pilot.app.screen.query_one(TabbedContent).active = "tab-sample"
    await pilot.pause()
    await pilot.click("#picker-sample")
    await on_screen(pilot, DataScreen)
    await until(pilot, lambda: data.report is not None, "the sample's validation", timeout)
    return data


async def set_options(pilot: Pilot, **values: str) -> OptionsScreen:
    """Continue from the data step and type each value into its field (``n_epochs="1"``)."""
    await pilot.press("ctrl+n")
    options = await on_screen(pilot, OptionsScreen)
    assert isinstance(options, OptionsScreen)
    for name, text in values.items():
        field = options.query_one(f"#input-{name}", Input)
        field.focus()
        field.value = ""
        await pilot.press(*text)
    await pilot.pause()
    return options


async def submit(pilot: Pilot, timeout: float = 180.0) -> DashboardScreen:
    await pilot.press("ctrl+n")
    await on_screen(pilot, ReviewScreen)
    await pilot.press("ctrl+s")
    dashboard = await on_screen(pilot, DashboardScreen, timeout)
    assert isinstance(dashboard, DashboardScreen)
    return dashboard


async def watch_to_end(pilot: Pilot, dashboard: DashboardScreen, timeout: float = 600.0) -> None:
    await until(pilot, lambda: dashboard.tracker.status in TERMINAL, "the job to end", timeout)
    await pilot.pause(0.5)


async def chat(pilot: Pilot, prompt: str, timeout: float = 300.0) -> PlaygroundScreen:
    """From a succeeded job's dashboard: open the playground and send ``prompt`` to both models."""
    await pilot.press("t")
    playground = await on_screen(pilot, PlaygroundScreen)
    assert isinstance(playground, PlaygroundScreen)
    await until(pilot, lambda: playground.ready, "the models to load", timeout)
    playground.query_one("#play-prompt", Input).focus()
    await pilot.press(*prompt, "enter")
    await until(pilot, lambda: playground.streaming, "the answers to start", 30)
    await until(pilot, lambda: not playground.streaming, "both answers to finish", timeout)
    return playground
