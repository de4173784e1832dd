"""Textual's footer, rebuilt only when the keys it shows change, and without restyling every key it builds.

Textual's footer rebuilds all of its keys whenever the screen's bindings are refreshed: every screen switch, every
dialog, every move of focus, even when the keys shown stay the same. Here the footer compares what it would show
with what it shows and rebuilds only on a difference.

Each key Textual builds starts compact and is then bound to the footer's own setting, so it flips its ``-compact``
class twice, and each flip restyles the key. Here each key starts with the class it would end with: the footer's
setting, or compact for the command palette's key, which is not bound to it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    def __init__(self, *children: Widget, **options: Any) -> None:
        super().__init__(*children, **options)
        self._shown_keys: tuple[tuple[object, ...], ...] | None = None

    def compose(self) -> ComposeResult:
        # Until the screen has refreshed its bindings (after its widgets are mounted) the footer is empty.
        self._shown_keys = self._keys_to_show() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # The palette's key is not bound to the footer's setting and keeps FooterKey's default.
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen and self._keys_to_show() == self._shown_keys:
            return
        super().bindings_changed(screen)

    def _keys_to_show(self) -> tuple[tuple[object, ...], ...]:
        """What ``compose`` builds the keys from: each shown binding, whether it is enabled, its tooltip."""
        keys = [
            (binding.key, binding.description, binding.action, binding.group, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show or binding.action == "command_palette"
        ]
        return (*keys, (self.compact, self.show_command_palette))
