"""Training benchmark: ftui's LoRA loop against a plain transformers.Trainer + peft baseline, in the same run.

    .venv/bin/python benchmarks/train_bench.py            # one epoch of the sample dataset (19 steps) each
    .venv/bin/python benchmarks/train_bench.py --quick    # 5 steps each

Both fine-tune the real SmolLM2-135M-Instruct (converted once from its GGUF) on the bundled sample dataset with
the same LoRA settings (r=16, alpha=32, all linear layers, dropout 0), AdamW, linear decay without warm-up, batch
size, learning rate, number of steps, and the same labels (ftui's encode_example output). The baseline pads each
batch with DataCollatorForSeq2Seq, as a plain Trainer setup does. Trained tokens are the real (unpadded) tokens
fed through the model; ftui's count is lower per example because it stops after the last trained token, so its
tokens/s understates the work it saves. Validation is off in both so the timings compare training alone.
Finally it measures chat-completion speed of ftui's ChatModel on the tuned adapter (greedy, 64 new tokens).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ftui.dataset.fixes import sample_files  # noqa: E402
from ftui.engine.models import SMOLLM2_ID, base_learning_rate, ensure_smollm2, quiet_transformers  # noqa: E402
from ftui.engine.training import TrainConfig, train, usable_cores  # noqa: E402
from ftui.engine.training.data import encode_example, read_examples  # noqa: E402

BATCH_SIZE = 4
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
PROMPTS = (
    "Hi, my order NW-4821 is two days late. What should I do?",
    "Can I return a tent I used once?",
    "What is the capital of France?",
)


def _progress(stage: str, fraction: float | None) -> None:
    print(f"  preparing {SMOLLM2_ID}: {stage}" + (f" {fraction:.0%}" if fraction is not None else ""), flush=True)


def run_baseline(model_dir: Path, training: Path, learning_rate: float, steps: int, out: Path) -> dict[str, float]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    started = time.perf_counter()
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", bias="none", **LORA))
    rows = []
    for _, messages in read_examples(training):
        input_ids, labels = encode_example(tokenizer, messages, 2048)
        rows.append({"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels})
    padding = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    counted = {"tokens": 0, "padded": 0}

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = padding(features)
        counted["tokens"] += int(batch["attention_mask"].sum())
        counted["padded"] += int(batch["attention_mask"].numel())
        return batch

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=BATCH_SIZE,
        learning_rate=learning_rate,
        max_steps=steps,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate)
    trainer.remove_callback(PrinterCallback)  # the losses are read from trainer.state instead
    ready = time.perf_counter()
    trainer.train()
    finished = time.perf_counter()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "seconds": finished - ready,
        "end_to_end": finished - started,
        "tokens": counted["tokens"],
        "padded": counted["padded"],
        "first_loss": losses[0] if losses else float("nan"),
        "last_loss": losses[-1] if losses else float("nan"),
    }


def steps_per_epoch(training: Path) -> int:
    return math.ceil(sum(1 for _ in read_examples(training)) / BATCH_SIZE)


def run_ours(model_dir: Path, training: Path, learning_rate: float, steps: int, out: Path) -> dict[str, Any]:
    losses: list[float] = []

    def on_event(event: Any) -> None:
        if event.type == "metrics":
            losses.append(event.train_loss)

    config = TrainConfig(
        base_model_dir=model_dir,
        training_file=training,
        output_dir=out,
        n_epochs=math.ceil(steps / steps_per_epoch(training)),
        batch_size=BATCH_SIZE,
        learning_rate=learning_rate,
        seed=0,
        lora_r=LORA["r"],
        lora_alpha=LORA["lora_alpha"],
        lora_dropout=LORA["lora_dropout"],
        target_modules=LORA["target_modules"],
        max_steps=steps,
    )
    started = time.perf_counter()
    outcome = train(config, on_event)
    finished = time.perf_counter()
    return {
        "seconds": outcome.elapsed_seconds,
        "end_to_end": finished - started,
        "tokens": outcome.trained_tokens,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "adapter": outcome.adapter_path,
        "steps": outcome.step,
    }


def chat_speed(model_dir: Path, adapter: Path) -> None:
    from ftui.engine.inference import ChatModel

    started = time.perf_counter()
    chat = ChatModel(model_dir, adapter)
    print(f"\nChatModel load (base + merged adapter): {time.perf_counter() - started:.1f} s")
    total_tokens = 0
    total_seconds = 0.0
    for prompt in PROMPTS:
        started = time.perf_counter()
        result = chat.complete([{"role": "user", "content": prompt}], temperature=0, max_tokens=64)
        seconds = time.perf_counter() - started
        total_tokens += result.completion_tokens
        total_seconds += seconds
        print(
            f"  {result.completion_tokens:3d} tokens in {seconds:5.2f} s ({result.completion_tokens / seconds:5.1f} tok/s, "
            f"finish={result.finish_reason}): {prompt!r} -> {result.text[:90]!r}"
        )
    print(f"Chat completion: {total_tokens / total_seconds:.1f} tokens/s overall (greedy, prompt processing included)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 steps each instead of one epoch (19 steps)")
    parser.add_argument("--steps", type=int, default=None, help="override the number of steps")
    options = parser.parse_args()
    steps = options.steps or (5 if options.quick else 19)
    import torch

    training, _validation = sample_files()
    model_dir = ensure_smollm2(_progress)
    learning_rate = base_learning_rate(SMOLLM2_ID) * 0.1
    print(
        f"SmolLM2-135M-Instruct, LoRA r=16 alpha=32 all-linear, batch {BATCH_SIZE}, lr {learning_rate:g}, "
        f"{steps} steps each, {usable_cores()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    with tempfile.TemporaryDirectory(prefix="ftui-train-bench-") as scratch:
        print("\nBaseline: transformers.Trainer + peft ...", flush=True)
        base = run_baseline(model_dir, training, learning_rate, steps, Path(scratch) / "baseline")
        gc.collect()
        print("ftui train() ...", flush=True)
        ours = run_ours(model_dir, training, learning_rate, steps, Path(scratch) / "ours")
        base_rate = base["tokens"] / base["seconds"]
        our_rate = ours["tokens"] / ours["seconds"]
        print(f"\n{'':28}{'baseline':>12}{'ftui':>12}")
        print(f"{'training seconds':28}{base['seconds']:12.1f}{ours['seconds']:12.1f}")
        print(f"{'seconds per step':28}{base['seconds'] / steps:12.2f}{ours['seconds'] / steps:12.2f}")
        print(f"{'trained tokens':28}{base['tokens']:12,}{ours['tokens']:12,}")
        print(f"{'  incl. padding (baseline)':28}{base['padded']:12,}")
        print(f"{'trained tokens/s':28}{base_rate:12.1f}{our_rate:12.1f}")
        print(f"{'end-to-end seconds':28}{base['end_to_end']:12.1f}{ours['end_to_end']:12.1f}")
        print(
            f"{'loss first -> last step':28}{base['first_loss']:6.3f}->{base['last_loss']:.3f}"
            f"{ours['first_loss']:6.3f}->{ours['last_loss']:.3f}"
        )
        ratio = our_rate / base_rate
        print(f"\nSpeed-up in trained tokens/s: {ratio:.2f}x (goal >= 1.5x)")
        same_work = base["seconds"] / ours["seconds"]
        print(f"Wall-time speed-up for the same {steps} steps: {same_work:.2f}x")
        per_epoch = steps_per_epoch(training)
        print(f"ftui seconds per epoch ({per_epoch} steps): {ours['seconds'] / steps * per_epoch:.1f}")
        chat_speed(model_dir, ours["adapter"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
