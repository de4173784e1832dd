"""End-to-end tests of the ``ftui`` command, run as a real subprocess (see conftest.run_cli)."""

from __future__ import annotations

import ctypes
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from ftui import __version__
from ftui.catalog import Method, Provider, Task, load_catalog

SYSTEM = "You are the support assistant for a small outdoor shop."

EMAIL = "jane.doe@example.com"
PHONE = "+1 415 555 0123"
CARD = "4111 1111 1111 1111"  # Luhn-valid test number
API_KEY = "sk-proj-Zq3xV9tL2mN8pR4sW7yB1cD6fG0hJ5kQ"


def chat(user: str, reply: str = "Happy to help.", system: str = SYSTEM) -> dict:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
    }


def distinct_examples(count: int) -> list[dict]:
    return [
        chat(f"Question number {i}: where is my order {1000 + i}?", f"Order {1000 + i} ships today.")
        for i in range(count)
    ]


def assert_no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in err and "Traceback" not in out, err or out


def assert_one_line_usage_error(code: int, out: str, err: str) -> str:
    """Exit 2, no traceback, exactly one non-empty line on stderr; returns that line."""
    assert code == 2, (code, out, err)
    assert_no_traceback(out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line message on stderr, got:\n{err}"
    return lines[0]


def file_state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def run_json(run_cli, *args) -> tuple[int, dict]:
    code, out, err = run_cli("validate", *args, "--json")
    assert_no_traceback(out, err)
    report = orjson.loads(out)
    assert isinstance(report, dict)
    return code, report


def codes_of(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"]}


# ---------------------------------------------------------------------------------------------------------------
# ftui validate
# ---------------------------------------------------------------------------------------------------------------


def test_validate_bundled_sample_passes(run_cli, sample_paths):
    training, validation = sample_paths
    code, out, err = run_cli("validate", training, "--validation", validation)
    assert code == 0, out + err
    assert err == ""
    assert "OK" in out
    assert "FAILED" not in out
    assert "Errors (" not in out
    assert str(training) in out and str(validation) in out


def test_validate_lists_errors_by_line(run_cli, write_jsonl, tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            chat("Hello there"),
            '{"messages": [{"role": "user", "content": "cut off',
            chat("Another question"),
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 2}]},
        ],
    )
    code, out, err = run_cli("validate", path)
    assert code == 1, out + err
    assert_no_traceback(out, err)
    assert "FAILED" in out
    assert re.search(r"training, line 2\b.*\[invalid_json\]", out)
    assert re.search(r"training, line 4, messages\[1\]\.weight: .*\[invalid_weight\]", out)
    # the good lines are not reported as errors
    assert not re.search(r"line [13]\b.*\[(invalid_json|invalid_weight)\]", out)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["missing.jsonl"], "no such file", id="missing-path"),
        pytest.param(["."], "is a directory", id="directory"),
        pytest.param(["GOOD", "--validation", "missing.jsonl"], "no such file", id="missing-validation"),
        pytest.param(["GOOD", "--model", "no-such-model-9000"], "unknown model", id="unknown-model"),
        pytest.param(["GOOD", "--n-epochs", "0"], "--n-epochs", id="n-epochs-zero"),
    ],
)
def test_validate_usage_problems_are_one_line_exit_2(run_cli, write_jsonl, tmp_path, args, expected):
    good = write_jsonl(tmp_path / "good.jsonl", distinct_examples(3))
    args = [str(good) if a == "GOOD" else a for a in args]
    code, out, err = run_cli("validate", *args)
    line = assert_one_line_usage_error(code, out, err)
    assert expected in line
    assert out == ""


