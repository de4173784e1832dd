"""Chat completions on the tiny random model: adapters, greedy determinism, seeds, stop strings, limits, streaming."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ftui.engine import inference
from ftui.engine.inference import ChatModel, _held_back, get_chat_model

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where are your stores?"}]


@pytest.fixture
def adapter_dir(tiny_dir: Path, tmp_path: Path) -> Path:
    """A LoRA adapter with random (non-zero) weights, so it changes what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_dir)),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    for parameter in model.parameters():
        if parameter.requires_grad:
            torch.nn.init.normal_(parameter, std=0.3)
    folder = tmp_path / "adapter"
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture
def base(tiny_dir: Path) -> ChatModel:
    return get_chat_model(tiny_dir)


def test_greedy_is_deterministic_and_the_adapter_changes_the_answer(base: ChatModel, tiny_dir, adapter_dir) -> None:
    first = base.complete(QUESTION, temperature=0, max_tokens=12)
    assert base.complete(QUESTION, temperature=0, max_tokens=12) == first
    tuned = ChatModel(tiny_dir, adapter_dir).complete(QUESTION, temperature=0, max_tokens=12)
    assert tuned.text != first.text
    assert first.prompt_tokens == len(base.prompt_ids(QUESTION)) > 10


def test_max_tokens_ends_with_length(base: ChatModel) -> None:
    result = base.complete(QUESTION, temperature=0, max_tokens=5)
    assert result.finish_reason == "length" and result.completion_tokens == 5


def test_stop_strings_end_the_output_and_are_not_included(base: ChatModel) -> None:
    full = base.complete(QUESTION, temperature=0, max_tokens=20).text
    stop = full[6:9]
    assert stop.strip()
    result = base.complete(QUESTION, temperature=0, max_tokens=20, stop=[stop, "never-appears"])
    assert result.finish_reason == "stop"
    assert result.text == full[: full.find(stop)]
    assert base.complete(QUESTION, temperature=0, max_tokens=20, stop=stop).text == result.text
    assert base.complete(QUESTION, temperature=0, max_tokens=20, stop=["", stop]).text == result.text


def test_stream_chunks_join_to_the_completion(base: ChatModel) -> None:
    for options in ({"temperature": 0}, {"temperature": 0.9, "top_p": 0.8, "seed": 11}):
        whole = base.complete(QUESTION, max_tokens=16, **options)
        stream = base.stream(QUESTION, max_tokens=16, **options)
        chunks = list(stream)
        assert len(chunks) > 1
        assert "".join(chunks) == whole.text
        assert stream.completion == whole and stream.finish_reason == whole.finish_reason


def test_streaming_never_leaks_part_of_a_stop_string(base: ChatModel) -> None:
    full = base.complete(QUESTION, temperature=0, max_tokens=20).text
    stop = full[6:12]
    stream = base.stream(QUESTION, temperature=0, max_tokens=20, stop=[stop])
    assert "".join(stream) == full[: full.find(stop)]
    assert stream.finish_reason == "stop"


def test_seed_makes_sampling_reproducible(base: ChatModel) -> None:
    texts = [base.complete(QUESTION, temperature=1.0, max_tokens=12, seed=seed).text for seed in (5, 5, 6)]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_requests_from_several_threads_match_sequential_ones(base: ChatModel) -> None:
    expected = base.complete(QUESTION, temperature=0, max_tokens=10).text
    results: list[str] = []

    def ask() -> None:
        results.append(base.complete(QUESTION, temperature=0, max_tokens=10).text)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [expected] * 3


def test_the_cache_keeps_two_models(tiny_dir: Path, adapter_dir: Path, tmp_path: Path) -> None:
    import shutil

    inference.clear_cache()
    other = tmp_path / "other-adapter"
    shutil.copytree(adapter_dir, other)
    plain = get_chat_model(tiny_dir)
    assert get_chat_model(tiny_dir, None) is plain
    tuned = get_chat_model(tiny_dir, adapter_dir)
    get_chat_model(tiny_dir, other)
    assert get_chat_model(tiny_dir, adapter_dir) is tuned
    assert get_chat_model(tiny_dir) is not plain  # the least recently used was dropped
    inference.clear_cache()


def test_held_back_is_the_longest_possible_start_of_a_stop() -> None:
    assert _held_back("Hello wor", ["world"]) == 3
    assert _held_back("Hello", ["xyz"]) == 0
    assert _held_back("abcab", ["abcabd", "b"]) == 5
