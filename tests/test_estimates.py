"""A job's estimate from a data check, without the wizard, and the one definition of its figures: auto epochs per
backend, trained (billable) tokens the same in the data check, the options, the review and ``ftui validate``, and the
time to prepare the local model."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from ftui.availability import Availability, Entry, Mark
from ftui.catalog import ModelCard, load_catalog
from ftui.config import BackendKind
from ftui.dataset.validator import FileStats, TokenizerInfo, ValidationReport, validate_to_report
from ftui.estimates import (
    LOCAL_PREPARE_SECONDS,
    auto_epochs,
    epochs_text,
    estimate_from_report,
    local_auto_batch_size,
    token_figure,
    training_line,
    training_price_text,
)
from ftui.options import Estimate, Hyperparameters, JobOptions
from ftui.report import render_card, render_report
from ftui.tui.widgets.estimate import estimate_duration_text, estimate_renderable, summary_line
from ftui.tui.widgets.modelcard import card_text
from ftui.tui.widgets.stats import render_stats

GPT41_MINI = "gpt-4.1-mini-2025-04-14"
SMOLLM2 = "SmolLM2-135M-Instruct"


@dataclass
class Counts:
    examples: int
    total_tokens: int
    examples_over_limit: int = 0


@dataclass
class Counted:
    exact: bool = True
    note: str = ""


@dataclass
class Checked:
    training: Counts
    tokenizer: Counted = field(default_factory=Counted)
    n_epochs: int = 3
    billable_tokens: int = 0


def options(model: str = GPT41_MINI, **hyperparameters: int) -> JobOptions:
    return JobOptions(model=model, hyperparameters=Hyperparameters(**hyperparameters))


def card(model: str) -> ModelCard:
    found = load_catalog().get(model)
    assert found is not None
    return found


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder where the local engine has prepared nothing yet."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("FTUI_MODELS_DIR", str(folder))
    return folder


def plain(renderable: Any) -> str:
    console = Console(width=300, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return " ".join(console.export_text().split())


def test_without_a_report_the_estimate_says_why() -> None:
    assert "once the training data has been checked" in str(estimate_from_report(None, options(), BackendKind.OPENAI))
    remote = estimate_from_report(None, options(), BackendKind.OPENAI, remote_training=True)
    assert isinstance(remote, str) and "already on the backend" in remote
    empty = estimate_from_report(Checked(Counts(0, 0)), options(), BackendKind.OPENAI)
    assert empty == "No estimate: the training file holds no valid examples."


def test_the_estimate_uses_the_report_counts_and_the_catalog_card() -> None:
    result = estimate_from_report(Checked(Counts(20, 20_000)), options(n_epochs=2, batch_size=8), BackendKind.OPENAI)
    assert isinstance(result, Estimate)
    assert (result.n_epochs, result.batch_size, result.steps) == (2, 8, 6)
    assert result.trained_tokens == 40_000 and result.cost_usd == 0.2  # the card's price: $5 per 1M tokens


def test_a_given_card_wins_over_the_catalog_and_local_training_is_free(no_models: Path) -> None:
    result = estimate_from_report(
        Checked(Counts(10, 5_000)), options(SMOLLM2, n_epochs=1), BackendKind.LOCAL, card=card(SMOLLM2)
    )
    assert isinstance(result, Estimate) and result.billable_tokens == 0 and result.trained_tokens == 5_000
    assert result.cost_usd == 0.0


def test_examples_over_the_limit_count_at_the_limit_as_in_the_data_check() -> None:
    """The report's trained tokens already cut long examples at the limit: the estimate takes its per-epoch figure."""
    report = Checked(Counts(3, 100_000, examples_over_limit=1), n_epochs=2, billable_tokens=2 * 70_000)
    result = estimate_from_report(report, options(n_epochs=2), BackendKind.OPENAI)
    assert isinstance(result, Estimate) and result.trained_tokens == 140_000
    assert "1 example over the 65,536-token limit per example counted as 65,536 tokens" in " ".join(result.notes)


# --- auto epochs: one rule, applied by the engine, estimated for the services -----------------------------------------


