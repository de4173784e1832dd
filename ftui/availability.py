"""Which models a backend can fine-tune now: the catalog's cards merged with the models the backend lists live.

No Textual and no client here: a live model is anything with the fields of the client layer's ``LiveModel``.
The catalog screen turns ``Entry`` objects into table rows and card text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ftui.catalog import PROVIDER_NAMES, Catalog, Method, ModelCard, Provider, Task


class LiveModelInfo(Protocol):
    """What a backend says about one model it lists (the client layer's ``LiveModel``)."""

    @property
    def id(self) -> str: ...
    @property
    def fine_tunable(self) -> bool | None: ...
    @property
    def owned_by(self) -> str | None: ...
    @property
    def base_model(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def is_fine_tuned(self) -> bool: ...


class Mark(StrEnum):
    AVAILABLE = "✓"
    UNAVAILABLE = "✗"
    UNKNOWN = "?"


MARK_WORDS: dict[Mark, str] = {
    Mark.AVAILABLE: "fine-tunable here",
    Mark.UNAVAILABLE: "not on this backend",
    Mark.UNKNOWN: "availability unknown",
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
    live: LiveModelInfo | None
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
    live: Sequence[LiveModelInfo] | None,
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


def _live_by_card(catalog: Catalog, live: Iterable[LiveModelInfo]) -> dict[str, LiveModelInfo]:
    """The live model naming each card; the one with the card's exact id wins over an alias or a snapshot."""
    found: dict[str, LiveModelInfo] = {}
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
    live: Sequence[LiveModelInfo] | None,
    match: LiveModelInfo | None,
    error: str | None,
) -> Entry:
    model_id = match.id if match is not None else card.id
    return Entry(model_id, card, match, availability(card, provider, backend_label, live, match, error))


def availability(
    card: ModelCard,
    provider: Provider | None,
    backend_label: str,
    live: Sequence[LiveModelInfo] | None,
    match: LiveModelInfo | None,
    error: str | None = None,
) -> Availability:
    """Whether a backend of ``provider`` that lists ``live`` (None: not answered yet) can train ``card``.

    ``match`` is the live model naming the card, if any.
    """
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
    owners = owners[:1].upper() + owners[1:]
    cloud = [_PROFILE_NAMES[p] for p in card.providers if p in _PROFILE_NAMES]
    if cloud:
        return f"{owners} model — switch to an {' or '.join(cloud)} profile (F2)."
    if Provider.LOCAL in card.providers:
        return f"{owners} model — switch to the local engine profile (F2)."
    return f"{owners} model — fine-tune it in the Microsoft Foundry portal; ftui cannot train it."


def _live_only_entries(
    catalog: Catalog, live: Iterable[LiveModelInfo], backend_label: str, methods: tuple[Method, ...]
) -> list[Entry]:
    entries = []
    for model in live:
        if model.is_fine_tuned or model.fine_tunable is not True or catalog.get(model.id) is not None:
            continue
        available = Availability(Mark.AVAILABLE, f"reported by {backend_label}.")
        entries.append(Entry(model.id, None, model, available, live_methods=methods))
    return entries
