"""Token counters: the linear-time counter agrees with tiktoken, falls back cleanly, finds files without the engine,
and counts a local model's examples exactly as the engine trains on them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftui.dataset.tokens as tokens
from ftui import locations
from ftui.dataset.fixes import sample_files

ENCODINGS = ["o200k_base", "cl100k_base"]

needs_bpe = pytest.mark.skipif(tokens._bpe_module() is None, reason="bpe-openai is not installed")


@pytest.fixture(scope="module")
def tiktoken_counts() -> dict[str, tokens.TokenCounter]:
    return {encoding: tokens._load_tiktoken_encoder(encoding) for encoding in ENCODINGS}


@pytest.fixture(autouse=True)
def fresh_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tokens, "_failed", {})


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


# --- a local model's examples count what the engine trains on -------------------------------------------------------

SMOLLM2 = "SmolLM2-135M-Instruct"
SMOLLM2_TOKENIZER = "hf:HuggingFaceTB/SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# A template that renders a conversation's start differently from the whole (the engine then searches the replies).
REWRITING_TEMPLATE = (
    "<|im_start|>system\n{{ messages|length }} messages<|im_end|>\n"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
EDGE_CASES = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tents?"},
            {"role": "assistant", "content": "Yes.", "weight": 1},
            {"role": "user", "content": "Boots?"},
            {"role": "assistant", "content": "No, not boots.", "weight": 0},
        ]
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 0}]},
    {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": "hi " * 40},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "Réponds en français. 🙂"},
            {"role": "user", "content": "Un café ?"},
            {"role": "assistant", "content": "Oui, un café crème. ☕"},
        ]
    },
    # Opens with a reply: chat templates refuse to render the empty conversation before it.
    {"messages": [{"role": "assistant", "content": "Welcome to Northwind."}, {"role": "user", "content": "Thanks"}]},
]


def prepare_tokenizer(source: Path, models: Path, template: str | None = None) -> Path:
    """A models folder where SmolLM2's tokenizer is prepared: the tiny model's tokenizer files, which are SmolLM2's."""
    folder = models / SMOLLM2
    folder.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, folder / name)
    if template is not None:
        (folder / "chat_template.jinja").write_text(template)
    return folder


def engine_counts(folder: Path, path: Path) -> tuple[int, int]:
    """(tokens fed, tokens learned) of a file as the engine's trainer loads it."""
    from transformers import AutoTokenizer

    from ftui.engine.training.data import IGNORE_INDEX, load_dataset

    examples, stats = load_dataset(AutoTokenizer.from_pretrained(str(folder)), path, 10_000)
    return stats.tokens, sum(sum(1 for t in e.targets if t != IGNORE_INDEX) for e in examples)


@pytest.mark.parametrize("template", [None, REWRITING_TEMPLATE], ids=["model-template", "rewriting-template"])
def test_the_data_check_and_the_cli_count_what_the_engine_trains_on(
    tiny_dir, tmp_path, monkeypatch, sample_paths, write_jsonl, cli_env, run_cli, template
):
    """One definition of a local model's tokens: the conversation through its chat template, up to the last token
    the engine learns from. The data check (TUI), ``ftui validate`` (CLI) and the engine's trainer agree on it."""
    from ftui.dataset.validator import validate_to_report

    models = tmp_path / "models"
    folder = prepare_tokenizer(tiny_dir, models, template)
    monkeypatch.setenv("FTUI_MODELS_DIR", str(models))
    edge = write_jsonl(tmp_path / "edge.jsonl", EDGE_CASES)
    for path in (*sample_paths, edge):
        fed, learned = engine_counts(folder, path)
        report = validate_to_report(path, model=SMOLLM2)
        assert report.tokenizer.exact
        assert (report.training.total_tokens, report.training.trainable_tokens) == (fed, learned)
    cli_env["FTUI_MODELS_DIR"] = str(models)
    code, out, err = run_cli("validate", sample_paths[0], "--json")
    assert code == 0, err
    assert json.loads(out)["training"]["total_tokens"] == engine_counts(folder, sample_paths[0])[0]


def test_with_the_model_template_the_bundled_sample_counts_as_the_engine_reads_it(tiny_dir, tmp_path, monkeypatch):
    """The figures the engine logs for the bundled sample ("Read 73 training examples (21,363 tokens)")."""
    from ftui.dataset.validator import validate_to_report

    prepare_tokenizer(tiny_dir, tmp_path / "models")
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tmp_path / "models"))
    training, validation = sample_files()
    report = validate_to_report(training, validation)
    assert report.training.total_tokens == 21_363 and report.training.examples == 73
    assert report.validation is not None and report.validation.total_tokens == 5_088


def test_exact_counts_become_possible_once_the_tokenizer_is_prepared(tiny_dir, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FTUI_MODELS_DIR", str(models))
    estimate = tokens.load_counter(SMOLLM2_TOKENIZER)
    assert not estimate.exact and "not prepared yet" in estimate.note
    assert not tokens.exact_counts_possible(SMOLLM2_TOKENIZER)
    folder = prepare_tokenizer(tiny_dir, models)
    assert tokens.exact_counts_possible(SMOLLM2_TOKENIZER)
    assert tokens.load_counter(SMOLLM2_TOKENIZER).exact
    # A tokenizer file that does not load is not retried until it changes.
    (folder / "tokenizer.json").write_text("not a tokenizer")
    monkeypatch.setattr(tokens, "_loaded", {})
    assert tokens.exact_counts_possible(SMOLLM2_TOKENIZER)
    assert not tokens.load_counter(SMOLLM2_TOKENIZER).exact
    assert not tokens.exact_counts_possible(SMOLLM2_TOKENIZER)
    shutil.copy2(tiny_dir / "tokenizer.json", folder / "tokenizer.json")
    assert tokens.exact_counts_possible(SMOLLM2_TOKENIZER)
