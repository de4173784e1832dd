"""Write files atomically, never over the user's input and never over an existing file unless asked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting was not asked for."""


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(path: Path, *, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse outputs that would overwrite an input (always) or an existing file (unless ``force``)."""
    for source in inputs:
        if same_file(path, source):
            raise OutputExistsError(f"{path} is an input file; ftui never modifies its input. Choose another output.")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists. Pass --force to replace it, or choose another output.")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"{path} is a directory.")


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path`` and move it into place only when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# A file's (modification time, size): enough to notice it changed; None when it cannot be read.
Signature = tuple[int, int] | None


def file_signature(path: Path) -> Signature:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
