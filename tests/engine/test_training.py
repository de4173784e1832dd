"""LoRA training on the tiny random model: labels, batching, determinism, checkpoints, pause/resume, cancel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from ftui.engine import models
from ftui.engine.training import (
    CheckpointEvent,
    MessageEvent,
    MetricsEvent,
    ProgressEvent,
    TrainConfig,
    TrainingError,
    train,
)
from ftui.engine.training.data import IGNORE_INDEX, Encoded, encode_example, epoch_batches, read_examples, shift_labels
from ftui.engine.training.model import LossModel, collate

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


@pytest.fixture
def smollm2_dir(engine_home: Path) -> Path:
    return models.ensure_smollm2()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


SYSTEM = "You are a terse assistant for the Northwind outdoor shop. Answer in one short sentence."
QUESTIONS = [
    ("Do you sell tents?", "Yes, we sell tents."),
    ("Can I return boots?", "Yes, within 30 days."),
    ("Is delivery free?", "Yes, over 50 euros."),
    ("Do you repair jackets?", "Yes, we repair jackets."),
    ("Where are your stores?", "Dublin, Galway and Cork."),
    ("Do you sell kayaks?", "No, we do not sell kayaks."),
    ("How long is the warranty?", "Two years on tents."),
    ("Can I pay by card?", "Yes, all major cards."),
]


def chat_rows(count: int = 8) -> list[dict]:
    rows = []
    for index in range(count):
        question, answer = QUESTIONS[index % len(QUESTIONS)]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return rows


@pytest.fixture
def tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir))


def labelled_text(tokenizer, input_ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([t for t, label in zip(input_ids, labels, strict=True) if label != IGNORE_INDEX])


def template_ids(tokenizer, messages: list[dict]) -> list[int]:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return list(tokenizer.apply_chat_template(plain, tokenize=True)["input_ids"])


# --- encoding -------------------------------------------------------------------------------------------------------


def test_labels_cover_exactly_the_assistant_reply_and_its_end_token(tokenizer) -> None:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Do you sell tents?"},
        {"role": "assistant", "content": "Yes, we sell tents."},
    ]
    input_ids, labels = encode_example(tokenizer, messages, 2048)
    assert input_ids == template_ids(tokenizer, messages)
    assert labelled_text(tokenizer, input_ids, labels) == "Yes, we sell tents.<|im_end|>"
    assert labels[-1] == IGNORE_INDEX  # the newline after <|im_end|> is not trained
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(input_ids, labels, strict=True))


def test_multi_turn_trains_only_weighted_assistant_turns(tokenizer) -> None:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?", "weight": 0},
        {"role": "user", "content": "Do you sell kayaks?"},
        {"role": "assistant", "content": "No, we do not sell kayaks.", "weight": 1},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": " You're welcome.\n\nBye", "weight": 1},
    ]
    input_ids, labels = encode_example(tokenizer, messages, 2048)
    assert input_ids == template_ids(tokenizer, messages)
    text = labelled_text(tokenizer, input_ids, labels)
    assert text == "No, we do not sell kayaks.<|im_end|> You're welcome.\n\nBye<|im_end|>"
    assert "Hello" not in text


def test_all_turns_weight_zero_trains_nothing_and_no_system_prompt_gets_the_default(tokenizer) -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 0}]
    input_ids, labels = encode_example(tokenizer, messages, 2048)
    assert input_ids == template_ids(tokenizer, messages)
    assert set(labels) == {IGNORE_INDEX}
    assert shift_labels(input_ids, labels) is None


def test_templates_that_rewrite_earlier_turns_fall_back_to_searching_the_replies(tokenizer) -> None:
    tokenizer.chat_template = (
        "<|im_start|>system\n{{ messages|length }} messages<|im_end|>\n"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "weight": 0},
        {"role": "user", "content": "Tents?"},
        {"role": "assistant", "content": "Yes, tents."},
    ]
    input_ids, labels = encode_example(tokenizer, messages, 2048)
    assert input_ids == template_ids(tokenizer, messages)
    assert labelled_text(tokenizer, input_ids, labels) == "Yes, tents.<|im_end|>"


def test_content_parts_and_truncation(tokenizer) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "hi " * 50},
    ]
    full_ids, full_labels = encode_example(tokenizer, messages, 10_000)
    assert tokenizer.decode(full_ids).count("Say hi") == 1
    ids, labels = encode_example(tokenizer, messages, 20)
    assert ids == full_ids[:20] and labels == full_labels[:20]


def test_shifted_example_stops_at_the_last_trained_token(tokenizer) -> None:
    ids, labels = encode_example(tokenizer, chat_rows(1)[0]["messages"], 2048)
    encoded = shift_labels(ids, labels)
    assert encoded is not None
    last = max(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    assert encoded.input_ids == ids[:last]
    assert encoded.targets[-1] == labels[last] and encoded.targets[encoded.first_target] != IGNORE_INDEX
    assert all(t == IGNORE_INDEX for t in encoded.targets[: encoded.first_target])


def test_preference_lines_and_bad_lines_are_refused(tmp_path: Path) -> None:
    dpo = {
        "input": {"messages": [{"role": "user", "content": "x"}]},
        "preferred_output": [],
        "non_preferred_output": [],
    }
    path = write_jsonl(tmp_path / "dpo.jsonl", [chat_rows(1)[0], dpo])
    with pytest.raises(TrainingError, match=r"line 2 is a preference \(DPO\) example"):
        list(read_examples(path))
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"messages": []}\n{"prompt": "x"}\n')
    with pytest.raises(TrainingError, match="line 2 has no 'messages' list"):
        list(read_examples(broken))


def test_bom_crlf_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    row = orjson.dumps(chat_rows(1)[0])
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + row + b"\r\n\r\n" + row + b"\r\n")
    assert [number for number, _ in read_examples(path)] == [1, 3]


# --- batching -------------------------------------------------------------------------------------------------------


def test_epoch_batches_cover_every_example_once_deterministically() -> None:
    lengths = [(i * 37) % 101 + 5 for i in range(50)]
    first = epoch_batches(lengths, 4, seed=1, epoch=0)
    assert first == epoch_batches(lengths, 4, seed=1, epoch=0)
    assert sorted(i for batch in first for i in batch) == list(range(50))
    assert len(first) == 13
    assert first != epoch_batches(lengths, 4, seed=1, epoch=1)
    assert first != epoch_batches(lengths, 4, seed=2, epoch=0)
    spread = max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first)
    assert spread <= 12  # bucketing: examples of similar length share a batch


def test_shared_prefix_batches_give_the_same_loss_and_gradients(tiny_dir: Path, tokenizer) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_dir)),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    for parameter in model.parameters():  # LoRA B starts at zero; make the adapter matter
        if parameter.requires_grad:
            torch.nn.init.normal_(parameter, std=0.05)
    examples: list[Encoded] = []
    for row in chat_rows(4):
        encoded = shift_labels(*encode_example(tokenizer, row["messages"], 2048))
        assert encoded is not None
        examples.append(encoded)
    loss_model = LossModel(model, share_prefix=True)
    assert loss_model.share_prefix
    results = []
    for share in (False, True):
        batch = collate(examples, 0, share_prefix=share)
        assert (batch.prefix is not None) == share
        loss, correct = loss_model(batch)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])
        model.zero_grad(set_to_none=True)
        results.append((float(loss.detach()), int(correct), grads, batch.tokens))
    (plain_loss, plain_right, plain_grads, plain_tokens), (shared_loss, shared_right, shared_grads, shared_tokens) = (
        results
    )
    assert shared_loss == pytest.approx(plain_loss, abs=1e-5)
    assert shared_right == plain_right and shared_tokens == plain_tokens
    assert torch.allclose(shared_grads, plain_grads, atol=1e-6, rtol=1e-4)


def test_fused_head_loss_matches_cross_entropy() -> None:
    import torch
    import torch.nn.functional as F

    from ftui.engine.training import model as training_model

    torch.manual_seed(0)
    weight = torch.randn(3000, 32) * 0.5
    hidden = torch.randn(700, 32, requires_grad=True)
    targets = torch.randint(0, 3000, (700,))
    logits = hidden @ weight.t()
    expected = F.cross_entropy(logits, targets)
    expected.backward()
    expected_grad, hidden.grad = hidden.grad, None
    original = training_model.HEAD_CHUNK_BYTES
    training_model.HEAD_CHUNK_BYTES = 100 * 3000 * 4  # 100 rows per chunk: several chunks and a ragged last one
    try:
        loss, correct = training_model.head_cross_entropy(hidden, weight, targets)
    finally:
        training_model.HEAD_CHUNK_BYTES = original
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert int(correct) == int((logits.argmax(-1) == targets).sum())
    assert torch.allclose(hidden.grad, expected_grad, atol=1e-7, rtol=1e-5)


# --- training runs --------------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def losses(self) -> list[float]:
        return [e.train_loss for e in self.of(MetricsEvent)]


def make_config(tiny_dir: Path, tmp_path: Path, **overrides: Any) -> TrainConfig:
    training = tmp_path / "train.jsonl"
    if not training.exists():
        write_jsonl(training, chat_rows(8))
    values: dict[str, Any] = {
        "base_model_dir": tiny_dir,
        "training_file": training,
        "output_dir": tmp_path / "out",
        "n_epochs": 3,
        "batch_size": 3,
        "learning_rate": 2e-2,
        "seed": 7,
        "num_threads": 1,  # the tiny model's matrices are too small to gain from a second thread
    }
    values.update(overrides)
    return TrainConfig(**values)


def pause_after(steps: int):
    polls = {"n": 0}

    def control() -> str:
        polls["n"] += 1
        return "pause" if polls["n"] > steps else "continue"

    return control


def test_loss_falls_and_events_and_checkpoints_are_complete(tiny_dir: Path, tmp_path: Path) -> None:
    validation = write_jsonl(tmp_path / "valid.jsonl", chat_rows(3))
    record = Recorder()
    config = make_config(tiny_dir, tmp_path, validation_file=validation, n_epochs=6, eval_every=2)
    outcome = train(config, record)
    assert outcome.status == "succeeded" and outcome.step == outcome.total_steps == 18
    losses = record.losses
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses
    metrics = record.of(MetricsEvent)
    assert [m.step for m in metrics] == list(range(1, 19))
    assert [m.epoch for m in metrics] == [e for e in range(1, 7) for _ in range(3)]
    assert all(0 <= m.train_mean_token_accuracy <= 1 for m in metrics)
    assert [m.step for m in metrics if m.valid_loss is not None] == [2, 3, 4, 6, 8, 9, 10, 12, 14, 15, 16, 18]
    assert metrics[-1].trained_tokens == outcome.trained_tokens
    progress = record.of(ProgressEvent)
    assert progress[-1].step == 18 and progress[-1].estimated_seconds_left == 0
    checkpoints = record.of(CheckpointEvent)
    assert [(c.step, c.epoch, c.final) for c in checkpoints] == [(3 * e, e, e == 6) for e in range(1, 7)]
    for checkpoint in checkpoints:
        assert {"adapter_model.safetensors", "adapter_config.json", "trainer_state.json"} <= {
            p.name for p in checkpoint.path.iterdir()
        }
    # only the newest checkpoint keeps the optimizer state needed to resume
    assert [(c.path / "trainer_state.pt").is_file() for c in checkpoints] == [False] * 5 + [True]
    final = checkpoints[-1].metrics
    assert {"step", "train_loss", "valid_loss", "full_valid_loss", "full_valid_mean_token_accuracy"} <= set(final)
    assert outcome.metrics["full_valid_loss"] == final["full_valid_loss"]
    assert outcome.adapter_path == config.output_dir / "adapter"
    assert (outcome.adapter_path / "adapter_model.safetensors").is_file()
    assert outcome.checkpoints == [c.path for c in checkpoints]
    assert any("Read 8 training examples" in m.text for m in record.of(MessageEvent))


def test_events_round_trip_through_their_union_type(tiny_dir: Path, tmp_path: Path) -> None:
    from pydantic import TypeAdapter

    from ftui.engine.training import TrainEvent

    record = Recorder()
    train(make_config(tiny_dir, tmp_path, n_epochs=1), record)
    adapter = TypeAdapter(TrainEvent)
    assert {e.type for e in record.events} == {"message", "metrics", "progress", "checkpoint"}
    for event in record.events:
        assert adapter.validate_json(adapter.dump_json(event)) == event


def test_trained_tokens_count_every_example_each_epoch(tiny_dir: Path, tmp_path: Path, tokenizer) -> None:
    outcome = train(make_config(tiny_dir, tmp_path, n_epochs=2), Recorder())
    per_epoch = 0
    for row in chat_rows(8):
        encoded = shift_labels(*encode_example(tokenizer, row["messages"], 2048))
        assert encoded is not None
        per_epoch += encoded.length
    assert outcome.trained_tokens == 2 * per_epoch


def test_same_seed_same_curve_other_seed_other_curve(tiny_dir: Path, tmp_path: Path) -> None:
    curves = []
    for run, seed in enumerate((7, 7, 8)):
        record = Recorder()
        train(make_config(tiny_dir, tmp_path, seed=seed, output_dir=tmp_path / f"run{run}"), record)
        curves.append(record.losses)
    assert curves[0] == curves[1]
    assert curves[0] != curves[2]


@pytest.mark.parametrize("pause_at", [2, 3, 7])  # mid-epoch, at an epoch end, mid-epoch later
def test_pause_then_resume_continues_exactly(tiny_dir: Path, tmp_path: Path, pause_at: int) -> None:
    whole = Recorder()
    train(make_config(tiny_dir, tmp_path, output_dir=tmp_path / "whole"), whole)

    first = Recorder()
    paused = train(make_config(tiny_dir, tmp_path, output_dir=tmp_path / "split"), first, pause_after(pause_at))
    assert paused.status == "paused" and paused.step == pause_at
    assert paused.checkpoint_path is not None and paused.checkpoint_path.is_dir()
    assert first.losses == whole.losses[:pause_at]
    # The pause's checkpoint is announced like an epoch's (once, also when the pause follows an epoch end).
    announced = first.of(CheckpointEvent)
    assert announced[-1].step == pause_at and announced[-1].path == paused.checkpoint_path
    assert announced[-1].metrics["train_loss"] == first.losses[-1]
    assert len({c.step for c in announced}) == len(announced)

    second = Recorder()
    resumed = train(
        make_config(tiny_dir, tmp_path, output_dir=tmp_path / "split", resume_from=paused.checkpoint_path), second
    )
    assert resumed.status == "succeeded"
    assert second.losses == whole.losses[pause_at:]
    assert second.of(MetricsEvent)[0].step == pause_at + 1
    assert resumed.trained_tokens == second.of(MetricsEvent)[-1].trained_tokens
    assert pause_at not in [c.step for c in second.of(CheckpointEvent)]
    # Only the newest checkpoint stays resumable, the one resumed from included.
    assert not (paused.checkpoint_path / "trainer_state.pt").exists()


def test_a_pause_before_any_step_announces_no_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    record = Recorder()
    paused = train(make_config(tiny_dir, tmp_path), record, pause_after(0))
    assert paused.status == "paused" and paused.step == 0 and paused.checkpoint_path is not None
    assert record.of(CheckpointEvent) == []
    # Paused again at once after resuming: the same checkpoint, not a second one of the same step.
    paused = train(make_config(tiny_dir, tmp_path), Recorder(), pause_after(2))
    again = Recorder()
    repaused = train(make_config(tiny_dir, tmp_path, resume_from=paused.checkpoint_path), again, pause_after(0))
    assert repaused.status == "paused" and repaused.step == 2
    assert repaused.checkpoint_path == paused.checkpoint_path and again.of(CheckpointEvent) == []
    assert (paused.checkpoint_path / "trainer_state.pt").is_file()


def test_resume_from_a_final_checkpoint_just_finishes(tiny_dir: Path, tmp_path: Path) -> None:
    outcome = train(make_config(tiny_dir, tmp_path, n_epochs=1), Recorder())
    again = Recorder()
    resumed = train(make_config(tiny_dir, tmp_path, n_epochs=1, resume_from=outcome.checkpoints[-1]), again)
    assert resumed.status == "succeeded" and again.of(MetricsEvent) == []
    assert resumed.trained_tokens == outcome.trained_tokens


def test_resume_with_other_settings_is_refused(tiny_dir: Path, tmp_path: Path) -> None:
    paused = train(make_config(tiny_dir, tmp_path), Recorder(), pause_after(1))
    with pytest.raises(TrainingError, match="different data or settings"):
        train(make_config(tiny_dir, tmp_path, seed=99, resume_from=paused.checkpoint_path), Recorder())


def test_cancel_returns_promptly_without_a_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    record = Recorder()
    polls = {"n": 0}

    def control() -> str:
        polls["n"] += 1
        return "cancel" if polls["n"] == 2 else "continue"

    started = time.monotonic()
    outcome = train(make_config(tiny_dir, tmp_path, n_epochs=50), record, control)
    assert outcome.status == "cancelled" and outcome.step == 1
    assert time.monotonic() - started < 30
    assert record.of(CheckpointEvent) == [] and outcome.adapter_path is None


def test_checkpoints_reload_as_adapters(tiny_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    record = Recorder()
    train(make_config(tiny_dir, tmp_path, n_epochs=2), record)
    first, last = (c.path for c in record.of(CheckpointEvent))
    ids = torch.tensor([[1, 9690, 198, 2683, 359]])
    outputs = []
    for adapter in (first, last):
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_dir)), str(adapter))
        with torch.inference_mode():
            outputs.append(model(input_ids=ids).logits)
    assert not torch.allclose(outputs[0], outputs[1])


def test_long_examples_are_truncated_with_a_warning(tiny_dir: Path, tmp_path: Path) -> None:
    record = Recorder()
    outcome = train(make_config(tiny_dir, tmp_path, n_epochs=1, max_length=40), record)
    assert outcome.status == "succeeded"
    warnings = [m.text for m in record.of(MessageEvent) if m.level == "warning"]
    assert any("longer than 40 tokens and were truncated" in w for w in warnings), warnings


def test_untrainable_examples_are_skipped_and_an_empty_set_fails(tiny_dir: Path, tmp_path: Path) -> None:
    rows = chat_rows(3)
    rows[0]["messages"][-1]["weight"] = 0
    record = Recorder()
    write_jsonl(tmp_path / "train.jsonl", rows)
    train(make_config(tiny_dir, tmp_path, n_epochs=1), record)
    assert any("1 training examples have no assistant tokens" in m.text for m in record.of(MessageEvent))
    for row in rows:
        row["messages"][-1]["weight"] = 0
    write_jsonl(tmp_path / "none.jsonl", rows)
    with pytest.raises(TrainingError, match="no example with an assistant message"):
        train(make_config(tiny_dir, tmp_path, training_file=tmp_path / "none.jsonl"), Recorder())


@pytest.mark.slow
def test_real_smollm2_trains_a_few_steps_and_answers(smollm2_dir: Path, tmp_path: Path) -> None:
    from ftui.dataset.fixes import sample_files
    from ftui.engine.inference import ChatModel

    training, _ = sample_files()
    record = Recorder()
    config = TrainConfig(
        base_model_dir=smollm2_dir,
        training_file=training,
        output_dir=tmp_path / "out",
        n_epochs=1,
        batch_size=2,
        learning_rate=2e-4,
        max_length=256,
        max_steps=2,
    )
    outcome = train(config, record)
    assert outcome.status == "succeeded" and outcome.step == 2
    assert all(1.0 < loss < 6.0 for loss in record.losses), record.losses
    assert outcome.adapter_path is not None
    question = [{"role": "user", "content": "What is the capital of France?"}]
    base = ChatModel(smollm2_dir).complete(question, temperature=0, max_tokens=24)
    assert base.text == "The capital of France is Paris." and base.finish_reason == "stop"
    tuned = ChatModel(smollm2_dir, outcome.adapter_path)
    answer = tuned.complete(question, temperature=0, max_tokens=24)
    assert answer.text.strip() and answer == tuned.complete(question, temperature=0, max_tokens=24)
