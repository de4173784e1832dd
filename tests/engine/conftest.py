"""Engine test fixtures: base models are prepared once per session and shared by every test and engine process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftui.engine import models


def _session_models_dir(factory: pytest.TempPathFactory) -> Path:
    folder = factory.getbasetemp() / "engine-models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def engine_home(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FTUI_HOME for the test; FTUI_MODELS_DIR points at the session's shared models folder."""
    home = tmp_path / "ftui-home"
    home.mkdir()
    monkeypatch.setenv("FTUI_HOME", str(home))
    monkeypatch.setenv("FTUI_MODELS_DIR", str(_session_models_dir(tmp_path_factory)))
    return home


@pytest.fixture
def tiny_dir(engine_home: Path) -> Path:
    return models.ensure_tiny_model()


@pytest.fixture(scope="session")
def models_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared models folder with the tiny model prepared, for engine processes the tests start."""
    folder = _session_models_dir(tmp_path_factory)
    previous = os.environ.get("FTUI_MODELS_DIR")
    os.environ["FTUI_MODELS_DIR"] = str(folder)
    try:
        models.ensure_tiny_model()
    finally:
        if previous is None:
            os.environ.pop("FTUI_MODELS_DIR", None)
        else:
            os.environ["FTUI_MODELS_DIR"] = previous
    return folder
