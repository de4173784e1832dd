"""Stream-validate a training file (and an optional validation file) against a target model.

``Validation.events()`` is a generator: it yields each ``Finding`` as soon as its lines have been checked,
``Progress`` as the file is read, and finally one ``ValidationReport``. Memory stays bounded: lines are read in
blocks, a few chunks are in flight at a time, and per-example figures are kept as packed integers.

Large plain files are split into byte ranges checked by worker processes (JSON parsing, the rules and tokenizing
all hold the GIL, so threads would not help); the results are merged here in file order, which is where
duplicates and train/validation overlap are found.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from array import array
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict

from ftui.catalog import DEFAULT_TARGET_MODEL, Method, ModelCard, load_catalog
from ftui.dataset.analysis import FORMAT_CODE, FORMAT_OF_CODE, Chunk, analyze_range, count_into, inspect_lines
from ftui.dataset.findings import (
    MAX_FINDINGS_PER_CODE,
    Code,
    DataFile,
    Finding,
    Progress,
    Severity,
    finding,
    severity_of,
)
from ftui.dataset.keyindex import KeyIndex
from ftui.dataset.line_rules import DataFormat
from ftui.dataset.reader import (
    MAX_LINE_BYTES,
    Block,
    DatasetFileError,
    FileInfo,
    file_changed,
    iter_blocks,
    open_dataset,
)
from ftui.dataset.tokens import CountMemo, TokenCounter, load_counter
from ftui.estimates import auto_epochs, billable_tokens
from ftui.textfmt import plural

CLOUD_MIN_EXAMPLES = 10
RECOMMENDED_MIN_EXAMPLES = 50
MAX_TRACKED_SYSTEM_PROMPTS = 100_000
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
PARALLEL_CHUNK_BYTES = 2 * 1024 * 1024


class Distribution(BaseModel):
    model_config = ConfigDict(frozen=True)

    min: int
    median: float
    p90: float
    max: int
    mean: float

    @classmethod
    def of(cls, values: array[int]) -> Distribution | None:
        if not values:
            return None
        ordered = sorted(values)
        return cls(
            min=ordered[0],
            median=_percentile(ordered, 0.5),
            p90=_percentile(ordered, 0.9),
            max=ordered[-1],
            mean=round(sum(ordered) / len(ordered), 2),
        )


def _percentile(ordered: list[int], q: float) -> float:
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 2)


class FileStats(BaseModel):
    path: str
    format: DataFormat | None = None
    lines: int = 0
    examples: int = 0
    invalid_lines: int = 0
    blank_lines: int = 0
    messages_per_example: Distribution | None = None
    tokens_per_example: Distribution | None = None
    trainable_tokens_per_example: Distribution | None = None
    total_tokens: int = 0
    trainable_tokens: int = 0
    examples_over_limit: int = 0
    distinct_system_prompts: int = 0
    multi_turn_examples: int = 0
    multi_turn_share: float = 0.0
    weight_zero_turns: int = 0
    role_counts: dict[str, int] = {}
    finding_counts: dict[str, int] = {}


class TokenizerInfo(BaseModel):
    name: str
    exact: bool
    note: str = ""


class ValidationReport(BaseModel):
    model: str
    tokenizer: TokenizerInfo
    training_context_limit: int | None
    training: FileStats
    validation: FileStats | None = None
    n_epochs: int
    n_epochs_auto: bool
    billable_tokens: int
    estimated_cost_usd: float | None = None
    findings: list[Finding] = []
    findings_not_listed: int = 0
    errors: int = 0
    warnings: int = 0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.errors == 0 and not self.cancelled


ValidationEvent = Finding | Progress | ValidationReport


@dataclass(frozen=True)
class Target:
    """What the data is checked against: the model's limits, tokenizer and methods."""

    card: ModelCard

    @property
    def min_examples(self) -> int:
        return CLOUD_MIN_EXAMPLES if self.card.is_cloud else 1

    @classmethod
    def for_model(cls, model: str | ModelCard | None) -> Target:
        if isinstance(model, ModelCard):
            return cls(model)
        name = model or DEFAULT_TARGET_MODEL
        card = load_catalog().get(name)
        if card is None:
            raise ValueError(f"unknown model {name!r}; 'ftui catalog list' shows the models ftui knows")
        return cls(card)


