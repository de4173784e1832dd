"""How a job's status and times read on screen, shared by the jobs list and the dashboard."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

from ftui.jobs import STATUS_LABELS, JobStatus

# Symbols carry the state where colour does not (NO_COLOR, monochrome terminals).
STATUS_SYMBOLS: dict[JobStatus, tuple[str, str]] = {
    JobStatus.VALIDATING: ("…", "cyan"),
    JobStatus.UNKNOWN: ("?", ""),
    JobStatus.QUEUED: ("…", "cyan"),
    JobStatus.RUNNING: ("●", "yellow"),
    JobStatus.PAUSING: ("‖", "yellow"),
    JobStatus.PAUSED: ("‖", "yellow"),
    JobStatus.RESUMING: ("●", "yellow"),
    JobStatus.SUCCEEDED: ("✓", "green"),
    JobStatus.FAILED: ("✗", "red"),
    JobStatus.CANCELLED: ("⊘", "magenta"),
}


def status_text(status: JobStatus) -> Text:
    """The status as "<symbol> <label>", coloured as well where colour is available."""
    symbol, colour = STATUS_SYMBOLS.get(status, ("●", ""))
    return Text(f"{symbol} {STATUS_LABELS[status]}", style=colour)


def format_time(timestamp: float | None, tz: tzinfo | None = None) -> str:
    """A Unix time as "YYYY-MM-DD HH:MM" in ``tz`` (None: this computer's local time)."""
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, tz).astimezone(tz).strftime("%Y-%m-%d %H:%M")
