"""The training loop: one ``train`` call prepares the data and model, then steps, validates and checkpoints."""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import orjson

from ftui.engine.training.checkpoints import (
    CHECKPOINTS_DIR,
    TENSORS_FILE,
    Position,
    read_checkpoint_position,
    restore_checkpoint,
    save_checkpoint,
)
from ftui.engine.training.config import (
    CheckpointEvent,
    Control,
    MessageEvent,
    MetricsEvent,
    ProgressEvent,
    TrainConfig,
    TrainEvent,
    TrainingError,
    TrainOutcome,
)
from ftui.engine.training.data import Encoded, epoch_batches, group_ids, load_dataset
from ftui.engine.training.model import Batch, LossModel, evaluate, load_model

VALID_SUBSET_EXAMPLES = 8
AUTO_EVALS_PER_RUN = 10
ADAPTER_DIR = "adapter"


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Deterministic algorithms and the thread count for the run; the previous settings come back afterwards."""
    import torch

    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=warn_only)


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


class _Run:
    """State of one train() call; methods are the loop's pieces."""

    def __init__(self, config: TrainConfig, on_event: Callable[[TrainEvent], None]) -> None:
        self.config = config
        self.emit = on_event
        self.checkpoints: list[Path] = []
        # The checkpoint this run continues from: a pause before any step returns it instead of saving the same step
        # again, and the run's first checkpoint prunes its optimizer state like any older one.
        self.resumed_from: Path | None = None

    def say(self, text: str, level: Literal["info", "warning", "error"] = "info") -> None:
        self.emit(MessageEvent(level=level, text=text))

    def prepare(self) -> None:
        import torch

        config = self.config
        if not config.training_file.is_file():
            raise TrainingError(f"training file {config.training_file} does not exist")
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.tokenizer, self.peft_model = load_model(config)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.loss_model = LossModel(self.peft_model, share_prefix=config.share_prefix)
        self.train_set = self._load("training", config.training_file)
        if not self.train_set:
            raise TrainingError("the training file has no example with an assistant message to train on")
        self.valid_set = self._load("validation", config.validation_file) if config.validation_file else []
        subset = list(range(len(self.valid_set)))
        random.Random(f"ftui-valid:{config.seed}").shuffle(subset)
        self.valid_subset = [self.valid_set[i] for i in sorted(subset[:VALID_SUBSET_EXAMPLES])]
        self.lengths = [e.length for e in self.train_set]
        self.groups = group_ids(self.train_set) if self.loss_model.share_prefix else None
        self.steps_per_epoch = math.ceil(len(self.train_set) / config.batch_size)
        planned = self.steps_per_epoch * config.n_epochs
        self.total_steps = min(planned, config.max_steps) if config.max_steps else planned
        self.eval_every = config.eval_every or max(1, math.ceil(self.total_steps / AUTO_EVALS_PER_RUN))
        trainable = [p for p in self.peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0, foreach=True)
        schedule = _linear_schedule(config.warmup_steps, self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.position = Position(
            step=0,
            epoch_index=0,
            batch_in_epoch=0,
            trained_tokens=0,
            elapsed_seconds=0.0,
            total_steps=self.total_steps,
            fingerprint="",
        )
        self.position = self.position.model_copy(update={"fingerprint": self.fingerprint()})
        if config.resume_from is not None:
            self._resume(config.resume_from)

    def _load(self, label: str, path: Path) -> list[Encoded]:
        if not path.is_file():
            raise TrainingError(f"{label} file {path} does not exist")
        examples, stats = load_dataset(self.tokenizer, path, self.config.max_length)
        self.say(f"Read {stats.examples:,} {label} examples ({stats.tokens:,} tokens) from {path.name}.")
        if stats.truncated:
            self.say(
                f"{stats.truncated:,} {label} examples are longer than {self.config.max_length:,} tokens "
                "and were truncated.",
                "warning",
            )
        if stats.untrained:
            self.say(f"{stats.untrained:,} {label} examples have no assistant tokens to train on; skipped.", "warning")
        return examples

    def fingerprint(self) -> str:
        """What must not change for a resumed run to continue exactly: settings that shape batches and updates."""
        config = self.config
        settings = config.model_dump(
            mode="json",
            include={
                "n_epochs",
                "batch_size",
                "learning_rate",
                "seed",
                "lora_r",
                "lora_alpha",
                "lora_dropout",
                "target_modules",
                "max_length",
                "warmup_steps",
                "max_steps",
            },
        )
        data = [self.lengths, self.groups, self.loss_model.share_prefix, self.total_steps]
        return hashlib.sha256(orjson.dumps([settings, data], option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def _resume(self, directory: Path) -> None:
        position = read_checkpoint_position(directory)
        if position.fingerprint != self.position.fingerprint:
            raise TrainingError(
                f"checkpoint {directory} was made with different data or settings; "
                "it can only be resumed with the same training file and hyperparameters."
            )
        restore_checkpoint(directory, self.peft_model, self.optimizer, self.scheduler)
        self.position = position
        self.resumed_from = directory
        self.say(f"Resumed from step {position.step} of {self.total_steps}.")

    # -- the loop --

    def batches_from_here(self) -> Iterator[tuple[int, int, list[int]]]:
        """(epoch index, batch index in epoch, example indexes), starting at the saved position."""
        start_epoch, start_batch = self.position.epoch_index, self.position.batch_in_epoch
        for epoch in range(start_epoch, self.config.n_epochs):
            batches = epoch_batches(self.lengths, self.config.batch_size, self.config.seed, epoch, self.groups)
            first = start_batch if epoch == start_epoch else 0
            for index in range(first, len(batches)):
                yield epoch, index, batches[index]

    def step(self, batch: Batch) -> dict[str, float]:
        loss, correct = self.loss_model(batch)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {
            "train_loss": float(loss.detach()),
            "train_mean_token_accuracy": int(correct) / int(batch.targets.numel()),
        }

    def validate(self, metrics: dict[str, float], examples: Sequence[Encoded], prefix: str) -> None:
        if not examples:
            return
        result = evaluate(self.loss_model, examples, self.config.batch_size * 2, self.pad_id)
        metrics[f"{prefix}_loss"] = result["loss"]
        metrics[f"{prefix}_mean_token_accuracy"] = result["accuracy"]

    def checkpoint(self, metrics: dict[str, float], epoch: int, *, final: bool = False) -> Path:
        """Save a resumable checkpoint and announce it (at an epoch end, at the end, and when paused).

        A pause before the first step saves the state to resume from without announcing it: it holds nothing
        trained, so it is no model to list.
        """
        position = self.position.model_copy(update={"metrics": metrics})
        directory = self.config.output_dir / CHECKPOINTS_DIR / f"step-{position.step:06d}"
        # A pause right after an epoch end, or before any step of a resumed run: that checkpoint is this state.
        if directory in self.checkpoints or directory == self.resumed_from:
            return directory
        save_checkpoint(directory, self.peft_model, self.optimizer, self.scheduler, position)
        if position.step == 0:
            return directory
        self.checkpoints.append(directory)
        self.emit(CheckpointEvent(step=position.step, epoch=epoch, path=directory, final=final, metrics=metrics))
        # Only the newest checkpoint stays resumable: older ones keep their adapter, not the optimizer state
        # (twice the adapter's size). Pruned after the event, so a listener has recorded the new one first.
        older = self.checkpoints[:-1] + ([self.resumed_from] if self.resumed_from is not None else [])
        for earlier in older:
            (earlier / TENSORS_FILE).unlink(missing_ok=True)
        return directory

    def outcome(self, status: Literal["succeeded", "paused", "cancelled"], **extra: Any) -> TrainOutcome:
        return TrainOutcome(
            status=status,
            step=self.position.step,
            total_steps=self.total_steps,
            epoch=self._last_epoch(),
            trained_tokens=self.position.trained_tokens,
            elapsed_seconds=self.position.elapsed_seconds,
            checkpoints=list(self.checkpoints),
            **extra,
        )

    def _last_epoch(self) -> int:
        """1-based epoch of the last trained step (1 before any step)."""
        position = self.position
        return max(1, position.epoch_index + 1 if position.batch_in_epoch else position.epoch_index)

    def run(self, control: Callable[[], Control]) -> TrainOutcome:
        clock = time.perf_counter()
        base_elapsed = self.position.elapsed_seconds
        steps_at_start = self.position.step
        metrics: dict[str, float] = dict(self.position.metrics)
        for epoch, index, members in self.batches_from_here():
            if self.position.step >= self.total_steps:
                break
            decision = control()
            if decision in ("pause", "cancel"):
                self.position = self.position.model_copy(
                    update={"elapsed_seconds": base_elapsed + time.perf_counter() - clock}
                )
                if decision == "cancel":
                    return self.outcome("cancelled")
                step = self.position.step
                path = self.checkpoint({**metrics, "step": float(step)} if step else {}, self._last_epoch())
                return self.outcome("paused", checkpoint_path=path, metrics=metrics)
            batch = self.loss_model.collate([self.train_set[i] for i in members], self.pad_id)
            metrics = self.step(batch)
            self._advance(epoch, index, batch.tokens)
            step = self.position.step
            epoch_done = self.position.batch_in_epoch == 0
            last = step == self.total_steps
            if self.valid_subset and (last or epoch_done or step % self.eval_every == 0):
                self.validate(metrics, self.valid_subset, "valid")
            if last:
                self.validate(metrics, self.valid_set, "full_valid")
            self.position = self.position.model_copy(
                update={"elapsed_seconds": base_elapsed + time.perf_counter() - clock}
            )
            self._report_step(epoch, metrics, steps_at_start, clock)
            if epoch_done or last:
                self.checkpoint({"step": float(step), **metrics}, epoch + 1, final=last)
        return self.finish(metrics)

    def _advance(self, epoch: int, index: int, tokens: int) -> None:
        epoch_done = index + 1 == self.steps_per_epoch
        self.position = self.position.model_copy(
            update={
                "step": self.position.step + 1,
                "epoch_index": epoch + 1 if epoch_done else epoch,
                "batch_in_epoch": 0 if epoch_done else index + 1,
                "trained_tokens": self.position.trained_tokens + tokens,
            }
        )

    def _report_step(self, epoch: int, metrics: dict[str, float], steps_at_start: int, clock: float) -> None:
        step = self.position.step
        self.emit(
            MetricsEvent(
                step=step,
                total_steps=self.total_steps,
                epoch=epoch + 1,
                train_loss=metrics["train_loss"],
                train_mean_token_accuracy=metrics["train_mean_token_accuracy"],
                valid_loss=metrics.get("valid_loss"),
                valid_mean_token_accuracy=metrics.get("valid_mean_token_accuracy"),
                trained_tokens=self.position.trained_tokens,
                elapsed_seconds=self.position.elapsed_seconds,
            )
        )
        per_step = (time.perf_counter() - clock) / max(1, step - steps_at_start)
        self.emit(
            ProgressEvent(
                step=step, total_steps=self.total_steps, estimated_seconds_left=per_step * (self.total_steps - step)
            )
        )

    def finish(self, metrics: dict[str, float]) -> TrainOutcome:
        adapter = self.config.output_dir / ADAPTER_DIR
        work = Path(tempfile.mkdtemp(prefix=".adapter.", dir=self.config.output_dir))
        try:
            self.peft_model.save_pretrained(str(work))
            (work / "README.md").unlink(missing_ok=True)
            if adapter.exists():
                shutil.rmtree(adapter)
            os.replace(work, adapter)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.outcome("succeeded", adapter_path=adapter, metrics=metrics)


def train(
    config: TrainConfig,
    on_event: Callable[[TrainEvent], None],
    control: Callable[[], Control] = lambda: "continue",
) -> TrainOutcome:
    """Fine-tune ``config.base_model_dir`` with LoRA on ``config.training_file``; see the module docstring."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    with _torch_settings(config.num_threads or usable_cores()):
        run = _Run(config, on_event)
        run.prepare()
        run.say(
            f"Training {run.total_steps} steps ({run.steps_per_epoch} per epoch, batch size {config.batch_size}) "
            f"with LoRA r={config.lora_r}, alpha={config.lora_alpha:g} on {usable_cores()} CPU threads."
        )
        return run.run(control)
