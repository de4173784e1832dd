"""Fixes that write new files: split off a validation set, clean a file, copy the bundled sample.

None of them touches its input. Each writes atomically and refuses to replace an existing file unless asked.
"""

from __future__ import annotations

import random
import secrets
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import orjson

from ftui.catalog import ModelCard
from ftui.dataset.analysis import example_tokens
from ftui.dataset.findings import Code
from ftui.dataset.line_rules import dedupe_key, inspect_line
from ftui.dataset.reader import read_all_lines
from ftui.dataset.sensitive import KIND_NOUNS, SensitiveKind, redact_value
from ftui.dataset.tokens import CountMemo, load_counter
from ftui.fsutil import atomic_writer, check_output, same_file
from ftui.textfmt import line_list, plural

SAMPLE_NAME = "support"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl.gz", ".json.gz", ".gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def derived_path(source: Path, label: str) -> Path:
    """``data.jsonl`` -> ``data.<label>.jsonl`` beside it."""
    return source.with_name(f"{_stem(source)}.{label}.jsonl")


@dataclass
class SplitResult:
    training_path: Path
    validation_path: Path
    training_examples: int
    validation_examples: int
    seed: int
    blank_lines_dropped: int
    overlong_lines_dropped: list[int] = field(default_factory=list)

    def summary(self) -> str:
        total = self.training_examples + self.validation_examples
        text = (
            f"Split {plural(total, 'line')} with seed {self.seed}: {self.training_examples:,} to "
            f"{self.training_path}, {self.validation_examples:,} to {self.validation_path}."
        )
        if self.blank_lines_dropped:
            text += f" Dropped {plural(self.blank_lines_dropped, 'blank line')}."
        if self.overlong_lines_dropped:
            text += f" Dropped {line_list(self.overlong_lines_dropped)}: over 16 MB, too long to be an example."
        return text + " The input file was not changed."


