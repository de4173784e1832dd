"""The setup screen, driven by keys: first run, a rejected key, a key from the environment, switching profiles."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, OptionList, Static

from ftui.config import BackendKind, Profile, Settings, load_settings, save_settings
from ftui.tui.app import FtuiApp, make_app
from ftui.tui.screens.catalog import CatalogScreen
from ftui.tui.screens.setup import SetupScreen
from ftui.tui.widgets.profileform import ProfileForm
from tests.server_harness import EngineProcess

WRONG_KEY = "sk-wrong-key-0123456789"


def run(app: FtuiApp, scenario: Callable[[Pilot], Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def status_text(screen: SetupScreen) -> str:
    return str(screen.query_one("#status", Static).render())


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.pause()
    await pilot.press(*text)


async def new_profile(pilot: Pilot, kind: BackendKind) -> ProfileForm:
    """Ctrl+N, then choose the backend with the arrow keys and Enter."""
    await pilot.press("ctrl+n")
    await pilot.pause()
    for _ in range(list(BackendKind).index(kind)):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    form = pilot.app.screen.query_one(ProfileForm)
    assert form.kind is kind
    return form


@pytest.fixture
def harness_engine(tmp_path: Path, models_cache: Path) -> Iterator[EngineProcess]:
    """A second real engine on loopback: it answers a wrong key with HTTP 401."""
    home = tmp_path / "harness-home"
    home.mkdir()
    engine = EngineProcess(home, models_cache).start()
    try:
        yield engine
    finally:
        engine.stop()


def test_first_run_enter_saves_the_local_profile_privately(tui_env: Path) -> None:
    app = make_app(settings_path=tui_env)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SetupScreen) and screen.first_run
        assert screen.query_one(ProfileForm).kind is BackendKind.LOCAL
        assert "no account" in str(screen.query_one("#kind-help", Static).render())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)

    run(app, scenario)
    assert stat.S_IMODE(tui_env.stat().st_mode) == 0o600
    settings = load_settings(tui_env)
    assert settings.active_profile().kind is BackendKind.LOCAL


def test_a_rejected_key_is_reported_and_nothing_is_saved(tui_env: Path, harness_engine: EngineProcess) -> None:
    app = make_app(settings_path=tui_env)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await new_profile(pilot, BackendKind.OPENAI)
        await type_into(pilot, "#base_url", harness_engine.base_url)
        await type_into(pilot, "#api_key", WRONG_KEY)
        key_input = screen.query_one("#api_key", Input)
        assert key_input.password and WRONG_KEY not in str(key_input.render_line(0))
        await pilot.press("ctrl+t")
        await settle(pilot)
        message = status_text(screen)
        assert message.startswith("✗") and "key was rejected" in message
        assert WRONG_KEY not in message
        assert not tui_env.exists()  # testing never saves
        assert isinstance(app.screen, SetupScreen)

    run(app, scenario)
    assert not tui_env.exists()


def test_a_working_connection_is_confirmed(tui_env: Path, harness_engine: EngineProcess) -> None:
    app = make_app(settings_path=tui_env)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        await new_profile(pilot, BackendKind.COMPATIBLE)
        await type_into(pilot, "#base_url", harness_engine.base_url)
        await type_into(pilot, "#api_key", harness_engine.token)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert status_text(app.screen).startswith("✓ Connected")  # type: ignore[arg-type]

    run(app, scenario)


def test_missing_fields_are_explained_and_the_form_keeps_its_values(tui_env: Path) -> None:
    app = make_app(settings_path=tui_env)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        screen = app.screen
        await new_profile(pilot, BackendKind.AZURE)
        await type_into(pilot, "#api_key", "typed-key")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Enter the endpoint" in status_text(screen)  # type: ignore[arg-type]
        assert screen.query_one("#api_key", Input).value == "typed-key"
        assert not tui_env.exists()

    run(app, scenario)


def test_an_environment_key_is_saved_as_the_variable_name_only(
    configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-from-environment-9876543210"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    app = make_app(settings_path=configured)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SetupScreen) and not screen.first_run
        await new_profile(pilot, BackendKind.OPENAI)
        checkbox = screen.query_one("#use-env", Checkbox)
        assert checkbox.display and checkbox.value and "$OPENAI_API_KEY" in str(checkbox.label)
        assert screen.query_one("#api_key", Input).disabled
        note = str(screen.query_one("#env-note", Static).render())
        assert "only the variable's name is saved" in note
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "openai" in str(screen.query_one("#profile", Static).render())

    run(app, scenario)
    text = configured.read_text()
    assert secret not in text
    assert 'api_key_env = "OPENAI_API_KEY"' in text
    assert load_settings(configured).active == "openai"


def test_a_typed_key_is_stored_privately_and_never_shown_again(configured: Path) -> None:
    app = make_app(settings_path=configured)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        await new_profile(pilot, BackendKind.OPENAI)
        await type_into(pilot, "#api_key", "sk-typed-secret-1")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert load_settings(configured).active_profile().resolved_api_key() == "sk-typed-secret-1"
        # Editing it again: the field is empty, and saving keeps the stored key.
        assert screen.query_one("#api_key", Input).value == ""
        assert "saved key kept" in screen.query_one("#api_key", Input).placeholder
        await pilot.press("ctrl+s")
        await pilot.pause()

    run(app, scenario)
    assert load_settings(configured).active_profile().resolved_api_key() == "sk-typed-secret-1"
    assert stat.S_IMODE(configured.stat().st_mode) == 0o600


def test_switching_and_deleting_profiles_updates_the_top_bar(configured: Path) -> None:
    other = Profile(name="lab", kind=BackendKind.COMPATIBLE, base_url="http://127.0.0.1:9/v1")
    save_settings(Settings().with_profile(other, activate=False), configured)
    app = make_app(settings_path=configured)

    def top_bar() -> str:
        return str(app.screen.query_one("#profile", Static).render())

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause()
        assert top_bar().startswith("local")
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        profiles = screen.query_one("#profile-list", OptionList)
        assert profiles.has_focus
        await pilot.press("down", "enter")  # highlight 'lab', Enter uses it
        await pilot.pause()
        assert top_bar().startswith("lab")
        assert app.profile.name == "lab"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "again to confirm" in status_text(screen)  # type: ignore[arg-type]
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert [p.name for p in app.settings.profiles] == ["local"]
        assert top_bar().startswith("local")
        assert screen.check_action("delete", ()) is None  # the last profile cannot go
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CatalogScreen)
        assert top_bar().startswith("local")

    run(app, scenario)
    assert load_settings(configured).active == "local"
