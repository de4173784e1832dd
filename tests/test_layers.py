"""The shape of the code, checked like any other behaviour: the import contract and the strict type checker.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``): cli → tui → client → engine → pipeline → dataset →
domain, screens independent of one another, widgets and dialogs free of screens, and no TUI, network or training code
below the client layer. The type checker is mypy in strict mode over the whole package (``[tool.mypy]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(sys.executable).parent


def test_the_import_contract_is_kept():
    completed = subprocess.run(
        [str(SCRIPTS / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 broken" in completed.stdout


@pytest.mark.slow
def test_the_package_passes_strict_type_checking():
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
