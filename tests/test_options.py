"""Job options: parsing what users type, the request body against OpenAI's schema, cloning, help text, estimates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.fine_tuning import FineTuningJob

from ftui.catalog import Method, ModelCard, Provider, load_catalog
from ftui.engine.schemas import CreateJobRequest
from ftui.estimates import cloud_auto_batch_size, local_auto_batch_size
from ftui.options import (
    AUTO,
    FIELD_DETAIL,
    FIELD_HELP,
    LOCAL_TOKENS_PER_SECOND,
    RANGES,
    SEED_MAX,
    Hyperparameters,
    JobOptions,
    estimate,
    generate_seed,
    parse_seed,
    suffix_from_model_name,
)

SCHEMAS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "openai-fine-tuning-request.schema.json").read_text()
)["components"]["schemas"]
GPT41_MINI = "gpt-4.1-mini-2025-04-14"


# --- a small JSON Schema checker for the copied OpenAPI fragment ---------------------------------------------------

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema``. Objects are closed: a key the schema does not declare is an error
    (the local engine rejects unknown keys, and a typo would otherwise pass unnoticed)."""
    if "$ref" in schema:
        return schema_errors(value, SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], path)
    if "oneOf" in schema:
        matches = sum(not schema_errors(value, option, path) for option in schema["oneOf"])
        return [] if matches == 1 else [f"{path}: {value!r} matches {matches} of oneOf"]
    if "anyOf" in schema:
        return [] if any(not schema_errors(value, o, path) for o in schema["anyOf"]) else [f"{path}: no anyOf"]
    if value is None and schema.get("nullable"):
        return []
    if "type" in schema and not _TYPES[schema["type"]](value):
        return [f"{path}: {value!r} is not {schema['type']}"]
    return _value_errors(value, schema, path)


def _value_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema:
        strict = schema.get("exclusiveMinimum") is True
        if value < schema["minimum"] or (strict and value == schema["minimum"]):
            errors.append(f"{path}: {value!r} below the minimum")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: {value!r} above the maximum")
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
        errors.append(f"{path}: length {len(value)} out of range")
    if isinstance(value, dict):
        errors.extend(_object_errors(value, schema, path))
    return errors


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    errors = [f"{path}: missing {key}" for key in schema.get("required", ()) if key not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            errors.extend(schema_errors(item, properties[key], f"{path}.{key}"))
        elif isinstance(extra, dict):
            errors.extend(schema_errors(item, extra, f"{path}.{key}"))
        else:
            errors.append(f"{path}: unexpected key {key!r}")
    return errors


def request_errors(body: dict[str, Any]) -> list[str]:
    return schema_errors(body, SCHEMAS["CreateFineTuningJobRequest"])


def test_the_schema_checker_catches_what_it_should():
    good = {"model": "m", "training_file": "f", "method": {"type": "supervised"}}
    assert request_errors(good) == []
    assert request_errors({"model": "m"}) == ["$: missing training_file"]
    hyper = {"learning_rate_multiplier": 0}
    bad = good | {"method": {"type": "supervised", "supervised": {"hyperparameters": hyper}}}
    assert request_errors(bad)  # exclusiveMinimum: true
    assert request_errors(good | {"method": {"type": "supervised", "supervised": {"hyperparameters": {"beta": 1}}}})
    assert request_errors(good | {"suffix": "x" * 65})
    assert request_errors(good | {"seed": 2**31})


# --- parsing what users type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("n_epochs", "", AUTO),
        ("n_epochs", "   ", AUTO),
        ("n_epochs", "auto", AUTO),
        ("n_epochs", " Auto ", AUTO),
        ("n_epochs", "1", 1),
        ("n_epochs", " 50 ", 50),
        ("n_epochs", "+3", 3),
        ("batch_size", "256", 256),
        ("learning_rate_multiplier", "0.1", 0.1),
        ("learning_rate_multiplier", ".05", 0.05),
        ("learning_rate_multiplier", "2e-2", 0.02),
        ("learning_rate_multiplier", "10", 10.0),
        ("beta", "2", 2.0),
        ("beta", "0.001", 0.001),
    ],
)
def test_parse_field_accepts(name: str, text: str, expected: object):
    value = Hyperparameters.parse_field(name, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("n_epochs", "0", "n_epochs must be a whole number from 1 to 50"),
        ("n_epochs", "51", "n_epochs must be a whole number from 1 to 50"),
        ("n_epochs", "3.0", "n_epochs must be a whole number from 1 to 50"),
        ("n_epochs", "three", "n_epochs must be a whole number from 1 to 50"),
        ("n_epochs", "-1", "n_epochs must be a whole number from 1 to 50"),
        ("batch_size", "257", "batch_size must be a whole number from 1 to 256"),
        ("batch_size", "1e2", "batch_size must be a whole number from 1 to 256"),
        ("learning_rate_multiplier", "0", "learning_rate_multiplier must be a number above 0 and at most 10"),
        ("learning_rate_multiplier", "10.5", "learning_rate_multiplier must be a number above 0 and at most 10"),
        ("learning_rate_multiplier", "nan", "learning_rate_multiplier must be a number above 0 and at most 10"),
        ("learning_rate_multiplier", "inf", "learning_rate_multiplier must be a number above 0 and at most 10"),
        ("learning_rate_multiplier", "0,1", "learning_rate_multiplier must be a number above 0 and at most 10"),
        ("beta", "2.5", "beta must be a number above 0 and at most 2"),
        ("beta", "automatic", "beta must be a number above 0 and at most 2"),
        ("seed", "3", "seed is not a hyperparameter"),
    ],
)
def test_parse_field_rejects_with_one_line(name: str, text: str, message: str):
    with pytest.raises(ValueError) as caught:
        Hyperparameters.parse_field(name, text)
    assert str(caught.value) == message


