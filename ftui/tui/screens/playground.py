"""Chat with a fine-tuned model beside its base model: the same prompt to both, answers streaming side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import orjson
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static, TextArea

from ftui.client import Backend, BackendError, ErrorKind
from ftui.tui.base import Call, FtuiScreen
from ftui.tui.widgets.chatpane import ChatPane

MAX_TOKENS = 256
TEMPERATURE = 0.7
NARROW_WIDTH = 100
CHAT_GROUP = "chat"
# Reading a training file for its system prompt stops after this many lines.
SYSTEM_PROMPT_SCAN_LINES = 2000


def first_system_prompt(path: Path, max_lines: int = SYSTEM_PROMPT_SCAN_LINES) -> str | None:
    """The first system message in a chat JSONL file, or None (no such message, or the file is unreadable)."""
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle):
                if number >= max_lines:
                    return None
                prompt = _system_message(line)
                if prompt:
                    return prompt
    except OSError:
        return None
    return None


def _system_message(line: bytes) -> str | None:
    try:
        example = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    messages = example.get("messages") if isinstance(example, dict) else None
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and message.get("role") == "system":
            return content
    return None


class PlaygroundScreen(FtuiScreen):
    HELP_TITLE = "Playground"
    HELP = """\
Try a fine-tuned model: each prompt goes to the fine-tuned model (left) and to the base model it was trained
from (right), so you can see what training changed. Answers stream in as they are generated.

- **System prompt**: the instructions sent before the conversation. It starts as the training data's first system
  message, because the model learned to answer under it; change it to see how the model copes without it. A long
  prompt wraps over a few lines and scrolls; Tab moves on to the prompt box.
- **Enter** in the prompt box sends it to both models. Each side keeps its own conversation, so follow-up
  questions see that model's earlier answers.
- **Esc** stops the answers being generated (press it again to go back) · **Ctrl+L** clears both conversations.

