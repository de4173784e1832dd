"""Which characters of a rendered conversation the local engine learns from.

One rule for the engine's trainer and for the data check's token counts, so that the two always agree: each assistant
reply whose weight is not 0, from where the conversation before it ends (with the generation prompt) through its
end-of-turn token. Templates that render a conversation's start differently from the whole (Qwen3-style), and a
conversation that opens with a reply (no conversation before it to render), are searched for the replies instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Span = tuple[int, int]
# Renders messages (role and text) through the model's chat template; the flag adds the generation prompt.
Render = Callable[[Sequence[Mapping[str, str]], bool], str]


class ReplyDropped(ValueError):
    """The chat template drops or rewrites an assistant reply: the example cannot be trained as written."""


class _PrefixMismatch(Exception):
    pass


def is_trained(message: Mapping[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def trained_spans(
    render: Render, messages: Sequence[Mapping[str, Any]], plain: Sequence[Mapping[str, str]], full: str, eos: str
) -> list[Span]:
    """Character spans of ``full`` (``plain`` rendered whole) to learn from; ``plain`` holds ``messages``' roles and
    texts. Raises ``ReplyDropped`` when a reply is not in ``full``."""
    try:
        return _spans_from_prefixes(render, messages, plain, full, eos)
    except _PrefixMismatch:
        return _spans_by_search(messages, plain, full, eos)


def _spans_from_prefixes(
    render: Render, messages: Sequence[Mapping[str, Any]], plain: Sequence[Mapping[str, str]], full: str, eos: str
) -> list[Span]:
    spans = []
    for index, message in enumerate(messages):
        if not is_trained(message):
            continue
        if index == 0:
            raise _PrefixMismatch  # chat templates refuse an empty conversation
        before = render(plain[:index], True)
        through = render(plain[: index + 1], False)
        if not (full.startswith(through) and through.startswith(before)):
            raise _PrefixMismatch
        eos_at = through.rfind(eos) if eos else -1
        end = eos_at + len(eos) if eos and eos_at >= len(before) else len(through.rstrip())
        spans.append((len(before), end))
    return spans


def _spans_by_search(
    messages: Sequence[Mapping[str, Any]], plain: Sequence[Mapping[str, str]], full: str, eos: str
) -> list[Span]:
    spans = []
    cursor = 0
    for message, shown in zip(messages, plain, strict=True):
        text = shown["content"] if shown["role"] == "assistant" else ""
        if not text:
            continue
        start = full.find(text, cursor)
        if start < 0:
            raise ReplyDropped("the model's chat template drops or rewrites an assistant reply")
        end = start + len(text)
        if eos and full.startswith(eos, end):
            end += len(eos)
        cursor = end
        if is_trained(message):
            spans.append((start, end))
    return spans