def test_a_field_is_named_as_the_form_names_it():
    """The options screen passes its labels: its messages never show the API's names."""
    with pytest.raises(ValueError) as caught:
        Hyperparameters.parse_field("learning_rate_multiplier", "abc", "LR multiplier")
    assert str(caught.value) == "LR multiplier must be a number above 0 and at most 10"
    with pytest.raises(ValueError) as caught:
        Hyperparameters.parse_field("n_epochs", "0", "Epochs")
    assert str(caught.value) == "Epochs must be a whole number from 1 to 50"
    with pytest.raises(ValueError, match=r"^Seed must be a whole number from 0"):
        parse_seed("-1", "Seed")


@given(name=st.sampled_from(sorted(RANGES)), text=st.text(max_size=12))
def test_parse_field_gives_a_valid_value_or_a_one_line_message(name: str, text: str):
    try:
        value = Hyperparameters.parse_field(name, text)
    except ValueError as exc:
        assert str(exc).startswith(f"{name} must be ")
        assert "\n" not in str(exc)
    else:
        assert getattr(Hyperparameters(**{name: value}), name) == value


@given(name=st.sampled_from(["n_epochs", "batch_size"]), data=st.data())
def test_whole_numbers_in_range_round_trip(name: str, data: st.DataObject):
    spec = RANGES[name]
    number = data.draw(st.integers(int(spec.low), int(spec.high)))
    assert Hyperparameters.parse_field(name, f" {number} ") == number


@given(
    name=st.sampled_from(["learning_rate_multiplier", "beta"]),
    fraction=st.floats(min_value=0, max_value=1, exclude_min=True),
)
def test_numbers_in_range_round_trip(name: str, fraction: float):
    number = fraction * RANGES[name].high
    if number > 0:
        assert Hyperparameters.parse_field(name, repr(number)) == number


def test_hyperparameters_are_typed_and_checked():
    assert Hyperparameters() == Hyperparameters(batch_size="auto", learning_rate_multiplier="auto", n_epochs="auto")
    assert Hyperparameters(learning_rate_multiplier=2).learning_rate_multiplier == 2.0
    assert Hyperparameters(n_epochs=4.0).n_epochs == 4
    for bad in ({"n_epochs": True}, {"n_epochs": "3"}, {"batch_size": 0}, {"beta": 0}, {"n_epochs": 2.5}):
        with pytest.raises(ValueError):
            Hyperparameters(**bad)
    with pytest.raises(ValueError):
        Hyperparameters(epochs=3)


def test_seeds():
    assert parse_seed("") is None
    assert parse_seed(" 42 ") == 42
    assert parse_seed(str(SEED_MAX)) == SEED_MAX
    for bad in ("-1", str(SEED_MAX + 1), "4.2", "x"):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            parse_seed(bad)
    assert all(0 <= generate_seed() <= SEED_MAX for _ in range(100))
    with pytest.raises(ValueError):
        JobOptions(model="m", seed=SEED_MAX + 1)


# --- the request body -----------------------------------------------------------------------------------------------


