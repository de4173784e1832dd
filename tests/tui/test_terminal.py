"""``ftui`` with no arguments opens the wizard on a real terminal, and quits cleanly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ptyterm import PtyProgram

CTRL_Q = b"\x11"


def test_ftui_opens_the_wizard_on_a_terminal_and_quits_with_ctrl_q(configured: Path, tmp_path: Path) -> None:
    env = dict(os.environ, TERM="xterm-256color")
    program = PtyProgram([sys.executable, "-m", "ftui"], env, tmp_path, size=(80, 24))
    try:
        program.wait_for("SmolLM2", timeout=60)
        program.send(CTRL_Q)
        assert program.wait_exit(timeout=20) == 0
    finally:
        program.close()


def test_the_first_run_opens_on_setup(tui_env: Path, tmp_path: Path) -> None:
    env = dict(os.environ, TERM="xterm-256color")
    program = PtyProgram([sys.executable, "-m", "ftui"], env, tmp_path, size=(80, 24))
    try:
        program.wait_for("Local engine", timeout=60)
        program.send(CTRL_Q)
        assert program.wait_exit(timeout=20) == 0
    finally:
        program.close()
    assert not tui_env.exists(), "quitting the first-run setup writes no configuration"
