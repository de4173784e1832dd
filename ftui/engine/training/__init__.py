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
from ftui.engine.training.loop import train, usable_cores

__all__ = [
    "CheckpointEvent",
    "Control",
    "MessageEvent",
    "MetricsEvent",
    "ProgressEvent",
    "TrainConfig",
    "TrainEvent",
    "TrainOutcome",
    "TrainingError",
    "train",
    "usable_cores",
]
