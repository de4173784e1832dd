"""Regenerate the README's screenshots: the real app, driven through the real flow on the local engine.

    python screenshots/generate.py            # SmolLM2-135M-Instruct, one epoch on the sample (a few minutes)
    python screenshots/generate.py --tiny     # the tiny test model (about a minute; the answers are noise)

Everything runs in a throw-away data folder and config; the base model's converted weights are reused from the
usual models folder. Writes one SVG per screen into this folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "tui"))  # the walk-through shared with the end-to-end test

from walk import (  # noqa: E402
    chat,
    on_screen,
    pick_model,
    set_options,
    until,
    use_sample_data,
    watch_to_end,
)

SIZE = (100, 30)


def isolate(root: Path) -> None:
    os.environ["FTUI_HOME"] = str(root / "home")
    os.environ["FTUI_CONFIG"] = str(root / "config.toml")
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "NO_COLOR"):
        os.environ.pop(name, None)
    os.chdir(root)


async def walk_and_shoot(model: str, out: Path) -> None:
    from ftui.tui.app import make_app
    from ftui.tui.screens.dashboard import DashboardScreen
    from ftui.tui.screens.jobs import JobsScreen
    from ftui.tui.screens.review import ReviewScreen
    from ftui.tui.screens.setup import SetupScreen

    app = make_app()

    def shoot(name: str) -> None:
        path = app.save_screenshot(filename=f"{name}.svg", path=str(out))
        print(f"wrote {Path(path).relative_to(out.parent)}", flush=True)

    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, SetupScreen)
        await pilot.pause(0.5)
        shoot("1-setup")
        await pilot.press("ctrl+s")
        await until_catalog(pilot)
        shoot("2-catalog")

        await pick_model(pilot, model)
        await use_sample_data(pilot, timeout=300)
        await pilot.pause(0.5)
        shoot("3-data")

        await set_options(pilot, n_epochs="1")
        await pilot.pause(0.5)
        shoot("4-options")

        await pilot.press("ctrl+n")
        await on_screen(pilot, ReviewScreen)
        await pilot.pause(0.5)
        shoot("5-review")
        await pilot.press("ctrl+s")
        dashboard = await on_screen(pilot, DashboardScreen, timeout=600)
        await until(pilot, lambda: len(dashboard.tracker.metrics) >= 6, "a few training steps", timeout=1200)
        await pilot.pause(1.0)
        shoot("6-dashboard-running")
        await watch_to_end(pilot, dashboard, timeout=1800)
        await pilot.pause(1.0)
        shoot("7-dashboard-done")

        await chat(pilot, "Hi, my order #4417 arrived damaged. What can I do?", timeout=600)
        shoot("8-playground")

        await pilot.press("escape")
        await pilot.press("escape")
        await on_screen(pilot, JobsScreen)
        await pilot.pause(1.0)
        shoot("9-jobs")

        await pilot.press("f1")
        await pilot.pause(0.5)
        shoot("10-help")


async def until_catalog(pilot):
    from ftui.tui.screens.catalog import CatalogScreen

    catalog = await on_screen(pilot, CatalogScreen)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.5)
    return catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="use the tiny test model (fast, meaningless answers)")
    args = parser.parse_args()

    from ftui.catalog import LOCAL_BASE_MODEL
    from ftui.engine import server

    model = "ftui-tiny-random" if args.tiny else LOCAL_BASE_MODEL
    if args.tiny:
        os.environ["FTUI_TEST_MODELS"] = "1"  # the engine offers its test model only where this is set
    with tempfile.TemporaryDirectory(prefix="ftui-screenshots-") as folder:
        isolate(Path(folder))
        try:
            asyncio.run(walk_and_shoot(model, HERE))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
