"""Shared fixtures: run the real CLI in a subprocess, write JSONL files, find the bundled sample."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ftui.dataset.fixes import sample_files
from ftui.engine import models

CLI_TIMEOUT_S = 120

# The engine lists and trains its tiny test model only where this is set: every test, and every engine, trainer and
# CLI process a test starts, sees it. A test that checks what users see removes it with monkeypatch.
os.environ[models.TEST_MODELS_VARIABLE] = "1"

# Variables that would point the subprocess at caches outside the test's tmp dir.
_ISOLATED_AWAY = ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")


@pytest.fixture
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI subprocesses: colour off, every user dir inside a fresh tmp dir."""
    root = tmp_path_factory.mktemp("ftui-env")
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED_AWAY}
    env["NO_COLOR"] = "1"
    for name, sub in (
        ("FTUI_HOME", "ftui-home"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
    ):
        folder = root / sub
        folder.mkdir()
        env[name] = str(folder)
    return env


CliRunner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(cli_env: dict[str, str], tmp_path: Path) -> CliRunner:
    """``run_cli(*args, cwd=None, preexec_fn=None)`` -> (exit code, stdout, stderr) of ``python -m ftui ARGS``."""

    def run(*args: str | os.PathLike[str], cwd: Path | str | None = None, preexec_fn=None) -> tuple[int, str, str]:
        completed = subprocess.run(
            [sys.executable, "-m", "ftui", *(str(a) for a in args)],
            env=cli_env,
            cwd=str(cwd or tmp_path),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=CLI_TIMEOUT_S,
            preexec_fn=preexec_fn,
            stdin=subprocess.DEVNULL,
        )
        return completed.returncode, completed.stdout, completed.stderr

    return run


def _encode_line(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    return orjson.dumps(item)


@pytest.fixture
def write_jsonl() -> Callable[[Path, Iterable[Any]], Path]:
    """``write_jsonl(path, items)``: dicts/lists become one JSON line each; str/bytes items are written raw.

    Every item is followed by a newline. Returns ``path``.
    """

    def write(path: Path, items: Iterable[Any]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(_encode_line(item) + b"\n" for item in items))
        return path

    return write


@pytest.fixture
def sample_paths() -> tuple[Path, Path]:
    """(training, validation) paths of the bundled sample dataset."""
    training, validation = sample_files()
    assert training.is_file() and validation.is_file()
    return training, validation


# -- engine fixtures: base models are prepared once per session and shared by every test and engine process --


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
