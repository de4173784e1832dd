"""The model catalog: which base models can be fine-tuned where, and what users should know about them.

The cards live in ``ftui/data/catalog.toml`` and are validated when loaded. Live backends can add or
narrow availability later; this module only knows the built-in facts.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


class Provider(StrEnum):
    OPENAI = "openai"
    AZURE = "azure"
    FOUNDRY = "foundry"
    LOCAL = "local"


PROVIDER_NAMES: dict[Provider, str] = {
    Provider.OPENAI: "OpenAI",
    Provider.AZURE: "Azure OpenAI",
    Provider.FOUNDRY: "Microsoft Foundry",
    Provider.LOCAL: "the local engine",
}


class Task(StrEnum):
    CHAT_COMPLETION = "chat-completion"
    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"
    TRANSLATION = "translation"
    TEXT_GENERATION = "text-generation"
    QUESTION_ANSWERING = "question-answering"
    SUMMARIZATION = "summarization"


class Method(StrEnum):
    SUPERVISED = "supervised"
    DPO = "dpo"
    REINFORCEMENT = "reinforcement"


TASK_LABELS: dict[Task, str] = {
    Task.CHAT_COMPLETION: "Chat completion",
    Task.TEXT_CLASSIFICATION: "Text classification",
    Task.TOKEN_CLASSIFICATION: "Token classification",
    Task.TRANSLATION: "Translation",
    Task.TEXT_GENERATION: "Text generation",
    Task.QUESTION_ANSWERING: "Question answering",
    Task.SUMMARIZATION: "Summarization",
}

METHOD_LABELS: dict[Method, str] = {
    Method.SUPERVISED: "Supervised (SFT)",
    Method.DPO: "Preference (DPO)",
    Method.REINFORCEMENT: "Reinforcement (RFT)",
}

# Fields a card may list under ``unconfirmed``: the facts that vary per card.
CARD_FACT_FIELDS = frozenset(
    {
        "context_window",
        "training_context_limit",
        "tokenizer",
        "languages",
        "capabilities",
        "pretraining_data",
        "limitations",
        "biases",
        "license",
        "training_price_per_1m_tokens",
        "methods",
        "tasks",
        "providers",
        "base_learning_rate",
    }
)


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="The model name a fine-tuning job is created with.")
    name: str = Field(min_length=1, description="Display name.")
    publisher: str
    family: str
    aliases: tuple[str, ...] = ()
    providers: tuple[Provider, ...] = Field(min_length=1)
    tasks: tuple[Task, ...] = Field(min_length=1)
    methods: tuple[Method, ...] = Field(min_length=1)
    context_window: PositiveInt | None = None
    training_context_limit: PositiveInt | None = Field(
        default=None, description="Most tokens one training example may hold before the service truncates it."
    )
    tokenizer: str = Field(
        description="'tiktoken:<encoding>', 'hf:<repository>', or 'unknown'.",
        pattern=r"^(tiktoken:[a-z0-9_]+|hf:[\w.\-]+/[\w.\-]+|unknown)$",
    )
    languages: tuple[str, ...] = Field(min_length=1)
    capabilities: str
    pretraining_data: str
    limitations: str
    biases: str
    license: str
    training_price_per_1m_tokens: float | None = Field(default=None, ge=0, description="USD per 1M training tokens.")
    training_price_note: str | None = None
    base_learning_rate: float | None = Field(default=None, gt=0, description="Learning rate at multiplier 1.0.")
    sources: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = Field(
        default=(), description="Fields that could not be confirmed from a public source."
    )

    @model_validator(mode="after")
    def _unconfirmed_names_fields(self) -> ModelCard:
        unknown = set(self.unconfirmed) - CARD_FACT_FIELDS
        if unknown:
            raise ValueError(f"unconfirmed names unknown fields: {sorted(unknown)}")
        return self

    @property
    def is_cloud(self) -> bool:
        return any(p is not Provider.LOCAL for p in self.providers)

    def is_confirmed(self, field: str) -> bool:
        return field not in self.unconfirmed

    def matches(self, text: str) -> bool:
        """Case-insensitive search over names, publisher, family, tasks and languages."""
        needle = text.strip().lower()
        if not needle:
            return True
        haystack = " ".join(
            [self.id, self.name, self.publisher, self.family, *self.aliases, *self.tasks, *self.languages]
        ).lower()
        return all(word in haystack for word in needle.split())


class CatalogError(Exception):
    """The catalog data file is missing or invalid."""


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    cards: tuple[ModelCard, ...]

    @model_validator(mode="after")
    def _names_are_unique(self) -> Catalog:
        seen: set[str] = set()
        for card in self.cards:
            for name in (card.id, *card.aliases):
                if name in seen:
                    raise ValueError(f"model name {name!r} appears twice in the catalog")
                seen.add(name)
        return self

    def get(self, name: str) -> ModelCard | None:
        """Find a card by id or alias; a dated snapshot name falls back to its alias (gpt-4o-mini-2099-01-01)."""
        for card in self.cards:
            if name == card.id or name in card.aliases:
                return card
        for card in self.cards:
            if any(name.startswith(alias + "-") for alias in card.aliases):
                return card
        return None

    def filter(
        self,
        *,
        task: Task | None = None,
        method: Method | None = None,
        provider: Provider | None = None,
        text: str = "",
    ) -> list[ModelCard]:
        return [
            card
            for card in self.cards
            if (task is None or task in card.tasks)
            and (method is None or method in card.methods)
            and (provider is None or provider in card.providers)
            and card.matches(text)
        ]


def parse_catalog(toml_text: str) -> Catalog:
    try:
        raw = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from exc
    try:
        return Catalog.model_validate({"cards": raw.get("model", [])})
    except ValueError as exc:
        raise CatalogError(f"catalog has an invalid card: {exc}") from exc


@cache
def load_catalog() -> Catalog:
    """The built-in catalog shipped with the package."""
    text = resources.files("ftui.data").joinpath("catalog.toml").read_text(encoding="utf-8")
    return parse_catalog(text)


LOCAL_BASE_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_TARGET_MODEL = LOCAL_BASE_MODEL
