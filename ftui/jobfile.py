"""``job.toml``: a fine-tuning job written down, to submit again from a script or to start another like it.

A job file holds what ``ftui jobs create`` takes on its command line::

    model = "gpt-4.1-mini-2025-04-14"
    training_file = "data/train.jsonl"      # a path (relative to this file's folder) or an uploaded file's id
    validation_file = "file-abc123"         # optional, the same
    method = "supervised"                   # or "dpo"
    seed = 42                               # optional: generated at submit when absent
    suffix = "support-bot"                  # optional

    [hyperparameters]                       # each a number or "auto"; absent means "auto"
    n_epochs = 3
    batch_size = "auto"
    learning_rate_multiplier = 0.1
    # beta = 0.1                            # DPO only

    [metadata]                              # optional, string values
    team = "support"

The wizard's review step saves one (``JobFile.from_plan(...).save(path)``), the dashboard's clone loads one
(``JobFile.load(path)`` or ``JobFile.from_job(job)``), and ``ftui jobs create --from`` submits one
(``job_file.to_plan()``). Loading reports the first problem as one line that names the key. This module touches no
network and no Textual.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ftui.catalog import Method, ModelCard, load_catalog
from ftui.fsutil import atomic_writer, check_output
from ftui.options import SEED_MAX, Hyperparameters, JobMetadata, JobOptions, generate_seed
from ftui.submit import DataChoice, Role, SubmitPlan

JobMethod = Literal["supervised", "dpo"]
# An uploaded file's id as OpenAI, Azure and the local engine write it.
_FILE_ID = re.compile(r"file-[A-Za-z0-9_-]+")
_KEY_ORDER = (
    "model",
    "training_file",
    "validation_file",
    "method",
    "seed",
    "suffix",
    "hyperparameters",
    "metadata",
)

_HYPERPARAMETER_ORDER = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


class JobFileError(ValueError):
    """A job file that cannot be read or used; the message is one line naming the file and the key."""


def is_file_id(text: str) -> bool:
    """True when ``text`` names an uploaded file (``file-…``) rather than a path on this machine.

    A file of that name in the current folder still counts as a path, so a local file is never mistaken for an id.
    """
    return bool(_FILE_ID.fullmatch(text)) and not Path(text).exists()


class JobFile(BaseModel):
    """The fields of one fine-tuning job, as ``job.toml`` holds them.

    ``training_file`` and ``validation_file`` are each a local path or an uploaded file's id (``file-…``); a relative
    path is relative to the job file's folder (``folder``), or to the current folder for a job file not read from
    disk.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    method: JobMethod = "supervised"
    hyperparameters: Hyperparameters = Hyperparameters()
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX)
    suffix: str | None = None
    metadata: JobMetadata = Field(default_factory=dict)

    _folder: Path | None = PrivateAttr(default=None)

    # -- reading and writing ------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> JobFile:
        """Read ``path``; raises ``JobFileError`` (one line) when it is missing, not TOML, or holds a wrong key."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise JobFileError(f"{path}: no such job file") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise JobFileError(f"{path}: cannot be read: {reason}") from None
        job_file = cls.from_toml(text, source=str(path))
        job_file._folder = path.resolve().parent
        return job_file

    @classmethod
    def from_toml(cls, text: str, *, source: str = "job file") -> JobFile:
        """Parse a job file's text; ``source`` names it in error messages."""
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise JobFileError(f"{source}: not valid TOML: {exc}") from None
        return cls.from_mapping(raw, source=source)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "job file") -> JobFile:
        """Check a parsed table; raises ``JobFileError`` naming the first wrong key."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            raise JobFileError(f"{source}: {describe_validation_error(exc)}") from None

    def to_toml(self) -> str:
        """The file's text: unset fields left out, hyperparameters of the method only (beta is DPO's)."""
        return tomli_w.dumps(self.to_table())

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            "model": self.model,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "method": self.method,
            "seed": self.seed,
            "suffix": self.suffix,
            "hyperparameters": _hyperparameter_table(self.hyperparameters, Method(self.method)),
            "metadata": dict(self.metadata) or None,
        }
        return {key: table[key] for key in _KEY_ORDER if table[key] is not None}

    def save(self, path: Path, *, force: bool = True) -> Path:
        """Write the file atomically; with ``force=False`` an existing file is left alone (``FileExistsError``)."""
        check_output(path, force=force)
        with atomic_writer(path) as handle:
            handle.write(self.to_toml().encode("utf-8"))
        return path

    # -- what the file means ------------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """The folder relative paths are read from: the job file's own, or the current one."""
        return self._folder or Path.cwd()

    def with_folder(self, folder: Path | None) -> JobFile:
        """The same fields, with relative paths read from ``folder``."""
        copy = self.model_copy()
        copy._folder = folder
        return copy

    def options(self) -> JobOptions:
        """The job's options; raises ``JobFileError`` when they do not fit together."""
        try:
            return JobOptions(
                model=self.model,
                method=Method(self.method),
                hyperparameters=self.hyperparameters,
                seed=self.seed,
                suffix=self.suffix,
                metadata=dict(self.metadata),
            )
        except ValidationError as exc:
            raise JobFileError(describe_validation_error(exc)) from None

    def data_choice(self, value: str) -> DataChoice:
        """A ``training_file``/``validation_file`` value as a ``DataChoice``: an uploaded id or a resolved path."""
        if is_file_id(value):
            return DataChoice.uploaded(value)
        path = Path(value).expanduser()
        return DataChoice.local(path if path.is_absolute() else self.folder / path)

    def training(self) -> DataChoice:
        return self.data_choice(self.training_file)

    def validation(self) -> DataChoice | None:
        return self.data_choice(self.validation_file) if self.validation_file else None

    def to_plan(self, *, seed: int | None = None, card: ModelCard | None = None) -> SubmitPlan:
        """What ``Submission.run`` takes. The seed is ``seed``, else the file's, else a new one."""
        chosen_seed = seed if seed is not None else self.seed if self.seed is not None else generate_seed()
        return SubmitPlan(
            options=self.options(),
            training=self.training(),
            seed=chosen_seed,
            validation=self.validation(),
            card=card or load_catalog().get(self.model),
        )

    # -- made from other things ---------------------------------------------------------------------------------

    @classmethod
    def from_options(
        cls,
        options: JobOptions,
        training: DataChoice | str,
        validation: DataChoice | str | None = None,
        *,
        seed: int | None = None,
        relative_to: Path | None = None,
    ) -> JobFile:
        """A job file for ``options`` and these files. Local paths under ``relative_to`` are written relative to it
        (pass the folder the file will be saved in); ``seed`` overrides the options' seed."""
        if options.method not in (Method.SUPERVISED, Method.DPO):
            raise JobFileError(f"a job file holds supervised or dpo jobs, not {options.method}")
        return cls(
            model=options.model,
            training_file=_file_text(training, relative_to),
            validation_file=_file_text(validation, relative_to) if validation is not None else None,
            method="dpo" if options.method is Method.DPO else "supervised",
            hyperparameters=options.hyperparameters,
            seed=seed if seed is not None else options.seed,
            suffix=options.suffix,
            metadata=dict(options.metadata),
        )

    @classmethod
    def from_plan(cls, plan: SubmitPlan, *, relative_to: Path | None = None) -> JobFile:
        """The job file of a submit: its options, files and (resolved) seed."""
        return cls.from_options(plan.options, plan.training, plan.validation, seed=plan.seed, relative_to=relative_to)

    @classmethod
    def from_job(cls, job: Mapping[str, Any] | BaseModel) -> JobFile:
        """The settings and file ids of an existing job (an SDK ``FineTuningJob`` or its dict), to run it again."""
        data = job.model_dump() if isinstance(job, BaseModel) else dict(job)
        options = JobOptions.from_job(data)
        if options.method not in (Method.SUPERVISED, Method.DPO):
            options = options.model_copy(update={"method": Method.SUPERVISED})
        training = data.get("training_file")
        if not training:
            raise JobFileError(f"job {data.get('id', '?')} names no training file")
        return cls.from_options(options, str(training), data.get("validation_file") or None)


