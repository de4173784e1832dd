"""LoRA fine-tuning of a causal LM on chat JSONL, in plain PyTorch + peft (no Trainer), tuned for a few CPU cores.

Speed comes from doing less work, not from tricks that change the result:
- examples are batched with others of the same prompt group (usually: the same system prompt) and similar length,
  so a batch pads little; right padding needs no attention mask (causal attention never looks ahead), which keeps
  the fast causal attention kernel;
- the prefix a whole batch shares (the system prompt) runs through the model once per batch, its keys and values
  repeated for every example; gradients flow back through them, so loss and gradients equal the unshared batch's;
- each example is cut after its last trained token (later tokens cannot change the loss);
- the vocabulary projection (49k wide for SmolLM2) runs only at positions that carry a label, in chunks whose
  input gradient is computed on the spot, so the (tokens x vocabulary) logits never exist whole;
- frozen weights get no gradients, validation runs under ``torch.inference_mode``.

``train`` reports through ``on_event`` and polls ``control`` between steps; checkpoints hold the adapter plus the
optimizer, scheduler, RNG and data position, so a paused run resumes exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

IGNORE_INDEX = -100
VALID_SUBSET_EXAMPLES = 8
GROUP_PREFIX_TOKENS = 32
MIN_SHARED_PREFIX = 16
# Decoders checked to give the same loss and gradients with a shared prefix as without (tests/engine/test_training.py).
# Others (sliding-window or hybrid caches among them) train unshared until checked.
PREFIX_SHARING_MODELS = frozenset({"llama"})
AUTO_EVALS_PER_RUN = 10
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
STATE_FILE = "trainer_state.json"
TENSORS_FILE = "trainer_state.pt"

Control = Literal["continue", "pause", "cancel"]


class TrainingError(ValueError):
    """The data or configuration cannot be trained on; the message says what to fix."""


# --- configuration, events, outcome ---------------------------------------------------------------------------------


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model_dir: Path
    training_file: Path
    validation_file: Path | None = None
    output_dir: Path
    n_epochs: PositiveInt = 3
    batch_size: PositiveInt = 4
    learning_rate: PositiveFloat = Field(description="Already base learning rate x multiplier.")
    seed: int = 0
    lora_r: PositiveInt = 16
    lora_alpha: PositiveFloat = 32
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    max_length: PositiveInt = 2048
    eval_every: NonNegativeInt = Field(default=0, description="Steps between validation measurements; 0 = auto.")
    warmup_steps: NonNegativeInt = 0
    max_steps: PositiveInt | None = Field(default=None, description="Stop after this many steps (benchmarks).")
    share_prefix: bool = Field(default=True, description="Run a prefix the whole batch shares once (exact).")
    num_threads: PositiveInt | None = Field(default=None, description="Torch threads; None = the usable cores.")
    resume_from: Path | None = None


class MessageEvent(BaseModel):
    type: Literal["message"] = "message"
    level: Literal["info", "warning", "error"] = "info"
    text: str


class MetricsEvent(BaseModel):
    type: Literal["metrics"] = "metrics"
    step: int
    total_steps: int
    epoch: int = Field(description="1-based epoch this step belongs to.")
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    trained_tokens: int = Field(description="Tokens fed through the model so far (context + trained, no padding).")
    elapsed_seconds: float = Field(description="Seconds spent training so far, resumed runs included.")


class CheckpointEvent(BaseModel):
    type: Literal["checkpoint"] = "checkpoint"
    step: int
    epoch: int
    path: Path
    final: bool = False
    metrics: dict[str, float]


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    step: int
    total_steps: int
    estimated_seconds_left: float | None = None


TrainEvent = Annotated[MessageEvent | MetricsEvent | CheckpointEvent | ProgressEvent, Field(discriminator="type")]


class TrainOutcome(BaseModel):
    status: Literal["succeeded", "paused", "cancelled"]
    step: int
    total_steps: int
    epoch: int
    trained_tokens: int
    elapsed_seconds: float
    adapter_path: Path | None = Field(default=None, description="output_dir/adapter when succeeded.")
    checkpoint_path: Path | None = Field(default=None, description="The checkpoint to resume from when paused.")
    checkpoints: list[Path] = []
    metrics: dict[str, float] = {}


# --- reading and encoding examples ----------------------------------------------------------------------------------


def message_text(content: Any) -> str:
    """A message's text: the string, or its text parts joined (images and other parts are dropped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    raise TrainingError(f"message content must be a string or a list of content parts, not {type(content).__name__}")


