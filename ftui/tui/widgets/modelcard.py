"""Catalog cards merged with what a backend reports live, and the model-card text shown beside the list.

No Textual here: the catalog screen turns ``Entry`` objects into table rows and the card pane's styled text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text

from ftui.catalog import METHOD_LABELS, TASK_LABELS, Catalog, Method, ModelCard, Provider, Task
from ftui.client_types import LiveModel


class Mark(StrEnum):
    AVAILABLE = "✓"
    UNAVAILABLE = "✗"
    UNKNOWN = "?"


MARK_WORDS: dict[Mark, str] = {
    Mark.AVAILABLE: "fine-tunable here",
    Mark.UNAVAILABLE: "not on this backend",
    Mark.UNKNOWN: "availability unknown",
}

METHOD_SHORT: dict[Method, str] = {Method.SUPERVISED: "SFT", Method.DPO: "DPO", Method.REINFORCEMENT: "RFT"}

PROVIDER_NAMES: dict[Provider, str] = {
    Provider.OPENAI: "OpenAI",
    Provider.AZURE: "Azure OpenAI",
    Provider.FOUNDRY: "Microsoft Foundry",
    Provider.LOCAL: "Local engine",
}

# The profile kinds that can train a card of each provider, by name.
_PROFILE_NAMES: dict[Provider, str] = {Provider.OPENAI: "OpenAI", Provider.AZURE: "Azure"}

# A model the backend reports without a card: the OpenAI fine-tuning API trains chat models.
_LIVE_ONLY_TASKS: tuple[Task, ...] = (Task.CHAT_COMPLETION,)


@dataclass(frozen=True)
class Availability:
    mark: Mark
    reason: str

    @property
    def usable(self) -> bool:
        return self.mark is not Mark.UNAVAILABLE

    def describe(self) -> str:
        return f"{self.mark} {MARK_WORDS[self.mark]} — {self.reason}"


@dataclass(frozen=True)
class Entry:
    """One row of the catalog: a card, a live model, or both."""

    model_id: str  # the name a fine-tuning job is created with on this backend
    card: ModelCard | None
    live: LiveModel | None
    availability: Availability
    # Methods of a model without a card, where the backend's own rules say (the local engine trains SFT only).
    live_methods: tuple[Method, ...] = ()

    @property
    def name(self) -> str:
        return self.card.name if self.card else self.model_id

    @property
    def publisher(self) -> str:
        if self.card:
            return self.card.publisher
        return (self.live.owned_by if self.live else "") or "—"

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.card.tasks if self.card else _LIVE_ONLY_TASKS

    @property
    def methods(self) -> tuple[Method, ...]:
        return self.card.methods if self.card else self.live_methods

    def matches(self, *, task: Task | None, method: Method | None, text: str) -> bool:
        if task is not None and task not in self.tasks:
            return False
        # A model whose methods are unknown stays visible under every method filter.
        if method is not None and self.methods and method not in self.methods:
            return False
        if self.card is not None:
            return self.card.matches(text) or _words_in(text, self.model_id)
        return _words_in(text, " ".join([self.model_id, self.publisher]))


def _words_in(text: str, haystack: str) -> bool:
    lowered = haystack.lower()
    return all(word in lowered for word in text.lower().split())


def merge(
    catalog: Catalog,
    *,
    provider: Provider | None,
    backend_label: str,
    live: Sequence[LiveModel] | None,
    error: str | None = None,
) -> list[Entry]:
    """Every catalog card with its availability on this backend, then live fine-tunable models without a card.

    ``live`` is None while the backend has not answered (or failed: ``error`` says why).
    """
    matched = _live_by_card(catalog, live or ())
    entries = [_card_entry(card, provider, backend_label, live, matched.get(card.id), error) for card in catalog.cards]
    live_methods = (Method.SUPERVISED,) if provider is Provider.LOCAL else ()
    entries.extend(_live_only_entries(catalog, live or (), backend_label, live_methods))
    return entries


def _live_by_card(catalog: Catalog, live: Iterable[LiveModel]) -> dict[str, LiveModel]:
    """The live model naming each card; the one with the card's exact id wins over an alias or a snapshot."""
    found: dict[str, LiveModel] = {}
    for model in live:
        if model.is_fine_tuned:
            continue
        card = catalog.get(model.id)
        if card is None:
            continue
        if card.id not in found or model.id == card.id:
            found[card.id] = model
    return found


def _card_entry(
    card: ModelCard,
    provider: Provider | None,
    backend_label: str,
    live: Sequence[LiveModel] | None,
    match: LiveModel | None,
    error: str | None,
) -> Entry:
    model_id = match.id if match is not None else card.id
    return Entry(model_id, card, match, _availability(card, provider, backend_label, live, match, error))


def _availability(
    card: ModelCard,
    provider: Provider | None,
    backend_label: str,
    live: Sequence[LiveModel] | None,
    match: LiveModel | None,
    error: str | None,
) -> Availability:
    if provider is None or provider not in card.providers:
        return Availability(Mark.UNAVAILABLE, _elsewhere_reason(card))
    if live is None:
        if error:
            return Availability(Mark.UNKNOWN, f"{backend_label} did not answer; F5 asks again.")
        return Availability(Mark.UNKNOWN, f"checking what {backend_label} offers…")
    if match is None:
        if provider is Provider.LOCAL:
            return Availability(Mark.UNAVAILABLE, f"{backend_label} does not offer this model.")
        return Availability(
            Mark.UNAVAILABLE,
            f"{backend_label} does not list this model (it depends on the account, region or quota).",
        )
    if match.fine_tunable is False:
        return Availability(Mark.UNAVAILABLE, match.reason or f"{backend_label} reports it cannot be fine-tuned.")
    return Availability(Mark.AVAILABLE, f"listed by {backend_label}.")


