"""Training-size arithmetic shared by the validator and the options screen, and a job's estimate from a data check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ftui.catalog import ModelCard
    from ftui.config import BackendKind
    from ftui.options import Estimate, JobOptions

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


# --- the estimate from a data check -------------------------------------------------------------------------------


class TrainingCounts(Protocol):
    """What the data check counted in the training file (``ftui.dataset.validator.FileStats``)."""

    @property
    def examples(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...


class CheckedData(Protocol):
    """A finished data check (``ftui.dataset.validator.ValidationReport``): the training file's counts."""

    @property
    def training(self) -> TrainingCounts: ...


def estimate_from_report(
    report: CheckedData | None,
    options: JobOptions,
    kind: BackendKind,
    *,
    card: ModelCard | None = None,
    remote_training: bool = False,
) -> Estimate | str:
    """What ``options`` will do on a backend of ``kind`` with the checked data, or a sentence saying why there is no
    estimate. ``remote_training``: the training file is already on the backend (no local copy to count);
    ``card``: the chosen model's card, else the catalog's card for ``options.model``."""
    # ftui.options takes its arithmetic from this module: imported here, not at the top, so either loads first.
    from ftui.catalog import load_catalog
    from ftui.options import estimate

    if report is None:
        if remote_training:
            return (
                "No estimate: the training file is already on the backend, so ftui cannot count its examples. "
                "Estimates need a local file."
            )
        return "No estimate yet: it appears once the training data has been checked (step 2, Data)."
    stats = report.training
    if stats.examples == 0:
        return "No estimate: the training file holds no valid examples."
    return estimate(
        n_examples=stats.examples,
        tokens_per_example=None,
        total_tokens=stats.total_tokens,
        options=options,
        card=card or load_catalog().get(options.model),
        backend=kind.value,
    )
