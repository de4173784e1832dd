"""Textual's footer, with F1 always in view, rebuilt only when the keys it shows change, and without restyling every
key it builds.

F1 (help) comes first, then the keys of the focused widget and the screen, then the app's other keys. Keys that do
not fit the terminal's width are left out whole, from the last one back, rather than cut off mid-word; F1 help and
the command palette list every key.

Textual's footer rebuilds all of its keys whenever the screen's bindings are refreshed: every screen switch, every
dialog, every move of focus, even when the keys shown stay the same. Here the footer compares what it would show
with what it shows and rebuilds only on a difference.

Each key Textual builds starts compact and is then bound to the footer's own setting, so it flips its ``-compact``
class twice, and each flip restyles the key. Here each key starts with the class it would end with: the footer's
setting, or compact for the command palette's key, which is not bound to it.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# The key that is shown first and never left out.
HELP_KEY = "f1"


class KeysFooter(Footer):
    def __init__(self, *children: Widget, **options: Any) -> None:
        super().__init__(*children, **options)
        self._shown_keys: tuple[tuple[object, ...], ...] | None = None

    def compose(self) -> ComposeResult:
        # Until the screen has refreshed its bindings (after its widgets are mounted) the footer is empty.
        self._shown_keys = self._keys_to_show() if self._bindings_ready else None
        # ftui binds no key groups, so every key is a direct child and the keys can be reordered.
        widgets = list(super().compose())
        widgets.sort(key=lambda widget: not (isinstance(widget, FooterKey) and widget.key == HELP_KEY))
        for widget in widgets:
            if isinstance(widget, FooterKey):
                # The palette's key is not bound to the footer's setting and keeps FooterKey's default.
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget

    async def recompose(self) -> None:
        await super().recompose()
        self.fit_keys()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_keys()

    def fit_keys(self) -> None:
        """Show the keys in order while they fit whole beside the palette's key; leave out the rest."""
        keys = [child for child in self.children if isinstance(child, FooterKey)]
        if not keys or not self.size.width:
            return
        docked = [key for key in keys if key.has_class("-command-palette")]
        room = self.size.width - sum(self._width_of(key) for key in docked)
        fitting = True
        for key in keys:
            if key in docked:
                continue
            width = self._width_of(key)
            fitting = fitting and (width <= room or key.key == HELP_KEY)
            key.display = fitting
            if fitting:
                room -= width

    def _width_of(self, key: FooterKey) -> int:
        styles = key.styles
        return key.get_content_width(self.size, self.app.size) + styles.gutter.width + styles.margin.width

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