@dataclass(frozen=True)
class CarriedFile:
    """How one of an earlier job's files carries into a new run: ``choice`` is None when it cannot."""

    role: Role
    source: str  # the job's value: an uploaded file's id, or a path
    choice: DataChoice | None

    def describe(self) -> str:
        """'training file northwind-train.jsonl (file-abc)', or why it was not carried."""
        name = f"{self.role} file"
        if self.choice is None:
            return f"{name} {self.source} is no longer on the backend: choose it again on the data step"
        if self.choice.file_id is None:
            return f"{name} {self.choice.label} (no longer on the backend: uploaded again at submit)"
        return f"{name} {self.choice.label}"


def carry_files(
    job_file: JobFile, on_backend: Mapping[str, str] | None, uploaded_from: Mapping[str, Path]
) -> list[CarriedFile]:
    """The job file's training and validation files for a new run.

    An uploaded file the backend still has is used again, named by its filename (``on_backend``: file id to
    filename; None when the backend could not be asked, and then every id is used as it is). One the backend no
    longer has is replaced by the local file it was uploaded from, when that is known (``uploaded_from``: file id
    to path) and still there; else it is not carried. A path in the job file is used as it is. Reads the disk.
    """
    files: list[tuple[Role, str | None]] = [
        ("training", job_file.training_file),
        ("validation", job_file.validation_file),
    ]
    carried = []
    for role, value in files:
        if value is None:
            continue
        named = job_file.data_choice(value)
        if named.file_id is None:
            carried.append(CarriedFile(role, value, named))
        else:
            carried.append(CarriedFile(role, named.file_id, _still_there(named.file_id, on_backend, uploaded_from)))
    return carried


def _still_there(
    file_id: str, on_backend: Mapping[str, str] | None, uploaded_from: Mapping[str, Path]
) -> DataChoice | None:
    if on_backend is None or file_id in on_backend:
        return DataChoice.uploaded(file_id, on_backend.get(file_id) if on_backend else None)
    path = uploaded_from.get(file_id)
    if path is not None and path.is_file():
        return DataChoice.local(path)
    return None


def _hyperparameter_table(values: Hyperparameters, method: Method) -> dict[str, Any]:
    chosen = values.for_method(method)
    return {name: chosen[name] for name in _HYPERPARAMETER_ORDER if name in chosen}


def _file_text(choice: DataChoice | str, relative_to: Path | None) -> str:
    if isinstance(choice, str):
        return choice
    if choice.file_id is not None:
        return choice.file_id
    if choice.path is None:
        raise JobFileError(f"{choice.label} has neither a path nor a file id")
    path = choice.path
    if relative_to is not None:
        try:
            return path.resolve().relative_to(relative_to.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())
    return str(path)


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's first error as one line naming the key: ``hyperparameters.n_epochs: must be …``."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "the file"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = error["loc"][:-1]
        known = _known_keys(parent)
        return f"unknown key {key!r}; the keys are: {', '.join(known)}"
    if kind == "missing":
        return f"{key!r} is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"


def _known_keys(parent: tuple[int | str, ...]) -> list[str]:
    if parent == ("hyperparameters",):
        return list(_HYPERPARAMETER_ORDER)
    return list(_KEY_ORDER)


__all__ = ["CarriedFile", "JobFile", "JobFileError", "carry_files", "describe_validation_error", "is_file_id"]
