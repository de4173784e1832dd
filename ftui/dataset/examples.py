"""One example of a dataset file: its raw line, and its messages in the order a chat shows them.

The data step shows the example a finding points at; reading it streams the file, so call ``read_example`` from a
worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.dataset.reader import read_all_lines


def read_example(path: Path, line: int) -> bytes | None:
    """The raw text of ``line`` (1-based) in a dataset file, or None past the end or for an overlong line."""
    for number, raw in read_all_lines(path):
        if number == line:
            return raw
        if number > line:
            break
    return None


@dataclass(frozen=True)
class Turn:
    """One message of an example, wherever it sits in it."""

    path: str  # where the message sits in the example, as findings name it: "messages[2]", "preferred_output[0]"
    heading: str  # "" for a chat message, "preferred " / "non-preferred " for a preference example's answers
    message: Any  # the message object as written: usually a dict, anything when the line is malformed


def example_turns(example: dict[str, Any]) -> list[Turn]:
    """The messages of a chat example, or the prompt then the preferred and non-preferred answers of a preference
    (DPO) example; empty when it has neither shape."""
    turns: list[Turn] = []
    prompt = example.get("input")
    if isinstance(prompt, dict):  # preference (DPO) example
        for prefix, heading in (
            ("input.messages", ""),
            ("preferred_output", "preferred "),
            ("non_preferred_output", "non-preferred "),
        ):
            source = prompt.get("messages") if prefix == "input.messages" else example.get(prefix)
            if isinstance(source, list):
                turns.extend(Turn(f"{prefix}[{i}]", heading, m) for i, m in enumerate(source))
        return turns
    messages = example.get("messages")
    if isinstance(messages, list):
        turns.extend(Turn(f"messages[{i}]", "", m) for i, m in enumerate(messages))
    return turns
