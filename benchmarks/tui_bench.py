"""How quickly the wizard answers: cold start to the first interactive screen, and keystroke-to-screen latency
while a job streams on the dashboard. Both run on a real pseudo-terminal, against a bare Textual app measured in
the same run as the baseline.

    python benchmarks/tui_bench.py [--runs 5] [--keys 20]

Cold start: from process launch until the first screen's content is on the terminal (ftui: the model catalog).
Keystroke: F1 until the help text is on the terminal, on the dashboard of a running job (polled every 0.5 s, four
times as often as by default, and then at the default 2 s) and on the bare app while the same job trains in the
local engine; the bare app is also measured on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# The pty driver is shared with the tests that open the wizard on a real terminal.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ptyterm import PtyProgram

F1, F3, ENTER, ESCAPE = b"\x1bOP", b"\x1bOR", b"\r", b"\x1b"
FAST_POLL_SECONDS = 0.5

BASELINE_APP = textwrap.dedent(
    """
    from textual.app import App
    from textual.screen import ModalScreen
    from textual.widgets import DataTable, Footer, Markdown, Static


    class Help(ModalScreen):
        BINDINGS = [("escape", "dismiss", "Close")]

        def compose(self):
            yield Markdown("# Help\\n\\nEsc or F1 closes this help.")


    class Baseline(App):
        BINDINGS = [("f1", "help", "Help")]

        def compose(self):
            yield Static("baseline")
            table = DataTable()
            table.add_columns("model", "context")
            table.add_row("SmolLM2-135M-Instruct", "8192")
            yield table
            yield Footer()

        def action_help(self):
            self.push_screen(Help())


    Baseline().run()
    """
)


def isolated_env(root: Path) -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
    env["FTUI_HOME"] = str(root / "home")
    env["FTUI_CONFIG"] = str(root / "config.toml")
    env.setdefault("FTUI_MODELS_DIR", str(root / "models"))
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "NO_COLOR"):
        env.pop(name, None)
    return env


def with_env(env: dict[str, str]):
    """Apply ``env``'s FTUI_* variables to this process, for the engine and client calls made from here."""
    for name in ("FTUI_HOME", "FTUI_CONFIG", "FTUI_MODELS_DIR"):
        os.environ[name] = env[name]


def time_start(argv: list[str], env: dict[str, str], cwd: Path, marker: str) -> float:
    program = PtyProgram(argv, env, cwd)
    try:
        program.wait_for(marker, timeout=60)
        return time.perf_counter() - program.started
    finally:
        program.close()


def cold_start(runs: int, root: Path, env: dict[str, str]) -> tuple[list[float], list[float]]:
    from ftui.engine import server

    baseline_script = root / "baseline_app.py"
    baseline_script.write_text(BASELINE_APP)
    baseline, ftui = [], []
    for _ in range(runs):
        baseline.append(time_start([sys.executable, str(baseline_script)], env, root, "SmolLM2-135M-Instruct"))
        ftui.append(time_start([sys.executable, "-m", "ftui"], env, root, "SmolLM2"))
        server.stop()  # the wizard leaves the engine running for its jobs; each run starts cold
    return baseline, ftui


def start_streaming_job(env: dict[str, str]) -> str:
    """A long job on the tiny model, so the dashboard has metrics and events arriving during the measurement."""
    from ftui.client import Backend
    from ftui.config import load_settings
    from ftui.dataset.fixes import sample_files
    from ftui.engine import models

    models.ensure_tiny_model()
    backend = Backend.from_profile(load_settings().active_profile())
    training, _ = sample_files()
    uploaded = backend.upload_file(training)
    backend.wait_until_processed(uploaded.id)
    job = backend.create_job(
        {
            "model": models.TINY_ID,
            "training_file": uploaded.id,
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}}},
        }
    )
    deadline = time.monotonic() + 120
    while backend.retrieve_job(job.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    return job.id


def ftui_keystrokes(count: int, root: Path, env: dict[str, str], job_id: str, poll_seconds: float) -> list[float]:
    from ftui.config import Settings, save_settings

    save_settings(Settings(poll_seconds=poll_seconds))
    program = PtyProgram([sys.executable, "-m", "ftui"], env, root)
    try:
        program.wait_for("SmolLM2", timeout=60)
        program.wait_for(job_id, since=program.send(F3), timeout=30)
        program.send(ENTER)
        program.drain(quiet=1.5)
        return help_keystrokes(program, count)
    finally:
        program.close()


def baseline_keystrokes(count: int, root: Path, env: dict[str, str]) -> list[float]:
    program = PtyProgram([sys.executable, str(root / "baseline_app.py")], env, root)
    try:
        program.wait_for("SmolLM2", timeout=60)
        return help_keystrokes(program, count)
    finally:
        program.close()


def help_keystrokes(program: PtyProgram, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        offset = program.send(F1)
        samples.append(program.wait_for("closes this help", since=offset, timeout=10))
        program.send(ESCAPE)
        program.drain(quiet=0.4)
    return samples


def keystrokes_under_training(
    count: int, root: Path, env: dict[str, str]
) -> tuple[list[float], list[float], list[float]]:
    """Both apps are measured while the same job trains, so they compete with it for the CPU alike. ftui is
    measured polling every 0.5 s (the most often its settings allow), then at its default interval."""
    from ftui.client import Backend
    from ftui.config import Settings, load_settings

    backend = Backend.from_profile(load_settings().active_profile())
    job_id = start_streaming_job(env)
    try:
        baseline = baseline_keystrokes(count, root, env)
        ftui_often = ftui_keystrokes(count, root, env, job_id, FAST_POLL_SECONDS)
        ftui_default = ftui_keystrokes(count, root, env, job_id, Settings().poll_seconds)
        status = backend.retrieve_job(job_id).status
        if status != "running":
            raise SystemExit(f"the job stopped during the measurement ({status}); the figures would be unfair")
    finally:
        backend.cancel_job(job_id)
    return baseline, ftui_often, ftui_default


def describe(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) >= 2 else ms[0]
    return f"{label:<28} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   max {max(ms):7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each app")
    parser.add_argument("--keys", type=int, default=20, help="keystrokes measured on each app")
    args = parser.parse_args()

    from ftui.config import Settings, save_settings
    from ftui.engine import server

    with tempfile.TemporaryDirectory(prefix="ftui-tui-bench-") as folder:
        root = Path(folder)
        env = isolated_env(root)
        with_env(env)
        save_settings(Settings(poll_seconds=FAST_POLL_SECONDS))
        try:
            base_start, ftui_start = cold_start(args.runs, root, env)
            idle_keys = baseline_keystrokes(args.keys, root, env)
            base_keys, ftui_keys, ftui_default_keys = keystrokes_under_training(args.keys, root, env)
        finally:
            server.stop()

    print(f"cold start to the first interactive screen ({args.runs} runs, 80x24 pty)")
    print(describe("bare Textual app", base_start))
    print(describe("ftui (model catalog)", ftui_start))
    print(f"ratio ftui / baseline (median): {statistics.median(ftui_start) / statistics.median(base_start):.2f}x")
    print(f"\nkeystroke to screen, F1 opens help ({args.keys} keys)")
    print(describe("bare Textual app, idle", idle_keys))
    print(describe("bare Textual app, training", base_keys))
    print(describe("ftui dashboard, 0.5 s polls", ftui_keys))
    print(describe("ftui dashboard, 2 s polls", ftui_default_keys))
    print(
        f"ratio ftui / baseline (median, 0.5 s polls): {statistics.median(ftui_keys) / statistics.median(base_keys):.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
