"""Training examples: read from chat JSONL, encoded with the chat template into trained labels, and batched."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ftui.dataset.chatspans import ReplyDropped, trained_spans
from ftui.engine.chat import MessageContentError, message_text, render
from ftui.engine.training.config import TrainingError

IGNORE_INDEX = -100
GROUP_PREFIX_TOKENS = 32


def _normalise(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    normalised = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise TrainingError("every message must be an object with a role")
        try:
            text = message_text(message.get("content"))
        except MessageContentError as exc:
            raise TrainingError(str(exc)) from exc
        normalised.append({"role": str(message["role"]), "content": text})
    return normalised


def _trained_spans(tokenizer: Any, messages: Sequence[dict[str, Any]], full: str) -> list[tuple[int, int]]:
    """Character spans of the rendered conversation to train on: assistant content plus its end-of-turn token."""
    try:
        return trained_spans(
            lambda plain, prompt: render(tokenizer, plain, generation_prompt=prompt),
            messages,
            _normalise(messages),
            full,
            tokenizer.eos_token or "",
        )
    except ReplyDropped as exc:
        raise TrainingError(str(exc)) from exc


def encode_full(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation (exactly the chat template's) and labels, untruncated."""
    full = render(tokenizer, _normalise(messages), generation_prompt=False)
    spans = _trained_spans(tokenizer, messages, full)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    input_ids: list[int] = list(encoded["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    for position, (first, last) in enumerate(encoded["offset_mapping"]):
        if any(first < end and last > start for start, end in spans):
            labels[position] = input_ids[position]
    return input_ids, labels


def encode_example(tokenizer: Any, messages: Sequence[dict[str, Any]], max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels -100 except on assistant turns whose weight is not 0; cut at max_length."""
    input_ids, labels = encode_full(tokenizer, messages)
    return input_ids[:max_length], labels[:max_length]


def read_examples(path: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(line number, messages) of each non-blank JSONL line; BOM and CRLF tolerated."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.removeprefix(b"\xef\xbb\xbf").strip() if number == 1 else raw.strip()
            if not line:
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise TrainingError(f"{path.name} line {number} is not valid JSON: {exc}") from exc
            if isinstance(item, dict) and "preferred_output" in item:
                raise TrainingError(
                    f"{path.name} line {number} is a preference (DPO) example; "
                    "the local engine does supervised fine-tuning only."
                )
            if not isinstance(item, dict) or not isinstance(item.get("messages"), list):
                raise TrainingError(f"{path.name} line {number} has no 'messages' list.")
            yield number, item["messages"]


@dataclass(frozen=True)
class Encoded:
    """One example ready for the model: inputs end just before its last trained token is predicted."""

    input_ids: list[int]
    targets: list[int]  # targets[t] is the label of input_ids[t + 1] (already shifted)
    first_target: int  # first position with a target

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass
class DataStats:
    examples: int = 0
    truncated: int = 0
    untrained: int = 0
    tokens: int = 0


def shift_labels(input_ids: list[int], labels: list[int]) -> Encoded | None:
    trained = [i for i, label in enumerate(labels) if label != IGNORE_INDEX and i > 0]
    if not trained:
        return None
    stop = trained[-1]
    return Encoded(input_ids=input_ids[:stop], targets=labels[1 : stop + 1], first_target=trained[0] - 1)


def load_dataset(tokenizer: Any, path: Path, max_length: int) -> tuple[list[Encoded], DataStats]:
    stats = DataStats()
    examples = []
    for number, messages in read_examples(path):
        try:
            input_ids, labels = encode_full(tokenizer, messages)
        except TrainingError as exc:
            raise TrainingError(f"{path.name} line {number}: {exc}") from exc
        stats.truncated += len(input_ids) > max_length
        encoded = shift_labels(input_ids[:max_length], labels[:max_length])
        if encoded is None:
            stats.untrained += 1
            continue
        examples.append(encoded)
        stats.examples += 1
        stats.tokens += encoded.length
    return examples, stats


# --- batching -------------------------------------------------------------------------------------------------------


def prompt_group(example: Encoded) -> tuple[int, ...]:
    """Examples whose first tokens match (usually: the same system prompt) batch together and share that prefix."""
    return tuple(example.input_ids[: min(GROUP_PREFIX_TOKENS, example.first_target)])


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, groups: Sequence[int] | None = None
) -> list[list[int]]:
    """Batches of example indexes for one epoch, ``ceil(n / batch_size)`` of them.

    Examples are shuffled by (seed, epoch) and cut into windows of 64 batches; in each window every prompt group is
    sorted by length and batched on its own (so a batch shares its prefix and pads little). When that would add
    steps, each group's remainder goes to a common pool batched by length instead. The batches are then shuffled.
    """
    rng = random.Random(f"ftui:{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 64
    batches: list[list[int]] = []
    for begin in range(0, len(order), window):
        batches.extend(_window_batches(order[begin : begin + window], lengths, batch_size, groups))
    rng.shuffle(batches)
    return batches


def _window_batches(
    indexes: list[int], lengths: Sequence[int], batch_size: int, groups: Sequence[int] | None
) -> list[list[int]]:
    members: dict[int, list[int]] = {}
    for index in indexes:
        members.setdefault(groups[index] if groups else 0, []).append(index)
    separate = sum(math.ceil(len(m) / batch_size) for m in members.values()) == math.ceil(len(indexes) / batch_size)
    batches: list[list[int]] = []
    pool: list[int] = []
    for items in members.values():
        items.sort(key=lambda i: lengths[i])
        whole = len(items) if separate else len(items) - len(items) % batch_size
        batches.extend(items[i : i + batch_size] for i in range(0, whole, batch_size))
        pool.extend(items[whole:])
    pool.sort(key=lambda i: lengths[i])
    batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    return batches


def group_ids(examples: Sequence[Encoded]) -> list[int]:
    ids: dict[tuple[int, ...], int] = {}
    return [ids.setdefault(prompt_group(e), len(ids)) for e in examples]
