"""The ``ftui`` command. No arguments opens the wizard; subcommands serve scripts and CI.

Exit codes: 0 success (warnings allowed), 1 the data has errors, 2 a usage, I/O or backend problem (unknown model,
invalid value, wrong key, missing file, refused request), 130 interrupted.
``ftui jobs create`` exits 1 when local validation finds errors in the data (nothing is uploaded then).
``ftui jobs watch`` and ``ftui jobs create --watch`` end with the job: 0 succeeded, 1 failed, 3 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
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
    normalize_status,
)

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

    from ftui.catalog import ModelCard
    from ftui.client import Backend
    from ftui.config import Profile, Settings
    from ftui.dataset.validator import ValidationReport
    from ftui.jobfile import JobFile
    from ftui.options import Auto
    from ftui.submit import Role, SubmitPlan, SubmitStatus

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

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


CREATE_EPILOG = """\
examples:
  ftui jobs create --model gpt-4.1-mini-2025-04-14 --training-file train.jsonl --validation-file val.jsonl \\
      --n-epochs 3 --suffix support --metadata team=support
  ftui jobs create --from job.toml --watch
  ftui jobs create --from job.toml --n-epochs 5 --save job-5-epochs.toml

A relative path in a job file is relative to the job file's folder; one on the command line, to the current
folder. A value of the form file-... that is not a local file is an uploaded file's id, used as it is.
Progress goes to stderr (bars on a terminal, plain lines otherwise); the result goes to stdout.

exit status:
  0    the job was created (with --watch: the job succeeded)
  1    the data has errors (nothing was uploaded); with --watch, also: the job failed
  3    with --watch: the job was cancelled
  2    a usage problem: unknown model, invalid value, wrong key, missing file, or the backend refused
  130  interrupted (Ctrl-C): the submit stops, and no job is created
