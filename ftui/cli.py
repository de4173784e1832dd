"""The ``ftui`` command. No arguments opens the wizard; subcommands serve scripts and CI.

Exit codes: 0 success (warnings allowed), 1 the data has errors, 2 a usage, I/O or backend problem, 130 interrupted.
``ftui jobs watch`` ends with the job: 0 succeeded, 1 failed, 3 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ftui import __version__
from ftui.jobs import (
    STATUS_LABELS,
    TERMINAL,
    JobStatus,
    JobTracker,
    backoff_seconds,
    format_duration,
    format_event_line,
    format_timestamp,
)

if TYPE_CHECKING:
    from ftui.client import Backend
    from ftui.config import Profile, Settings

T = TypeVar("T")

EXIT_OK = 0
EXIT_DATA_ERRORS = 1
EXIT_USAGE = 2
EXIT_JOB_FAILED = 1
EXIT_JOB_CANCELLED = 3
EXIT_INTERRUPTED = 130
WATCH_EPILOG = """\
Prints each new event (local time, level, message) as it arrives, then a summary line when the job ends.
With --json: one JSON object per line, each event ("object": "fine_tuning.job.event"), then the job
("object": "fine_tuning.job").

When the backend stops answering, "reconnecting in Ns" goes to stderr and polling resumes when it answers
(waits of 1, 2, 4 ... up to 30 s). A backend that cannot be reached at the start is an error.

exit status:
  0    the job succeeded
  1    the job failed
  3    the job was cancelled
  2    a usage problem, or the backend refused (unknown job id, wrong key ...)
  130  interrupted (Ctrl-C)
