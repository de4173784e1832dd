"""A fine-tuning job's options: typed hyperparameters, the request body, cloning, help text and estimates.

Every backend speaks OpenAI's ``POST /fine_tuning/jobs``: the hyperparameters go under ``method``, each one a number
or ``"auto"`` (the service picks). This module turns what the options screen holds into that body and back, and
says before submitting what a job will cost in steps, tokens, money and time.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ftui.catalog import PROVIDER_NAMES, Method, ModelCard, Provider, load_catalog
from ftui.estimates import auto_epochs, billable_tokens, cloud_auto_batch_size, local_auto_batch_size
from ftui.textfmt import plural

Auto = Literal["auto"]
AUTO: Auto = "auto"
SUGGESTED_LR_MULTIPLIER = (0.02, 0.2)
SEED_MAX = 2**31 - 1
SUFFIX_LIMITS: dict[Provider, int] = {
    Provider.OPENAI: 64,
    Provider.AZURE: 40,
    Provider.FOUNDRY: 40,
    Provider.LOCAL: 64,
}
SUFFIX_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
REQUEST_METADATA = {"created_with": "ftui"}
# OpenAI's limits on a job's metadata (Azure and the local engine take the same field).
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512

# Trained tokens per second of the local engine's LoRA training of SmolLM2-135M on 2 CPU cores, measured with
# benchmarks/train_bench.py (186-249 across runs); a rough guide, not a promise, on other machines.
LOCAL_TOKENS_PER_SECOND = 230.0

BackendName = Literal["local", "openai", "azure", "compatible"]  # the values of ftui.config.BackendKind


# --- hyperparameters ------------------------------------------------------------------------------------------------


class _Range(NamedTuple):
    whole: bool
    low: float
    high: float

    def message(self, name: str) -> str:
        if self.whole:
            return f"{name} must be a whole number from {self.low:g} to {self.high:g}"
        return f"{name} must be a number above {self.low:g} and at most {self.high:g}"

    def check(self, name: str, value: object) -> Auto | int | float:
        """``value`` as the field's type, or ValueError with the one-line message."""
        if value == AUTO:
            return AUTO
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(self.message(name))
        if self.whole:
            if value != int(value) or not self.low <= value <= self.high:
                raise ValueError(self.message(name))
            return int(value)
        if not self.low < value <= self.high:
            raise ValueError(self.message(name))
        return float(value)


# The service's limits (OpenAI's OpenAPI document); learning_rate_multiplier has no published upper bound, and
# ftui stops at 10, where the local engine stops: far above anything that trains well.
RANGES: dict[str, _Range] = {
    "batch_size": _Range(whole=True, low=1, high=256),
    "learning_rate_multiplier": _Range(whole=False, low=0, high=10),
    "n_epochs": _Range(whole=True, low=1, high=50),
    "beta": _Range(whole=False, low=0, high=2),
}
# What the review and the job dashboard call each hyperparameter, in the order the options step shows them.
HYPERPARAMETER_LABELS: dict[str, str] = {
    "n_epochs": "Epochs",
    "batch_size": "Batch size",
    "learning_rate_multiplier": "LR multiplier",
    "beta": "Beta",
}
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