def test_default_request_sends_auto_under_method_and_matches_the_schema():
    body = JobOptions(model=GPT41_MINI).to_request("file-train", None, seed=7)
    assert body == {
        "model": GPT41_MINI,
        "training_file": "file-train",
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
            },
        },
        "seed": 7,
        "metadata": {"created_with": "ftui"},
    }
    assert request_errors(body) == []


def test_full_dpo_request_matches_the_schema():
    options = JobOptions(
        model=GPT41_MINI,
        method=Method.DPO,
        hyperparameters=Hyperparameters(batch_size=8, learning_rate_multiplier=0.05, n_epochs=2, beta=0.1),
        suffix="support-bot_v2",
    )
    body = options.to_request("file-train", "file-valid", seed=SEED_MAX)
    assert body["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"batch_size": 8, "learning_rate_multiplier": 0.05, "n_epochs": 2, "beta": 0.1}},
    }
    assert body["validation_file"] == "file-valid"
    assert body["suffix"] == "support-bot_v2"
    assert request_errors(body) == []


def test_supervised_request_is_accepted_by_the_local_engine():
    options = JobOptions(model="SmolLM2-135M-Instruct", hyperparameters=Hyperparameters(n_epochs=2), suffix="x")
    CreateJobRequest.model_validate(options.to_request("file-1", "file-2", seed=0))


def test_requests_that_cannot_be_built():
    with pytest.raises(ValueError, match="grader"):
        JobOptions(model="o4-mini", method=Method.REINFORCEMENT).to_request("f", None, seed=1)
    with pytest.raises(ValueError, match="seed"):
        JobOptions(model="m").to_request("f", None, seed=-1)


def test_blank_suffix_is_none():
    assert JobOptions(model="m", suffix="  ").suffix is None
    assert "suffix" not in JobOptions(model="m", suffix="").to_request("f", None, seed=1)


# --- problems before submitting -------------------------------------------------------------------------------------


def test_valid_options_have_no_problems():
    assert JobOptions(model=GPT41_MINI, suffix="a" * 40).validate_for(Provider.AZURE) == []
    assert JobOptions(model=GPT41_MINI, suffix="a" * 64).validate_for(Provider.OPENAI) == []
    assert JobOptions(model="some-registered-model").validate_for(Provider.LOCAL) == []


def test_suffix_rules_per_provider():
    assert JobOptions(model=GPT41_MINI, suffix="a" * 41).validate_for(Provider.AZURE) == [
        "The suffix has 41 characters; Azure OpenAI allows 40."
    ]
    assert JobOptions(model=GPT41_MINI, suffix="a" * 65).validate_for(Provider.OPENAI) == [
        "The suffix has 65 characters; OpenAI allows 64."
    ]
    for bad in ("has space", "colon:s", "ümlaut", "dot.ted"):
        problems = JobOptions(model=GPT41_MINI, suffix=bad).validate_for(Provider.OPENAI)
        assert problems == ["The suffix may hold only letters a-z and A-Z, digits, '-' and '_'."]


def test_method_problems():
    dpo_on_4o_mini = JobOptions(model="gpt-4o-mini", method=Method.DPO)
    assert dpo_on_4o_mini.validate_for(Provider.OPENAI) == [
        "gpt-4o-mini-2024-07-18 cannot be fine-tuned with dpo; it supports supervised."
    ]
    beta_without_dpo = JobOptions(model=GPT41_MINI, hyperparameters=Hyperparameters(beta=0.5))
    assert beta_without_dpo.validate_for(Provider.OPENAI) == [
        "beta applies only to DPO; set it back to auto or choose the DPO method."
    ]
    assert JobOptions(model="o4-mini", method=Method.REINFORCEMENT).validate_for(Provider.OPENAI) == [
        "Reinforcement fine-tuning needs a grader, which ftui cannot set up yet."
    ]


def test_advice_on_unusual_learning_rates():
    assert JobOptions(model="m").advice() == []
    assert JobOptions(model="m", hyperparameters=Hyperparameters(learning_rate_multiplier=0.1)).advice() == []
    assert JobOptions(model="m", hyperparameters=Hyperparameters(learning_rate_multiplier=2)).advice() == [
        "learning_rate_multiplier 2 is outside the suggested 0.02-0.2."
    ]


# --- cloning a job --------------------------------------------------------------------------------------------------