"""


class UsageProblem(Exception):
    """A problem with the command line or the files it names; printed without a traceback, exit 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 3600 seconds")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1, for example 0.1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one plain line (exit 2) rather than the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}. Run '{self.prog} --help' for usage.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ftui",
        description="A terminal wizard for fine-tuning language models. Run without arguments to open the wizard.",
    )
    parser.add_argument("--version", action="version", version=f"ftui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a training file (and a validation file) before upload")
    validate.add_argument("training", type=Path, metavar="TRAIN.jsonl")
    validate.add_argument("--validation", type=Path, metavar="VAL.jsonl", help="validation file to check as well")
    validate.add_argument("--model", help="target model (default: the local engine's base model)")
    validate.add_argument(
        "--n-epochs", type=_positive_int, help="epochs for the billable-token estimate (default: auto)"
    )
    validate.add_argument("--json", action="store_true", help="print the full report as JSON")
    validate.add_argument("--workers", type=_positive_int, help="worker processes for large files (default: cores)")
    validate.set_defaults(handler=_run_validate)

    data = commands.add_parser("data", help="write fixed copies of a dataset").add_subparsers(
        dest="data_command", metavar="ACTION", required=True
    )
    split = data.add_parser("split", help="split off a validation set into new files")
    split.add_argument("training", type=Path, metavar="TRAIN.jsonl")
    split.add_argument("--validation-fraction", type=_fraction, required=True, metavar="F")
    split.add_argument("--seed", type=int, help="random seed; the same seed gives the same split (default: random)")
    split.add_argument("--train-out", type=Path, help="default: TRAIN.train.jsonl beside the input")
    split.add_argument("--validation-out", type=Path, help="default: TRAIN.validation.jsonl beside the input")
    split.add_argument("--force", action="store_true", help="replace output files that exist")
    split.set_defaults(handler=_run_split)

    clean = data.add_parser("clean", help="drop invalid lines and duplicates, redact sensitive data")
    clean.add_argument("training", type=Path, metavar="TRAIN.jsonl")
    clean.add_argument("--out", type=Path, help="default: TRAIN.clean.jsonl beside the input")
    clean.add_argument("--model", help="also drop examples over this model's per-example token limit")
    clean.add_argument("--keep-duplicates", action="store_true")
    clean.add_argument("--no-redact", action="store_true", help="keep sensitive data as it is")
    clean.add_argument("--force", action="store_true", help="replace the output file if it exists")
    clean.set_defaults(handler=_run_clean)

    sample = data.add_parser("sample", help="copy the bundled customer-support sample dataset")
    sample.add_argument("--out", type=Path, default=Path("."), help="folder to copy into (default: here)")
    sample.add_argument("--force", action="store_true")
    sample.set_defaults(handler=_run_sample)

    engine = commands.add_parser("engine", help="the local fine-tuning engine").add_subparsers(
        dest="engine_command", metavar="ACTION", required=True
    )
    serve = engine.add_parser("serve", help="run the engine in the foreground (127.0.0.1 only)")
    serve.add_argument("--port", type=_positive_int, help="port to listen on (default: 8470, or a free one)")
    serve.set_defaults(handler=_run_engine_serve)
    engine.add_parser("start", help="start the engine in the background").set_defaults(handler=_run_engine_start)
    engine.add_parser("status", help="address, model cache and running job").set_defaults(handler=_run_engine_status)
    engine.add_parser("stop", help="stop the running engine").set_defaults(handler=_run_engine_stop)
    engine.add_parser(
        "env", help="print OPENAI_BASE_URL and OPENAI_API_KEY exports for the running engine"
    ).set_defaults(handler=_run_engine_env)
    register = engine.add_parser("register", help="make a causal LM from the local Hugging Face cache trainable")
    register.add_argument("repo_id", help="e.g. HuggingFaceTB/SmolLM2-360M-Instruct (must already be downloaded)")
    register.set_defaults(handler=_run_engine_register)

    _add_jobs_commands(commands)

    catalog = commands.add_parser("catalog", help="the models ftui knows").add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True
    )
    listing = catalog.add_parser("list", help="list models, filtered")
    listing.add_argument("--task", help="e.g. chat-completion, text-classification, translation")
    listing.add_argument("--method", help="supervised, dpo or reinforcement")
    listing.add_argument("--provider", help="openai, azure, foundry or local")
    listing.add_argument("--search", default="", help="words to look for")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_run_catalog_list)
    show = catalog.add_parser("show", help="a model card")
    show.add_argument("model")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_run_catalog_show)
    return parser