The model is made callable first (*deploying*): on the local engine this loads it into memory, which takes a few
seconds the first time.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "stop_or_back",
            "Stop / Back",
            id="play_stop_or_back",
            tooltip="Stop the answers being generated; when none are, go back",
        ),
        Binding("ctrl+c", "stop", "Stop", id="play_stop", tooltip="Stop the answers being generated", show=False),
        Binding("ctrl+l", "clear", "Clear chat", id="play_clear", tooltip="Clear both conversations"),
    ]

    def __init__(
        self,
        model: str,
        base_model: str,
        system_prompt: str | None = None,
        *,
        training_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.base_model = base_model
        self.system_prompt = system_prompt
        self.training_path = training_path
        self.ready = False
        self.deploy_error: BackendError | None = None
        self.deployed: dict[str, str] = {}

    def compose_body(self) -> Sequence[Widget]:
        return [
            Vertical(
                Static(f"Loading {self.model}…", id="play-state"),
                Horizontal(
                    Label("System", classes="play-label"),
                    # Wrapped between words over a few lines (scrolling beyond them), so a long prompt reads whole.
                    TextArea(
                        self.system_prompt or "",
                        soft_wrap=True,
                        compact=True,
                        highlight_cursor_line=False,
                        placeholder="(no system prompt)",
                        id="play-system",
                    ),
                    classes="play-row",
                    id="play-system-row",
                ),
                Horizontal(
                    ChatPane("Fine-tuned", self.model, id="pane-tuned"),
                    ChatPane("Base", self.base_model, id="pane-base"),
                    id="play-panes",
                    classes="columns",
                ),
                Horizontal(
                    Label("Prompt", classes="play-label"),
                    Input(placeholder="Type a message, Enter sends it to both models", id="play-prompt"),
                    Button("Send", id="play-send", variant="primary", compact=True, disabled=True),
                    classes="play-row",
                ),
                classes="body",
                id="play-body",
            )
        ]

    def on_mount(self) -> None:
        self._apply_width(self.size.width)
        if self.system_prompt is None and self.training_path is not None:
            path = self.training_path
            self.call_in_thread(
                lambda call: first_system_prompt(path), done=self._fill_system_prompt, group="play-system"
            )
        self.deploy()

    def on_resize(self) -> None:
        self._apply_width(self.size.width)

    def _apply_width(self, width: int) -> None:
        self.query_one("#play-panes").set_class(width < NARROW_WIDTH, "narrow")

    @property
    def system_text(self) -> str:
        return self.query_one("#play-system", TextArea).text

    def _fill_system_prompt(self, prompt: str | None) -> None:
        box = self.query_one("#play-system", TextArea)
        if prompt and not box.text:
            box.load_text(prompt)

    # -- deploy ---------------------------------------------------------------------------------------------

    def deploy(self) -> None:
        model, base = self.model, self.base_model

        def make_callable(backend: Backend) -> dict[str, str]:
            names = {model: backend.deploy(model)}
            try:
                names[base] = backend.deploy(base)
            except BackendError:
                names[base] = base  # a base model is usually callable as it is
            return names

        self.call_backend(make_callable, done=self._deployed, failed=self._deploy_failed, group="play-deploy")

    def _deployed(self, names: dict[str, str]) -> None:
        self.deployed = names
        self.ready = True
        self._set_state(f"✓ Ready: {self.model} beside {self.base_model}. Type a prompt and press Enter.")
        self.query_one("#play-send", Button).disabled = False
        self.set_focus(self.query_one("#play-prompt", Input))  # at once: focus() would wait for the next idle
        self.refresh_bindings()

    def _deploy_failed(self, error: BackendError) -> None:
        self.deploy_error = error
        prefix = "! Not available here" if error.kind == ErrorKind.UNSUPPORTED else "✗ Could not load the model"
        self._set_state(f"{prefix}: {error.message}" + (f"\n{error.hint}" if error.hint else ""), error=True)

    def _set_state(self, text: str, *, error: bool = False) -> None:
        state = self.query_one("#play-state", Static)
        state.update(text)
        state.set_class(error, "error-text")

    # -- chatting ---------------------------------------------------------------------------------------------

    @property
    def panes(self) -> tuple[ChatPane, ChatPane]:
        return self.query_one("#pane-tuned", ChatPane), self.query_one("#pane-base", ChatPane)

    @property
    def streaming(self) -> bool:
        return any(pane.streaming for pane in self.panes)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "play-prompt":
            self.send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "play-send":
            self.send()

    def send(self) -> None:
        prompt_box = self.query_one("#play-prompt", Input)
        text = prompt_box.value.strip()
        if not text:
            return
        if not self.ready:
            waiting = (
                "The model cannot be loaded here (see above)" if self.deploy_error else "The model is still loading"
            )
            self.notify(f"{waiting}; your prompt is kept.", severity="warning")
            return
        if self.streaming:
            self.notify("Wait for the answers, or press Esc to stop them.", severity="warning")
            return
        prompt_box.value = ""
        system = self.system_text.strip()
        for pane in self.panes:
            pane.add_user(text)
            pane.begin_reply()
            messages = ([{"role": "system", "content": system}] if system else []) + list(pane.history)
            self._chat(pane, self.deployed.get(pane.model, pane.model), messages)
        self.refresh_bindings()

    def _chat(self, pane: ChatPane, model: str, messages: list[dict[str, str]]) -> None:
        """Stream ``model``'s answer into ``pane``: chunks arrive as progress, the end as done or failed."""

        def stream(call: Call[str]) -> None:
            backend = call.backend()
            for chunk in backend.chat_stream(
                model, messages, max_tokens=MAX_TOKENS, temperature=TEMPERATURE, cancel=call.cancel
            ):
                if call.cancelled:
                    break
                if chunk:
                    call.progress(chunk)

        def ended(error: BackendError | None) -> None:
            pane.end_reply(stopped=call.cancelled, error=error.message if error else None)
            self.refresh_bindings()

        call: Call[str] = self.call_in_thread(
            stream,
            done=lambda _: ended(None),
            failed=ended,
            progress=pane.append,
            group=CHAT_GROUP,
        )

    def action_stop(self) -> None:
        self.stop_calls(CHAT_GROUP)

    def action_stop_or_back(self) -> None:
        if self.streaming:
            self.stop_calls(CHAT_GROUP)
        else:
            self.app.pop_screen()

    def action_clear(self) -> None:
        if self.streaming:
            self.stop_calls(CHAT_GROUP)
        for pane in self.panes:
            pane.clear()
