"""Where ftui keeps its data on disk: the data folder, prepared base models, and caches.

A domain module (platformdirs only), so that the dataset checks and the engine find the same folders without one
importing the other.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ftui"


def home(*, create: bool = True) -> Path:
    """The data folder: ``$FTUI_HOME``, else the platform's user data directory."""
    configured = os.environ.get("FTUI_HOME")
    path = Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir(APP_NAME))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(*, create: bool = True) -> Path:
    """Prepared base models: ``$FTUI_MODELS_DIR``, else ``models`` in the data folder (shared by all profiles)."""
    configured = os.environ.get("FTUI_MODELS_DIR")
    path = Path(configured).expanduser() if configured else home(create=create) / "models"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The platform's user cache directory for ftui (not created here)."""
    return Path(platformdirs.user_cache_dir(APP_NAME))