"""
HYPERPARAMETER_FLAGS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
HYPERPARAMETER_HELP = {
    "n_epochs": "passes through the training data, 1-50 (default: auto)",
    "batch_size": "examples per training step, 1-256 (default: auto)",
    "learning_rate_multiplier": "a number above 0 and at most 10; try 0.02-0.2 (default: auto)",
    "beta": "DPO only: how closely the model stays near the base model, above 0 and at most 2 (default: auto)",
}
# Findings listed when 'jobs create' stops on data errors; 'ftui validate' lists them all.
LISTED_DATA_ERRORS = 10


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


def _hyperparameter(name: str) -> Callable[[str], Auto | int | float]:
    def parse(text: str) -> Auto | int | float:
        from ftui.options import Hyperparameters

        try:
            return Hyperparameters.parse_field(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc}, or auto") from None

    return parse


def _seed(text: str) -> int:
    from ftui.options import parse_seed

    try:
        seed = parse_seed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removesuffix(", or blank for a random one")) from None
    if seed is None:
        raise argparse.ArgumentTypeError("give a whole number, or leave --seed out for a random one")
    return seed


def _metadata_pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


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


def _add_jobs_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    common = _Parser(add_help=False)
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
    _add_create_command(jobs, common)

    show = jobs.add_parser(
        "show", parents=[common], help="a job's status, hyperparameters, files, checkpoints and metrics"
    )
    show.add_argument("job_id", metavar="ID", help="the job's id, as 'ftui jobs list' shows it")
    show.add_argument("--json", action="store_true", help="print the job, its checkpoints and metrics as JSON")
    show.set_defaults(handler=_run_jobs_show)
    for action, verb in (
        ("cancel", "stop a job for good"),
        ("pause", "pause a running job"),
        ("resume", "resume a paused job"),
    ):
        control = jobs.add_parser(action, parents=[common], help=verb)
        control.add_argument("job_id", metavar="ID", help="the job's id, as 'ftui jobs list' shows it")
        control.add_argument("--json", action="store_true", help="print the job as the backend returned it")
        control.set_defaults(handler=_run_jobs_control, action=action)
    results = jobs.add_parser(
        "results", parents=[common], help="download a finished job's result file (its metrics, as CSV)"
    )
    results.add_argument("job_id", metavar="ID", help="the job's id, as 'ftui jobs list' shows it")
    results.add_argument("-o", "--out", type=Path, metavar="FILE", help="where to write it (default: ID.csv here)")
    results.add_argument("--force", action="store_true", help="replace the output file if it exists")
    results.set_defaults(handler=_run_jobs_results)


def _add_create_command(jobs: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    create = jobs.add_parser(
        "create",
        parents=[common],
        help="check the data, upload it and start a fine-tuning job",
        description="Check the files locally, upload them (with progress), wait until the backend has processed "
        "them, and create the job. Flags override the job file given with --from.",
        epilog=CREATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--from", dest="job_file", type=Path, metavar="JOB.toml", help="read the job's fields from a job file"
    )
    create.add_argument("--model", help="the base model to fine-tune ('ftui catalog list' shows the known ones)")
    create.add_argument("--training-file", metavar="PATH|FILE-ID", help="a local JSONL file, or an uploaded file's id")
    create.add_argument("--validation-file", metavar="PATH|FILE-ID", help="optional; a local file or a file id")
    create.add_argument("--method", choices=("supervised", "dpo"), help="default: supervised")
    for name in HYPERPARAMETER_FLAGS:
        create.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=_hyperparameter(name),
            metavar="VALUE|auto",
            help=HYPERPARAMETER_HELP[name],
        )
    create.add_argument("--seed", type=_seed, help="default: generated, and printed so the job can be repeated")
    create.add_argument("--suffix", help="added to the fine-tuned model's name: letters, digits, - and _")
    create.add_argument(
        "--metadata",
        action="append",
        type=_metadata_pair,
        metavar="KEY=VALUE",
        help="a label stored with the job; repeat for more (at most 15)",
    )
    create.add_argument("--save", type=Path, metavar="JOB.toml", help="also write the job's fields to a job file")
    create.add_argument("--force", action="store_true", help="let --save replace a file that exists")
    create.add_argument("--json", action="store_true", help="print the created job as JSON")
    create.add_argument("--watch", action="store_true", help="then follow the job as 'ftui jobs watch' does")
    create.add_argument("--interval", type=_seconds, metavar="S", help="with --watch: seconds between polls")
    create.set_defaults(handler=_run_jobs_create)


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
    except _DataProblem as exc:
        from ftui.report import render_errors

        print(f"ftui: {exc}", file=sys.stderr)
        print(render_errors(exc.report, LISTED_DATA_ERRORS), file=sys.stderr)
        return EXIT_DATA_ERRORS
    except _Interrupted:
        return EXIT_INTERRUPTED
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


def _card(name: str | None) -> ModelCard | None:
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

    def choice(enum: type[E], value: str | None) -> E | None:
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
    assert card is not None  # the model argument is required
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

    # Every job not ended, paused and queued ones included, each with its state (all pages: an old paused job too).
    unfinished = [
        (job, status)
        for job in local_client(start=False).fine_tuning.jobs.list(limit=100)
        if (status := normalize_status(job.status)) not in TERMINAL
    ]
    if not unfinished:
        print("jobs          none running, queued or paused")
    for job, status in unfinished:
        print(f"job           {job.id} {STATUS_LABELS[status]} ({job.model})")
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


# --- jobs create -----------------------------------------------------------------------------------------------------


def _run_jobs_create(args: argparse.Namespace) -> int:
    from ftui.client import Backend, BackendError

    settings, profile = _settings_and_profile(args.profile)
    job_file = _merged_job_file(args)
    plan = _plan(job_file, args.seed)
    _check_local_files(plan)
    try:
        backend = Backend.from_profile(profile)
        _check_plan_on(backend, plan)
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None
    if args.save is not None:
        _save_job_file(job_file, plan, args.save, force=args.force)
    job = _submit(backend, plan)
    if plan.seed != job_file.seed:
        print(f"ftui: seed {plan.seed} was generated; pass --seed {plan.seed} to repeat this job", file=sys.stderr)
    if args.json:
        import orjson

        option = 0 if args.watch else orjson.OPT_INDENT_2
        print(orjson.dumps(job.model_dump(mode="json"), option=option).decode(), flush=True)
    else:
        print(f"Created fine-tuning job {job.id} on {backend.label} (model {job.model}, seed {plan.seed}).", flush=True)
        if not args.watch:
            print(f"Follow it with: ftui jobs watch {job.id}")
    if not args.watch:
        return EXIT_OK
    return _JobWatch(profile, job.id, as_json=args.json, interval=args.interval or settings.poll_seconds).run()


def _merged_job_file(args: argparse.Namespace) -> JobFile:
    """The job file named by --from (if any) with the command line's flags over it; paths as given or absolute."""
    from ftui.jobfile import JobFile, JobFileError, is_file_id

    fields: dict[str, Any] = {}
    source = "the command line"
    if args.job_file is not None:
        try:
            loaded = JobFile.load(args.job_file)
        except JobFileError as exc:
            raise UsageProblem(f"{exc}. Fix the job file, or pass the value as a flag.") from None
        fields = loaded.model_dump(exclude_none=True)
        for key in ("training_file", "validation_file"):
            if key in fields and not is_file_id(fields[key]):
                choice = loaded.data_choice(fields[key])
                fields[key] = str(choice.path)  # relative to the job file's folder, now absolute
        source = str(args.job_file)
    for key in ("model", "training_file", "validation_file", "method", "seed", "suffix"):
        value = getattr(args, key)
        if value is not None:
            fields[key] = value
    hyperparameters = dict(fields.get("hyperparameters", {}))
    hyperparameters.update(
        {name: getattr(args, name) for name in HYPERPARAMETER_FLAGS if getattr(args, name) is not None}
    )
    fields["hyperparameters"] = hyperparameters
    fields["metadata"] = {**fields.get("metadata", {}), **dict(args.metadata or [])}
    for key, flag in (("model", "--model"), ("training_file", "--training-file")):
        if not fields.get(key):
            raise UsageProblem(
                f"no {key.replace('_', ' ')}: pass {flag}, or set {key} in the job file given with --from"
            )
    try:
        return JobFile.from_mapping(fields, source=source)
    except JobFileError as exc:
        raise UsageProblem(f"{exc}. Fix the value and try again.") from None