def split_dataset(
    source: Path,
    *,
    validation_fraction: float,
    seed: int | None = None,
    training_out: Path | None = None,
    validation_out: Path | None = None,
    force: bool = False,
) -> SplitResult:
    """Move a random ``validation_fraction`` of the lines into a validation file; the same seed, the same split.

    Lines keep their original order in both outputs. Memory holds line numbers only.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError("--validation-fraction must be between 0 and 1, for example 0.1")
    seed = secrets.randbelow(2**31) if seed is None else seed
    training_out = training_out or derived_path(source, "train")
    validation_out = validation_out or derived_path(source, "validation")
    if training_out == validation_out or same_file(training_out, validation_out):
        raise ValueError("the training and validation outputs must be different files")
    for output in (training_out, validation_out):
        check_output(output, force=force, inputs=(source,))
    kept = [number for number, raw in read_all_lines(source) if raw is not None and raw.strip()]
    blank = 0
    overlong: list[int] = []
    if len(kept) < 2:
        raise ValueError(f"{source} has {len(kept)} non-blank lines; splitting needs at least 2")
    shuffled = kept.copy()
    random.Random(seed).shuffle(shuffled)
    validation_count = min(len(kept) - 1, max(1, round(validation_fraction * len(kept))))
    validation_lines = set(shuffled[:validation_count])
    with atomic_writer(training_out) as training, atomic_writer(validation_out) as validation:
        for number, raw in read_all_lines(source):
            if raw is None:
                overlong.append(number)
            elif not raw.strip():
                blank += 1
            else:
                (validation if number in validation_lines else training).write(raw + b"\n")
    return SplitResult(
        training_out, validation_out, len(kept) - validation_count, validation_count, seed, blank, overlong
    )


@dataclass
class CleanResult:
    output: Path
    kept: int = 0
    invalid_lines: list[int] = field(default_factory=list)
    duplicate_lines: list[int] = field(default_factory=list)
    too_long_lines: list[int] = field(default_factory=list)
    blank_lines: int = 0
    redacted: dict[SensitiveKind, int] = field(default_factory=dict)
    redacted_examples: int = 0

    def summary(self) -> str:
        total = self.kept + len(self.invalid_lines) + len(self.duplicate_lines) + len(self.too_long_lines)
        parts = [f"Wrote {self.output}: kept {self.kept:,} of {plural(total, 'example')}."]
        if self.invalid_lines:
            parts.append(
                f"Dropped {plural(len(self.invalid_lines), 'line')} with errors ({line_list(self.invalid_lines)})."
            )
        if self.too_long_lines:
            parts.append(
                f"Dropped {plural(len(self.too_long_lines), 'example')} over the model's token limit "
                f"({line_list(self.too_long_lines)})."
            )
        if self.duplicate_lines:
            parts.append(
                f"Removed {plural(len(self.duplicate_lines), 'duplicate')} ({line_list(self.duplicate_lines)})."
            )
        if self.blank_lines:
            parts.append(f"Dropped {plural(self.blank_lines, 'blank line')}.")
        if self.redacted:
            kinds = ", ".join(plural(n, KIND_NOUNS[kind]) for kind, n in self.redacted.items())
            spans = plural(sum(self.redacted.values()), "span")
            parts.append(f"Redacted {spans} in {plural(self.redacted_examples, 'example')}: {kinds}.")
        if len(parts) == 1:
            parts.append("Nothing needed changing.")
        parts.append("The input file was not changed.")
        return " ".join(parts)


def clean_dataset(
    source: Path,
    *,
    output: Path | None = None,
    model: ModelCard | None = None,
    redact: bool = True,
    deduplicate: bool = True,
    force: bool = False,
) -> CleanResult:
    """Write a copy without invalid lines or duplicates, with sensitive data replaced by typed placeholders.

    With ``model``, examples longer than its per-example limit are dropped too (the service would truncate them).
    """
    output = output or derived_path(source, "clean")
    check_output(output, force=force, inputs=(source,))
    result = CleanResult(output=output)
    seen: set[int] = set()
    limit = model.training_context_limit if model else None
    counter = load_counter(model.tokenizer) if model and limit else None
    memo = CountMemo()
    with atomic_writer(output) as sink:
        for number, raw in read_all_lines(source):
            if raw is None:
                result.invalid_lines.append(number)
                continue
            if not raw.strip():
                result.blank_lines += 1
                continue
            inspected = inspect_line(raw, number)
            if inspected.has_error or inspected.facts is None:
                result.invalid_lines.append(number)
                continue
            if counter is not None and limit is not None:
                tokens, _ = example_tokens(inspected.facts, counter, memo)
                if tokens > limit:
                    result.too_long_lines.append(number)
                    continue
            line = raw
            counts: dict[SensitiveKind, int] = {}
            if redact and any(f.code is Code.SENSITIVE_DATA for f in inspected.findings):
                line = orjson.dumps(redact_value(orjson.loads(raw), counts))
            # Duplicates are judged after redaction: lines that differ only in personal data become one.
            if deduplicate:
                key = dedupe_key(line)
                if key in seen:
                    result.duplicate_lines.append(number)
                    continue
                seen.add(key)
            if counts:
                for kind, n in counts.items():
                    result.redacted[kind] = result.redacted.get(kind, 0) + n
                result.redacted_examples += 1
            sink.write(line + b"\n")
            result.kept += 1
    return result


def sample_files() -> tuple[Path, Path]:
    """Paths of the bundled sample dataset (training, validation) inside the installed package."""
    folder = resources.files("ftui.data").joinpath("samples", SAMPLE_NAME)
    return Path(str(folder.joinpath("train.jsonl"))), Path(str(folder.joinpath("validation.jsonl")))


def copy_sample(destination: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Copy the sample dataset into ``destination`` as northwind-train.jsonl and northwind-validation.jsonl."""
    training, validation = sample_files()
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"{destination} is a file; give a folder to copy the sample into")
    targets = (destination / "northwind-train.jsonl", destination / "northwind-validation.jsonl")
    for target in targets:
        check_output(target, force=force)
    destination.mkdir(parents=True, exist_ok=True)
    for source, target in zip((training, validation), targets, strict=True):
        with atomic_writer(target) as sink, source.open("rb") as handle:
            shutil.copyfileobj(handle, sink)
    return targets
