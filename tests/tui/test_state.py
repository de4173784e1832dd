"""The wizard's state: started from a job file, and the check it hands to submit."""

from __future__ import annotations

from pathlib import Path

from ftui.catalog import Method
from ftui.dataset import tokens
from ftui.dataset.fixes import copy_sample
from ftui.dataset.validator import TokenizerInfo, ValidationReport, validate_to_report
from ftui.jobfile import JobFile
from ftui.submit import DataChoice
from ftui.tui.state import WizardState

MODEL = "SmolLM2-135M-Instruct"


def test_a_job_file_with_local_paths_and_an_uploaded_id_fills_a_new_run(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "train.jsonl").write_text("{}\n")
    path = folder / "job.toml"
    path.write_text(
        f'model = "{MODEL}"\n'
        'training_file = "train.jsonl"\n'
        'validation_file = "file-abc123"\n'
        'method = "dpo"\n'
        "seed = 42\n"
        'suffix = "support"\n'
        "[hyperparameters]\nn_epochs = 3\nbeta = 0.2\n"
        '[metadata]\nteam = "support"\n'
    )

    state = WizardState.from_job_file(JobFile.load(path))

    assert state.model == MODEL and state.card is not None and state.card.id == MODEL
    assert state.method is Method.DPO
    assert state.training is not None and state.training.path == folder / "train.jsonl"
    assert state.training.file_id is None
    assert state.validation == DataChoice.uploaded("file-abc123")
    assert state.hyperparameters.n_epochs == 3 and state.hyperparameters.beta == 0.2
    assert (state.seed, state.suffix, state.metadata) == (42, "support", {"team": "support"})
    assert state.report is None and state.missing() == []
    options = state.job_options()
    assert options.metadata == {"team": "support"} and options.seed == 42


def test_a_job_file_round_trips_through_the_wizard(tmp_path: Path) -> None:
    training, validation = copy_sample(tmp_path / "data")
    state = WizardState(
        model=MODEL, training=DataChoice.local(training), validation=DataChoice.local(validation), seed=7
    )
    saved = JobFile.from_options(state.job_options(), state.training, state.validation, relative_to=tmp_path)
    path = saved.save(tmp_path / "job.toml")
    assert 'training_file = "data/' in path.read_text()

    again = WizardState.from_job_file(JobFile.load(path))
    assert again.training is not None and again.training.path == training
    assert again.validation is not None and again.validation.path == validation
    assert (again.model, again.seed) == (MODEL, 7)


def test_the_report_goes_to_submit_only_for_the_files_it_checked(tmp_path: Path) -> None:
    training, validation = copy_sample(tmp_path / "data")
    report = validate_to_report(training, validation, model=MODEL)
    state = WizardState(
        model=MODEL, training=DataChoice.local(training), validation=DataChoice.local(validation), report=report
    )
    assert state.report_for_files() is report
    state.validation = None
    assert state.report_for_files() is None, "the validation file changed since the check"
    state.validation, state.training = DataChoice.local(validation), DataChoice.uploaded("file-abc")
    assert state.report_for_files() is None


def test_estimated_counts_are_outdated_once_the_tokenizer_is_prepared(tmp_path: Path, monkeypatch) -> None:
    """The data step checks again (exactly) when the model's tokenizer appears; never for exact or other counts."""
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tokens, "_failed", {})
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tmp_path / "models"))
    estimated = ValidationReport.model_construct(
        model=MODEL, tokenizer=TokenizerInfo(name="estimate", exact=False), cancelled=False
    )
    state = WizardState(model=MODEL, report=estimated)
    assert not state.counts_outdated()
    prepared = tmp_path / "models" / MODEL
    prepared.mkdir(parents=True)
    (prepared / "tokenizer.json").write_text("{}")
    assert state.counts_outdated()
    state.report = estimated.model_copy(update={"tokenizer": TokenizerInfo(name=f"{MODEL} tokenizer", exact=True)})
    assert not state.counts_outdated()
    state.report = estimated.model_copy(update={"model": "gpt-4.1-mini-2025-04-14"})
    assert not state.counts_outdated()
    state.report = None
    assert not state.counts_outdated()
