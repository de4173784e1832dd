"""TUI fixtures: each test gets its own data folder, config file and working directory, and the real local engine.

The app starts the engine on demand exactly as it does for a user (detached, on a free port); the fixture stops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ftui.engine import models, server
from ftui.tui.app import FtuiApp, make_app

# Conventional variables a developer's shell may carry; a test must not pick up a real key.
_CLOUD_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
)


@pytest.fixture(scope="session")
def tui_models(models_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding only the tiny model. Screens show exact token counts when SmolLM2's tokenizer is
    in the models folder and estimates otherwise, so the snapshots must not depend on whether another test
    prepared SmolLM2 in the shared folder first."""
    folder = tmp_path_factory.mktemp("tui-models")
    (folder / models.TINY_ID).symlink_to(models_cache / models.TINY_ID, target_is_directory=True)
    return folder


@pytest.fixture
def tui_env(engine_home: Path, tui_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolated folders; yields the config file path (absent: the app starts on its first-run setup screen)."""
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tui_models))
    config = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("FTUI_CONFIG", str(config))
    for name in _CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        yield config
    finally:
        server.stop()


@pytest.fixture
def configured(tui_env: Path) -> Path:
    """A config file with the default local profile, so the app opens on the catalog instead of setup."""
    from ftui.config import Settings, save_settings

    save_settings(Settings(), tui_env)
    return tui_env


@pytest.fixture
def app(configured: Path) -> FtuiApp:
    return make_app(settings_path=configured)