def _job_from(body: dict[str, Any], fine_tuned_model: str | None, **extra: Any) -> dict[str, Any]:
    """What a service returns for a job created with ``body``."""
    return {
        "id": "ftjob-abc123",
        "object": "fine_tuning.job",
        "created_at": 1_700_000_000,
        "organization_id": "org-1",
        "status": "succeeded",
        "model": body["model"],
        "training_file": body["training_file"],
        "validation_file": body.get("validation_file"),
        "result_files": [],
        "hyperparameters": body["method"][body["method"]["type"]]["hyperparameters"],
        "method": body["method"],
        "seed": body["seed"],
        "fine_tuned_model": fine_tuned_model,
        **extra,
    }


@pytest.mark.parametrize("as_sdk_object", [False, True])
def test_from_job_round_trips_a_job_created_by_to_request(as_sdk_object: bool):
    options = JobOptions(
        model=GPT41_MINI,
        method=Method.DPO,
        hyperparameters=Hyperparameters(batch_size=4, learning_rate_multiplier=0.1, n_epochs=3, beta=0.2),
        seed=1234,
        suffix="tone-of-voice",
    )
    job = _job_from(options.to_request("file-t", "file-v", seed=1234), f"ft:{GPT41_MINI}:acme:tone-of-voice:AbC123")
    source = FineTuningJob.model_validate(job) if as_sdk_object else job
    assert JobOptions.from_job(source) == options


def test_from_job_with_auto_values_and_no_suffix():
    options = JobOptions(model=GPT41_MINI, seed=99)
    job = _job_from(options.to_request("file-t", None, seed=99), f"ft:{GPT41_MINI}:acme::AbC123")
    assert JobOptions.from_job(job) == options


def test_from_job_prefers_the_reported_suffix():
    body = JobOptions(model="SmolLM2-135M-Instruct").to_request("f", None, seed=3)
    # The local engine names a model without a suffix "ft:<base>:ftui:<id>", and reports that no suffix was given.
    job = _job_from(body, "ft:SmolLM2-135M-Instruct:ftui:1a2b3c4d", user_provided_suffix=None)
    assert JobOptions.from_job(job).suffix is None
    assert JobOptions.from_job(job | {"user_provided_suffix": "mine"}).suffix == "mine"


def test_from_job_reads_legacy_hyperparameters_and_drops_what_it_would_not_send():
    job = {
        "model": "gpt-3.5-turbo-0125",
        "hyperparameters": {"n_epochs": 5, "batch_size": 1000, "learning_rate_multiplier": None},
        "seed": -5,
    }
    cloned = JobOptions.from_job(job)
    assert cloned.method is Method.SUPERVISED
    assert cloned.hyperparameters == Hyperparameters(n_epochs=5)
    assert cloned.seed is None


def test_from_job_reads_azures_example_job():
    body = json.loads((Path(__file__).parent / "data" / "azure-examples" / "get_finetuning_job.json").read_text())
    cloned = JobOptions.from_job(body["responses"]["200"]["body"])
    # Azure reports n_epochs -1 for "the default"; there is no suffix in "curie.ft-<id>".
    assert cloned == JobOptions(model="curie")


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("ft:gpt-4o-mini-2024-07-18:my-org:custom-model-name:7p4lURel", "custom-model-name"),
        ("ft:gpt-4o-mini-2024-07-18:my-org::7p4lURel", None),
        ("ft:SmolLM2-135M-Instruct:bot:1a2b3c4d", "bot"),
        ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef-my_bot", "my_bot"),
        ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef", None),
        ("curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f", None),
        ("ft:odd", None),
        ("", None),
        (None, None),
    ],
)
def test_suffix_from_model_name(name: str | None, suffix: str | None):
    assert suffix_from_model_name(name) == suffix


# --- help text ------------------------------------------------------------------------------------------------------


def test_help_covers_every_field_in_one_line_each():
    fields = {"batch_size", "learning_rate_multiplier", "n_epochs", "seed", "suffix", "beta"}
    assert set(FIELD_HELP) == fields == set(FIELD_DETAIL)
    for text in FIELD_HELP.values():
        assert len(text) <= 110 and "\n" not in text
    for text in FIELD_DETAIL.values():
        assert 2 <= text.count(". ") + 1 <= 4
    assert "0.02" in FIELD_HELP["learning_rate_multiplier"] and "full cycle" in FIELD_HELP["n_epochs"]


# --- estimates ------------------------------------------------------------------------------------------------------


def _card(model: str) -> ModelCard:
    card = load_catalog().get(model)
    assert card is not None
    return card


