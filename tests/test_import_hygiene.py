"""Domain modules import no TUI and no network code when they run (checked in a fresh interpreter); the import
contract in tests/test_layers.py checks the same statically, with the other layers."""

from __future__ import annotations

import json
import subprocess
import sys

DOMAIN_MODULES = (
    "ftui.availability",
    "ftui.catalog",
    "ftui.config",
    "ftui.dataset.examples",
    "ftui.dataset.fixes",
    "ftui.dataset.validator",
    "ftui.estimates",
    "ftui.jobfile",
    "ftui.jobs",
    "ftui.locations",
    "ftui.options",
    "ftui.report",
    "ftui.submit",
)
FORBIDDEN_PREFIXES = ("textual", "httpx", "openai")

PROBE = f"""
import importlib, json, sys
for name in {DOMAIN_MODULES!r}:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_domain_modules_import_no_tui_or_network_code():
    completed = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout)
    assert set(DOMAIN_MODULES) <= set(loaded)
    offending = [name for name in loaded if name.startswith(FORBIDDEN_PREFIXES)]
    assert offending == [], offending


def test_the_tui_and_api_packages_are_installed():
    """The check above means something only if the TUI and API packages (declared dependencies) are importable."""
    probe = "import importlib.util as u; print([m for m in ('textual', 'openai') if u.find_spec(m) is None])"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
