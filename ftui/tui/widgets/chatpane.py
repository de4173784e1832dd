"""One side of the playground: a model's conversation, its reply streaming in chunk by chunk."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static


class ChatPane(Vertical):
    """A titled conversation with one model. Keeps its own history of user and assistant messages."""

    DEFAULT_CSS = """
    ChatPane { border: round $panel-lighten-2; border-title-color: $text-accent; height: 1fr; padding: 0 1; }
    ChatPane > .chat-state { height: 1; color: $text-muted; }
    ChatPane > VerticalScroll { height: 1fr; }
    ChatPane .chat-user { margin-top: 1; color: $text-accent; }
    ChatPane .chat-reply { }
    ChatPane .chat-error { color: $error; }
    """

    def __init__(self, title: str, model: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        self.model = model
        self.history: list[dict[str, str]] = []
        self.streaming = False
        self._reply: Static | None = None
        self._reply_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.model, overflow="ellipsis", no_wrap=True), classes="chat-state")
        yield VerticalScroll(classes="chat-log")

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one(".chat-log", VerticalScroll)

    @property
    def reply_text(self) -> str:
        return self._reply_text

    def set_state(self, text: str) -> None:
        self.query_one(".chat-state", Static).update(Text(text, overflow="ellipsis", no_wrap=True))

    def transcript(self) -> str:
        """Everything shown, as plain text (for tests and copying)."""
        return "\n".join(str(child.render()) for child in self.log_view.query(Static))

    def add_user(self, text: str) -> None:
        self.history.append({"role": "user", "content": text})
        self._mount(Static(Text(f"You: {text}"), classes="chat-user"))

    def begin_reply(self) -> None:
        self.streaming = True
        self._reply_text = ""
        self._reply = Static(Text("…"), classes="chat-reply")
        self._mount(self._reply)

    def append(self, chunk: str) -> None:
        """Add a streamed piece of the reply; follow it only if the reader is at the bottom."""
        if self._reply is None:
            return
        self._reply_text += chunk
        at_bottom = self.log_view.scroll_y >= self.log_view.max_scroll_y
        self._reply.update(Text(self._reply_text))
        if at_bottom:
            self.log_view.scroll_end(animate=False)

    def end_reply(self, *, stopped: bool = False, error: str | None = None) -> None:
        """The reply is complete (or stopped, or failed); keep what arrived in the history."""
        self.streaming = False
        if self._reply is not None and not self._reply_text:
            self._reply.update(Text("(no answer)" if not error else ""))
        if self._reply_text:
            self.history.append({"role": "assistant", "content": self._reply_text})
        if stopped:
            self._mount(Static(Text("■ stopped"), classes="chat-error"))
        if error:
            self._mount(Static(Text(f"✗ {error}"), classes="chat-error"))
        self._reply = None

    def clear(self) -> None:
        self.history.clear()
        self._reply = None
        self._reply_text = ""
        self.log_view.remove_children()

    def _mount(self, widget: Static) -> None:
        at_bottom = self.log_view.scroll_y >= self.log_view.max_scroll_y
        self.log_view.mount(widget)
        if at_bottom:
            self.log_view.call_after_refresh(self.log_view.scroll_end, animate=False)
