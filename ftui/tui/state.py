"""What one run of the wizard has chosen so far; screens read and fill it in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ftui.catalog import Method, ModelCard, Task, load_catalog
from ftui.config import BackendKind
from ftui.estimates import estimate_from_report
from ftui.options import Estimate, Hyperparameters, JobOptions
from ftui.submit import DataChoice, SubmitPlan

if TYPE_CHECKING:  # the validator pulls in the tokenizers; the first screen must not wait for them
    from ftui.dataset.validator import ValidationReport
    from ftui.jobfile import JobFile


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
    metadata: dict[str, str] = field(default_factory=dict)

    def job_options(self) -> JobOptions:
        if self.model is None:
            raise ValueError("no model chosen")
        return JobOptions(
            model=self.model,
            method=self.method,
            hyperparameters=self.hyperparameters,
            seed=self.seed,
            suffix=self.suffix,
            metadata=dict(self.metadata),
        )

    def missing(self) -> list[str]:
        """What must still be chosen before a job can be submitted, in wizard order."""
        gaps = []
        if self.model is None:
            gaps.append("a base model")
        if self.training is None:
            gaps.append("a training file")
        return gaps

    def report_for_files(self) -> ValidationReport | None:
        """``report`` when it is a finished check of exactly the chosen local files; else None."""
        report = self.report
        if report is None or report.cancelled or self.training is None or self.training.path is None:
            return None
        validation = self.validation.path if self.validation is not None else None
        checked_validation = report.validation.path if report.validation is not None else None
        if report.training.path != str(self.training.path):
            return None
        if checked_validation != (str(validation) if validation is not None else None):
            return None
        return report

    def counts_outdated(self) -> bool:
        """The last check estimated its token counts, and the model's tokenizer has been prepared since (the local
        engine prepares it with the model): checking again counts them exactly. A file check, nothing loaded."""
        from ftui.dataset.tokens import exact_counts_possible

        report = self.report
        if report is None or report.tokenizer.exact or report.cancelled:
            return False
        card = load_catalog().get(report.model)
        return card is not None and exact_counts_possible(card.tokenizer)

    def estimate(self, options: JobOptions, kind: BackendKind) -> Estimate | str:
        """The estimate for ``options`` on this run's checked data, or a sentence saying why there is none."""
        return estimate_from_report(
            self.report,
            options,
            kind,
            card=self.card,
            remote_training=self.training is not None and self.training.path is None,
        )

    def submit_plan(self, seed: int) -> SubmitPlan:
        """What ``Submission.run`` takes, with ``seed`` resolved. Raises ``ValueError`` when a choice is missing."""
        if self.training is None:
            raise ValueError("no training file chosen")
        return SubmitPlan(
            options=self.job_options(),
            training=self.training,
            seed=seed,
            validation=self.validation,
            card=self.card,
        )

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
            metadata=dict(options.metadata),
        )

    @classmethod
    def from_job_file(cls, job_file: JobFile, card: ModelCard | None = None) -> WizardState:
        """A new run pre-filled with a job file's settings and files (an uploaded file's id stays an id, a path is
        read relative to the job file's folder). ``card`` defaults to the catalog's card for the model.
        Raises ``JobFileError`` when the file's options do not fit together."""
        options = job_file.options()
        state = cls.from_options(options, card or load_catalog().get(options.model))
        state.training = _shown(job_file.training())
        validation = job_file.validation()
        state.validation = _shown(validation) if validation is not None else None
        return state


def _shown(choice: DataChoice) -> DataChoice:
    """A local file labelled as the data step labels it (relative to the working folder where it is inside it)."""
    if choice.path is None:
        return choice
    try:
        label = str(choice.path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        label = str(choice.path)
    return DataChoice(label=label, path=choice.path)
