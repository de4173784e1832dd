"""Textual's footer, without restyling every key each time the keys change.

The footer rebuilds its keys whenever the bindings change (every screen switch, every dialog). Each new key starts
compact and is then bound to the footer's own setting, so each flips its ``-compact`` class twice, and each flip
restyles the key: most of the cost of opening help or a dialog. Here each key starts with the class it would end
with: the footer's setting, or compact for the command palette's key, which is not bound to it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # The palette's key is not bound to the footer's setting and keeps FooterKey's default.
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget
