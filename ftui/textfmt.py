"""Small helpers for messages people read."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 line', '2 lines', '1,024 examples'."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def format_number(value: float | None) -> str:
    """A count or measure for a table: '1,024', '3.5', '-' when unknown."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def line_list(numbers: list[int], limit: int = 12) -> str:
    """'line 7' or 'lines 7, 12 and 3 more'."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{'line' if len(numbers) == 1 else 'lines'} {shown}{more}"


def format_size(size: int) -> str:
    """A file's size as people read it, in decimal units as OpenAI's and Azure's limits are stated: '812 bytes',
    '20.0 kB', '1.5 MB', '2.1 GB'."""
    if size < 1000:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if round(value, 1) < 1000 or unit == "GB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