def _plan(job_file: JobFile, seed: int | None) -> SubmitPlan:
    from ftui.jobfile import JobFileError

    try:
        return job_file.to_plan(seed=seed)
    except JobFileError as exc:
        raise UsageProblem(f"{exc}. Fix the value and try again.") from None


def _check_local_files(plan: SubmitPlan) -> None:
    for role, choice in plan.files().items():
        path = choice.path
        if path is None:
            continue
        if not path.exists():
            raise UsageProblem(f"the {role} file {path} does not exist; check the path (or give an uploaded file's id)")
        if not path.is_file():
            raise UsageProblem(f"the {role} file {path} is not a file; give the path of a JSONL file")


def _check_plan_on(backend: Backend, plan: SubmitPlan) -> None:
    """Stop before any upload when the backend cannot run the plan: unknown model, options it refuses."""
    from ftui.config import BackendKind

    options = plan.options
    problems = options.validate_for(backend.provider, plan.card)
    if problems:
        raise UsageProblem(" ".join(problem.rstrip(".") + "." for problem in problems).rstrip("."))
    live = {model.id: model for model in backend.list_models()}
    listed = live.get(options.model)
    if listed is None and (plan.card is None or backend.kind is BackendKind.LOCAL):
        where = "ftui's catalog" if plan.card is None else "the catalog"
        known = (
            ", ".join(sorted(m.id for m in live.values() if m.fine_tunable))
            if backend.kind is BackendKind.LOCAL
            else ""
        )
        hint = f"it can fine-tune: {known}" if known else "'ftui catalog list' shows the models ftui knows"
        raise UsageProblem(f"unknown model {options.model!r}: neither {where} nor {backend.label} lists it; {hint}")
    if listed is not None and listed.fine_tunable is False:
        reason = listed.reason or f"{backend.label} does not offer fine-tuning for it"
        raise UsageProblem(f"{options.model} cannot be fine-tuned here: {reason.rstrip('.')}")


def _save_job_file(job_file: JobFile, plan: SubmitPlan, path: Path, *, force: bool) -> None:
    from ftui.jobfile import JobFile

    saved = JobFile.from_plan(plan, relative_to=path.resolve().parent)
    _guarded(lambda: saved.save(path, force=force))
    print(f"ftui: saved the job's fields to {path}", file=sys.stderr)


def _submit(backend: Backend, plan: SubmitPlan) -> FineTuningJob:
    """Run the submit pipeline on a worker thread, so Ctrl-C can cancel it through the cancel event."""
    import threading

    from ftui.client import BackendError, ErrorKind
    from ftui.submit import DataErrors, Submission

    cancel = threading.Event()
    outcome: dict[str, Any] = {}
    display = _SubmitDisplay(sys.stderr.isatty())

    def work() -> None:
        try:
            outcome["job"] = Submission().run(
                backend, plan, on_status=display.status, on_progress=display.progress, cancel=cancel
            )
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="ftui-submit", daemon=True)
    with display:
        try:
            # Inside the try: the worker may report before start() returns, and Ctrl-C may come then.
            worker.start()
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            cancel.set()
            with contextlib.suppress(RuntimeError):  # not started yet
                worker.join(60)
            display.stop()
            created = outcome.get("job")
            if created is not None:
                print(
                    f"ftui: interrupted; job {created.id} was already created ('ftui jobs cancel {created.id}' stops it)",
                    file=sys.stderr,
                )
            else:
                print("ftui: interrupted; no job was created", file=sys.stderr)
            raise _Interrupted from None
    error = outcome.get("error")
    if isinstance(error, DataErrors):
        raise _DataProblem(error.report, plan) from None
    if isinstance(error, BackendError):
        if error.kind is ErrorKind.CANCELLED:
            raise _Interrupted from None
        raise UsageProblem(str(error)) from None
    if error is not None:
        raise error
    job: FineTuningJob = outcome["job"]
    return job