def test_validate_non_numeric_flag_value_has_a_plain_message(run_cli, write_jsonl, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", distinct_examples(3))
    code, out, err = run_cli("validate", good, "--n-epochs", "three")
    assert code == 2
    assert_no_traceback(out, err)
    assert "--n-epochs" in err
    # The message is for users: it must not name the internal parser function (argparse's default wording).
    assert "_positive_int" not in err, err


def _can_drop_dac_capabilities() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(23, 1, 0, 0, 0) == 1  # PR_CAPBSET_READ(CAP_DAC_OVERRIDE) -> still in the bounding set
    except (OSError, AttributeError):
        return False


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _drop_dac_capabilities() -> None:
    """Stay root but lose the capabilities that let root ignore file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; exec then recomputes root's sets from it
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _unprivileged_preexec() -> Callable[[], None] | None:
    """How to run the CLI so that mode 000 really stops reads.

    As a normal user: nothing to do. As root: switch to ``nobody`` when nobody can start this interpreter;
    otherwise (the interpreter lives under a root-only directory such as /root/.pyenv) stay root but drop the
    DAC-override capabilities, which has the same effect on a root-owned mode-000 file.
    """
    if os.geteuid() != 0:
        return None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import ftui"], preexec_fn=_drop_to_nobody, capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return _drop_to_nobody
    except (PermissionError, OSError, subprocess.SubprocessError):
        pass
    if _can_drop_dac_capabilities():
        return _drop_dac_capabilities
    pytest.skip("running as root and cannot drop privileges to make a file unreadable")


@pytest.fixture
def unreadable_file(write_jsonl) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """A mode-000 dataset in a fresh world-traversable dir under /tmp, and the preexec_fn that makes it unreadable."""
    folder = Path(tempfile.mkdtemp(prefix="ftui-perm-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = write_jsonl(folder / "locked.jsonl", distinct_examples(3))
        path.chmod(0o000)
        preexec = _unprivileged_preexec()
        # Sanity check: the way we run the CLI really cannot read the file.
        probe = subprocess.run(
            [sys.executable, "-c", f"open({str(path)!r}, 'rb')"], preexec_fn=preexec, capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            pytest.skip("this environment ignores file permissions")
        assert b"PermissionError" in probe.stderr
        yield path, preexec
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_validate_unreadable_file_is_one_line_exit_2(run_cli, unreadable_file):
    path, preexec = unreadable_file
    code, out, err = run_cli("validate", path, cwd=path.parent, preexec_fn=preexec)
    line = assert_one_line_usage_error(code, out, err)
    assert "permission denied" in line.lower()
    assert str(path) in line


def test_clean_unreadable_file_is_exit_2(run_cli, unreadable_file):
    path, preexec = unreadable_file
    out_path = path.parent / "out.jsonl"
    code, out, err = run_cli("data", "clean", path, "--out", out_path, cwd=path.parent, preexec_fn=preexec)
    line = assert_one_line_usage_error(code, out, err)
    assert "permission denied" in line.lower()
    assert not out_path.exists()


def test_validate_json_report(run_cli, write_jsonl, tmp_path):
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            chat("hi", "hello"),  # 1 valid
            '{"messages": [',  # 2 invalid JSON
            {  # 3 unknown role (error) and no user message (warning)
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "bogus", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ]
            },
            chat(f"write to {EMAIL}", "ok"),  # 4 valid, e-mail address (warning)
            chat("hi", "hello"),  # 5 duplicate of line 1 (warning)
        ],
    )
    code, report = run_json(run_cli, path)
    assert code == 1
    assert report["training"]["examples"] == 3  # lines 1, 4, 5
    assert report["training"]["lines"] == 5
    assert report["training"]["invalid_lines"] == 2
    assert report["validation"] is None
    assert report["errors"] == 2
    assert report["warnings"] == 4  # no_user_message, sensitive_data, duplicate_example, few_examples
    findings = {(f["code"], f["line"]): f for f in report["findings"]}
    assert set(findings) == {
        ("invalid_json", 2),
        ("unknown_role", 3),
        ("no_user_message", 3),
        ("sensitive_data", 4),
        ("duplicate_example", 5),
        ("few_examples", None),
    }
    assert findings[("invalid_json", 2)]["severity"] == "error"
    assert findings[("invalid_json", 2)]["location"] is None
    assert findings[("unknown_role", 3)]["severity"] == "error"
    assert findings[("unknown_role", 3)]["location"] == "messages[1].role"
    assert findings[("no_user_message", 3)]["severity"] == "warning"
    assert findings[("no_user_message", 3)]["location"] == "messages"
    sensitive = findings[("sensitive_data", 4)]
    assert sensitive["severity"] == "warning"
    assert sensitive["location"] == "messages[1].content"
    assert sensitive["kind"] == "email"
    start, end = sensitive["span"]
    assert f"write to {EMAIL}"[start:end] == EMAIL
    assert findings[("duplicate_example", 5)]["severity"] == "warning"
    assert "line 1" in findings[("duplicate_example", 5)]["message"]
    assert all(f["file"] == "training" for f in report["findings"])
    # personal data is reported by position, never printed
    assert EMAIL not in orjson.dumps(report).decode()
    # every listed finding is counted, and no more
    assert report["findings_not_listed"] == 0
    assert sum(1 for f in report["findings"] if f["severity"] == "error") == report["errors"]


def test_validate_json_finding_counts_cover_file_level_findings(run_cli, write_jsonl, tmp_path):
    """training.finding_counts should count every training finding, file-level ones (few_examples) included."""
    path = write_jsonl(tmp_path / "few.jsonl", [*distinct_examples(3), "not json"])
    code, report = run_json(run_cli, path)
    assert code == 1
    listed = {}
    for item in report["findings"]:
        listed[item["code"]] = listed.get(item["code"], 0) + 1
    assert "few_examples" in listed
    assert report["training"]["finding_counts"] == listed


def test_validate_json_with_openai_model_counts_tokens_exactly_and_offline(run_cli, cli_env, sample_paths):
    training, validation = sample_paths
    code, report = run_json(run_cli, training, "--validation", validation, "--model", "gpt-4o-mini", "--n-epochs", "2")
    assert code == 0
    assert report["model"] == "gpt-4o-mini-2024-07-18"
    assert report["tokenizer"] == {"name": "o200k_base", "exact": True, "note": ""}
    assert report["n_epochs"] == 2 and report["n_epochs_auto"] is False
    assert report["billable_tokens"] == 2 * report["training"]["total_tokens"]
    assert report["training"]["examples"] == 73 and report["validation"]["examples"] == 18
    assert report["errors"] == 0
    # Any tokenizer file went into the isolated cache dir, not the user's (the bpe-openai counter needs none).
    cache = Path(cli_env["XDG_CACHE_HOME"]) / "ftui" / "tiktoken"
    assert len(list(cache.iterdir()) if cache.exists() else []) <= 1


def test_gzip_file_validates_like_its_plain_twin(run_cli, write_jsonl, tmp_path):
    plain = write_jsonl(
        tmp_path / "data.jsonl",
        [
            *distinct_examples(12),
            "{broken",
            chat("Question number 3: where is my order 1003?", "Order 1003 ships today."),
        ],
    )
    packed = tmp_path / "data.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    code_plain, report_plain = run_json(run_cli, plain)
    code_packed, report_packed = run_json(run_cli, packed)
    assert code_plain == code_packed == 1
    assert report_packed["training"].pop("path") == str(packed)
    assert report_plain["training"].pop("path") == str(plain)
    assert report_packed == report_plain
    assert {(f["code"], f["line"]) for f in report_plain["findings"]} >= {
        ("invalid_json", 13),
        ("duplicate_example", 14),
    }


def test_truncated_gzip_file_is_not_reported_ok(run_cli, tmp_path):
    """A .gz cut off mid-stream loses examples; validation must not pass it (exit 0) with only a warning."""
    lines = b"".join(orjson.dumps(e) + b"\n" for e in distinct_examples(4000))
    packed = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    code, out, err = run_cli("validate", path)
    assert_no_traceback(out, err)
    assert code in (1, 2), f"a truncated gzip file passed validation:\n{out}"


def _big_line(size: int) -> bytes:
    filler = b"a" * size
    return b'{"messages": [{"role": "user", "content": "' + filler + b'"}, {"role": "assistant", "content": "ok"}]}'


@pytest.mark.parametrize(
    ("content", "expected_code", "expected_line"),
    [
        pytest.param(b"", "empty_file", None, id="zero-bytes"),
        pytest.param(b"\x00\x01\x02\x03PK\x03\x04\x00\x00binary\xff\xfe\x00\n" * 20, "binary_file", None, id="binary"),
        pytest.param(
            "\ufeff".encode("utf-16-le") + '{"messages": []}\n'.encode("utf-16-le"), "binary_file", None, id="utf-16"
        ),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "caf\xe9"}, {"role": "assistant", "content": "ok"}]}\n',
            "not_utf8",
            1,
            id="latin-1",
        ),
        pytest.param(_big_line(17 * 1024 * 1024) + b"\n", "line_too_long", 1, id="17MB-line"),
        pytest.param(b"\n\n   \n", "empty_file", None, id="blank-lines-only"),
    ],
)
def test_degenerate_files_give_a_finding_not_a_traceback(run_cli, tmp_path, content, expected_code, expected_line):
    path = tmp_path / "odd.jsonl"
    path.write_bytes(content)
    code, report = run_json(run_cli, path)
    assert code == 1
    assert report["errors"] >= 1
    matching = [f for f in report["findings"] if f["code"] == expected_code]
    assert matching, report["findings"]
    assert matching[0]["severity"] == "error"
    assert matching[0]["line"] == expected_line
    assert matching[0]["message"]
    # and the human report says the same thing, without a traceback
    code, out, err = run_cli("validate", path)
    assert code == 1
    assert_no_traceback(out, err)
    assert f"[{expected_code}]" in out


def test_bom_and_crlf_validate_like_the_plain_file(run_cli, sample_paths, tmp_path):
    training, _ = sample_paths
    odd = tmp_path / "windows.jsonl"
    odd.write_bytes(b"\xef\xbb\xbf" + training.read_bytes().replace(b"\n", b"\r\n"))
    code_plain, plain = run_json(run_cli, training)
    code_odd, windows = run_json(run_cli, odd)
    assert code_plain == code_odd == 0
    assert windows["training"]["examples"] == plain["training"]["examples"] == 73
    assert windows["findings"] == plain["findings"]
    assert windows["training"]["total_tokens"] == plain["training"]["total_tokens"]


def test_no_arguments_without_a_terminal_prints_help_and_says_the_wizard_needs_one(run_cli):
    code, out, err = run_cli()
    assert code == 2
    assert_no_traceback(out, err)
    assert "usage: ftui" in out
    assert "needs a terminal" in err
    for command in ("validate", "data", "catalog"):
        assert command in out


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"ftui {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


# ---------------------------------------------------------------------------------------------------------------
# ftui data split
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def split_input(write_jsonl, tmp_path) -> Path:
    """50 distinct examples with two blank lines in between."""
    items: list = distinct_examples(50)
    items.insert(10, "")
    items.insert(30, "   ")
    return write_jsonl(tmp_path / "in" / "train.jsonl", items)


def _nonblank(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _split(run_cli, source: Path, name: str, *extra: str) -> tuple[Path, Path, str]:
    train = source.parent / f"{name}.train.jsonl"
    val = source.parent / f"{name}.val.jsonl"
    code, out, err = run_cli(
        "data", "split", source, "--validation-fraction", "0.2", "--train-out", train, "--validation-out", val, *extra
    )
    assert code == 0, out + err
    assert_no_traceback(out, err)
    return train, val, out


def test_split_is_deterministic_for_a_seed(run_cli, split_input):
    a_train, a_val, _ = _split(run_cli, split_input, "a", "--seed", "7")
    b_train, b_val, _ = _split(run_cli, split_input, "b", "--seed", "7")
    c_train, c_val, _ = _split(run_cli, split_input, "c", "--seed", "8")
    assert a_train.read_bytes() == b_train.read_bytes()
    assert a_val.read_bytes() == b_val.read_bytes()
    assert a_val.read_bytes() != c_val.read_bytes()
    assert a_train.read_bytes() != c_train.read_bytes()


def test_split_counts_order_and_union(run_cli, split_input):
    before = file_state(split_input)
    train, val, out = _split(run_cli, split_input, "s", "--seed", "11")
    source_lines = _nonblank(split_input)
    assert len(source_lines) == 50
    train_lines, val_lines = train.read_bytes().splitlines(), val.read_bytes().splitlines()
    assert len(val_lines) == 10 and len(train_lines) == 40  # 0.2 of 50
    assert "seed 11" in out and "40 to" in out and "10 to" in out
    assert "2 blank lines" in out
    # every non-blank input line lands in exactly one output
    assert sorted(train_lines + val_lines) == sorted(source_lines)
    assert not set(train_lines) & set(val_lines)
    # both outputs keep the input order
    position = {line: index for index, line in enumerate(source_lines)}
    for lines in (train_lines, val_lines):
        indices = [position[line] for line in lines]
        assert indices == sorted(indices)
    # outputs are newline-terminated JSONL
    assert train.read_bytes().endswith(b"\n") and val.read_bytes().endswith(b"\n")
    # the input is untouched
    assert file_state(split_input) == before


def test_split_default_output_names_and_no_overwrite(run_cli, split_input):
    code, out, err = run_cli("data", "split", split_input, "--validation-fraction", "0.2", "--seed", "1")
    assert code == 0, err
    train = split_input.with_name("train.train.jsonl")
    val = split_input.with_name("train.validation.jsonl")
    assert train.is_file() and val.is_file()
    first = (train.read_bytes(), val.read_bytes())
    # a second run refuses to overwrite, and changes nothing
    code, out, err = run_cli("data", "split", split_input, "--validation-fraction", "0.5", "--seed", "2")
    line = assert_one_line_usage_error(code, out, err)
    assert "already exists" in line and "--force" in line
    assert (train.read_bytes(), val.read_bytes()) == first
    # --force replaces both
    code, out, err = run_cli("data", "split", split_input, "--validation-fraction", "0.5", "--seed", "2", "--force")
    assert code == 0, err
    assert len(val.read_bytes().splitlines()) == 25


def test_split_refuses_when_only_one_output_exists(run_cli, split_input):
    val = split_input.with_name("keep.jsonl")
    val.write_bytes(b"precious\n")
    train = split_input.with_name("new-train.jsonl")
    code, out, err = run_cli(
        "data", "split", split_input, "--validation-fraction", "0.2", "--train-out", train, "--validation-out", val
    )
    assert_one_line_usage_error(code, out, err)
    assert val.read_bytes() == b"precious\n"
    assert not train.exists()


@pytest.mark.parametrize("flag", ["--train-out", "--validation-out"])
@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_split_never_writes_over_its_input(run_cli, split_input, flag, spelling):
    before = file_state(split_input)
    if spelling == "same":
        target = split_input
    elif spelling == "dotted":
        (split_input.parent / "sub").mkdir()
        target = split_input.parent / "sub" / ".." / split_input.name
    else:
        target = split_input.parent / "link.jsonl"
        target.symlink_to(split_input)
    other = "--validation-out" if flag == "--train-out" else "--train-out"
    code, out, err = run_cli(
        "data", "split", split_input, "--validation-fraction", "0.2", flag, target,
        other, split_input.parent / "other.jsonl", "--force",
    )  # fmt: skip
    line = assert_one_line_usage_error(code, out, err)
    assert "input" in line
    assert file_state(split_input) == before
    assert not (split_input.parent / "other.jsonl").exists()


def test_split_refuses_two_spellings_of_one_output(run_cli, split_input):
    """--train-out x.jsonl --validation-out sub/../x.jsonl name one file: one split would silently overwrite the other."""
    (split_input.parent / "sub").mkdir()
    out_path = split_input.parent / "x.jsonl"
    code, out, err = run_cli(
        "data", "split", split_input, "--validation-fraction", "0.2", "--seed", "1",
        "--train-out", out_path, "--validation-out", split_input.parent / "sub" / ".." / "x.jsonl",
    )  # fmt: skip
    assert code == 2, f"both outputs were written to one file:\n{out}"
    assert_no_traceback(out, err)
    assert not out_path.exists()


@pytest.mark.parametrize("fraction", ["0", "1", "1.5", "-0.1", "abc"])
def test_split_rejects_bad_fractions(run_cli, split_input, fraction):
    code, out, err = run_cli("data", "split", split_input, "--validation-fraction", fraction)
    assert code == 2
    assert_no_traceback(out, err)
    assert "--validation-fraction" in err
    assert sorted(p.name for p in split_input.parent.iterdir()) == ["train.jsonl"]


def test_split_does_not_call_an_overlong_line_blank(run_cli, write_jsonl, tmp_path):
    """A 17 MB line is not blank: split must not drop it silently as a 'blank line'."""
    source = write_jsonl(tmp_path / "big.jsonl", [*distinct_examples(10), _big_line(17 * 1024 * 1024)])
    train, val = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
    code, out, err = run_cli(
        "data", "split", source, "--validation-fraction", "0.2", "--seed", "1", "--train-out", train,
        "--validation-out", val,
    )  # fmt: skip
    assert_no_traceback(out, err)
    if code == 0:
        assert "blank" not in out.lower(), f"the 17 MB line 11 was reported as blank: {out}"
        kept = len(train.read_bytes().splitlines()) + len(val.read_bytes().splitlines())
        assert kept == 11 or "11" in out, f"line 11 vanished without mention: {out}"
    else:
        assert code == 2


# ---------------------------------------------------------------------------------------------------------------
# ftui data clean
# ---------------------------------------------------------------------------------------------------------------

SENSITIVE_USER = f"Mail me at {EMAIL} or call {PHONE}"
SECRET_USER = f"My card is {CARD} and my key is {API_KEY}"
SECRET_VALUES = (EMAIL, PHONE, CARD, API_KEY)


@pytest.fixture
def dirty_input(write_jsonl, tmp_path) -> Path:
    return write_jsonl(
        tmp_path / "dirty.jsonl",
        [
            chat("Where is my order?", "It ships today."),  # 1 kept
            chat("Where is my order?", "It ships today."),  # 2 duplicate of 1
            "this is not json",  # 3 invalid
            "",  # 4 blank
            chat(SENSITIVE_USER, "Thanks, noted."),  # 5 kept, redacted: email + phone
            chat(SECRET_USER, "Please never share those."),  # 6 kept, redacted: card + key
            chat("Can I return boots?", "Yes, within 30 days."),  # 7 kept
            {"messages": "nope"},  # 8 invalid
            '{"messages": [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It ships today."}],  "extra": 1',  # 9 invalid
        ],
    )


def _clean(run_cli, source: Path, out_path: Path, *extra: str) -> str:
    code, out, err = run_cli("data", "clean", source, "--out", out_path, *extra)
    assert code == 0, out + err
    assert_no_traceback(out, err)
    for value in SECRET_VALUES:
        assert value not in out and value not in err
    return out


def test_clean_drops_invalid_and_duplicates_and_redacts(run_cli, dirty_input, tmp_path):
    before = file_state(dirty_input)
    out_path = tmp_path / "clean.jsonl"
    out = _clean(run_cli, dirty_input, out_path)
    lines = out_path.read_bytes().splitlines()
    assert len(lines) == 4
    objects = [orjson.loads(line) for line in lines]
    users = [o["messages"][1]["content"] for o in objects]
    assert users[0] == "Where is my order?"
    assert users[1] == "Mail me at [EMAIL] or call [PHONE]"
    assert users[2] == "My card is [CARD_NUMBER] and my key is [SECRET]"
    assert users[3] == "Can I return boots?"
    # structure is preserved: roles and the other messages are unchanged
    assert [m["role"] for m in objects[1]["messages"]] == ["system", "user", "assistant"]
    assert objects[2]["messages"][2]["content"] == "Please never share those."
    text = out_path.read_text()
    for value in SECRET_VALUES:
        assert value not in text
    # the summary says what changed, by line number
    assert "kept 4" in out
    assert re.search(r"Dropped 3 lines with errors \(lines 3, 8, 9\)", out), out
    assert re.search(r"Removed 1 duplicate \(line 2\)", out), out
    assert "1 blank" in out
    assert re.search(r"Redacted 4 spans in 2 examples", out), out
    assert file_state(dirty_input) == before


def test_clean_output_validates_without_errors(run_cli, dirty_input, tmp_path):
    out_path = tmp_path / "clean.jsonl"
    _clean(run_cli, dirty_input, out_path)
    code, report = run_json(run_cli, out_path)
    assert code == 0
    assert report["errors"] == 0
    assert report["training"]["examples"] == 4
    assert not codes_of(report) & {"duplicate_example", "sensitive_data", "invalid_json"}


def test_clean_is_deterministic(run_cli, dirty_input, tmp_path):
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    out_one = _clean(run_cli, dirty_input, first)
    out_two = _clean(run_cli, dirty_input, second)
    assert first.read_bytes() == second.read_bytes()
    assert out_one.replace(str(first), "X") == out_two.replace(str(second), "X")


def test_clean_default_output_no_overwrite_and_force(run_cli, dirty_input):
    default = dirty_input.with_name("dirty.clean.jsonl")
    code, out, err = run_cli("data", "clean", dirty_input)
    assert code == 0, err
    assert default.is_file()
    default.write_bytes(b"hand edited\n")
    code, out, err = run_cli("data", "clean", dirty_input)
    line = assert_one_line_usage_error(code, out, err)
    assert "already exists" in line
    assert default.read_bytes() == b"hand edited\n"
    code, out, err = run_cli("data", "clean", dirty_input, "--force")
    assert code == 0, err
    assert len(default.read_bytes().splitlines()) == 4


def test_clean_never_writes_over_its_input(run_cli, dirty_input):
    before = file_state(dirty_input)
    for target in (dirty_input, dirty_input.parent / "." / dirty_input.name):
        code, out, err = run_cli("data", "clean", dirty_input, "--out", target, "--force")
        line = assert_one_line_usage_error(code, out, err)
        assert "input" in line
    assert file_state(dirty_input) == before


def test_clean_keep_duplicates(run_cli, dirty_input, tmp_path):
    out_path = tmp_path / "dups.jsonl"
    out = _clean(run_cli, dirty_input, out_path, "--keep-duplicates")
    lines = out_path.read_bytes().splitlines()
    assert len(lines) == 5
    assert lines[0] == lines[1]
    assert "Removed" not in out


def test_clean_no_redact(run_cli, dirty_input, tmp_path):
    out_path = tmp_path / "raw.jsonl"
    out = _clean(run_cli, dirty_input, out_path, "--no-redact")
    text = out_path.read_text()
    for value in SECRET_VALUES:
        assert value in text
    assert "[EMAIL]" not in text and "[SECRET]" not in text
    assert "Redacted" not in out
    # the kept lines are the input lines, byte for byte
    source = dirty_input.read_bytes().splitlines()
    assert out_path.read_bytes().splitlines() == [source[0], source[4], source[5], source[6]]


def test_clean_with_model_drops_examples_over_its_token_limit(run_cli, write_jsonl, tmp_path):
    # SmolLM2 trains on at most 2,048 tokens per example; 12,000 bytes is about 3,000 estimated tokens.
    source = write_jsonl(tmp_path / "long.jsonl", [chat("x " * 6000), *distinct_examples(2)])
    out_path = tmp_path / "short.jsonl"
    out = _clean(run_cli, source, out_path, "--model", "smollm2-135m-instruct")
    assert len(out_path.read_bytes().splitlines()) == 2
    assert re.search(r"Dropped 1 example over the model.s token limit \(line 1\)", out), out
    code, out, err = run_cli("data", "clean", source, "--out", tmp_path / "x.jsonl", "--model", "gpt-99")
    assert "unknown model" in assert_one_line_usage_error(code, out, err)
    assert not (tmp_path / "x.jsonl").exists()


def test_clean_output_has_no_duplicates_after_redaction(run_cli, write_jsonl, tmp_path):
    """Two examples that differ only in an e-mail address become identical once redacted.

    The cleaned file should not contain duplicates that 'ftui validate' then flags (suggesting 'ftui data clean'),
    and cleaning the cleaned file again should change nothing.
    """
    source = write_jsonl(
        tmp_path / "twins.jsonl",
        [
            chat("Mail me at anna@example.com", "Noted."),
            chat("Mail me at bob@example.org", "Noted."),
            *distinct_examples(2),
        ],
    )
    once, twice = tmp_path / "once.jsonl", tmp_path / "twice.jsonl"
    _clean(run_cli, source, once)
    code, report = run_json(run_cli, once)
    assert code == 0
    assert "duplicate_example" not in codes_of(report), [f["message"] for f in report["findings"]]
    _clean(run_cli, once, twice)
    assert twice.read_bytes() == once.read_bytes()


def test_clean_reports_an_overlong_line_as_dropped_not_blank(run_cli, write_jsonl, tmp_path):
    source = write_jsonl(tmp_path / "big.jsonl", [*distinct_examples(3), _big_line(17 * 1024 * 1024)])
    out_path = tmp_path / "big.clean.jsonl"
    code, out, err = run_cli("data", "clean", source, "--out", out_path)
    assert code == 0, err
    assert len(out_path.read_bytes().splitlines()) == 3
    assert "blank" not in out.lower(), f"the 17 MB line 4 was reported as a blank line: {out}"
    assert re.search(r"lines? 4\b", out), out


# ---------------------------------------------------------------------------------------------------------------
# ftui data sample
# ---------------------------------------------------------------------------------------------------------------


def test_data_sample_writes_two_valid_files(run_cli, sample_paths, tmp_path):
    folder = tmp_path / "new" / "folder"
    code, out, err = run_cli("data", "sample", "--out", folder)
    assert code == 0, err
    training, validation = folder / "northwind-train.jsonl", folder / "northwind-validation.jsonl"
    assert sorted(p.name for p in folder.iterdir()) == sorted([training.name, validation.name])
    assert training.read_bytes() == sample_paths[0].read_bytes()
    assert validation.read_bytes() == sample_paths[1].read_bytes()
    assert f"ftui validate {training} --validation {validation}" in out
    code, out, err = run_cli("validate", training, "--validation", validation)
    assert code == 0, out + err
    assert "OK" in out
    # again: refuses to overwrite unless --force
    training.write_bytes(b"mine\n")
    code, out, err = run_cli("data", "sample", "--out", folder)
    assert_one_line_usage_error(code, out, err)
    assert training.read_bytes() == b"mine\n"
    code, out, err = run_cli("data", "sample", "--out", folder, "--force")
    assert code == 0, err
    assert training.read_bytes() == sample_paths[0].read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# ftui catalog
# ---------------------------------------------------------------------------------------------------------------


def _listed_ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_catalog_list_all(run_cli):
    code, out, err = run_cli("catalog", "list")
    assert code == 0, err
    assert _listed_ids(out) == [card.id for card in load_catalog().cards]


@pytest.mark.parametrize(
    ("args", "must", "must_not"),
    [
        (["--task", "translation"], {"t5-base"}, {"gpt-4o-mini-2024-07-18", "bert-base-uncased"}),
        (
            ["--method", "dpo"],
            {"gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14"},
            {"gpt-4o-mini-2024-07-18", "o4-mini-2025-04-16"},
        ),
        (["--method", "reinforcement"], {"o4-mini-2025-04-16"}, {"gpt-4.1-2025-04-14"}),
        (["--provider", "local"], {"SmolLM2-135M-Instruct"}, {"gpt-4o-2024-08-06", "t5-base"}),
        (["--search", "llama 70b"], {"Meta-Llama-3.1-70B-Instruct"}, {"Meta-Llama-3.1-8B-Instruct", "Llama-2-7b"}),
        (
            ["--task", "chat-completion", "--method", "dpo", "--provider", "azure"],
            {"gpt-4.1-nano-2025-04-14"},
            {"t5-base", "Phi-4-mini-instruct"},
        ),
    ],
)
def test_catalog_list_filters(run_cli, args, must, must_not):
    code, out, err = run_cli("catalog", "list", *args)
    assert code == 0, err
    ids = set(_listed_ids(out))
    assert must <= ids
    assert not (must_not & ids)


def test_catalog_list_json_matches_the_catalog(run_cli):
    code, out, err = run_cli("catalog", "list", "--method", "dpo", "--json")
    assert code == 0, err
    cards = orjson.loads(out)
    assert isinstance(cards, list) and cards
    expected = load_catalog().filter(method=Method.DPO)
    assert [c["id"] for c in cards] == [c.id for c in expected]
    assert all("dpo" in c["methods"] for c in cards)
    assert {"capabilities", "limitations", "biases", "tokenizer", "providers"} <= set(cards[0])
    code, out, _ = run_cli("catalog", "list", "--task", "translation", "--provider", "foundry", "--json")
    assert [c["id"] for c in orjson.loads(out)] == [
        c.id for c in load_catalog().filter(task=Task.TRANSLATION, provider=Provider.FOUNDRY)
    ]


def test_catalog_list_no_match_and_bad_filter(run_cli):
    code, out, err = run_cli("catalog", "list", "--search", "zzz-no-such-model")
    assert code == 0
    assert "No model matches" in out
    code, out, err = run_cli("catalog", "list", "--search", "zzz-no-such-model", "--json")
    assert code == 0 and orjson.loads(out) == []
    code, out, err = run_cli("catalog", "list", "--task", "juggling")
    line = assert_one_line_usage_error(code, out, err)
    assert "juggling" in line and "translation" in line


def test_catalog_show(run_cli):
    code, out, err = run_cli("catalog", "show", "gpt-4o-mini")
    assert code == 0, err
    assert out.startswith("GPT-4o mini  [gpt-4o-mini-2024-07-18]")
    for label in ("Capabilities", "Pretraining data", "Limitations", "Biases", "License", "Training price", "Sources:"):
        assert label in out
    assert "$3.00 per 1M training tokens" in out
    code, out, err = run_cli("catalog", "show", "gpt-4o-mini-2024-07-18", "--json")
    assert code == 0, err
    card = orjson.loads(out)
    assert card["id"] == "gpt-4o-mini-2024-07-18"
    assert card["tokenizer"] == "tiktoken:o200k_base"


def test_catalog_show_unknown_model(run_cli):
    code, out, err = run_cli("catalog", "show", "gpt-17-ultra")
    line = assert_one_line_usage_error(code, out, err)
    assert "unknown model 'gpt-17-ultra'" in line
    assert out == ""


def test_big_line_fixture_exceeds_the_reader_limit():
    # _big_line really is longer than the reader's per-line limit (16 MB), or the 17 MB tests prove nothing.
    from ftui.dataset.reader import MAX_LINE_BYTES

    assert len(_big_line(17 * 1024 * 1024)) > MAX_LINE_BYTES