def test_auto_epochs_rule() -> None:
    """3 epochs, more for small sets and fewer for large ones, so that examples x epochs is 100 to 25,000: a 7-example
    file trains 14 epochs (what the data statistics said for one); the bundled 73-example sample trains 3."""
    sizes = (1, 7, 33, 34, 73, 8_333, 8_334, 30_000)
    assert [auto_epochs(n) for n in sizes] == [25, 14, 3, 3, 3, 3, 2, 1]


@pytest.mark.parametrize("n_examples", [7, 73, 9_000])
def test_the_engine_resolves_auto_epochs_by_the_rule_the_estimates_use(
    n_examples: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_models: Path
) -> None:
    from ftui.engine.runner import JobRun

    monkeypatch.setenv("FTUI_HOME", str(tmp_path / "home"))
    auto = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    job = SimpleNamespace(id="ftjob-test", model=SMOLLM2, suffix=None, method={"supervised": {"hyperparameters": auto}})
    store = SimpleNamespace(update_job=lambda *args, **kwargs: None)
    resolved = JobRun(store, job).resolve_hyperparameters(n_examples)  # type: ignore[arg-type]
    assert resolved["n_epochs"] == auto_epochs(n_examples)
    assert resolved["batch_size"] == min(local_auto_batch_size(n_examples), n_examples)
    estimate = estimate_from_report(Checked(Counts(n_examples, 1_000)), options(SMOLLM2), BackendKind.LOCAL)
    assert isinstance(estimate, Estimate)
    assert (estimate.n_epochs, estimate.batch_size) == (resolved["n_epochs"], resolved["batch_size"])
    for kind in (BackendKind.OPENAI, BackendKind.AZURE):
        cloud = estimate_from_report(Checked(Counts(n_examples, 1_000)), options(), kind)
        assert isinstance(cloud, Estimate) and cloud.n_epochs == auto_epochs(n_examples)


# --- one trained-tokens figure everywhere -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind", "limit"),
    [(SMOLLM2, BackendKind.LOCAL, None), (GPT41_MINI, BackendKind.OPENAI, None), (SMOLLM2, BackendKind.LOCAL, 300)],
    ids=["local", "openai", "local-over-limit"],
)
def test_one_trained_tokens_figure_in_the_data_check_the_estimate_the_review_and_the_cli(
    model: str, kind: BackendKind, limit: int | None, sample_paths: tuple[Path, Path], no_models: Path, run_cli, cli_env
) -> None:
    target = card(model) if limit is None else card(model).model_copy(update={"training_context_limit": limit})
    report = validate_to_report(*sample_paths, model=target)
    assert (report.training.examples_over_limit > 0) is (limit is not None)
    result = estimate_from_report(report, options(target.id), kind, card=target)
    assert isinstance(result, Estimate)
    assert result.trained_tokens == report.billable_tokens
    assert result.n_epochs == report.n_epochs == 3 and result.n_epochs_auto and report.n_epochs_auto
    local = kind is BackendKind.LOCAL
    line = training_line(
        report.billable_tokens, 3, True, local=local, cost_usd=report.estimated_cost_usd, exact=report.tokenizer.exact
    )
    assert line.startswith("Trained tokens" if local else "Billable tokens")
    assert line.endswith("Cost free (local)" if local else f"Cost about ${report.estimated_cost_usd:,.2f}")
    review = summary_line(result, kind)
    assert line in review  # the review step
    assert line in plain(render_stats(report))  # the data step's statistics
    assert line in render_report(report)  # ftui validate
    shown = plain(estimate_renderable(result, kind))  # the options step
    assert (
        f"{'Trained' if local else 'Billable'} {token_figure(report.billable_tokens, report.tokenizer.exact)}" in shown
    )
    for text in (review, plain(render_stats(report)), render_report(report), shown):
        assert ("Billable" in text) is not local and "Billable 0" not in text
    if limit is None and local:
        cli_env["FTUI_MODELS_DIR"] = str(no_models)
        code, out, err = run_cli("validate", *sample_paths[:1], "--validation", sample_paths[1])
        assert code == 0, err
        assert line in out