class _Interrupted(Exception):
    """Ctrl-C stopped the command after it said so; exit 130 without another message."""


class _DataProblem(Exception):
    """Local validation found errors in the data: nothing was uploaded; exit 1."""

    def __init__(self, report: ValidationReport, plan: SubmitPlan) -> None:
        from ftui.textfmt import plural

        training, validation = plan.local_paths()
        files = " --validation ".join(str(p) for p in (training, validation) if p is not None)
        super().__init__(
            f"the data has {plural(report.errors, 'error')}, so nothing was uploaded; fix them "
            f"('ftui validate {files}' shows the full report) and submit again"
        )
        self.report = report


class _SubmitDisplay:
    """The submit's progress on stderr: bars on a terminal, one plain line per step otherwise."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.bars: Any = None  # rich.progress.Progress on a terminal
        self.tasks: dict[str, Any] = {}
        self.reported: set[str] = set()

    def __enter__(self) -> _SubmitDisplay:
        if self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.bars.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None

    def status(self, status: SubmitStatus) -> None:
        if self.bars is not None:
            self.bars.console.print(status.text, highlight=False)
        else:
            print(f"ftui: {status.text}", file=sys.stderr, flush=True)

    def progress(self, role: Role, sent: int, total: int) -> None:
        if self.bars is not None:
            if role not in self.tasks:
                self.tasks[role] = self.bars.add_task(f"Uploading the {role} file", total=total)
            self.bars.update(self.tasks[role], completed=sent, total=total)
        elif sent >= total and role not in self.reported:
            self.reported.add(role)
            print(f"ftui: uploaded the {role} file ({sent:,} bytes)", file=sys.stderr, flush=True)


# --- jobs show, cancel, pause, resume, results -----------------------------------------------------------------------


def _connected(profile_name: str | None) -> Backend:
    from ftui.client import Backend, BackendError

    _, profile = _settings_and_profile(profile_name)
    try:
        return Backend.from_profile(profile)
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None


def _run_jobs_control(args: argparse.Namespace) -> int:
    from ftui.client import BackendError

    backend = _connected(args.profile)
    act = {"cancel": backend.cancel_job, "pause": backend.pause_job, "resume": backend.resume_job}[args.action]
    try:
        job = act(args.job_id)
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None
    if args.json:
        import orjson

        print(orjson.dumps(job.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
    else:
        status = JobStatus(_job_record(job)["status"])
        if args.action == "cancel" and status is not JobStatus.CANCELLED:
            # A running job stops after its current step; the backend still reports it as running until then.
            print(f"{job.id} cancelling (still {STATUS_LABELS[status]}); 'ftui jobs watch {job.id}' follows it")
        else:
            print(f"{job.id} {STATUS_LABELS[status]}")
    return EXIT_OK


def _run_jobs_show(args: argparse.Namespace) -> int:
    from ftui.client import BackendError, ErrorKind

    backend = _connected(args.profile)
    try:
        job = backend.retrieve_job(args.job_id)
        events = backend.job_events_after(args.job_id, None)
        try:
            checkpoints = backend.job_checkpoints(args.job_id)
        except BackendError as exc:
            if exc.kind not in (ErrorKind.NOT_FOUND, ErrorKind.UNSUPPORTED):
                raise
            checkpoints = []
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None
    tracker = JobTracker(job.id)
    tracker.update_job(job)
    tracker.add_events(events)
    record = {
        **_job_record(job),
        "method": tracker.method,
        "hyperparameters": tracker.hyperparameters,
        "seed": tracker.seed,
        "suffix": getattr(job, "user_provided_suffix", None),
        "files": {
            "training": job.training_file,
            "validation": job.validation_file,
            "results": list(job.result_files or []),
        },
        "checkpoints": [
            {
                "id": checkpoint.id,
                "step": checkpoint.step_number,
                "model": checkpoint.fine_tuned_model_checkpoint,
                "metrics": checkpoint.metrics.model_dump(exclude_none=True),
            }
            for checkpoint in checkpoints
        ],
        "metrics": _metrics_summary(tracker),
    }
    if args.json:
        import orjson

        print(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())
    else:
        print(_show_text(record))
    return EXIT_OK


def _metrics_summary(tracker: JobTracker) -> dict[str, Any]:
    """Last and best training loss, the last validation loss and token accuracies, from the metrics events."""

    def last(name: str) -> float | None:
        return next((getattr(p, name) for p in reversed(tracker.metrics) if getattr(p, name) is not None), None)

    losses = [p.train_loss for p in tracker.metrics if p.train_loss is not None]
    return {
        "step": tracker.step,
        "total_steps": tracker.total_steps,
        "train_loss": last("train_loss"),
        "best_train_loss": min(losses) if losses else None,
        "valid_loss": last("full_valid_loss") if last("full_valid_loss") is not None else last("valid_loss"),
        "train_token_accuracy": last("train_accuracy"),
        "valid_token_accuracy": last("full_valid_accuracy")
        if last("full_valid_accuracy") is not None
        else last("valid_accuracy"),
    }


def _show_text(record: dict[str, Any]) -> str:
    def number(value: float | None, pattern: str = "{:.4f}") -> str:
        return "—" if value is None else pattern.format(value)

    metrics = record["metrics"]
    hyper = ", ".join(
        f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in record["hyperparameters"].items()
    )
    rows = [
        (
            "status",
            STATUS_LABELS[JobStatus(record["status"])]
            + (f" ({record['service_status']})" if record["service_status"] != record["status"] else ""),
        ),
        ("model", record["model"] or "—"),
        ("fine-tuned model", record["fine_tuned_model"] or "—"),
        ("method", record["method"] or "—"),
        ("hyperparameters", hyper or "—"),
        ("seed", "—" if record["seed"] is None else str(record["seed"])),
        ("suffix", record["suffix"] or "—"),
        ("training file", record["files"]["training"] or "—"),
        ("validation file", record["files"]["validation"] or "—"),
        ("result files", ", ".join(record["files"]["results"]) or "—"),
        ("created", format_timestamp(record["created_at"])),
        ("finished", format_timestamp(record["finished_at"])),
        ("trained tokens", "—" if not record["trained_tokens"] else f"{record['trained_tokens']:,}"),
    ]
    if record["error"]:
        rows.append(("error", record["error"]))
    step = metrics["step"]
    rows += [
        ("steps", "—" if step is None else f"{step}/{metrics['total_steps'] or '?'}"),
        ("train loss", f"{number(metrics['train_loss'])} (best {number(metrics['best_train_loss'])})"),
        ("valid loss", number(metrics["valid_loss"])),
        (
            "token accuracy",
            f"train {number(metrics['train_token_accuracy'], '{:.1%}')}, valid {number(metrics['valid_token_accuracy'], '{:.1%}')}",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [record["id"], *(f"  {label:<{width}}  {value}" for label, value in rows)]
    checkpoints = record["checkpoints"]
    lines.append(f"  {'checkpoints':<{width}}  {'—' if not checkpoints else ''}".rstrip())
    for checkpoint in checkpoints:
        loss = checkpoint["metrics"].get("train_loss")
        shown = f"  train loss {loss:.4f}" if isinstance(loss, int | float) else ""
        lines.append(f"    step {checkpoint['step']:<6} {checkpoint['model']}{shown}")
    return "\n".join(lines)


def _run_jobs_results(args: argparse.Namespace) -> int:
    from ftui.client import BackendError
    from ftui.fsutil import atomic_writer, check_output

    out: Path = args.out or Path(f"{args.job_id}.csv")
    _guarded(lambda: check_output(out, force=args.force))
    backend = _connected(args.profile)
    try:
        job = backend.retrieve_job(args.job_id)
        if not job.result_files:
            status = normalize_status(job.status)
            when = "" if status in TERMINAL else "; it is written when the job ends"
            raise UsageProblem(f"job {job.id} ({STATUS_LABELS[status]}) has no result file{when}")
        file_id = job.result_files[0]
        content = backend.download_result_file(file_id)
    except BackendError as exc:
        raise UsageProblem(str(exc)) from None

    def write() -> None:
        with atomic_writer(out) as handle:
            handle.write(content)

    _guarded(write)
    lines = content.count(b"\n")
    print(f"Wrote {out} ({lines:,} lines, from {file_id}).")
    return EXIT_OK
