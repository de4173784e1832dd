"""Training-size arithmetic shared by the validator and the options screen."""

from __future__ import annotations

from collections.abc import Iterable

# OpenAI's published recipe for the default number of epochs (cookbook "Chat_finetuning_data_prep").
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_EPOCHS = 1
MAX_EPOCHS = 25
# Azure documents "auto" batch size as about 0.2% of the examples, at most 256. OpenAI publishes no rule.
AUTO_BATCH_FRACTION = 0.002
MAX_BATCH_SIZE = 256
# The local engine keeps its batches between these sizes, so that a CPU step is worth its overhead.
LOCAL_MIN_BATCH_SIZE = 4
LOCAL_MAX_BATCH_SIZE = 32


def auto_epochs(n_examples: int) -> int:
    """The number of epochs 'auto' resolves to, so that examples x epochs lands between 100 and 25,000."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def local_auto_batch_size(n_examples: int) -> int:
    """The batch size 'auto' resolves to on the local engine: Azure's 0.2% rule, kept between 4 and 32."""
    return max(LOCAL_MIN_BATCH_SIZE, min(LOCAL_MAX_BATCH_SIZE, round(n_examples * AUTO_BATCH_FRACTION)))


def cloud_auto_batch_size(n_examples: int) -> int:
    """An estimate of the batch size 'auto' resolves to on a cloud service: Azure's 0.2% rule, from 1 to 256."""
    return max(1, min(MAX_BATCH_SIZE, round(n_examples * AUTO_BATCH_FRACTION)))


def billable_tokens(tokens_per_example: Iterable[int], n_epochs: int, limit: int | None) -> int:
    """Tokens billed for training: each example counts up to the per-example limit, once per epoch."""
    per_epoch = sum(tokens if limit is None else min(limit, tokens) for tokens in tokens_per_example)
    return per_epoch * n_epochs
