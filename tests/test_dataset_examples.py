"""Loading one example of a dataset file, and its messages in the order the data step shows them."""

from __future__ import annotations

from pathlib import Path

from ftui.dataset.examples import example_turns, read_example


def test_read_example_returns_the_raw_line_or_none(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"messages": []}\r\nnot json\n{"a": 1}\n')
    assert read_example(path, 2) == b"not json"
    assert read_example(path, 3) == b'{"a": 1}'
    assert read_example(path, 9) is None


def test_turns_of_a_chat_and_of_a_preference_example() -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    assert [(t.path, t.heading) for t in example_turns(chat)] == [("messages[0]", ""), ("messages[1]", "")]
    preference = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "go away"}],
    }
    assert [(t.path, t.heading) for t in example_turns(preference)] == [
        ("input.messages[0]", ""),
        ("preferred_output[0]", "preferred "),
        ("non_preferred_output[0]", "non-preferred "),
    ]
    assert example_turns({"prompt": "old format"}) == []
