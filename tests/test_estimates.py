"""A job's estimate from a data check, without the wizard: the domain function the options and review steps show."""

from __future__ import annotations

from dataclasses import dataclass

from ftui.catalog import load_catalog
from ftui.config import BackendKind
from ftui.dataset.validator import FileStats, ValidationReport
from ftui.estimates import estimate_from_report
from ftui.options import Estimate, Hyperparameters, JobOptions

GPT41_MINI = "gpt-4.1-mini-2025-04-14"


@dataclass
class Counts:
    examples: int
    total_tokens: int


@dataclass
class Checked:
    training: Counts


def options(model: str = GPT41_MINI, **hyperparameters: int) -> JobOptions:
    return JobOptions(model=model, hyperparameters=Hyperparameters(**hyperparameters))


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


def test_a_given_card_wins_over_the_catalog_and_local_training_is_free() -> None:
    card = load_catalog().get("SmolLM2-135M-Instruct")
    result = estimate_from_report(
        Checked(Counts(10, 5_000)), options("SmolLM2-135M-Instruct", n_epochs=1), BackendKind.LOCAL, card=card
    )
    assert isinstance(result, Estimate) and result.billable_tokens == 0 and result.trained_tokens == 5_000


def test_a_real_validation_report_fits() -> None:
    report = ValidationReport.model_construct(training=FileStats(path="train.jsonl", examples=20, total_tokens=20_000))
    result = estimate_from_report(report, options(n_epochs=1, batch_size=4), BackendKind.AZURE)
    assert isinstance(result, Estimate) and result.steps == 5
