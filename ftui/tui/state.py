"""What one run of the wizard has chosen so far; screens read and fill it in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftui.catalog import Method, ModelCard, Task
from ftui.options import Hyperparameters, JobOptions
from ftui.submit import DataChoice

if TYPE_CHECKING:  # the validator pulls in the tokenizers; the first screen must not wait for them
    from ftui.dataset.validator import ValidationReport


@dataclass
class WizardState:
    task: Task | None = Task.CHAT_COMPLETION
    model: str | None = None
    card: ModelCard | None = None
    method: Method = Method.SUPERVISED
    training: DataChoice | None = None
    validation: DataChoice | None = None
    # The last finished validation of the chosen files; None while it runs or when files are already uploaded.
    report: ValidationReport | None = None
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    seed: int | None = None
    suffix: str | None = None

    def job_options(self) -> JobOptions:
        if self.model is None:
            raise ValueError("no model chosen")
        return JobOptions(
            model=self.model,
            method=self.method,
            hyperparameters=self.hyperparameters,
            seed=self.seed,
            suffix=self.suffix,
        )

    def missing(self) -> list[str]:
        """What must still be chosen before a job can be submitted, in wizard order."""
        gaps = []
        if self.model is None:
            gaps.append("a base model")
        if self.training is None:
            gaps.append("a training file")
        return gaps

    @classmethod
    def from_options(cls, options: JobOptions, card: ModelCard | None) -> WizardState:
        """A new run pre-filled with an earlier job's settings (the dashboard's Clone)."""
        return cls(
            model=options.model,
            card=card,
            method=options.method,
            hyperparameters=options.hyperparameters,
            seed=options.seed,
            suffix=options.suffix,
        )