@dataclass
class _Tally:
    """Findings of the whole run: all counted, the first MAX_FINDINGS_PER_CODE of each code kept for the report."""

    kept: list[Finding] = field(default_factory=list)
    per_code: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    warnings: int = 0

    def count(self, code: str, severity: Severity, number: int = 1) -> None:
        self.per_code[code] += number
        if severity is Severity.ERROR:
            self.errors += number
        else:
            self.warnings += number

    def record(self, item: Finding) -> bool:
        """Count ``item``; True if it is listed (and so should be shown)."""
        self.count(item.code, item.severity)
        if self.per_code[item.code] > MAX_FINDINGS_PER_CODE:
            return False
        self.kept.append(item)
        return True


@dataclass
class _FileRun:
    """Merges one file's chunks, in file order, into findings and statistics."""

    data_file: DataFile
    info: FileInfo
    target: Target
    seen_examples: KeyIndex  # dedupe key -> line (negative for validation lines), shared by both files
    tally: _Tally
    stats: FileStats = field(init=False)
    exact_tokens: bool = True
    format: DataFormat | None = None
    message_counts: array[int] = field(default_factory=lambda: array("I"))
    token_counts: array[int] = field(default_factory=lambda: array("I"))
    trainable_counts: array[int] = field(default_factory=lambda: array("I"))
    system_prompts: set[int] = field(default_factory=set)
    role_counts: Counter[str] = field(default_factory=Counter)
    file_codes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.stats = FileStats(path=str(self.info.path))

    def emit(self, item: Finding) -> list[Finding]:
        self.file_codes[item.code] += 1
        return [item] if self.tally.record(item) else []

    def emit_new(self, code: Code, message: str, line: int | None = None) -> list[Finding]:
        return self.emit(finding(code, message, line=line, file=self.data_file))

    def merge_findings(self, chunk: Chunk, line_offset: int) -> list[Finding]:
        """The chunk's own findings, renumbered to file lines; its per-example data is merged by merge_examples."""
        listed: list[Finding] = []
        for item in chunk.findings:
            placed = item
            if line_offset and item.line is not None:
                placed = item.model_copy(update={"line": item.line + line_offset})
            listed.extend(self.emit(placed))
        for code, number in chunk.dropped.items():
            self.file_codes[code] += number
            self.tally.count(code, severity_of(Code(code)), number)
        return listed

    def merge_examples(self, chunk: Chunk, line_offset: int) -> list[Finding]:
        listed: list[Finding] = []
        stats = self.stats
        limit = self.target.card.training_context_limit
        seen = self.seen_examples
        lines = chunk.example_lines
        formats = chunk.example_formats
        totals = chunk.token_counts
        if self.format is None and formats:
            self.format = FORMAT_OF_CODE[formats[0]]
        own = FORMAT_CODE[self.format] if self.format is not None else 0
        mixed = formats.count(own) != len(formats)  # then the lines in another format are left out
        over = limit is not None and len(totals) > 0 and max(totals) > limit
        sign = 1 if self.data_file is DataFile.TRAINING else -1
        kept: list[int] = []
        for index, key in enumerate(chunk.example_keys):
            line = lines[index] + line_offset
            if mixed:
                if formats[index] != own:
                    stats.invalid_lines += 1
                    listed.extend(self._mixed_format(line, FORMAT_OF_CODE[formats[index]]))
                    continue
                kept.append(index)
            earlier = seen.setdefault(key, sign * line)
            if earlier is not None:
                listed.extend(self._duplicate(line, earlier))
            if over and limit is not None and totals[index] > limit:
                stats.examples_over_limit += 1
                listed.extend(self._too_many_tokens(line, totals[index], limit))
        if mixed:
            for index in kept:
                self.message_counts.append(chunk.message_counts[index])
                self.token_counts.append(totals[index])
                self.trainable_counts.append(chunk.trainable_counts[index])
            stats.examples += len(kept)
        else:
            self.message_counts.extend(chunk.message_counts)
            self.token_counts.extend(totals)
            self.trainable_counts.extend(chunk.trainable_counts)
            stats.examples += len(formats)
        stats.lines += chunk.lines
        stats.invalid_lines += chunk.invalid_lines
        stats.blank_lines += chunk.blank_lines
        stats.weight_zero_turns += chunk.weight_zero_turns
        stats.multi_turn_examples += chunk.multi_turn_examples
        self.role_counts.update(chunk.role_counts)
        if len(self.system_prompts) < MAX_TRACKED_SYSTEM_PROMPTS:
            self.system_prompts.update(chunk.system_prompts)
        return listed

    def _mixed_format(self, line: int, example_format: DataFormat) -> list[Finding]:
        return self.emit_new(
            Code.MIXED_FORMAT,
            f"This line is a {example_format} example but the file's first example is a {self.format} example. "
            "Keep one format per file.",
            line,
        )

    def _duplicate(self, line: int, earlier: int) -> list[Finding]:
        if self.data_file is DataFile.VALIDATION and earlier > 0:
            return self.emit_new(
                Code.TRAIN_VALIDATION_OVERLAP,
                f"The same example is in the training file (line {earlier}), so validation loss on it is not a fair "
                "test. Remove it from one of the files.",
                line,
            )
        return self.emit_new(
            Code.DUPLICATE_EXAMPLE,
            f"Same example as line {abs(earlier)} (ignoring whitespace). Duplicates over-weight one scenario.",
            line,
        )

    def _too_many_tokens(self, line: int, total: int, limit: int) -> list[Finding]:
        about = "" if self.exact_tokens else "about "
        item = finding(
            Code.TOO_MANY_TOKENS,
            f"The example has {about}{total:,} tokens, more than the {limit:,} that {self.target.card.id} trains on "
            f"per example; the service would truncate it, dropping the last {about}{plural(total - limit, 'token')}. "
            "Shorten it or split the conversation.",
            line=line,
            location="messages",
            file=self.data_file,
        )
        if not self.exact_tokens:
            item = item.model_copy(update={"severity": Severity.WARNING})  # an estimate alone should not block a job
        return self.emit(item)

    def read_failed(self, exc: DatasetFileError) -> list[Finding]:
        return self.emit_new(
            Code.READ_ERROR,
            f"Only part of the file could be read: {exc}. Lines after line {self.stats.lines} were not checked. "
            "Re-create or re-download the file.",
        )

    def mark_binary(self) -> list[Finding]:
        self.stats.invalid_lines += 1
        return self.emit_new(
            Code.BINARY_FILE,
            "The file looks binary (it contains NUL bytes), not JSON Lines text. If it is UTF-16 text, re-save it "
            "as UTF-8; otherwise export the data as .jsonl.",
        )

    def finish(self, check_changes: bool) -> list[Finding]:
        listed: list[Finding] = []
        change = file_changed(self.info) if check_changes else None
        if change:
            listed.extend(
                self.emit_new(
                    Code.FILE_CHANGED,
                    f"The file changed during validation ({change}); the results mix old and new content. "
                    "Validate again once writing has finished.",
                )
            )
        stats = self.stats
        unreadable = self.file_codes[Code.BINARY_FILE] or self.file_codes[Code.READ_ERROR]
        if stats.lines == stats.blank_lines and not unreadable:
            what = "is empty (0 bytes)" if self.info.size == 0 else "holds only blank lines"
            listed.extend(self.emit_new(Code.EMPTY_FILE, f"The file {what}. Add one JSON example per line."))
        stats.format = self.format
        stats.messages_per_example = Distribution.of(self.message_counts)
        stats.tokens_per_example = Distribution.of(self.token_counts)
        stats.trainable_tokens_per_example = Distribution.of(self.trainable_counts)
        stats.total_tokens = sum(self.token_counts)
        stats.trainable_tokens = sum(self.trainable_counts)
        stats.distinct_system_prompts = len(self.system_prompts)
        stats.multi_turn_share = round(stats.multi_turn_examples / stats.examples, 4) if stats.examples else 0.0
        stats.role_counts = dict(self.role_counts)
        return listed


