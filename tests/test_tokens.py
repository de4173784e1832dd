"""Token counters: the linear-time counter agrees with tiktoken, falls back cleanly, and finds files without the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftui.dataset.tokens as tokens
from ftui import locations

ENCODINGS = ["o200k_base", "cl100k_base"]

needs_bpe = pytest.mark.skipif(tokens._bpe_module() is None, reason="bpe-openai is not installed")


@pytest.fixture(scope="module")
def tiktoken_counts() -> dict[str, tokens.TokenCounter]:
    return {encoding: tokens._load_tiktoken_encoder(encoding) for encoding in ENCODINGS}


@pytest.fixture(autouse=True)
def fresh_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_loaded", {})


# Text that stresses the pre-tokenizer: contractions, digit runs, whitespace runs and line ends, letters with
# combining marks, scripts without spaces, emoji sequences, and special-token text (counted as ordinary text).
PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\n\n",
        "\u00a0",
        "\u3000",
        "'s",
        "'T",
        "'re",
        "'LL",
        "’ve",
        "don't",
        "123",
        "4567890",
        "a",
        "Zebra",
        "naïve",
        "e\u0301",
        "Grüße",
        "東京",
        "한국어",
        "Ωμέγα",
        "🙂",
        "👍🏽",
        "👩\u200d💻",
        "<|endoftext|>",
        "<|fim_prefix|>",
        ".",
        "...",
        "!?",
        "{}",
        "x=1;",
        "__init__",
        "\\n",
        "https://example.com/a?b=c",
    ]
)
TEXT = st.one_of(st.text(max_size=60), st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=30).map("".join))


@needs_bpe
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_linear_counter_is_used_and_counts_as_tiktoken_does(encoding, tiktoken_counts):
    counter = tokens.load_counter(f"tiktoken:{encoding}")
    assert (counter.name, counter.exact, counter.library, counter.note) == (encoding, True, "bpe-openai", "")
    reference = tiktoken_counts[encoding].count
    for text in ("", "hello world", "Grüße aus Köln! 東京", "a" * 1000, " " * 5000 + "x", "1" * 999, tokens._PROBE):
        assert counter.count(text) == reference(text), text


@needs_bpe
@settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(TEXT)
def test_linear_counts_equal_tiktoken_counts_on_any_text(tiktoken_counts, text):
    for encoding in ENCODINGS:
        assert tokens._load_linear(encoding)(text) == tiktoken_counts[encoding].count(text), encoding


@needs_bpe
def test_the_linear_counter_needs_no_tiktoken_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    counter = tokens.load_counter("tiktoken:o200k_base")
    assert counter.library == "bpe-openai"
    assert counter.count("hello world") == 2
    assert not (tmp_path / "cache").exists()


def test_tiktoken_counts_where_the_linear_counter_is_missing(monkeypatch):
    monkeypatch.setattr(tokens, "_bpe_module", lambda: None)
    counter = tokens.load_counter("tiktoken:o200k_base")
    assert (counter.exact, counter.library) == (True, "tiktoken")
    assert counter.count("hello world") == 2


@pytest.mark.parametrize("answer", [0, None])
def test_a_linear_counter_that_disagrees_with_tiktoken_is_not_used(monkeypatch, answer):
    def tokenizer_for_encoding(encoding: str) -> SimpleNamespace:
        if answer is None:
            raise RuntimeError("broken build")
        return SimpleNamespace(count=lambda text: answer)

    monkeypatch.setattr(tokens, "_bpe_module", lambda: SimpleNamespace(tokenizer_for_encoding=tokenizer_for_encoding))
    counter = tokens.load_counter("tiktoken:cl100k_base")
    assert (counter.exact, counter.library) == (True, "tiktoken")
    assert counter.count("hello world") == 2


def test_no_linear_counter_for_encodings_it_has_not_been_checked_on():
    assert tokens._load_linear("p50k_base") is None


def test_the_dataset_checks_find_local_tokenizers_without_the_engine(tmp_path):
    """Token counting locates a local model's saved tokenizer through ftui.locations, never through ftui.engine."""
    probe = (
        "import json, sys\n"
        "from ftui.dataset import tokens, validator\n"
        "counter = tokens.load_counter('hf:HuggingFaceTB/SmolLM2-135M-Instruct')\n"
        "print(json.dumps([counter.exact, sorted(m for m in sys.modules if m.startswith('ftui.engine'))]))\n"
    )
    env = {**os.environ, "FTUI_MODELS_DIR": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 0, completed.stderr
    exact, engine_modules = json.loads(completed.stdout)
    assert exact is False  # no prepared model in the empty folder
    assert engine_modules == []


def test_the_engine_and_the_dataset_checks_share_the_data_folders(monkeypatch, tmp_path):
    from ftui.engine import paths

    monkeypatch.setenv("FTUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FTUI_MODELS_DIR", raising=False)
    assert paths.home() == locations.home() == tmp_path / "home"
    assert paths.models_dir(create=False) == locations.models_dir(create=False) == tmp_path / "home" / "models"
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tmp_path / "models"))
    assert paths.models_dir() == locations.models_dir() == tmp_path / "models"


def test_a_local_tokenizer_is_looked_up_in_the_current_models_folder(tmp_path, monkeypatch):
    """A counter loaded from one models folder is not handed out once FTUI_MODELS_DIR names another."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from ftui.catalog import Provider, load_catalog

    card = next(c for c in load_catalog().cards if c.tokenizer.startswith("hf:") and Provider.LOCAL in c.providers)
    prepared, empty = tmp_path / "prepared", tmp_path / "empty"
    (prepared / card.id).mkdir(parents=True)
    empty.mkdir()
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(prepared / card.id / "tokenizer.json"))

    monkeypatch.setenv("FTUI_MODELS_DIR", str(prepared))
    exact = tokens.load_counter(card.tokenizer)
    assert exact.exact and exact.count("hello big world") == 3
    monkeypatch.setenv("FTUI_MODELS_DIR", str(empty))
    assert not tokens.load_counter(card.tokenizer).exact
    monkeypatch.setenv("FTUI_MODELS_DIR", str(prepared))
    assert tokens.load_counter(card.tokenizer) is exact