def test_auto_batch_size_rules():
    assert [local_auto_batch_size(n) for n in (1, 73, 2_500, 3_000, 100_000)] == [4, 4, 5, 6, 32]
    assert [cloud_auto_batch_size(n) for n in (1, 73, 2_500, 100_000, 1_000_000)] == [1, 1, 5, 200, 256]


def test_cloud_estimate_with_explicit_settings():
    options = JobOptions(model=GPT41_MINI, hyperparameters=Hyperparameters(n_epochs=2, batch_size=8))
    result = estimate(
        n_examples=20,
        tokens_per_example=[1_000] * 20,
        total_tokens=20_000,
        options=options,
        card=_card(GPT41_MINI),
        backend="openai",
    )
    assert (result.n_epochs, result.batch_size, result.steps) == (2, 8, 6)  # ceil(20 / 8) = 3 steps per epoch
    assert result.trained_tokens == result.billable_tokens == 40_000
    assert result.cost_usd == 0.2  # 40,000 / 1M x $5
    assert result.duration_seconds is None
    assert result.notes == ["duration depends on the service's queue"]


def test_examples_over_the_context_limit_are_billed_at_the_limit():
    card = _card("gpt-4.1-nano")  # 32,768 tokens per example
    tokens = [100, 40_000, 32_768]
    result = estimate(
        n_examples=3,
        tokens_per_example=tokens,
        total_tokens=sum(tokens),
        options=JobOptions(model=card.id, hyperparameters=Hyperparameters(n_epochs=1)),
        card=card,
        backend="openai",
    )
    assert result.trained_tokens == 100 + 32_768 + 32_768
    assert "1 example over the 32,768-token limit per example counted as 32,768 tokens" in result.notes[1]


def test_auto_values_resolve_and_say_so():
    result = estimate(
        n_examples=73,
        tokens_per_example=None,
        total_tokens=7_300,
        options=JobOptions(model=GPT41_MINI),
        card=_card(GPT41_MINI),
        backend="azure",
    )
    assert (result.n_epochs, result.batch_size, result.steps) == (3, 1, 219)
    assert result.trained_tokens == 21_900
    assert result.notes[:3] == [
        "auto epochs resolves to 3 for 73 examples",
        "auto batch size estimated as 1 (about 0.2% of the examples); the service decides",
        "assumes no example is over the 65,536-token limit per example",
    ]
    assert any("Azure bills its own rates" in note for note in result.notes)
    assert (
        estimate(
            n_examples=10,
            tokens_per_example=None,
            total_tokens=1_000,
            options=JobOptions(model=GPT41_MINI),
            card=_card(GPT41_MINI),
            backend="openai",
        ).n_epochs
        == 10
    )


def test_local_estimate_is_free_and_timed_at_the_measured_speed():
    card = _card("SmolLM2-135M-Instruct")
    result = estimate(
        n_examples=3,
        tokens_per_example=[100, 200, 300],
        total_tokens=600,
        options=JobOptions(model=card.id, hyperparameters=Hyperparameters(n_epochs=2)),
        card=card,
        backend="local",
    )
    assert result.batch_size == 3  # auto is 4, but never more than the examples
    assert result.steps == 2
    assert (result.trained_tokens, result.billable_tokens, result.cost_usd) == (1_200, 0, 0.0)
    assert result.duration_seconds == pytest.approx(1_200 / LOCAL_TOKENS_PER_SECOND)
    assert "free: runs on this machine" in result.notes
    assert any("230 tokens/s" in note for note in result.notes)


def test_unknown_prices():
    llama = _card("Meta-Llama-3.1-8B-Instruct")
    result = estimate(
        n_examples=100,
        tokens_per_example=None,
        total_tokens=10_000,
        options=JobOptions(model=llama.id),
        card=llama,
        backend="azure",
    )
    assert result.cost_usd is None
    assert "cost unknown: the catalog has no price for this model" in result.notes
    assert llama.training_price_note in result.notes
    assert (
        estimate(
            n_examples=100,
            tokens_per_example=None,
            total_tokens=10_000,
            options=JobOptions(model="x"),
            card=None,
            backend="compatible",
        ).cost_usd
        is None
    )


def test_no_examples():
    result = estimate(
        n_examples=0, tokens_per_example=[], total_tokens=0, options=JobOptions(model="x"), card=None, backend="local"
    )
    assert (result.steps, result.trained_tokens, result.duration_seconds) == (0, 0, 0.0)