class Hyperparameters(BaseModel):
    """Each value is ``"auto"`` or a number in the service's range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: Auto | int = AUTO
    learning_rate_multiplier: Auto | float = AUTO
    n_epochs: Auto | int = AUTO
    beta: Auto | float = Field(default=AUTO, description="DPO only.")

    @field_validator("*", mode="before")
    @classmethod
    def _in_range(cls, value: object, info: ValidationInfo) -> object:
        assert info.field_name is not None
        return RANGES[info.field_name].check(info.field_name, value)

    @classmethod
    def parse_field(cls, name: str, text: str, label: str | None = None) -> Auto | int | float:
        """The value typed into an input box: blank or "auto" is auto; otherwise a number in range.

        Raises ValueError with a one-line message fit for display, naming the field ``label`` (the form's word for
        it, "LR multiplier"), or ``name`` where the field goes by its API name (a command-line option).
        """
        spec = RANGES.get(name)
        if spec is None:
            raise ValueError(f"{name} is not a hyperparameter")
        called = label or name
        cleaned = text.strip()
        if cleaned.lower() in ("", AUTO):
            return AUTO
        if spec.whole:
            if not _WHOLE_NUMBER.fullmatch(cleaned):
                raise ValueError(spec.message(called))
            return spec.check(called, int(cleaned))
        try:
            number = float(cleaned)
        except ValueError:
            raise ValueError(spec.message(called)) from None
        return spec.check(called, number)

    def for_method(self, method: Method) -> dict[str, Auto | int | float]:
        """The hyperparameters the method takes (beta is DPO's alone)."""
        values = self.model_dump()
        if method is not Method.DPO:
            values.pop("beta")
        return values


def parse_seed(text: str, label: str = "seed") -> int | None:
    """A seed typed into an input box: blank means "generate one at submit". The message names it ``label``."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if not _WHOLE_NUMBER.fullmatch(cleaned) or not 0 <= int(cleaned) <= SEED_MAX:
        raise ValueError(f"{label} must be a whole number from 0 to {SEED_MAX}, or blank for a random one")
    return int(cleaned)


def generate_seed() -> int:
    return secrets.randbelow(SEED_MAX + 1)


# --- the job's options ----------------------------------------------------------------------------------------------


def _checked_metadata(value: dict[str, str]) -> dict[str, str]:
    problem = metadata_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Job metadata within the service's limits (validated wherever a model holds it).
JobMetadata = Annotated[dict[str, str], AfterValidator(_checked_metadata)]


class JobOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    method: Method = Method.SUPERVISED
    hyperparameters: Hyperparameters = Hyperparameters()
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, description="None: generated at submit.")
    suffix: str | None = Field(default=None, description="Added to the fine-tuned model's name.")
    metadata: JobMetadata = Field(
        default_factory=dict, description="Sent with the job, beside ftui's own created_with."
    )

    @field_validator("suffix")
    @classmethod
    def _blank_suffix_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    def validate_for(self, provider: Provider, card: ModelCard | None = None) -> list[str]:
        """What stops this job on ``provider``, one sentence each; empty when it can be submitted.

        ``card`` defaults to the catalog's card for the model; a model the catalog does not know is not checked
        for its methods.
        """
        card = card or load_catalog().get(self.model)
        return [*self._suffix_problems(provider), *self._method_problems(card)]

    def _suffix_problems(self, provider: Provider) -> list[str]:
        if self.suffix is None:
            return []
        problems = []
        limit = SUFFIX_LIMITS[provider]
        if len(self.suffix) > limit:
            problems.append(f"The suffix has {len(self.suffix)} characters; {PROVIDER_NAMES[provider]} allows {limit}.")
        # Azure and the local engine allow only these; OpenAI documents no set, but ':' would break the
        # "ft:<base>:<org>:<suffix>:<id>" name, so ftui keeps to the common one.
        if not SUFFIX_PATTERN.fullmatch(self.suffix):
            problems.append("The suffix may hold only letters a-z and A-Z, digits, '-' and '_'.")
        return problems

    def _method_problems(self, card: ModelCard | None) -> list[str]:
        problems = []
        if card is not None and self.method not in card.methods:
            offered = ", ".join(card.methods)
            problems.append(f"{card.id} cannot be fine-tuned with {self.method}; it supports {offered}.")
        if self.method is Method.REINFORCEMENT:
            problems.append("Reinforcement fine-tuning needs a grader, which ftui cannot set up yet.")
        if self.method is not Method.DPO and self.hyperparameters.beta != AUTO:
            problems.append("beta applies only to DPO; set it back to auto or choose the DPO method.")
        return problems

    def advice(self) -> list[str]:
        """Settings that are allowed but unusual, one sentence each."""
        low, high = SUGGESTED_LR_MULTIPLIER
        multiplier = self.hyperparameters.learning_rate_multiplier
        if isinstance(multiplier, int | float) and not low <= multiplier <= high:
            return [f"learning_rate_multiplier {multiplier:g} is outside the suggested {low:g}-{high:g}."]
        return []

    def to_request(self, training_file: str, validation_file: str | None, *, seed: int) -> dict[str, Any]:
        """The ``POST /fine_tuning/jobs`` body. "auto" values are sent as "auto"."""
        if self.method is Method.REINFORCEMENT:
            raise ValueError("reinforcement fine-tuning needs a grader, which ftui cannot set up yet")
        if not 0 <= seed <= SEED_MAX:
            raise ValueError(f"seed must be from 0 to {SEED_MAX}")
        body: dict[str, Any] = {
            "model": self.model,
            "training_file": training_file,
            "method": {
                "type": self.method.value,
                self.method.value: {"hyperparameters": self.hyperparameters.for_method(self.method)},
            },
            "seed": seed,
            "metadata": {**REQUEST_METADATA, **self.metadata},
        }
        if validation_file:
            body["validation_file"] = validation_file
        if self.suffix:
            body["suffix"] = self.suffix
        return body

    @classmethod
    def from_job(cls, job: Mapping[str, Any] | BaseModel) -> JobOptions:
        """The settings of an existing job, to start another like it.

        Reads ``method`` (or the older top-level ``hyperparameters``); values the service reports that ftui would
        not send (Azure's ``n_epochs: -1``, out of range) become "auto". The suffix is ``user_provided_suffix``
        when the job has it, else read from the fine-tuned model's name.
        """
        data = job.model_dump() if isinstance(job, BaseModel) else dict(job)
        method = _method_of(data)
        seed = data.get("seed")
        return cls(
            model=data["model"],
            method=method,
            hyperparameters=_hyperparameters_of(data, method),
            seed=seed if isinstance(seed, int) and 0 <= seed <= SEED_MAX else None,
            suffix=data["user_provided_suffix"]
            if "user_provided_suffix" in data
            else suffix_from_model_name(data.get("fine_tuned_model")),
            metadata=_metadata_of(data),
        )


def metadata_problem(metadata: Mapping[str, str]) -> str | None:
    """What breaks the service's limits on job metadata, in one sentence; None when it fits.

    The limits count ftui's own ``created_with`` key, which every job carries.
    """
    merged = {**REQUEST_METADATA, **metadata}
    if len(merged) > METADATA_MAX_KEYS:
        room = METADATA_MAX_KEYS - len(REQUEST_METADATA)
        return f"metadata may hold at most {room} keys of your own (ftui adds created_with); it has {len(metadata)}"
    for key, value in metadata.items():
        if not key:
            return "a metadata key may not be empty"
        if len(key) > METADATA_KEY_MAX_CHARS:
            return f"metadata key {key[:20]!r}… has {len(key)} characters; the limit is {METADATA_KEY_MAX_CHARS}"
        if len(value) > METADATA_VALUE_MAX_CHARS:
            return f"metadata {key!r} has {len(value)} characters; the limit is {METADATA_VALUE_MAX_CHARS}"
    return None


def _metadata_of(data: Mapping[str, Any]) -> dict[str, str]:
    """A job's own metadata: ftui's created_with marker left out, values the limits allow."""
    reported = data.get("metadata")
    if not isinstance(reported, Mapping):
        return {}
    own = {
        str(key): str(value)
        for key, value in reported.items()
        if value is not None and REQUEST_METADATA.get(str(key)) != value
    }
    return own if metadata_problem(own) is None else {}


def _method_of(data: Mapping[str, Any]) -> Method:
    kind = (data.get("method") or {}).get("type")
    try:
        return Method(kind) if kind else Method.SUPERVISED
    except ValueError:
        return Method.SUPERVISED


def _hyperparameters_of(data: Mapping[str, Any], method: Method) -> Hyperparameters:
    reported = ((data.get("method") or {}).get(method.value) or {}).get("hyperparameters")
    reported = reported or data.get("hyperparameters") or {}
    values: dict[str, Auto | int | float] = {}
    for name, spec in RANGES.items():
        if name == "beta" and method is not Method.DPO:
            continue
        try:
            values[name] = spec.check(name, reported.get(name, AUTO))
        except ValueError:
            values[name] = AUTO
    return Hyperparameters.model_validate(values)


# Azure names a fine-tuned model "<base>.ft-<32 hex digits>[-<suffix>]".
_AZURE_FINE_TUNED = re.compile(r"\.ft-[0-9a-f]{32}-(?P<suffix>[A-Za-z0-9_-]+)$")


def suffix_from_model_name(name: str | None) -> str | None:
    """The suffix in a fine-tuned model's name: OpenAI's "ft:<base>:<org>:<suffix>:<id>" (suffix may be empty),
    the local engine's "ft:<base>:<suffix>:<id>", or Azure's "<base>.ft-<id>-<suffix>"; None when there is none."""
    if not name:
        return None
    if name.startswith("ft:"):
        parts = name.split(":")
        return (parts[-2] or None) if len(parts) >= 4 else None
    match = _AZURE_FINE_TUNED.search(name)
    return match["suffix"] if match else None


# --- help text ------------------------------------------------------------------------------------------------------

FIELD_HELP: dict[str, str] = {
    "n_epochs": "Epochs: full cycles through the training data. auto picks about 3 (more for tiny sets, fewer for huge).",
    "batch_size": "Examples per training step. Larger: fewer, steadier updates but more memory; suits larger datasets.",
    "learning_rate_multiplier": "Pretraining learning rate × this. Try 0.02–0.2; smaller values help avoid overfitting.",
    "seed": "Same seed, data and settings give the same results (rare exceptions). Blank: one is generated.",
    "suffix": "Added to the fine-tuned model's name so you can tell it apart. Letters, digits, - and _ only.",
    "beta": "DPO only: how strongly the model is kept near the base model. Higher = stronger penalty for drifting.",
}

FIELD_DETAIL: dict[str, str] = {
    "n_epochs": (
        "One epoch is one full cycle through the training dataset. More epochs fit the examples more closely, "
        "but too many make the model repeat them instead of generalizing, and cost grows with every epoch. "
        "auto picks 3, raised for small datasets and lowered for large ones so examples x epochs lands between "
        "100 and 25,000."
    ),
    "batch_size": (
        "The number of training examples in each forward and backward pass. A larger batch updates the "
        "parameters less often but with lower variance, and usually works better for larger datasets; it also "
        "needs more memory. auto lets the service choose (about 0.2% of the examples, at most 256)."
    ),
    "learning_rate_multiplier": (
        "The fine-tuning learning rate is the base model's pretraining learning rate multiplied by this value. "
        "Larger learning rates tend to work better with larger batch sizes; smaller values can help avoid "
        "overfitting. Experiment within 0.02–0.2."
    ),
    "seed": (
        "The seed controls reproducibility: the same seed and parameters should produce the same results, with "
        "rare exceptions. Leave it blank and one is generated; ftui shows it so you can run the job again."
    ),
    "suffix": (
        "A short name added to the fine-tuned model's name, so it is easy to find later. Use letters a-z and "
        "A-Z, digits, '-' and '_': up to 64 characters on OpenAI and 40 on Azure."
    ),
    "beta": (
        "For DPO (preference) fine-tuning only. Beta weighs the penalty for moving away from the base model: "
        "higher keeps the tuned model closer to it, lower lets the preferences change it more. auto lets the "
        "service choose."
    ),
}


# --- estimates ------------------------------------------------------------------------------------------------------


class Estimate(BaseModel):
    """What a job will do, worked out before it is submitted."""

    model_config = ConfigDict(frozen=True)

    n_epochs: int
    n_epochs_auto: bool = False
    batch_size: int
    steps: int
    trained_tokens: int = Field(description="Tokens trained on, each example capped at the model's limit, x epochs.")
    billable_tokens: int = Field(description="The trained tokens a service bills; 0 on the local engine.")
    tokens_exact: bool = Field(default=True, description="False when the tokens were estimated (bytes/4).")
    tokens_note: str = Field(default="", description="Why the tokens were estimated.")
    cost_usd: float | None = None
    duration_seconds: float | None = Field(default=None, description="Preparing the model included.")
    prepare_seconds: float | None = Field(default=None, description="Preparing the local model before training.")
    prepare_model: str | None = Field(default=None, description="The model prepared first, as people call it.")
    notes: list[str] = []


def estimate(
    *,
    n_examples: int,
    tokens_per_example: Sequence[int] | None,
    total_tokens: int,
    options: JobOptions,
    card: ModelCard | None,
    backend: BackendName,
    examples_over_limit: int | None = None,
    tokens_exact: bool = True,
    tokens_note: str = "",
    prepare_seconds: float | None = None,
) -> Estimate:
    """Epochs, batch size, steps, tokens, cost and duration for ``options`` on ``backend``.

    ``tokens_per_example`` allows each example to be capped at the card's per-example limit, as the service
    truncates; with only ``total_tokens`` no cap is applied (``examples_over_limit``: how many examples the total
    already counts at the limit). ``tokens_exact`` False: the tokens are an estimate (``tokens_note`` says why).
    ``prepare_seconds``: the local engine must prepare the model first, and the duration includes it.
    """
    notes: list[str] = []
    n_epochs = _resolve_epochs(options.hyperparameters.n_epochs, n_examples, notes)
    batch_size = _resolve_batch_size(options.hyperparameters.batch_size, n_examples, backend, notes)
    steps = math.ceil(n_examples / batch_size) * n_epochs if n_examples > 0 else 0
    trained = _trained_tokens(tokens_per_example, total_tokens, n_epochs, card, examples_over_limit, notes)
    local = backend == "local"
    prepare_model = (card.family if card else options.model) if prepare_seconds else None
    return Estimate(
        n_epochs=n_epochs,
        n_epochs_auto=options.hyperparameters.n_epochs == AUTO,
        batch_size=batch_size,
        steps=steps,
        trained_tokens=trained,
        billable_tokens=0 if local else trained,
        tokens_exact=tokens_exact,
        tokens_note="" if tokens_exact else tokens_note,
        cost_usd=_cost(trained, card, backend, notes),
        duration_seconds=_duration(trained, backend, notes, prepare_seconds, prepare_model),
        prepare_seconds=prepare_seconds if prepare_model else None,
        prepare_model=prepare_model,
        notes=notes,
    )


def _resolve_epochs(requested: Auto | int, n_examples: int, notes: list[str]) -> int:
    if requested != AUTO:
        return int(requested)
    epochs = auto_epochs(n_examples)
    notes.append(f"auto epochs resolves to {epochs} for {plural(n_examples, 'example')}")
    return epochs


def _resolve_batch_size(requested: Auto | int, n_examples: int, backend: BackendName, notes: list[str]) -> int:
    if backend == "local":
        # The engine also never batches more examples than there are.
        size = local_auto_batch_size(n_examples) if requested == AUTO else int(requested)
        size = min(size, max(1, n_examples))
        if requested == AUTO:
            notes.append(f"auto batch size resolves to {size} on the local engine")
        return size
    if requested != AUTO:
        return int(requested)
    size = cloud_auto_batch_size(n_examples)
    notes.append(f"auto batch size estimated as {size} (about 0.2% of the examples); the service decides")
    return size


def _trained_tokens(
    per_example: Sequence[int] | None,
    total: int,
    n_epochs: int,
    card: ModelCard | None,
    over_limit: int | None,
    notes: list[str],
) -> int:
    limit = card.training_context_limit if card else None
    if per_example is not None:
        over_limit = sum(1 for tokens in per_example if limit is not None and tokens > limit)
    if limit is not None and over_limit:
        notes.append(
            f"{plural(over_limit, 'example')} over the {limit:,}-token limit per example counted as {limit:,} "
            "tokens (the service truncates them)"
        )
    elif limit is not None and over_limit is None:
        notes.append(f"assumes no example is over the {limit:,}-token limit per example")
    if per_example is not None:
        return billable_tokens(per_example, n_epochs, limit)
    return total * n_epochs


def _cost(trained: int, card: ModelCard | None, backend: BackendName, notes: list[str]) -> float | None:
    if backend == "local":
        notes.append("free: runs on this machine")
        return 0.0
    if backend == "compatible":
        notes.append("cost unknown: an OpenAI-compatible server sets its own prices")
        return None
    price = card.training_price_per_1m_tokens if card else None
    if price is None:
        notes.append("cost unknown: the catalog has no price for this model")
        if card and card.training_price_note:
            notes.append(card.training_price_note)
        return None
    if backend == "azure":
        notes.append("cost at OpenAI's list price; Azure bills its own rates by region and deployment type")
    return round(trained / 1e6 * price, 2)


def _duration(
    trained: int, backend: BackendName, notes: list[str], prepare_seconds: float | None, prepare_model: str | None
) -> float | None:
    if backend != "local":
        notes.append("duration depends on the service's queue")
        return None
    notes.append(
        f"duration at the local engine's measured speed on 2 CPU cores: about {LOCAL_TOKENS_PER_SECOND:.0f} tokens/s"
    )
    seconds = trained / LOCAL_TOKENS_PER_SECOND
    if prepare_seconds and prepare_model:
        notes.append(f"includes preparing {prepare_model} on this computer, done once before its first job")
        seconds += prepare_seconds
    return seconds


__all__ = [
    "AUTO",
    "FIELD_DETAIL",
    "FIELD_HELP",
    "LOCAL_TOKENS_PER_SECOND",
    "RANGES",
    "SEED_MAX",
    "SUFFIX_LIMITS",
    "SUGGESTED_LR_MULTIPLIER",
    "BackendName",
    "Estimate",
    "Hyperparameters",
    "JobOptions",
    "estimate",
    "generate_seed",
    "metadata_problem",
    "parse_seed",
    "suffix_from_model_name",
]
