"""What a training run is given and what it reports: its configuration, its events and its outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

Control = Literal["continue", "pause", "cancel"]


class TrainingError(ValueError):
    """The data or configuration cannot be trained on; the message says what to fix."""


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
