"""Chat messages as the engine's trainer and its inference both read them: a role and plain text, rendered with the
model's chat template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MessageContentError(ValueError):
    """A message's content is neither a string nor a list of content parts."""


def message_text(content: object) -> str:
    """A message's text: the string, or its text parts joined (images and other parts are dropped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    raise MessageContentError(
        f"message content must be a string or a list of content parts, not {type(content).__name__}"
    )


def render(tokenizer: Any, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool) -> str:
    """The conversation as the model sees it, through its tokenizer's chat template."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    return str(text)
