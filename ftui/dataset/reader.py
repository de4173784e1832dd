"""Stream a JSONL file as blocks of lines with bounded memory.

Handles a UTF-8 BOM, CRLF line ends, gzip-compressed files (detected by their magic bytes), lines too long to
be an example (skipped without buffering them), and files that change while they are read.
"""

from __future__ import annotations

import gzip
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE_BYTES = 16 * 1024 * 1024
FIRST_BLOCK_BYTES = 64 * 1024
BLOCK_BYTES = 1024 * 1024


class DatasetFileError(Exception):
    """The file cannot be read at all (missing, a directory, no permission...). The message says what to do."""


@dataclass(slots=True)
class Block:
    first_line: int
    lines: list[bytes]
    bytes_read: int
    # File offset just past the block's last complete line (uncompressed files only), where the next line starts.
    next_line_offset: int | None = None
    # Line numbers of lines longer than MAX_LINE_BYTES, with their sizes; their text is not in ``lines``.
    overlong: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class FileInfo:
    path: Path
    size: int
    mtime_ns: int
    compressed: bool


def open_dataset(path: Path) -> tuple[BinaryIO, FileInfo]:
    """Open ``path`` for streaming; raise DatasetFileError with a plain message when that is impossible."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: no such file. Check the path and try again.") from None
    except PermissionError:
        raise DatasetFileError(f"{path}: permission denied while looking up the file.") from None
    except OSError as exc:
        raise DatasetFileError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise DatasetFileError(f"{path} is a directory. Give the path of a .jsonl file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise DatasetFileError(f"{path} is not a regular file.")
    try:
        handle = path.open("rb")
    except PermissionError:
        raise DatasetFileError(f"{path}: permission denied. Make the file readable (chmod u+r) or copy it.") from None
    except OSError as exc:
        raise DatasetFileError(f"{path}: cannot be opened ({exc.strerror or exc}).") from None
    compressed = handle.read(2) == GZIP_MAGIC
    handle.seek(0)
    return handle, FileInfo(path=path, size=info.st_size, mtime_ns=info.st_mtime_ns, compressed=compressed)


def file_changed(info: FileInfo) -> str | None:
    """Why the file differs from when reading started, or None."""
    try:
        now = info.path.stat()
    except OSError:
        return "the file was removed or became unreadable while it was being read"
    if now.st_size != info.size:
        return f"its size changed from {info.size} to {now.st_size} bytes while it was being read"
    if now.st_mtime_ns != info.mtime_ns:
        return "it was modified while it was being read"
    return None


def iter_blocks(handle: BinaryIO, info: FileInfo) -> Iterator[Block]:
    """Blocks of complete lines (line ends and a leading BOM removed). The first block is small, for a fast first answer.

    Raises DatasetFileError if a gzip file is corrupt or the disk fails mid-read.
    """
    raw = handle
    stream: BinaryIO | gzip.GzipFile = gzip.GzipFile(fileobj=handle, mode="rb") if info.compressed else handle
    pending = b""
    skipping = 0  # bytes of an overlong line seen so far; 0 when not skipping
    line_number = 1
    first = True
    while True:
        try:
            chunk = stream.read(FIRST_BLOCK_BYTES if first else BLOCK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetFileError(f"reading stopped ({exc}); the file is corrupt or truncated") from None
        if first and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        first = False
        at_end = not chunk
        lines: list[bytes] = []
        overlong: list[tuple[int, int]] = []
        start_line = line_number
        if not at_end:
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    skipping += len(chunk)
                    chunk = b""
                else:
                    overlong.append((line_number, skipping + newline))
                    lines.append(b"")  # placeholder keeps line numbering aligned; never inspected
                    line_number += 1
                    skipping = 0
                    chunk = chunk[newline + 1 :]
            data = pending + chunk
            parts = data.split(b"\n")
            pending = parts.pop()
            for part in parts:
                if len(part) > MAX_LINE_BYTES:
                    overlong.append((line_number, len(part)))
                    lines.append(b"")  # placeholder keeps line numbering aligned; never inspected
                else:
                    lines.append(part[:-1] if part.endswith(b"\r") else part)
                line_number += 1
            if len(pending) > MAX_LINE_BYTES:
                skipping = len(pending)
                pending = b""
        else:
            if skipping:
                overlong.append((line_number, skipping))
                lines.append(b"")
                line_number += 1
                skipping = 0
            elif pending:
                lines.append(pending[:-1] if pending.endswith(b"\r") else pending)
                line_number += 1
            pending = b""
        position = raw.tell() if not raw.closed else info.size
        if lines:
            next_line = None if info.compressed or skipping else position - len(pending)
            yield Block(start_line, lines, position, next_line, overlong)
        if at_end:
            return


def read_all_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw line) for every line of a dataset file, streaming; None for a line over MAX_LINE_BYTES."""
    handle, info = open_dataset(path)
    with handle:
        for block in iter_blocks(handle, info):
            overlong = {line for line, _ in block.overlong}
            for number, raw in enumerate(block.lines, start=block.first_line):
                yield number, None if number in overlong else raw