def _add_jobs_commands(commands: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", metavar="NAME", help="backend profile to use (default: the active profile)")
    jobs = commands.add_parser("jobs", help="fine-tuning jobs on a backend, for scripts").add_subparsers(
        dest="jobs_command", metavar="ACTION", required=True
    )
    listing = jobs.add_parser("list", parents=[common], help="recent jobs: status, model, progress, fine-tuned model")
    listing.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="how many jobs, newest first (default: 20)"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list of jobs")
    listing.set_defaults(handler=_run_jobs_list)
    watch = jobs.add_parser(
        "watch",
        parents=[common],
        help="print a job's events as they come, until it ends",
        epilog=WATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watch.add_argument("job_id", metavar="ID", help="the job's id, as 'ftui jobs list' shows it")
    watch.add_argument(
        "--interval", type=_seconds, metavar="S", help="seconds between polls (default: the settings' poll interval)"
    )
    watch.add_argument("--json", action="store_true", help="one JSON object per line: each event, then the job")
    watch.set_defaults(handler=_run_jobs_watch)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        return _open_wizard(parser)
    try:
        return handler(args)
    except UsageProblem as exc:
        print(f"ftui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ftui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _open_wizard(parser: argparse.ArgumentParser) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        parser.print_help()
        print("\nThe wizard needs a terminal; the commands above work from scripts.", file=sys.stderr)
        return EXIT_USAGE
    from ftui.tui.app import make_app

    make_app().run()
    return EXIT_OK


def _card(name: str | None):
    from ftui.catalog import load_catalog

    if name is None:
        return None
    card = load_catalog().get(name)
    if card is None:
        raise UsageProblem(f"unknown model {name!r}. 'ftui catalog list' shows the models ftui knows.")
    return card


def _run_validate(args: argparse.Namespace) -> int:
    from ftui.dataset.reader import DatasetFileError
    from ftui.dataset.validator import Validation, ValidationReport
    from ftui.report import render_report

    card = _card(args.model)
    try:
        validation = Validation(
            args.training, args.validation, model=card, n_epochs=args.n_epochs, workers=args.workers
        )
        report = next(event for event in validation.events() if isinstance(event, ValidationReport))
    except DatasetFileError as exc:
        raise UsageProblem(str(exc)) from None
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_report(report))
    return EXIT_OK if report.ok else EXIT_DATA_ERRORS


def _run_split(args: argparse.Namespace) -> int:
    from ftui.dataset.fixes import split_dataset

    result = _guarded(
        lambda: split_dataset(
            args.training,
            validation_fraction=args.validation_fraction,
            seed=args.seed,
            training_out=args.train_out,
            validation_out=args.validation_out,
            force=args.force,
        )
    )
    print(result.summary())
    return EXIT_OK


def _run_clean(args: argparse.Namespace) -> int:
    from ftui.dataset.fixes import clean_dataset

    card = _card(args.model)
    result = _guarded(
        lambda: clean_dataset(
            args.training,
            output=args.out,
            model=card,
            redact=not args.no_redact,
            deduplicate=not args.keep_duplicates,
            force=args.force,
        )
    )
    print(result.summary())
    return EXIT_OK


def _run_sample(args: argparse.Namespace) -> int:
    from ftui.dataset.fixes import copy_sample

    training, validation = _guarded(lambda: copy_sample(args.out, force=args.force))
    print(f"Wrote {training} and {validation}.\nTry: ftui validate {training} --validation {validation}")
    return EXIT_OK


def _guarded(action: Callable[[], T]) -> T:
    """Run a file-writing action; turn expected failures into a usage problem with a plain message."""
    from ftui.dataset.reader import DatasetFileError

    try:
        return action()
    except (DatasetFileError, FileExistsError, ValueError) as exc:
        raise UsageProblem(str(exc)) from None
    except OSError as exc:
        raise UsageProblem(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None


def _run_catalog_list(args: argparse.Namespace) -> int:
    from ftui.catalog import Method, Provider, Task, load_catalog

    def choice(enum, value):
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            raise UsageProblem(f"{value!r} is not one of: {', '.join(e.value for e in enum)}") from None

    cards = load_catalog().filter(
        task=choice(Task, args.task),
        method=choice(Method, args.method),
        provider=choice(Provider, args.provider),
        text=args.search,
    )
    if args.json:
        import orjson

        print(orjson.dumps([c.model_dump(mode="json") for c in cards], option=orjson.OPT_INDENT_2).decode())
        return EXIT_OK
    for card in cards:
        methods = "/".join(card.methods)
        providers = ",".join(card.providers)
        print(f"{card.id:<32} {providers:<14} {methods:<22} {', '.join(card.tasks)}")
    if not cards:
        print("No model matches those filters.")
    return EXIT_OK


def _run_catalog_show(args: argparse.Namespace) -> int:
    from ftui.report import render_card

    card = _card(args.model)
    if args.json:
        print(card.model_dump_json(indent=2))
    else:
        print(render_card(card))
    return EXIT_OK


def _run_engine_serve(args: argparse.Namespace) -> int:
    from ftui.engine import server

    return server.serve(args.port)


def _run_engine_start(args: argparse.Namespace) -> int:
    from ftui.client import BackendUnavailable, ensure_local_engine

    try:
        engine = ensure_local_engine()
    except BackendUnavailable as exc:
        raise UsageProblem(str(exc)) from None
    print(f"The local engine runs at {engine.base_url} (pid {engine.pid}).")
    return EXIT_OK


def _run_engine_status(args: argparse.Namespace) -> int:
    from ftui.engine import models, paths, server

    state = server.running_engine()
    print(f"data folder   {paths.engine_dir()}")
    print(f"model cache   {models.models_dir()}")
    for info in models.available_base_models():
        print(f"  {info.id:<28} {'ready' if info.prepared else 'prepared on first use'}")
    if state is None:
        print("engine        not running (start it with 'ftui engine start', or let the wizard start it)")
        return 3
    print(f"engine        running at {state.base_url} (pid {state.pid}, version {state.version})")
    from ftui.client import local_client

    jobs = local_client(start=False).fine_tuning.jobs.list(limit=20).data
    active = [job for job in jobs if job.status in ("running", "pausing", "queued")]
    if not active:
        print("jobs          none running")
    for job in active:
        print(f"job           {job.id} {job.status} ({job.model})")
    return EXIT_OK


def _run_engine_stop(args: argparse.Namespace) -> int:
    from ftui.engine import server

    print("Stopped the local engine." if server.stop() else "No local engine was running.")
    return EXIT_OK


def _run_engine_env(args: argparse.Namespace) -> int:
    import shlex

    from ftui.engine import paths, server

    state = server.running_engine()
    token = paths.read_token()
    if state is None or token is None:
        raise UsageProblem("the local engine is not running; start it with 'ftui engine start'")
    print(f"export OPENAI_BASE_URL={shlex.quote(state.base_url)}")
    print(f"export OPENAI_API_KEY={shlex.quote(token)}")
    return EXIT_OK


def _run_engine_register(args: argparse.Namespace) -> int:
    from ftui.engine import models

    try:
        info = models.register_hf_model(args.repo_id)
    except models.ModelUnavailable as exc:
        raise UsageProblem(str(exc)) from None
    print(f"Registered {info.id}: the local engine can now fine-tune it (context {info.context_length} tokens).")
    return EXIT_OK


# --- jobs ------------------------------------------------------------------------------------------------------------


def _settings_and_profile(name: str | None) -> tuple[Settings, Profile]:
    from ftui.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    profile = settings.get(name) if name else settings.active_profile()
    if profile is None:
        known = ", ".join(p.name for p in settings.profiles)
        raise UsageProblem(f"no profile named {name!r}; the profiles are: {known}")
    return settings, profile


def _job_record(job: Any) -> dict[str, Any]:
    """One job as JSON with the same keys every time; ``status`` is ftui's word for all backends."""
    tracker = JobTracker(job.id)
    tracker.update_job(job)
    return {
        "id": job.id,
        "status": tracker.status.value,
        "service_status": tracker.raw_status,
        "model": tracker.model,
        "created_at": tracker.created_at,
        "finished_at": tracker.finished_at,
        "estimated_finish": tracker.estimated_finish,
        "trained_tokens": tracker.trained_tokens,
        "fine_tuned_model": tracker.fine_tuned_model,
        "error": tracker.error_message,
    }


def _progress_text(record: dict[str, Any], now: float) -> str:
    tokens = f"{record['trained_tokens']:,} tokens" if record["trained_tokens"] else ""
    if record["status"] == "succeeded":
        return tokens or "done"
    if record["estimated_finish"] and record["status"] == "running":
        return " ".join(filter(None, [f"ETA {format_duration(record['estimated_finish'] - now)}", tokens]))
    return tokens or "—"


def _jobs_table(records: list[dict[str, Any]]) -> str:
    now = time.time()
    header = ("ID", "STATUS", "MODEL", "CREATED", "PROGRESS", "FINE-TUNED MODEL")
    rows = [
        (
            r["id"],
            STATUS_LABELS[JobStatus(r["status"])],
            r["model"] or "—",
            format_timestamp(r["created_at"])[:16],
            _progress_text(r, now),
            r["fine_tuned_model"] or "—",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
    )


def _run_jobs_list(args: argparse.Namespace) -> int:
    from ftui.client import Backend, BackendError

    _, profile = _settings_and_profile(args.profile)
    try:
        backend = Backend.from_profile(profile)
        records = [_job_record(job) for job in backend.list_jobs(args.limit)]
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None
    if args.json:
        import orjson

        print(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
    elif records:
        print(_jobs_table(records))
    else:
        print(f"No fine-tuning jobs at {backend.label}.")
    return EXIT_OK


def _run_jobs_watch(args: argparse.Namespace) -> int:
    settings, profile = _settings_and_profile(args.profile)
    return _JobWatch(profile, args.job_id, as_json=args.json, interval=args.interval or settings.poll_seconds).run()


def _reconnect_delays() -> Iterator[float]:
    attempt = 1
    while True:
        yield backoff_seconds(attempt)
        attempt += 1


class _JobWatch:
    """Polls one job and its events in a plain loop (no call overlaps the next) until the job ends."""

    def __init__(self, profile: Profile, job_id: str, *, as_json: bool, interval: float) -> None:
        self.profile = profile
        self.tracker = JobTracker(job_id)
        self.as_json = as_json
        self.interval = interval
        self.backend: Backend | None = None
        self.job: Any = None  # the last FineTuningJob seen
        self.answered = False

    def run(self) -> int:
        from ftui.client import BackendError, ErrorKind

        transient = {ErrorKind.NETWORK, ErrorKind.TIMEOUT, ErrorKind.SERVER, ErrorKind.RATE_LIMIT}
        delays = _reconnect_delays()
        while True:
            try:
                self.poll()
            except BackendError as exc:
                if not self.answered or exc.kind not in transient:
                    raise UsageProblem(str(exc)) from None
                self.backend = None  # rebuilt on the next try: a restarted local engine may have a new address
                delay = next(delays)
                print(f"ftui: {exc.message.rstrip('.')} — reconnecting in {delay:.0f}s…", file=sys.stderr, flush=True)
                time.sleep(delay)
                continue
            delays = _reconnect_delays()
            if self.tracker.status in TERMINAL:
                return self.finish()
            time.sleep(self.interval)

    def poll(self) -> None:
        from ftui.client import Backend

        if self.backend is None:
            # Only the first connection may start the local engine; later ones wait for it to come back.
            self.backend = Backend.from_profile(self.profile, start_local=not self.answered, max_retries=0)
        # The job before its events: when the job is seen finished, every event before that is already listed.
        self.job = self.backend.retrieve_job(self.tracker.job_id)
        self.answered = True
        self.tracker.update_job(self.job)
        self.emit_events()

    def emit_events(self) -> None:
        assert self.backend is not None
        events = self.backend.job_events_after(self.tracker.job_id, self.tracker.last_event_id)
        for line in self.tracker.add_events(events):
            if self.as_json:
                self.print_json({"object": "fine_tuning.job.event", **dataclasses.asdict(line)})
            else:
                print(format_event_line(line), flush=True)

    def finish(self) -> int:
        from ftui.client import BackendError

        # A backend may write its closing events just after the final status.
        time.sleep(min(self.interval, 1.0))
        with contextlib.suppress(BackendError):
            self.emit_events()
        tracker = self.tracker
        if self.as_json:
            progress = {"step": tracker.step, "total_steps": tracker.total_steps, "progress": tracker.progress}
            self.print_json({"object": "fine_tuning.job", **_job_record(self.job), **progress})
        else:
            print(tracker.summary_line(), flush=True)
        return {JobStatus.SUCCEEDED: EXIT_OK, JobStatus.CANCELLED: EXIT_JOB_CANCELLED}.get(
            tracker.status, EXIT_JOB_FAILED
        )

    def print_json(self, item: dict[str, Any]) -> None:
        import orjson

        print(orjson.dumps(item).decode(), flush=True)
