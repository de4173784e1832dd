"""The model-card text shown beside the catalog's list, for an ``Entry`` of ``ftui.availability.merge``.

Styled rich text, no Textual widgets: the catalog screen puts it in its card pane.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from rich.style import Style
from rich.text import Text

from ftui.availability import Entry
from ftui.catalog import METHOD_LABELS, TASK_LABELS, Method, ModelCard
from ftui.estimates import training_price_text

METHOD_SHORT: dict[Method, str] = {Method.SUPERVISED: "SFT", Method.DPO: "DPO", Method.REINFORCEMENT: "RFT"}


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
        text.append("\nSources", style=SECTION).append(" (links)\n", style="dim")
        for source in card.sources:
            text.append("• ").append(source_title(source), style=Style(link=source)).append("\n")
    if card.unconfirmed:
        text.append(f"\n{UNCONFIRMED.strip()}: not confirmed from a public source.", style="italic dim")
    text.rstrip()
    return text


def source_title(url: str) -> str:
    """A source as its site and page name in words, which wrap between words in a narrow pane where the address
    would be cut mid-word: ``learn.microsoft.com: fine tuning cost management``. The card links it to ``url``."""
    parts = urlsplit(url)
    site = parts.netloc.removeprefix("www.") or url
    pages = [segment for segment in parts.path.split("/") if segment]
    page = re.sub(r"\.(md|html?)$", "", pages[-1]) if pages else ""
    words = " ".join(word for word in re.split(r"[-_]+", page) if word)
    return f"{site}: {words}" if words else site


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
    price = training_price_text(card)
    return f"{price} — {card.training_price_note}" if card.training_price_note else price