def worker_count() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _line_aligned_ranges(handle: BinaryIO, size: int, start: int) -> list[tuple[int, int]] | None:
    """Byte ranges of about PARALLEL_CHUNK_BYTES that start on line starts; None if a line is too long to split."""
    ranges: list[tuple[int, int]] = []
    position = start
    while position < size:
        target = position + PARALLEL_CHUNK_BYTES
        if target >= size:
            ranges.append((position, size))
            break
        handle.seek(target)
        scanned = 0
        while True:
            piece = handle.read(64 * 1024)
            if not piece:
                ranges.append((position, size))
                return ranges
            newline = piece.find(b"\n")
            if newline >= 0:
                end = target + scanned + newline + 1
                break
            scanned += len(piece)
            if scanned > MAX_LINE_BYTES:
                return None
        ranges.append((position, end))
        position = end
    return ranges


def _process_context() -> multiprocessing.context.BaseContext:
    # fork is fastest and shares the loaded tokenizer, but is unsafe once other threads exist (as in the TUI).
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Validation:
    """One validation run. Iterate ``events()``; call ``cancel()`` from any thread to stop early."""

    def __init__(
        self,
        training: Path,
        validation: Path | None = None,
        *,
        model: str | ModelCard | None = None,
        n_epochs: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.training = Path(training)
        self.validation = Path(validation) if validation is not None else None
        self.target = Target.for_model(model)
        self.n_epochs = n_epochs
        self.workers = worker_count() if workers is None else workers
        self._cancelled = threading.Event()
        self._token_memo = CountMemo()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def events(self) -> Iterator[ValidationEvent]:
        """Findings and progress as they happen, then the report. Raises DatasetFileError for unreadable files."""
        opened = [open_dataset(self.training)]
        if self.validation is not None:
            try:
                opened.append(open_dataset(self.validation))
            except DatasetFileError:
                opened[0][0].close()
                raise
        seen = KeyIndex()
        tally = _Tally()
        runs: list[_FileRun] = []
        for (handle, info), data_file in zip(opened, (DataFile.TRAINING, DataFile.VALIDATION), strict=False):
            with handle:
                if not self.cancelled:
                    run = _FileRun(data_file, info, self.target, seen, tally)
                    runs.append(run)
                    yield from self._stream_file(run, handle)
        yield from self._file_level_findings(runs)
        yield self._report(runs, load_counter(self.target.card.tokenizer), tally)

    def _stream_file(self, run: _FileRun, handle: BinaryIO) -> Iterator[ValidationEvent]:
        info = run.info
        blocks = iter_blocks(handle, info)
        try:
            first = next(blocks, None)
            if first is not None and any(b"\x00" in line for line in first.lines):
                yield from run.mark_binary()
            elif first is not None:
                yield from self._check_block(run, first)
                ranges = self._parallel_ranges(handle, info, first.next_line_offset)
                if ranges is not None:
                    yield from self._stream_parallel(run, ranges)
                else:
                    yield from self._stream_sequential(run, blocks)
        except DatasetFileError as exc:
            yield from run.read_failed(exc)
        yield from run.finish(check_changes=not self.cancelled)
        yield Progress(file=run.data_file, bytes_read=info.size, bytes_total=info.size)

    def _check_block(self, run: _FileRun, block: Block) -> Iterator[ValidationEvent]:
        """Check one block in this process. Findings go out before token counting starts, so they come at once."""
        chunk, examples = inspect_lines(block.lines, block.first_line, run.data_file, dict(block.overlong))
        yield from run.merge_findings(chunk, 0)
        count_into(chunk, examples, self.target.card.tokenizer, self._token_memo)
        run.exact_tokens = load_counter(self.target.card.tokenizer).exact
        yield from run.merge_examples(chunk, 0)
        yield Progress(file=run.data_file, bytes_read=block.bytes_read, bytes_total=run.info.size)

    def _parallel_ranges(self, handle: BinaryIO, info: FileInfo, start: int | None) -> list[tuple[int, int]] | None:
        if self.workers < 2 or start is None or info.size < PARALLEL_MIN_BYTES:
            return None
        return _line_aligned_ranges(handle, info.size, start)

    def _stream_sequential(self, run: _FileRun, blocks: Iterator[Block]) -> Iterator[ValidationEvent]:
        for block in blocks:
            if self.cancelled:
                return
            yield from self._check_block(run, block)

    def _stream_parallel(self, run: _FileRun, ranges: list[tuple[int, int]]) -> Iterator[ValidationEvent]:
        """Check byte ranges on worker processes; merge their results in file order."""
        path = str(run.info.path)
        tokenizer = self.target.card.tokenizer
        pending: deque[tuple[Future[Chunk], int]] = deque()
        queue = deque(ranges)
        # Objects alive now (modules, the tokenizer) move out of the collector's reach, so forked workers do not
        # copy the pages holding them just to scan them: their memory stays shared.
        gc.freeze()
        pool = ProcessPoolExecutor(self.workers, mp_context=_process_context())
        try:
            while queue or pending:
                while queue and len(pending) < 2 * self.workers and not self.cancelled:
                    start, end = queue.popleft()
                    pending.append((pool.submit(analyze_range, path, start, end, run.data_file, tokenizer), end))
                if self.cancelled or not pending:
                    return
                future, end = pending.popleft()
                chunk = future.result()
                line_offset = run.stats.lines
                yield from run.merge_findings(chunk, line_offset)
                yield from run.merge_examples(chunk, line_offset)
                yield Progress(file=run.data_file, bytes_read=end, bytes_total=run.info.size)
        finally:
            pool.shutdown(wait=not self.cancelled, cancel_futures=True)
            gc.unfreeze()

    def _file_level_findings(self, runs: list[_FileRun]) -> Iterator[Finding]:
        if self.cancelled or not runs:
            return
        training = runs[0]
        card = self.target.card
        examples = training.stats.examples
        if training.stats.lines > training.stats.blank_lines and examples < self.target.min_examples:
            who = "OpenAI and Azure require" if card.is_cloud else "training needs"
            yield from training.emit_new(
                Code.TOO_FEW_EXAMPLES,
                f"Only {plural(examples, 'valid training example')}; {who} at least {self.target.min_examples}. "
                "Add more examples.",
            )
        elif 0 < examples < RECOMMENDED_MIN_EXAMPLES:
            yield from training.emit_new(
                Code.FEW_EXAMPLES,
                f"{plural(examples, 'training example')}. Fine-tuning usually shows clear improvement from 50-100 "
                "well-chosen examples.",
            )
        if training.format is DataFormat.PREFERENCE and Method.DPO not in card.methods:
            yield from training.emit_new(
                Code.METHOD_NOT_SUPPORTED,
                f"This is preference (DPO) data, but {card.id} does not support DPO fine-tuning. "
                "Choose a model that does, or use chat examples for supervised fine-tuning.",
            )
        if len(runs) > 1 and runs[1].format not in (None, training.format):
            yield from runs[1].emit_new(
                Code.MIXED_FORMAT,
                f"The validation file holds {runs[1].format} examples but the training file holds "
                f"{training.format} examples. Use the same format in both.",
            )

    def _report(self, runs: list[_FileRun], counter: TokenCounter, tally: _Tally) -> ValidationReport:
        card = self.target.card
        training = runs[0] if runs else None
        training_stats = training.stats if training else FileStats(path=str(self.training))
        n_epochs = self.n_epochs or auto_epochs(training_stats.examples)
        tokens = training.token_counts if training else array("I")
        billable = billable_tokens(tokens, n_epochs, card.training_context_limit)
        price = card.training_price_per_1m_tokens
        for run in runs:
            run.stats.finding_counts = dict(run.file_codes)  # file-level findings come after finish()
        findings = sorted(tally.kept, key=lambda f: (f.file is not DataFile.TRAINING, f.line or 0))
        return ValidationReport(
            model=card.id,
            tokenizer=TokenizerInfo(name=counter.name, exact=counter.exact, note=counter.note),
            training_context_limit=card.training_context_limit,
            training=training_stats,
            validation=runs[1].stats if len(runs) > 1 else None,
            n_epochs=n_epochs,
            n_epochs_auto=self.n_epochs is None,
            billable_tokens=billable,
            estimated_cost_usd=None if price is None else round(billable / 1e6 * price, 2),
            findings=findings,
            findings_not_listed=tally.errors + tally.warnings - len(findings),
            errors=tally.errors,
            warnings=tally.warnings,
            cancelled=self.cancelled,
        )


def validate_to_report(
    training: Path,
    validation: Path | None = None,
    *,
    model: str | ModelCard | None = None,
    n_epochs: int | None = None,
    workers: int | None = None,
) -> ValidationReport:
    """Run a validation to the end and return its report."""
    report: ValidationReport | None = None
    for event in Validation(training, validation, model=model, n_epochs=n_epochs, workers=workers).events():
        if isinstance(event, ValidationReport):
            report = event
    assert report is not None
    return report


__all__ = [
    "Distribution",
    "FileStats",
    "Target",
    "Validation",
    "ValidationEvent",
    "ValidationReport",
    "validate_to_report",
]
