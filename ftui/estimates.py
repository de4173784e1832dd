"""Training-size arithmetic shared by the validator and the options screen."""

from __future__ import annotations

from collections.abc import Iterable

# OpenAI's published recipe for the default number of epochs (cookbook "Chat_finetuning_data_prep").
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_EPOCHS = 1
MAX_EPOCHS = 25


def auto_epochs(n_examples: int) -> int:
    """The number of epochs 'auto' resolves to, so that examples x epochs lands between 100 and 25,000."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def billable_tokens(tokens_per_example: Iterable[int], n_epochs: int, limit: int | None) -> int:
    """Tokens billed for training: each example counts up to the per-example limit, once per epoch."""
    per_epoch = sum(tokens if limit is None else min(limit, tokens) for tokens in tokens_per_example)
    return per_epoch * n_epochs
