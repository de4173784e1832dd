"""Drive a terminal program through a real pseudo-terminal and time how long the screen takes to show things.

Used by the TUI benchmark: what it measures is what an operator sees, bytes on a terminal, not a test harness.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path

# Escape sequences (CSI, OSC, single-character) are removed before searching the output for text.
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b[=>78]")


class PtyProgram:
    """A program running on its own pty of a fixed size; output is collected as it arrives."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path, size: tuple[int, int] = (80, 24)) -> None:
        self.master, slave = pty.openpty()
        columns, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.output = bytearray()

    def _read_available(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        self.output.extend(chunk)
        return bool(chunk)

    def text_since(self, offset: int) -> str:
        return _ESCAPES.sub(b"", bytes(self.output[offset:])).decode("utf-8", "replace")

    def wait_for(self, marker: str, *, since: int = 0, timeout: float = 30.0) -> float:
        """Seconds from now until ``marker`` appears in the output after byte ``since``."""
        start = time.perf_counter()
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if marker in self.text_since(since):
                return time.perf_counter() - start
            if self.process.poll() is not None:
                break
            self._read_available(0.005)
        tail = self.text_since(max(0, len(self.output) - 2000))
        raise TimeoutError(f"{marker!r} did not appear within {timeout} s; last output: {tail[-500:]!r}")

    def drain(self, quiet: float = 0.3, limit: float = 5.0) -> None:
        """Read until the program has been quiet for ``quiet`` seconds (or ``limit`` passes)."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline and self._read_available(quiet):
            pass

    def send(self, keys: bytes) -> int:
        """Write keys to the program; returns the output offset to search from for their effect."""
        offset = len(self.output)
        os.write(self.master, keys)
        return offset

    def wait_exit(self, timeout: float = 20.0) -> int:
        """The program's exit status, reading its output meanwhile: a terminal that stops reading blocks the
        program's next write, and a program blocked writing cannot exit."""
        deadline = time.perf_counter() + timeout
        while self.process.poll() is None:
            if time.perf_counter() > deadline:
                raise subprocess.TimeoutExpired(self.process.args, timeout)
            self._read_available(0.05)
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.master)
