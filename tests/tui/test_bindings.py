"""Every key binding of ftui's screens, dialogs, widgets and app carries an id (for remapping) and a tooltip (for
the footer, F1 help and the command palette)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode

import ftui.tui


def _classes_with_bindings() -> list[type[DOMNode]]:
    found = []
    for info in pkgutil.walk_packages(ftui.tui.__path__, prefix="ftui.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, DOMNode) and "BINDINGS" in vars(cls):
                found.append(cls)
    return found


def test_every_binding_has_an_id_and_a_tooltip():
    classes = _classes_with_bindings()
    assert len(classes) >= 10  # the app, the screens and the dialogs at least
    problems = []
    for cls in classes:
        for binding in vars(cls)["BINDINGS"]:
            if not isinstance(binding, Binding):
                problems.append(f"{cls.__qualname__}: {binding!r} is not a Binding")
            elif not binding.id or not binding.tooltip:
                problems.append(f"{cls.__qualname__}: {binding.key} → {binding.action} lacks an id or a tooltip")
    assert problems == []
