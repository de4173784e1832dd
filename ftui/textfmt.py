"""Small helpers for messages people read."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 line', '2 lines', '1,024 examples'."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def line_list(numbers: list[int], limit: int = 12) -> str:
    """'line 7' or 'lines 7, 12 and 3 more'."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{'line' if len(numbers) == 1 else 'lines'} {shown}{more}"