def _normalise(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    normalised = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise TrainingError("every message must be an object with a role")
        normalised.append({"role": str(message["role"]), "content": message_text(message.get("content"))})
    return normalised


def _render(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


class _PrefixMismatch(Exception):
    """The chat template renders a conversation's start differently from the conversation (Qwen3-style)."""


def _trained_spans(tokenizer: Any, messages: Sequence[dict[str, Any]], full: str) -> list[tuple[int, int]]:
    """Character spans of the rendered conversation to train on: assistant content plus its end-of-turn token."""
    try:
        return _spans_from_prefixes(tokenizer, messages, full)
    except _PrefixMismatch:
        return _spans_by_search(tokenizer, messages, full)


def _is_trained(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def _spans_from_prefixes(tokenizer: Any, messages: Sequence[dict[str, Any]], full: str) -> list[tuple[int, int]]:
    """Render the conversation up to each trained reply: the reply starts after the generation prompt."""
    plain = _normalise(messages)
    eos = tokenizer.eos_token or ""
    spans = []
    for index, message in enumerate(messages):
        if not _is_trained(message):
            continue
        before = _render(tokenizer, plain[:index], generation_prompt=True)
        through = _render(tokenizer, plain[: index + 1], generation_prompt=False)
        if not (full.startswith(through) and through.startswith(before)):
            raise _PrefixMismatch
        end = through.rfind(eos) + len(eos) if eos and through.rfind(eos) >= len(before) else len(through.rstrip())
        spans.append((len(before), end))
    return spans


def _spans_by_search(tokenizer: Any, messages: Sequence[dict[str, Any]], full: str) -> list[tuple[int, int]]:
    """Find each assistant reply in the full rendering, in order (templates that rewrite earlier turns)."""
    eos = tokenizer.eos_token or ""
    spans = []
    cursor = 0
    for message in messages:
        text = message_text(message.get("content")) if message.get("role") == "assistant" else ""
        if not text:
            continue
        start = full.find(text, cursor)
        if start < 0:
            raise TrainingError("the model's chat template drops or rewrites an assistant reply")
        end = start + len(text)
        if eos and full.startswith(eos, end):
            end += len(eos)
        cursor = end
        if _is_trained(message):
            spans.append((start, end))
    return spans


def encode_full(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation (exactly the chat template's) and labels, untruncated."""
    full = _render(tokenizer, _normalise(messages), generation_prompt=False)
    spans = _trained_spans(tokenizer, messages, full)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    input_ids: list[int] = list(encoded["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    for position, (first, last) in enumerate(encoded["offset_mapping"]):
        if any(first < end and last > start for start, end in spans):
            labels[position] = input_ids[position]
    return input_ids, labels


def encode_example(tokenizer: Any, messages: Sequence[dict[str, Any]], max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels -100 except on assistant turns whose weight is not 0; cut at max_length."""
    input_ids, labels = encode_full(tokenizer, messages)
    return input_ids[:max_length], labels[:max_length]


def read_examples(path: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(line number, messages) of each non-blank JSONL line; BOM and CRLF tolerated."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.removeprefix(b"\xef\xbb\xbf").strip() if number == 1 else raw.strip()
            if not line:
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise TrainingError(f"{path.name} line {number} is not valid JSON: {exc}") from exc
            if isinstance(item, dict) and "preferred_output" in item:
                raise TrainingError(
                    f"{path.name} line {number} is a preference (DPO) example; "
                    "the local engine does supervised fine-tuning only."
                )
            if not isinstance(item, dict) or not isinstance(item.get("messages"), list):
                raise TrainingError(f"{path.name} line {number} has no 'messages' list.")
            yield number, item["messages"]


@dataclass(frozen=True)
class _Encoded:
    """One example ready for the model: inputs end just before its last trained token is predicted."""

    input_ids: list[int]
    targets: list[int]  # targets[t] is the label of input_ids[t + 1] (already shifted)
    first_target: int  # first position with a target

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass
class _DataStats:
    examples: int = 0
    truncated: int = 0
    untrained: int = 0
    tokens: int = 0


def _shift(input_ids: list[int], labels: list[int]) -> _Encoded | None:
    trained = [i for i, label in enumerate(labels) if label != IGNORE_INDEX and i > 0]
    if not trained:
        return None
    stop = trained[-1]
    return _Encoded(input_ids=input_ids[:stop], targets=labels[1 : stop + 1], first_target=trained[0] - 1)


def load_dataset(tokenizer: Any, path: Path, max_length: int) -> tuple[list[_Encoded], _DataStats]:
    stats = _DataStats()
    examples = []
    for number, messages in read_examples(path):
        try:
            input_ids, labels = encode_full(tokenizer, messages)
        except TrainingError as exc:
            raise TrainingError(f"{path.name} line {number}: {exc}") from exc
        stats.truncated += len(input_ids) > max_length
        encoded = _shift(input_ids[:max_length], labels[:max_length])
        if encoded is None:
            stats.untrained += 1
            continue
        examples.append(encoded)
        stats.examples += 1
        stats.tokens += encoded.length
    return examples, stats


# --- batching -------------------------------------------------------------------------------------------------------


def prompt_group(example: _Encoded) -> tuple[int, ...]:
    """Examples whose first tokens match (usually: the same system prompt) batch together and share that prefix."""
    return tuple(example.input_ids[: min(GROUP_PREFIX_TOKENS, example.first_target)])


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, groups: Sequence[int] | None = None
) -> list[list[int]]:
    """Batches of example indexes for one epoch, ``ceil(n / batch_size)`` of them.

    Examples are shuffled by (seed, epoch) and cut into windows of 64 batches; in each window every prompt group is
    sorted by length and batched on its own (so a batch shares its prefix and pads little). When that would add
    steps, each group's remainder goes to a common pool batched by length instead. The batches are then shuffled.
    """
    rng = random.Random(f"ftui:{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 64
    batches: list[list[int]] = []
    for begin in range(0, len(order), window):
        batches.extend(_window_batches(order[begin : begin + window], lengths, batch_size, groups))
    rng.shuffle(batches)
    return batches


def _window_batches(
    indexes: list[int], lengths: Sequence[int], batch_size: int, groups: Sequence[int] | None
) -> list[list[int]]:
    members: dict[int, list[int]] = {}
    for index in indexes:
        members.setdefault(groups[index] if groups else 0, []).append(index)
    separate = sum(math.ceil(len(m) / batch_size) for m in members.values()) == math.ceil(len(indexes) / batch_size)
    batches: list[list[int]] = []
    pool: list[int] = []
    for items in members.values():
        items.sort(key=lambda i: lengths[i])
        whole = len(items) if separate else len(items) - len(items) % batch_size
        batches.extend(items[i : i + batch_size] for i in range(0, whole, batch_size))
        pool.extend(items[whole:])
    pool.sort(key=lambda i: lengths[i])
    batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    return batches


def _group_ids(examples: Sequence[_Encoded]) -> list[int]:
    ids: dict[tuple[int, ...], int] = {}
    return [ids.setdefault(prompt_group(e), len(ids)) for e in examples]


@dataclass(frozen=True)
class _Batch:
    input_ids: Any  # LongTensor (B, T), right padded; after the shared prefix when there is one
    positions: Any  # LongTensor (N,): flat positions in (B*T) that carry a target
    targets: Any  # LongTensor (N,)
    tokens: int  # real (unpadded) tokens of the examples, shared prefix counted once per example
    prefix: Any = None  # LongTensor (1, P): leading tokens every example shares, run once for the batch


def _shared_prefix_length(examples: Sequence[_Encoded]) -> int:
    """Leading tokens all examples share, never reaching a position that predicts a trained token."""
    if len(examples) < 2:
        return 0
    limit = min(e.first_target for e in examples)
    first = examples[0].input_ids
    length = 0
    while length < limit and all(e.input_ids[length] == first[length] for e in examples[1:]):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


def _collate(examples: Sequence[_Encoded], pad_id: int, *, share_prefix: bool = False) -> _Batch:
    import torch

    shared = _shared_prefix_length(examples) if share_prefix else 0
    width = max(e.length for e in examples) - shared
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        ids[row, : example.length - shared] = torch.tensor(example.input_ids[shared:], dtype=torch.long)
        targets[row, : example.length - shared] = torch.tensor(example.targets[shared:], dtype=torch.long)
    flat = targets.view(-1)
    positions = (flat != IGNORE_INDEX).nonzero().squeeze(1)
    prefix = torch.tensor([examples[0].input_ids[:shared]], dtype=torch.long) if shared else None
    return _Batch(ids, positions, flat.index_select(0, positions), sum(e.length for e in examples), prefix)


# --- the model ------------------------------------------------------------------------------------------------------


HEAD_CHUNK_BYTES = 24 << 20  # logits per chunk: bounds memory whatever the number of trained tokens


def _head_cross_entropy_class() -> Any:
    import torch

    class HeadCrossEntropy(torch.autograd.Function):
        """Vocabulary projection + mean cross-entropy + argmax hits, chunk by chunk, with the input gradient computed
        in the forward pass: the (tokens x vocabulary) logits never exist whole, nor their gradient."""

        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, targets: Any) -> tuple[Any, Any]:
            count = hidden.shape[0]
            rows = max(1, HEAD_CHUNK_BYTES // (weight.shape[0] * hidden.element_size()))
            needs_grad = ctx.needs_input_grad[0]
            grad = torch.empty_like(hidden) if needs_grad else None
            total = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.long)
            for begin in range(0, count, rows):
                chunk = targets[begin : begin + rows]
                logits = hidden[begin : begin + rows] @ weight.t()
                correct += (logits.argmax(-1) == chunk).sum()
                normaliser = torch.logsumexp(logits, dim=-1)
                total += (normaliser - logits.gather(1, chunk[:, None]).squeeze(1)).sum(dtype=torch.float64)
                if grad is not None:
                    probabilities = logits.sub_(normaliser[:, None]).exp_()  # softmax, in place
                    probabilities[torch.arange(chunk.shape[0]), chunk] -= 1.0
                    torch.matmul(probabilities, weight, out=grad[begin : begin + rows])
            if grad is not None:
                grad.div_(max(1, count))
            ctx.save_for_backward(grad)
            return (total / max(1, count)).to(hidden.dtype), correct

        @staticmethod
        def backward(ctx: Any, grad_loss: Any, _grad_correct: Any) -> tuple[Any, None, None]:
            (grad,) = ctx.saved_tensors
            return grad * grad_loss, None, None

    return HeadCrossEntropy


_HEAD_CROSS_ENTROPY: Any = None


def head_cross_entropy(hidden: Any, weight: Any, targets: Any) -> tuple[Any, Any]:
    """(mean cross-entropy of ``hidden @ weight.T`` against ``targets``, argmax hits); ``weight`` is frozen."""
    global _HEAD_CROSS_ENTROPY
    if _HEAD_CROSS_ENTROPY is None:
        _HEAD_CROSS_ENTROPY = _head_cross_entropy_class()
    return _HEAD_CROSS_ENTROPY.apply(hidden, weight, targets)


class _LossModel:
    """Loss and token accuracy at labelled positions only; the vocabulary projection skips every other position.

    With ``share_prefix``, a prefix common to the whole batch runs through the model once and its keys and values
    are repeated for every example (gradients flow back through them), which is exact for these causal models.
    """

    def __init__(self, peft_model: Any, *, share_prefix: bool) -> None:
        self.peft_model = peft_model
        base = peft_model.get_base_model()
        self.config = base.config
        self.decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
        self.head = base.get_output_embeddings()
        standard = getattr(self.config, "final_logit_softcapping", None) is None and not hasattr(
            self.config, "logit_scale"
        )
        self.fast = self.decoder is not None and self.head is not None and standard
        parameters = inspect.signature(self.decoder.forward).parameters if self.decoder is not None else {}
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"
        # The frozen, bias-free output layer (SmolLM2's tied embeddings) takes the fused, chunked loss.
        self.fused_head = self.fast and getattr(self.head, "bias", None) is None and not self.head.weight.requires_grad
        self.share_prefix = (
            share_prefix
            and self.fast
            and self.cache_argument in parameters
            and getattr(self.config, "model_type", "") in PREFIX_SHARING_MODELS
        )

    def _hidden(self, batch: _Batch) -> Any:
        if batch.prefix is None:
            return self.decoder(input_ids=batch.input_ids, use_cache=False).last_hidden_state
        from transformers import DynamicCache

        cache = DynamicCache(config=self.config)
        self.decoder(input_ids=batch.prefix, use_cache=True, **{self.cache_argument: cache})
        cache.batch_repeat_interleave(batch.input_ids.shape[0])
        return self.decoder(input_ids=batch.input_ids, use_cache=True, **{self.cache_argument: cache}).last_hidden_state

    def __call__(self, batch: _Batch) -> tuple[Any, Any]:
        """(mean loss, number of correct argmax predictions) over the batch's labelled tokens."""
        import torch.nn.functional as F

        if self.fast:
            hidden = self._hidden(batch)
            picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.positions)
            if self.fused_head:
                return head_cross_entropy(picked, self.head.weight, batch.targets)
            logits = self.head(picked)
        else:
            full = self.peft_model(input_ids=batch.input_ids, use_cache=False).logits
            logits = full.reshape(-1, full.shape[-1]).index_select(0, batch.positions)
        loss = F.cross_entropy(logits.float(), batch.targets)
        correct = (logits.detach().argmax(-1) == batch.targets).sum()
        return loss, correct

    def collate(self, examples: Sequence[_Encoded], pad_id: int) -> _Batch:
        return _collate(examples, pad_id, share_prefix=self.share_prefix)


def _load_model(config: TrainConfig) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftui.engine.models import quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(config.base_model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(config.base_model_dir), dtype=torch.float32)
    model.config.use_cache = False
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers API deprecated in v5
        peft_model = get_peft_model(model, lora)
    # Dropout is the only train-mode difference in these models; without it eval mode skips that bookkeeping.
    peft_model.train(config.lora_dropout > 0)
    return tokenizer, peft_model


def _evaluate(loss_model: _LossModel, examples: Sequence[_Encoded], batch_size: int, pad_id: int) -> dict[str, float]:
    """Token-level mean loss and accuracy over ``examples``, no gradients."""
    import torch

    groups = _group_ids(examples)
    order = sorted(range(len(examples)), key=lambda i: (groups[i], examples[i].length))
    total_loss = 0.0
    correct = 0
    count = 0
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            batch = loss_model.collate([examples[i] for i in order[begin : begin + batch_size]], pad_id)
            loss, right = loss_model(batch)
            n = int(batch.targets.numel())
            total_loss += float(loss) * n
            correct += int(right)
            count += n
    return {"loss": total_loss / max(1, count), "accuracy": correct / max(1, count)}


# --- checkpoints ----------------------------------------------------------------------------------------------------


class _Position(BaseModel):
    step: int
    epoch_index: int  # 0-based epoch in progress
    batch_in_epoch: int  # batches of that epoch already trained
    trained_tokens: int
    elapsed_seconds: float
    total_steps: int
    fingerprint: str
    metrics: dict[str, float] = {}


def _save_checkpoint(directory: Path, peft_model: Any, optimizer: Any, scheduler: Any, position: _Position) -> Path:
    """Adapter + optimizer + scheduler + RNG + data position, written to a temp dir and renamed into place."""
    import torch

    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        peft_model.save_pretrained(str(work))
        (work / "README.md").unlink(missing_ok=True)
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }
        torch.save(state, work / TENSORS_FILE)
        (work / STATE_FILE).write_bytes(orjson.dumps(position.model_dump(), option=orjson.OPT_INDENT_2))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(work, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory


def read_checkpoint_position(directory: Path) -> _Position:
    try:
        return _Position.model_validate(orjson.loads((directory / STATE_FILE).read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValueError) as exc:
        raise TrainingError(f"{directory} is not a resumable checkpoint: {exc}") from exc


def _restore(directory: Path, peft_model: Any, optimizer: Any, scheduler: Any) -> None:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(peft_model, load_file(str(directory / "adapter_model.safetensors")))
    state = torch.load(directory / TENSORS_FILE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])


# --- the training loop ----------------------------------------------------------------------------------------------


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

    def say(self, text: str, level: Literal["info", "warning", "error"] = "info") -> None:
        self.emit(MessageEvent(level=level, text=text))

    def prepare(self) -> None:
        import torch

        config = self.config
        if not config.training_file.is_file():
            raise TrainingError(f"training file {config.training_file} does not exist")
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.tokenizer, self.peft_model = _load_model(config)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.loss_model = _LossModel(self.peft_model, share_prefix=config.share_prefix)
        self.train_set = self._load("training", config.training_file)
        if not self.train_set:
            raise TrainingError("the training file has no example with an assistant message to train on")
        self.valid_set = self._load("validation", config.validation_file) if config.validation_file else []
        subset = list(range(len(self.valid_set)))
        random.Random(f"ftui-valid:{config.seed}").shuffle(subset)
        self.valid_subset = [self.valid_set[i] for i in sorted(subset[:VALID_SUBSET_EXAMPLES])]
        self.lengths = [e.length for e in self.train_set]
        self.groups = _group_ids(self.train_set) if self.loss_model.share_prefix else None
        self.steps_per_epoch = math.ceil(len(self.train_set) / config.batch_size)
        planned = self.steps_per_epoch * config.n_epochs
        self.total_steps = min(planned, config.max_steps) if config.max_steps else planned
        self.eval_every = config.eval_every or max(1, math.ceil(self.total_steps / AUTO_EVALS_PER_RUN))
        trainable = [p for p in self.peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0, foreach=True)
        schedule = _linear_schedule(config.warmup_steps, self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.position = _Position(
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

    def _load(self, label: str, path: Path) -> list[_Encoded]:
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
        _restore(directory, self.peft_model, self.optimizer, self.scheduler)
        self.position = position
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

    def step(self, batch: _Batch) -> dict[str, float]:
        loss, correct = self.loss_model(batch)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {
            "train_loss": float(loss.detach()),
            "train_mean_token_accuracy": int(correct) / int(batch.targets.numel()),
        }

    def validate(self, metrics: dict[str, float], examples: Sequence[_Encoded], prefix: str) -> None:
        if not examples:
            return
        result = _evaluate(self.loss_model, examples, self.config.batch_size * 2, self.pad_id)
        metrics[f"{prefix}_loss"] = result["loss"]
        metrics[f"{prefix}_mean_token_accuracy"] = result["accuracy"]

    def checkpoint(self, metrics: dict[str, float], epoch: int, *, final: bool = False, announce: bool = True) -> Path:
        """Save a resumable checkpoint; epoch-end ones are announced, a pause's is only returned."""
        position = self.position.model_copy(update={"metrics": metrics})
        directory = self.config.output_dir / CHECKPOINTS_DIR / f"step-{position.step:06d}"
        if directory in self.checkpoints:  # a pause right after an epoch end: that checkpoint is this state
            return directory
        _save_checkpoint(directory, self.peft_model, self.optimizer, self.scheduler, position)
        if announce:
            self.checkpoints.append(directory)
            self.emit(CheckpointEvent(step=position.step, epoch=epoch, path=directory, final=final, metrics=metrics))
            # Only the newest checkpoint stays resumable: older ones keep their adapter, not the optimizer state
            # (twice the adapter's size). Pruned after the event, so a listener has recorded the new one first.
            for older in self.checkpoints[:-1]:
                (older / TENSORS_FILE).unlink(missing_ok=True)
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
                path = self.checkpoint(metrics, self._last_epoch(), announce=False)
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
