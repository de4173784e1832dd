"""Check and count a run of lines; the unit of work the validator runs in-process or on worker processes.

A ``Chunk`` carries everything the validator needs from those lines in a compact, picklable form: findings
(with line numbers relative to the chunk), and per-example figures in packed arrays.
"""

from __future__ import annotations

import gc
from array import array
from collections import Counter
from dataclasses import dataclass, field
from hashlib import blake2b

from ftui.dataset.findings import MAX_FINDINGS_PER_CODE, Code, DataFile, Finding, severity_of
from ftui.dataset.line_rules import DataFormat, ExampleFacts, count_example_tokens, inspect_line
from ftui.dataset.reader import MAX_LINE_BYTES
from ftui.dataset.tokens import CountMemo, TokenCounter, load_counter
from ftui.textfmt import format_size

FORMAT_CODE = {DataFormat.CHAT: ord("c"), DataFormat.PREFERENCE: ord("p")}
FORMAT_OF_CODE = {code: fmt for fmt, code in FORMAT_CODE.items()}


def text_digest(text: str) -> int:
    """A stable 64-bit digest (the same in every process, unlike hash())."""
    return int.from_bytes(blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


@dataclass(slots=True)
class Chunk:
    lines: int = 0
    findings: list[Finding] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # findings counted but not sent, by code
    invalid_lines: int = 0
    blank_lines: int = 0
    # One entry per valid example, in line order.
    example_lines: array[int] = field(default_factory=lambda: array("I"))
    example_formats: bytearray = field(default_factory=bytearray)
    example_keys: array[int] = field(default_factory=lambda: array("Q"))
    message_counts: array[int] = field(default_factory=lambda: array("I"))
    token_counts: array[int] = field(default_factory=lambda: array("I"))
    trainable_counts: array[int] = field(default_factory=lambda: array("I"))
    role_counts: Counter[str] = field(default_factory=Counter)
    weight_zero_turns: int = 0
    multi_turn_examples: int = 0
    system_prompts: set[int] = field(default_factory=set)

    def add_finding(self, item: Finding, per_code: Counter[str]) -> None:
        per_code[item.code] += 1
        # The report's own per-code limit: so the listed findings are the same whatever the number of workers.
        if per_code[item.code] > MAX_FINDINGS_PER_CODE:
            self.dropped[item.code] += 1
        else:
            self.findings.append(item)


def _line_too_long(line: int, size: int, data_file: DataFile) -> Finding:
    return Finding(
        code=Code.LINE_TOO_LONG,
        severity=severity_of(Code.LINE_TOO_LONG),
        file=data_file,
        line=line,
        message=f"The line is {format_size(size)} long, more than the {format_size(MAX_LINE_BYTES)} ftui reads "
        "as one example (a training example is at most a few hundred KB). It was skipped. "
        "Check that the file has one JSON object per line.",
    )


def _blank_line(line: int, data_file: DataFile) -> Finding:
    return Finding(
        code=Code.BLANK_LINE,
        severity=severity_of(Code.BLANK_LINE),
        file=data_file,
        line=line,
        message="Blank line: it is skipped. Remove it to keep line numbers meaningful.",
    )


def inspect_lines(
    lines: list[bytes], first_line: int, data_file: DataFile, overlong: dict[int, int] | None = None
) -> tuple[Chunk, list[ExampleFacts]]:
    """Run every line rule over ``lines`` (numbered from ``first_line``); token counts are left for ``count_into``."""
    chunk = Chunk(lines=len(lines))
    per_code: Counter[str] = Counter()
    examples: list[ExampleFacts] = []
    overlong = overlong or {}
    roles: list[str] = []
    prompt_digests: dict[str, int] = {}  # system prompts repeat: each distinct one is normalised and hashed once
    for offset, raw in enumerate(lines):
        line = first_line + offset
        if line in overlong:
            chunk.invalid_lines += 1
            chunk.add_finding(_line_too_long(line, overlong[line], data_file), per_code)
            continue
        if not raw or raw.isspace():
            chunk.blank_lines += 1
            chunk.add_finding(_blank_line(line, data_file), per_code)
            continue
        result = inspect_line(raw, line, data_file)
        for item in result.findings:
            chunk.add_finding(item, per_code)
        facts = result.facts
        if facts is None:
            if result.has_error:
                chunk.invalid_lines += 1
            continue
        examples.append(facts)
        chunk.example_lines.append(line)
        chunk.example_formats.append(FORMAT_CODE[facts.format])
        chunk.example_keys.append(facts.dedupe_key)
        chunk.message_counts.append(len(facts.messages))
        roles += facts.roles
        chunk.weight_zero_turns += facts.weight_zero_turns
        if facts.assistant_turns > 1:
            chunk.multi_turn_examples += 1
        prompt = facts.system_prompt
        if prompt is not None:
            digest = prompt_digests.get(prompt)
            if digest is None:
                digest = prompt_digests[prompt] = text_digest(" ".join(prompt.split()))
            chunk.system_prompts.add(digest)
    chunk.role_counts.update(roles)
    return chunk, examples


def example_tokens(facts: ExampleFacts, counter: TokenCounter, memo: CountMemo) -> tuple[int, int]:
    """(all tokens, trainable tokens) of one example: as the local engine trains on it where ``counter`` knows the
    model's chat template, else by OpenAI's recipe."""
    if counter.count_chat is not None and facts.format is DataFormat.CHAT:
        return counter.count_chat(facts.messages)
    return count_example_tokens(facts, counter.count, memo)


def count_into(chunk: Chunk, examples: list[ExampleFacts], tokenizer: str, memo: CountMemo) -> Chunk:
    counter = load_counter(tokenizer)
    totals = chunk.token_counts
    trainables = chunk.trainable_counts
    for facts in examples:
        total, trainable = example_tokens(facts, counter, memo)
        totals.append(total)
        trainables.append(trainable)
    return chunk


_worker_memo = CountMemo()


def analyze_range(path: str, start: int, end: int, data_file: DataFile, tokenizer: str) -> Chunk:
    """Worker-process entry point: every rule and token count for the lines in bytes [start, end) of ``path``.

    ``start`` and ``end`` fall on line starts. Line numbers in the result are relative: the first line is 1.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    overlong: dict[int, int] = {}
    for index, raw in enumerate(lines):
        if len(raw) > MAX_LINE_BYTES:
            overlong[index + 1] = len(raw)
            lines[index] = b""
        elif raw.endswith(b"\r"):
            lines[index] = raw[:-1]
    # Parsed lines hold no reference cycles and a chunk is bounded, so the cycle collector has nothing to find
    # here: pausing it saves its repeated walks over the chunk's examples.
    collecting = gc.isenabled()
    gc.disable()
    try:
        chunk, examples = inspect_lines(lines, 1, data_file, overlong)
        return count_into(chunk, examples, tokenizer, _worker_memo)
    finally:
        if collecting:
            gc.enable()
