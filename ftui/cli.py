"""The ``ftui`` command. No arguments opens the wizard; subcommands serve scripts and CI.

Exit codes: 0 success (warnings allowed), 1 the data has errors, 2 a usage or I/O problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from ftui import __version__

T = TypeVar("T")

EXIT_OK = 0
EXIT_DATA_ERRORS = 1
EXIT_USAGE = 2


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
        return 130


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
