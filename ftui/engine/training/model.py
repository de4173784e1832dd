"""The model side of training: batches as tensors, the LoRA model, and the loss at trained positions only."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftui.engine.training.config import TrainConfig
from ftui.engine.training.data import IGNORE_INDEX, Encoded, group_ids

MIN_SHARED_PREFIX = 16
# Decoders checked to give the same loss and gradients with a shared prefix as without (tests/engine/test_training.py).
# Others (sliding-window or hybrid caches among them) train unshared until checked.
PREFIX_SHARING_MODELS = frozenset({"llama"})


@dataclass(frozen=True)
class Batch:
    input_ids: Any  # LongTensor (B, T), right padded; after the shared prefix when there is one
    positions: Any  # LongTensor (N,): flat positions in (B*T) that carry a target
    targets: Any  # LongTensor (N,)
    tokens: int  # real (unpadded) tokens of the examples, shared prefix counted once per example
    prefix: Any = None  # LongTensor (1, P): leading tokens every example shares, run once for the batch


def _shared_prefix_length(examples: Sequence[Encoded]) -> int:
    """Leading tokens all examples share, never reaching a position that predicts a trained token."""
    if len(examples) < 2:
        return 0
    limit = min(e.first_target for e in examples)
    first = examples[0].input_ids
    length = 0
    while length < limit and all(e.input_ids[length] == first[length] for e in examples[1:]):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


def collate(examples: Sequence[Encoded], pad_id: int, *, share_prefix: bool = False) -> Batch:
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
    return Batch(ids, positions, flat.index_select(0, positions), sum(e.length for e in examples), prefix)


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
    result: tuple[Any, Any] = _HEAD_CROSS_ENTROPY.apply(hidden, weight, targets)
    return result


class LossModel:
    """Loss and token accuracy at labelled positions only; the vocabulary projection skips every other position.

    With ``share_prefix``, a prefix common to the whole batch runs through the model once and its keys and values
    are repeated for every example (gradients flow back through them), which is exact for these causal models.
    """

    def __init__(self, peft_model: Any, *, share_prefix: bool) -> None:
        self.peft_model = peft_model
        base = peft_model.get_base_model()
        self.config = base.config
        self.decoder: Any = base.get_decoder() if hasattr(base, "get_decoder") else None
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

    def _hidden(self, batch: Batch) -> Any:
        if batch.prefix is None:
            return self.decoder(input_ids=batch.input_ids, use_cache=False).last_hidden_state
        from transformers import DynamicCache

        cache = DynamicCache(config=self.config)
        self.decoder(input_ids=batch.prefix, use_cache=True, **{self.cache_argument: cache})
        cache.batch_repeat_interleave(batch.input_ids.shape[0])
        return self.decoder(input_ids=batch.input_ids, use_cache=True, **{self.cache_argument: cache}).last_hidden_state

    def __call__(self, batch: Batch) -> tuple[Any, Any]:
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

    def collate(self, examples: Sequence[Encoded], pad_id: int) -> Batch:
        return collate(examples, pad_id, share_prefix=self.share_prefix)


def load_model(config: TrainConfig) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftui.engine.models import quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(config.base_model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(config.base_model_dir), dtype=torch.float32)
    model.config.use_cache = False
    alpha: Any = config.lora_alpha  # peft annotates an int; it only scales by alpha / r, so a float works too
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=alpha,
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


def evaluate(loss_model: LossModel, examples: Sequence[Encoded], batch_size: int, pad_id: int) -> dict[str, float]:
    """Token-level mean loss and accuracy over ``examples``, no gradients."""
    import torch

    groups = group_ids(examples)
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
