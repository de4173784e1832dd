"""Find and redact personal or secret data in training text.

Patterns run on RE2 (linear time, no backtracking blow-ups on hostile input). A cheap, looser scan over the raw
JSON line decides whether a line needs the exact per-message scan at all; most lines never do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import re2


class SensitiveKind(StrEnum):
    EMAIL = "email"
    SECRET = "secret"
    CARD_NUMBER = "card_number"
    NATIONAL_ID = "national_id"
    IP_ADDRESS = "ip_address"
    PHONE = "phone"


DESCRIPTIONS: dict[SensitiveKind, str] = {
    SensitiveKind.EMAIL: "an e-mail address",
    SensitiveKind.SECRET: "an API key or access token",
    SensitiveKind.CARD_NUMBER: "a payment card number",
    SensitiveKind.NATIONAL_ID: "a national identity number",
    SensitiveKind.IP_ADDRESS: "an IP address",
    SensitiveKind.PHONE: "a phone number",
}

KIND_NOUNS: dict[SensitiveKind, str] = {
    SensitiveKind.EMAIL: "e-mail address",
    SensitiveKind.SECRET: "API key",
    SensitiveKind.CARD_NUMBER: "card number",
    SensitiveKind.NATIONAL_ID: "national id",
    SensitiveKind.IP_ADDRESS: "IP address",
    SensitiveKind.PHONE: "phone number",
}

PLACEHOLDERS: dict[SensitiveKind, str] = {kind: f"[{kind.value.upper()}]" for kind in SensitiveKind}

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX4 = r"[0-9A-Fa-f]{1,4}"

# Order matters: earlier kinds win where spans overlap.
_PATTERNS: dict[SensitiveKind, str] = {
    SensitiveKind.EMAIL: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    SensitiveKind.SECRET: (
        r"(?:sk-(?:proj-|ant-|live_|test_)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
        r"|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}"
        r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
    ),
    SensitiveKind.NATIONAL_ID: (
        r"(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])"
    ),
    SensitiveKind.CARD_NUMBER: r"[0-9](?:[ -]?[0-9]){12,18}",
    SensitiveKind.IP_ADDRESS: (
        rf"(?:{_OCTET}(?:\.{_OCTET}){{3}}|{_HEX4}(?::{_HEX4}){{7}}|(?:{_HEX4}:){{1,6}}:(?:{_HEX4}:?){{1,6}}{_HEX4})"
    ),
    SensitiveKind.PHONE: (
        r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}"
        r"|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})"
    ),
}

# Card numbers are found as runs of digit groups, then every window of whole groups is Luhn-checked, so a card
# next to other numbers (an expiry date, a phone number) is still found.
_DIGIT_GROUPS = re2.compile(r"(?:^|[^A-Za-z0-9_])([0-9]+(?:[ -][0-9]+)*)(?:$|[^A-Za-z0-9_])")
_GROUP = re2.compile(r"[0-9]+")

# Exact patterns: whole tokens only.
_EXACT = {
    kind: re2.compile(rf"(?:^|[^A-Za-z0-9_])({pattern})(?:$|[^A-Za-z0-9_@])") for kind, pattern in _PATTERNS.items()
}
# The raw-line screen: every kind at once, no boundaries, on bytes (escapes in raw JSON may glue words together).
_SCREEN = re2.compile("|".join(f"(?:{pattern})" for pattern in _PATTERNS.values()).encode())


@dataclass(frozen=True, slots=True)
class SensitiveSpan:
    kind: SensitiveKind
    start: int
    end: int


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _only_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _plausible(kind: SensitiveKind, text: str) -> bool:
    if kind is SensitiveKind.PHONE:
        return 7 <= len(_only_digits(text)) <= 15
    if kind is SensitiveKind.NATIONAL_ID and text[0].isdigit():
        area, group, serial = text.split("-")
        return area not in {"000", "666"} and not area.startswith("9") and group != "00" and serial != "0000"
    return True


def line_may_contain_sensitive(raw_line: bytes) -> bool:
    """Cheap screen over a raw line; False means the exact scan cannot find anything."""
    return _SCREEN.search(raw_line) is not None


def _card_spans(text: str, free: Callable[[int, int], bool]) -> list[SensitiveSpan]:
    spans: list[SensitiveSpan] = []
    for run in _DIGIT_GROUPS.finditer(text):
        start = run.start(1)
        groups = [(start + g.start(), start + g.end()) for g in _GROUP.finditer(run.group(1))]
        first = 0
        while first < len(groups):
            found = None
            for last in range(len(groups) - 1, first - 1, -1):  # longest window first
                digits = _only_digits(text[groups[first][0] : groups[last][1]])
                plausible = 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_valid(digits)
                if plausible and free(groups[first][0], groups[last][1]):
                    found = last
                    break
            if found is None:
                first += 1
            else:
                spans.append(SensitiveSpan(SensitiveKind.CARD_NUMBER, groups[first][0], groups[found][1]))
                first = found + 1
    return spans


def _scan(text: str, spans: list[SensitiveSpan]) -> None:
    """Add the spans found in ``text`` that do not overlap ``spans``."""

    def free(start: int, end: int) -> bool:
        return not any(s.start < end and start < s.end for s in spans)

    for kind, pattern in _EXACT.items():
        if kind is SensitiveKind.CARD_NUMBER:
            spans.extend(_card_spans(text, free))
            continue
        position = 0
        while position < len(text):
            match = pattern.search(text, position)
            if match is None:
                break
            start, end = match.span(1)
            # Resume at the match's last character, so a separator can serve as the boundary of the next match.
            position = max(end, position + 1)
            if _plausible(kind, text[start:end]) and free(start, end):
                spans.append(SensitiveSpan(kind, start, end))


def find_sensitive(text: str) -> list[SensitiveSpan]:
    """Exact spans of sensitive data in ``text``, non-overlapping, in text order."""
    spans: list[SensitiveSpan] = []
    _scan(text, spans)
    # Items glued to one another ("a@b.com+44 20 ...") lack a boundary on the first pass; blank out what was found
    # (keeping offsets) and look again.
    for _ in range(3):
        if not spans:
            break
        masked = list(text)
        for span in spans:
            masked[span.start : span.end] = " " * (span.end - span.start)
        before = len(spans)
        _scan("".join(masked), spans)
        if len(spans) == before:
            break
    spans.sort(key=lambda s: s.start)
    return spans


def redact(text: str, spans: list[SensitiveSpan] | None = None) -> str:
    """Replace every sensitive span with a typed placeholder such as [EMAIL]."""
    found = find_sensitive(text) if spans is None else spans
    if not found:
        return text
    pieces: list[str] = []
    cursor = 0
    for span in found:
        pieces.append(text[cursor : span.start])
        pieces.append(PLACEHOLDERS[span.kind])
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


# Keys whose values are identifiers or structure, never free text: not scanned, never redacted.
STRUCTURAL_KEYS = frozenset({"role", "type", "id", "tool_call_id", "weight"})


def redact_value(value: object, counts: dict[SensitiveKind, int]) -> object:
    """A copy of a parsed JSON value with sensitive spans in its free-text strings replaced; ``counts`` is updated."""
    if isinstance(value, str):
        spans = find_sensitive(value)
        for span in spans:
            counts[span.kind] = counts.get(span.kind, 0) + 1
        return redact(value, spans) if spans else value
    if isinstance(value, list):
        return [redact_value(item, counts) for item in value]
    if isinstance(value, dict):
        return {key: item if key in STRUCTURAL_KEYS else redact_value(item, counts) for key, item in value.items()}
    return value