def test_estimated_tokens_are_marked_in_every_figure(sample_paths: tuple[Path, Path], no_models: Path) -> None:
    report = validate_to_report(*sample_paths, model=SMOLLM2)
    assert not report.tokenizer.exact  # SmolLM2's tokenizer is not prepared in an empty models folder
    result = estimate_from_report(report, options(SMOLLM2), BackendKind.LOCAL)
    assert isinstance(result, Estimate) and not result.tokens_exact
    figure = f"≈{report.billable_tokens:,} (3 epochs, auto; estimate)"
    assert figure in summary_line(result, BackendKind.LOCAL) and figure in render_report(report)
    stats = plain(render_stats(report))
    assert stats.startswith("≈ Estimated token counts (bytes/4): SmolLM2-135M-Instruct's tokenizer is not prepared")
    assert f"total tokens ≈{report.training.total_tokens:,}" in stats
    options_panel = plain(estimate_renderable(result, BackendKind.LOCAL))
    assert f"Trained ≈{report.billable_tokens:,} tokens" in options_panel
    assert "≈ Estimated token counts (bytes/4)" in options_panel


def test_report_file_rows_are_right_aligned(sample_paths: tuple[Path, Path]) -> None:
    lines = render_report(validate_to_report(*sample_paths)).splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("Statistics"))) :][:14]
    ends = {len(line) for line in table}
    assert len(ends) == 1, table  # both columns end where their headings end
    assert table[2].split()[-2:] == ["73", "18"]


# --- preparing the local model ----------------------------------------------------------------------------------------


def test_the_first_local_job_counts_the_time_to_prepare_the_model(no_models: Path) -> None:
    checked = Checked(Counts(73, 21_363))
    first = estimate_from_report(checked, options(SMOLLM2), BackendKind.LOCAL)
    assert isinstance(first, Estimate)
    assert first.prepare_seconds == LOCAL_PREPARE_SECONDS and first.prepare_model == "SmolLM2"
    assert first.duration_seconds is not None
    text = estimate_duration_text(first)
    assert text.endswith(", including about 1 min to prepare SmolLM2") and text.startswith("about ")
    prepared = no_models / SMOLLM2
    prepared.mkdir()
    (prepared / "config.json").write_text("{}")
    later = estimate_from_report(checked, options(SMOLLM2), BackendKind.LOCAL)
    assert isinstance(later, Estimate) and later.prepare_seconds is None and later.duration_seconds is not None
    assert first.duration_seconds == pytest.approx(later.duration_seconds + LOCAL_PREPARE_SECONDS)
    assert "prepare" not in estimate_duration_text(later)
    cloud = estimate_from_report(checked, options(), BackendKind.OPENAI)
    assert isinstance(cloud, Estimate) and cloud.prepare_seconds is None


# --- words --------------------------------------------------------------------------------------------------------


def test_epochs_and_prices_are_said_plainly(sample_paths: tuple[Path, Path]) -> None:
    assert [epochs_text(1, False), epochs_text(3, True)] == ["1 epoch", "3 epochs, auto"]
    one_epoch = render_report(validate_to_report(sample_paths[0], model=GPT41_MINI, n_epochs=1))  # ftui validate
    assert "(1 epoch)" in one_epoch and "epochs" not in one_epoch.splitlines()[-1]
    assert training_price_text(card(SMOLLM2)) == "free (local)"
    assert "not published" not in render_card(card(SMOLLM2))  # ftui catalog show
    entry = Entry(SMOLLM2, card(SMOLLM2), None, Availability(Mark.AVAILABLE, "listed by the local engine"))
    assert "Training price: free (local)" in card_text(entry, "Local engine").plain  # the TUI
    assert training_price_text(card("gpt-4.1-mini")) == "$5.00 per 1M training tokens"


def test_a_real_validation_report_fits() -> None:
    report = ValidationReport.model_construct(
        training=FileStats(path="train.jsonl", examples=20, total_tokens=20_000),
        tokenizer=TokenizerInfo(name="o200k_base", exact=True),
        n_epochs=1,
        billable_tokens=20_000,
    )
    result = estimate_from_report(report, options(n_epochs=1, batch_size=4), BackendKind.AZURE)
    assert isinstance(result, Estimate) and result.steps == 5
