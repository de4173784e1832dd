"""Resumable checkpoints: the adapter plus optimizer, scheduler, RNG state and the position in the data."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from ftui.engine.training.config import TrainingError

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
TENSORS_FILE = "trainer_state.pt"


class Position(BaseModel):
    step: int
    epoch_index: int  # 0-based epoch in progress
    batch_in_epoch: int  # batches of that epoch already trained
    trained_tokens: int
    elapsed_seconds: float
    total_steps: int
    fingerprint: str
    metrics: dict[str, float] = {}


def save_checkpoint(directory: Path, peft_model: Any, optimizer: Any, scheduler: Any, position: Position) -> Path:
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


def read_checkpoint_position(directory: Path) -> Position:
    try:
        return Position.model_validate(orjson.loads((directory / STATE_FILE).read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValueError) as exc:
        raise TrainingError(f"{directory} is not a resumable checkpoint: {exc}") from exc


def restore_checkpoint(directory: Path, peft_model: Any, optimizer: Any, scheduler: Any) -> None:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(peft_model, load_file(str(directory / "adapter_model.safetensors")))
    state = torch.load(directory / TENSORS_FILE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