def _elsewhere_reason(card: ModelCard) -> str:
    owners = " and ".join(PROVIDER_NAMES[p] for p in card.providers)
    cloud = [_PROFILE_NAMES[p] for p in card.providers if p in _PROFILE_NAMES]
    if cloud:
        return f"{owners} model — switch to an {' or '.join(cloud)} profile (F2)."
    if Provider.LOCAL in card.providers:
        return f"{owners} model — switch to the local engine profile (F2)."
    return f"{owners} model — fine-tune it in the Microsoft Foundry portal; ftui cannot train it."


def _live_only_entries(
    catalog: Catalog, live: Iterable[LiveModel], backend_label: str, methods: tuple[Method, ...]
) -> list[Entry]:
    entries = []
    for model in live:
        if model.is_fine_tuned or model.fine_tunable is not True or catalog.get(model.id) is not None:
            continue
        available = Availability(Mark.AVAILABLE, f"reported by {backend_label}.")
        entries.append(Entry(model.id, None, model, available, live_methods=methods))
    return entries


# -- the card pane's text ------------------------------------------------------------------------------------


def format_tokens(count: int | None) -> str:
    """Short token counts for the table: 1M, 128k, 512."""
    if count is None:
        return "—"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.0f}M"
    if count >= 1_000:
        return f"{count // 1000}k"
    return str(count)


def methods_short(entry: Entry) -> str:
    return " ".join(METHOD_SHORT[m] for m in entry.methods) or "?"


HEADING = "bold"
SECTION = "bold underline"
LABEL = "bold"
UNCONFIRMED = " (unconfirmed)"


def card_text(entry: Entry, backend_label: str, *, problem: str | None = None) -> Text:
    """The model card: what it can do, what it was trained on, its limits, and whether this backend can train it.

    Built as styled text rather than Markdown: the card is on the first screen, and parsing Markdown (and importing
    its parser) would hold up the first frame.
    """
    text = Text()
    if problem:
        text.append(f"✗ {backend_label} did not answer: ", style=LABEL).append(f"{problem}\n\n")
    if entry.card is None:
        return _live_only_text(text, entry, backend_label)
    card = entry.card
    text.append(card.name, style=HEADING).append("\n")
    text.append(entry.model_id, style="italic").append(f" · {card.publisher} · {card.family} family\n\n", style="dim")
    _fact(text, f"On {backend_label}", entry.availability.describe())
    text.append("\n")
    _fact(text, "Tasks", ", ".join(TASK_LABELS[t] for t in card.tasks), card, "tasks")
    _fact(text, "Methods", ", ".join(METHOD_LABELS[m] for m in card.methods), card, "methods")
    _fact(text, "Context", _tokens_words(card.context_window), card, "context_window")
    limit = _tokens_words(card.training_context_limit)
    _fact(text, "Training examples up to", limit, card, "training_context_limit")
    _fact(text, "Languages", ", ".join(card.languages), card, "languages")
    _fact(text, "Training price", _price(card), card, "training_price_per_1m_tokens")
    _fact(text, "License", card.license, card, "license")
    _section(text, "Capabilities", card.capabilities, card, "capabilities")
    _section(text, "Pretraining data", card.pretraining_data, card, "pretraining_data")
    _section(text, "Known limitations", card.limitations, card, "limitations")
    _section(text, "Biases", card.biases, card, "biases")
    if card.sources:
        text.append("\nSources", style=SECTION).append("\n")
        for source in card.sources:
            text.append(f"• {source}\n")
    if card.unconfirmed:
        text.append(f"\n{UNCONFIRMED.strip()}: not confirmed from a public source.", style="italic dim")
    text.rstrip()
    return text


def _live_only_text(text: Text, entry: Entry, backend_label: str) -> Text:
    live = entry.live
    text.append(entry.model_id, style=HEADING).append("\n\n")
    _fact(text, f"On {backend_label}", entry.availability.describe())
    text.append("No catalog card; reported by the backend.\n\n")
    if live is not None:
        if live.owned_by:
            _fact(text, "Owned by", live.owned_by)
        if live.base_model:
            _fact(text, "Base model", live.base_model)
    if entry.methods:
        _fact(text, "Methods", ", ".join(METHOD_LABELS[m] for m in entry.methods))
    text.append("\nftui lists it under chat completion; the backend publishes nothing more about it.")
    return text


def _fact(text: Text, label: str, value: str, card: ModelCard | None = None, field: str = "") -> None:
    text.append(f"{label}: ", style=LABEL).append(value)
    if card is not None and not card.is_confirmed(field):
        text.append(UNCONFIRMED, style="italic dim")
    text.append("\n")


def _section(text: Text, title: str, body: str, card: ModelCard, field: str) -> None:
    text.append(f"\n{title}", style=SECTION)
    if not card.is_confirmed(field):
        text.append(UNCONFIRMED, style="italic dim")
    text.append(f"\n{body}\n")


def _tokens_words(count: int | None) -> str:
    return "not published" if count is None else f"{count:,} tokens"


def _price(card: ModelCard) -> str:
    price = (
        "not published"
        if card.training_price_per_1m_tokens is None
        else (f"${card.training_price_per_1m_tokens:,.2f} per 1M training tokens")
    )
    return f"{price} — {card.training_price_note}" if card.training_price_note else price
