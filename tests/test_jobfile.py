"""``job.toml``: loading with one-line errors, atomic saving, and the conversions to and from plans and jobs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from openai.types.fine_tuning import FineTuningJob

from ftui.catalog import Method
from ftui.client import decode_result_file
from ftui.jobfile import JobFile, JobFileError, is_file_id
from ftui.options import AUTO, REQUEST_METADATA, Hyperparameters, JobOptions
from ftui.submit import DataChoice, SubmitPlan

FULL = """\
model = "gpt-4.1-mini-2025-04-14"
training_file = "data/train.jsonl"
validation_file = "file-abc123"
method = "dpo"
seed = 42
suffix = "support-bot"

[hyperparameters]
n_epochs = 3
batch_size = "auto"
learning_rate_multiplier = 0.1
beta = 0.2

[metadata]
team = "support"
"""
AZURE_JOB = Path(__file__).parent / "data" / "azure-examples" / "get_finetuning_job.json"


def write(folder: Path, text: str, name: str = "job.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_job_file_loads_with_paths_relative_to_its_folder(tmp_path: Path) -> None:
    job_file = JobFile.load(write(tmp_path, FULL))
    assert job_file.model == "gpt-4.1-mini-2025-04-14" and job_file.method == "dpo"
    assert job_file.hyperparameters == Hyperparameters(n_epochs=3, learning_rate_multiplier=0.1, beta=0.2)
    assert job_file.metadata == {"team": "support"} and job_file.seed == 42
    assert job_file.training() == DataChoice.local(tmp_path.resolve() / "data" / "train.jsonl")
    assert job_file.validation() == DataChoice.uploaded("file-abc123")


def test_to_plan_carries_every_field_into_the_request(tmp_path: Path) -> None:
    plan = JobFile.load(write(tmp_path, FULL)).to_plan()
    assert plan.seed == 42 and plan.card is not None and plan.card.id.startswith("gpt-4.1-mini")
    body = plan.options.to_request("file-train", "file-abc123", seed=plan.seed)
    assert body["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"batch_size": AUTO, "learning_rate_multiplier": 0.1, "n_epochs": 3, "beta": 0.2}},
    }
    assert body["metadata"] == {**REQUEST_METADATA, "team": "support"} and body["suffix"] == "support-bot"


def test_a_seed_is_generated_when_the_file_has_none_and_an_explicit_one_wins(tmp_path: Path) -> None:
    job_file = JobFile.from_toml('model = "m"\ntraining_file = "t.jsonl"\n')
    assert job_file.to_plan().seed >= 0 and job_file.to_plan(seed=5).seed == 5
    assert job_file.folder == Path.cwd()
    assert job_file.with_folder(tmp_path).training().path == tmp_path / "t.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "m"\ntraining_file = "t"\nepochs = 3\n', "job.toml: unknown key 'epochs'; the keys are: model, "),
        (
            'model = "m"\ntraining_file = "t"\n[hyperparameters]\nepochs = 3\n',
            "job.toml: unknown key 'hyperparameters.epochs'; the keys are: n_epochs, batch_size,",
        ),
        (
            'model = "m"\ntraining_file = "t"\n[hyperparameters]\nn_epochs = 0\n',
            "job.toml: hyperparameters.n_epochs: n_epochs must be a whole number from 1 to 50",
        ),
        ('model = "m"\ntraining_file = "t"\nmethod = "reinforcement"\n', "job.toml: method: Input should be"),
        ('model = "m"\ntraining_file = "t"\nseed = "seven"\n', "job.toml: seed: Input should be a valid integer"),
        ('model = 3\ntraining_file = "t"\n', "job.toml: model: Input should be a valid string"),
        ('training_file = "t"\n', "job.toml: 'model' is missing"),
        (
            'model = "m"\ntraining_file = "t"\n[metadata]\nn = 1\n',
            "job.toml: metadata.n: Input should be a valid string",
        ),
        ('model = "m"\ntraining_file = \n', "job.toml: not valid TOML: "),
    ],
)
def test_wrong_files_get_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(JobFileError) as caught:
        JobFile.from_toml(text, source="job.toml")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_metadata_limits() -> None:
    too_many = {f"k{i}": "v" for i in range(16)}
    with pytest.raises(JobFileError, match="at most 15 keys of your own"):
        JobFile(model="m", training_file="t").from_mapping({"model": "m", "training_file": "t", "metadata": too_many})
    assert JobOptions(model="m", metadata={f"k{i}": "v" for i in range(15)}).metadata
    with pytest.raises(ValueError, match="the limit is 64"):
        JobOptions(model="m", metadata={"k" * 65: "v"})
    with pytest.raises(ValueError, match="the limit is 512"):
        JobOptions(model="m", metadata={"k": "v" * 513})


def test_a_missing_or_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match=r"job\.toml: no such job file$"):
        JobFile.load(tmp_path / "job.toml")
    with pytest.raises(JobFileError, match="cannot be read"):
        JobFile.load(tmp_path)


def test_save_round_trips_atomically_and_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    original = JobFile.load(write(tmp_path, FULL))
    target = tmp_path / "out" / "copy.toml"
    original.save(target)
    assert JobFile.load(target).model_dump() == original.model_dump()
    assert list(target.parent.iterdir()) == [target], "no temporary file is left behind"
    with pytest.raises(FileExistsError):
        original.save(target, force=False)
    supervised = original.model_copy(update={"method": "supervised", "hyperparameters": Hyperparameters()})
    supervised.save(target)
    table = tomllib.loads(target.read_text())
    assert "beta" not in table["hyperparameters"] and "seed" in table
    assert list(table)[:4] == ["model", "training_file", "validation_file", "method"]


def test_from_plan_writes_paths_relative_to_the_folder_it_is_saved_in(tmp_path: Path) -> None:
    plan = SubmitPlan(
        options=JobOptions(model="m", suffix="s", metadata={"a": "b"}),
        training=DataChoice.local(tmp_path / "data" / "train.jsonl"),
        validation=DataChoice.uploaded("file-v", "val.jsonl"),
        seed=9,
    )
    job_file = JobFile.from_plan(plan, relative_to=tmp_path)
    assert (job_file.training_file, job_file.validation_file, job_file.seed) == ("data/train.jsonl", "file-v", 9)
    elsewhere = JobFile.from_plan(plan, relative_to=tmp_path / "other")
    assert elsewhere.training_file == str((tmp_path / "data" / "train.jsonl").resolve())
    saved = job_file.save(tmp_path / "job.toml")
    again = JobFile.load(saved).to_plan()
    assert again.training == DataChoice.local(tmp_path.resolve() / "data" / "train.jsonl")
    assert again.options == plan.options.model_copy(update={"seed": 9})
    assert (again.validation, again.seed) == (DataChoice.uploaded("file-v"), 9)


def test_from_job_takes_settings_and_file_ids() -> None:
    options = JobOptions(
        model="gpt-4.1-mini-2025-04-14",
        method=Method.DPO,
        hyperparameters=Hyperparameters(n_epochs=2, beta=0.5),
        suffix="bot",
        metadata={"team": "a"},
    )
    body = options.to_request("file-t", "file-v", seed=3)
    job = FineTuningJob.model_validate(
        {
            **body,
            "id": "ftjob-1",
            "object": "fine_tuning.job",
            "created_at": 1,
            "status": "succeeded",
            "fine_tuned_model": "ft:gpt-4.1-mini-2025-04-14:org:bot:abc",
            "organization_id": "org",
            "result_files": [],
            "finished_at": 2,
            "error": None,
            "hyperparameters": {},
            "trained_tokens": 10,
        }
    )
    job_file = JobFile.from_job(job)
    assert (job_file.training_file, job_file.validation_file, job_file.seed) == ("file-t", "file-v", 3)
    assert job_file.options() == options.model_copy(update={"seed": 3})
    assert job_file.metadata == {"team": "a"}, "ftui's own created_with is not copied"


def test_from_job_reads_an_azure_job() -> None:
    body = json.loads(AZURE_JOB.read_text())["responses"]["200"]["body"]
    job_file = JobFile.from_job(body)
    assert job_file.model == "curie" and job_file.training_file == body["training_file"]
    assert job_file.hyperparameters == Hyperparameters(), "Azure's n_epochs -1 means auto"
    assert job_file.validation_file is None and job_file.method == "supervised"


def test_file_ids_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_file_id("file-abc123") and is_file_id("file-181a1cbdcdcf4677ada87f63a0928099")
    assert not is_file_id("train.jsonl") and not is_file_id("data/file-abc")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file-local").write_text("{}\n")
    assert not is_file_id("file-local"), "a local file of that name is a path"


def test_result_files_decode_from_base64_or_stay_as_they_are() -> None:
    csv = b"step,train_loss,train_accuracy\n1,1.5,0.4\n"
    assert decode_result_file(csv) == csv
    import base64

    assert decode_result_file(base64.b64encode(csv)) == csv
    assert decode_result_file(b"") == b""
