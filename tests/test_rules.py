"""Every rule the validator knows: each code with an example that raises it and one that does not.

Line rules are checked through ``inspect_line`` directly; file-level rules, statistics, the parallel path and the
event stream through ``ftui.dataset.validator``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from ftui.catalog import load_catalog
from ftui.dataset import validator
from ftui.dataset.findings import Code, DataFile, Finding, Progress, Severity
from ftui.dataset.line_rules import DataFormat, LineResult, inspect_line
from ftui.dataset.reader import MAX_LINE_BYTES
from ftui.dataset.tokens import load_counter
from ftui.dataset.validator import Validation, ValidationReport, validate_to_report

ERROR = Severity.ERROR
WARNING = Severity.WARNING

SYSTEM = {"role": "system", "content": "You are a concise geography tutor."}
USER = {"role": "user", "content": "What is the capital of Norway?"}
ASSISTANT = {"role": "assistant", "content": "Oslo."}
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'}}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def chat(*messages: Any, **extra: Any) -> dict[str, Any]:
    """A chat example; with no messages, a valid system/user/assistant exchange."""
    return {"messages": list(messages) if messages else [SYSTEM, USER, ASSISTANT], **extra}


def preference(
    input_messages: Any = None, preferred: Any = None, non_preferred: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "input": {"messages": [SYSTEM, USER]} if input_messages is None else input_messages,
        "preferred_output": [{"role": "assistant", "content": "Oslo."}] if preferred is None else preferred,
        "non_preferred_output": (
            [{"role": "assistant", "content": "Probably Bergen."}] if non_preferred is None else non_preferred
        ),
        **extra,
    }


def check(example: Any, line: int = 1) -> LineResult:
    raw = example if isinstance(example, bytes) else dumps(example)
    return inspect_line(raw, line)


def codes(result: LineResult) -> set[Code]:
    return {f.code for f in result.findings}


def findings_of(result_or_report: LineResult | ValidationReport, code: Code) -> list[Finding]:
    return [f for f in result_or_report.findings if f.code is code]


def assert_flagged(
    example: Any, code: Code, severity: Severity, location: str | None, line: int = 7
) -> tuple[Finding, LineResult]:
    """``example`` raises exactly one ``code`` finding with this severity, line and location."""
    result = check(example, line)
    found = findings_of(result, code)
    assert len(found) == 1, f"expected one {code}, got {result.findings}"
    item = found[0]
    assert item.severity is severity
    assert item.line == line
    assert item.location == location
    assert item.file is DataFile.TRAINING
    assert item.message
    if severity is ERROR:
        assert result.facts is None, "a line with an error must not count as a training example"
    return item, result


def assert_clean(example: Any) -> LineResult:
    result = check(example)
    assert result.findings == []
    assert result.facts is not None
    return result


def assert_absent(example: Any, code: Code) -> LineResult:
    result = check(example)
    assert code not in codes(result), result.findings
    return result


# --------------------------------------------------------------------------------------------------------------
# Valid lines
# --------------------------------------------------------------------------------------------------------------


def test_valid_chat_example_has_no_findings_and_facts() -> None:
    result = assert_clean(chat())
    assert result.line == 1
    facts = result.facts
    assert facts is not None
    assert facts.format is DataFormat.CHAT
    assert facts.roles == ["system", "user", "assistant"]
    assert facts.assistant_turns == 1
    assert facts.weight_zero_turns == 0
    assert facts.system_prompt == SYSTEM["content"]


def test_valid_tool_conversation_has_no_findings() -> None:
    assert_clean(
        chat(
            SYSTEM,
            USER,
            {"role": "assistant", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"capital": "Oslo"}'},
            ASSISTANT,
            tools=TOOLS,
            parallel_tool_calls=False,
        )
    )


# --------------------------------------------------------------------------------------------------------------
# Encoding and JSON
# --------------------------------------------------------------------------------------------------------------


def test_not_utf8() -> None:
    raw = b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'  # Latin-1 e-acute
    item, result = assert_flagged(raw, Code.NOT_UTF8, ERROR, None)
    assert codes(result) == {Code.NOT_UTF8}
    assert "0xe9" in item.message


def test_utf8_non_ascii_passes() -> None:
    raw = dumps(chat(SYSTEM, {"role": "user", "content": "Grüße aus Köln — 東京?"}, ASSISTANT))
    assert_clean(raw)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        pytest.param(b'{"messages": [{"role": "user", "content": "hi"', "cut off", id="truncated"),
        pytest.param(b'{"messages" [] }', "Check quotes", id="missing-colon"),
        pytest.param(b"{'messages': []}", "Check quotes", id="single-quotes"),
        pytest.param(b'{"messages": []}{"messages": []}', "Check quotes", id="two-objects"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nests too deeply", id="deep-nesting-list"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests too deeply", id="deep-nesting-object"),
    ],
)
def test_invalid_json(raw: bytes, hint: str) -> None:
    item, result = assert_flagged(raw, Code.INVALID_JSON, ERROR, None)
    assert codes(result) == {Code.INVALID_JSON}
    assert hint in item.message


def test_valid_json_with_moderate_nesting_passes() -> None:
    nested: Any = "x"
    for _ in range(50):
        nested = {"k": nested}
    # Deep but legal JSON inside a tool definition's parameters is not a JSON error.
    tools = [{"type": "function", "function": {"name": "f", "parameters": nested}}]
    assert_clean(chat(tools=tools))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[1, 2]", id="list"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"true", id="boolean"),
        # orjson.loads(b"null") returns None, which inspect_line mistakes for "parse failed": no finding at all.
        pytest.param(b"null", id="null"),
    ],
)
def test_not_an_object(raw: bytes) -> None:
    _, result = assert_flagged(raw, Code.NOT_AN_OBJECT, ERROR, None)
    assert codes(result) == {Code.NOT_AN_OBJECT}


def test_object_is_not_flagged_as_not_an_object() -> None:
    assert_absent(chat(), Code.NOT_AN_OBJECT)


# --------------------------------------------------------------------------------------------------------------
# The messages list
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "location"),
    [
        pytest.param({"tools": TOOLS}, None, id="no-messages-key"),
        pytest.param({"messages": "hello"}, "messages", id="messages-a-string"),
        pytest.param({"messages": {"role": "user"}}, "messages", id="messages-an-object"),
        pytest.param({"messages": None}, "messages", id="messages-null"),
    ],
)
def test_missing_messages(example: dict[str, Any], location: str | None) -> None:
    assert_flagged(example, Code.MISSING_MESSAGES, ERROR, location)


def test_messages_present_is_not_missing() -> None:
    assert_absent(chat(), Code.MISSING_MESSAGES)


def test_empty_messages() -> None:
    _, result = assert_flagged({"messages": []}, Code.EMPTY_MESSAGES, ERROR, "messages")
    assert Code.MISSING_MESSAGES not in codes(result)


def test_non_empty_messages_pass() -> None:
    assert_absent(chat(USER, ASSISTANT), Code.EMPTY_MESSAGES)


@pytest.mark.parametrize("bad", ["hello", 5, None, ["user", "hi"]], ids=["string", "number", "null", "list"])
def test_message_not_object(bad: Any) -> None:
    assert_flagged(chat(SYSTEM, bad, ASSISTANT), Code.MESSAGE_NOT_OBJECT, ERROR, "messages[1]")


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([1], id="only-message"),
        pytest.param([SYSTEM, USER, "trailing"], id="last-message"),
    ],
)
def test_message_not_object_when_no_message_has_a_role(messages: list[Any]) -> None:
    # When the last (or only) message is not an object, _check_message returns before recording a role, and
    # _chat_facts then reads roles[-1] -- IndexError on [1]; on the second case the last-role check is silently
    # made against the wrong message. inspect_line must never raise.
    result = check(chat(*messages))
    last = f"messages[{len(messages) - 1}]"
    found = findings_of(result, Code.MESSAGE_NOT_OBJECT)
    assert [f.location for f in found] == [last]
    assert result.facts is None
    # If the last message is reported as "not from the assistant", the finding must point at the last message.
    assert all(f.location == last for f in findings_of(result, Code.LAST_NOT_ASSISTANT))


def test_object_messages_pass_message_not_object() -> None:
    assert_absent(chat(), Code.MESSAGE_NOT_OBJECT)


def test_missing_role() -> None:
    _, result = assert_flagged(chat(SYSTEM, {"content": "hi"}, ASSISTANT), Code.MISSING_ROLE, ERROR, "messages[1]")
    assert Code.UNKNOWN_ROLE not in codes(result)


@pytest.mark.parametrize(
    "role",
    ["bot", "User", "", 5, ["user"], {"name": "user"}],
    ids=["bot", "User", "empty", "number", "list", "object"],
)
def test_unknown_role(role: Any) -> None:
    assert_flagged(
        chat(SYSTEM, {"role": role, "content": "hi"}, ASSISTANT), Code.UNKNOWN_ROLE, ERROR, "messages[1].role"
    )


@pytest.mark.parametrize("role", ["system", "developer", "user"])
def test_known_roles_pass(role: str) -> None:
    result = check(chat({"role": role, "content": "Be brief."}, USER, ASSISTANT))
    assert not codes(result) & {Code.UNKNOWN_ROLE, Code.MISSING_ROLE}
    assert result.facts is not None


def test_missing_content_on_user() -> None:
    assert_flagged(chat(SYSTEM, {"role": "user"}, ASSISTANT), Code.MISSING_CONTENT, ERROR, "messages[1].content")


def test_missing_content_null_on_assistant_without_tool_calls() -> None:
    assert_flagged(
        chat(SYSTEM, USER, {"role": "assistant", "content": None}),
        Code.MISSING_CONTENT,
        ERROR,
        "messages[2].content",
    )


@pytest.mark.parametrize("content", ["absent", None, ""], ids=["absent", "null", "empty-string"])
def test_assistant_with_tool_calls_may_omit_content(content: Any) -> None:
    call = {"role": "assistant", "tool_calls": [TOOL_CALL]}
    if content != "absent":
        call["content"] = content
    reply = {"role": "tool", "tool_call_id": "call_1", "content": "Oslo"}
    result = check(chat(SYSTEM, USER, call, reply, ASSISTANT, tools=TOOLS))
    assert result.findings == []
    assert result.facts is not None


@pytest.mark.parametrize(
    ("content", "location"),
    [
        pytest.param(5, "messages[1].content", id="number"),
        pytest.param({"text": "hi"}, "messages[1].content", id="object"),
        pytest.param(True, "messages[1].content", id="boolean"),
        pytest.param([], "messages[1].content", id="empty-parts"),
        pytest.param(["hi"], "messages[1].content[0]", id="part-not-object"),
        pytest.param([{"type": "video", "url": "x"}], "messages[1].content[0].type", id="unknown-part-type"),
        pytest.param([{"text": "hi"}], "messages[1].content[0].type", id="part-without-type"),
        pytest.param([{"type": "text", "text": 5}], "messages[1].content[0].text", id="text-part-not-string"),
        pytest.param(
            [{"type": "text", "text": "ok"}, {"type": "image_url", "image_url": "https://x.test/a.png"}],
            "messages[1].content[1].image_url",
            id="image-part-not-object",
        ),
    ],
)
def test_invalid_content(content: Any, location: str) -> None:
    assert_flagged(chat(SYSTEM, {"role": "user", "content": content}, ASSISTANT), Code.INVALID_CONTENT, ERROR, location)


def test_valid_content_parts_pass() -> None:
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}},
    ]
    assert_clean(chat(SYSTEM, {"role": "user", "content": parts}, ASSISTANT))


@pytest.mark.parametrize(
    ("message", "location"),
    [
        pytest.param({"role": "user", "content": "hi", "metadata": {"a": 1}}, "messages[1].metadata", id="extra-key"),
        pytest.param({"role": "user", "content": "hi", "name": 5}, "messages[1].name", id="name-not-string"),
    ],
)
def test_unrecognized_key(message: dict[str, Any], location: str) -> None:
    assert_flagged(chat(SYSTEM, message, ASSISTANT), Code.UNRECOGNIZED_KEY, ERROR, location)


def test_allowed_message_keys_pass() -> None:
    assert_clean(chat(SYSTEM, {"role": "user", "content": "hi", "name": "alice"}, ASSISTANT))


@pytest.mark.parametrize("role", ["system", "user"])
def test_weight_not_assistant(role: str) -> None:
    messages = [SYSTEM, USER, ASSISTANT]
    index = 0 if role == "system" else 1
    messages[index] = {**messages[index], "weight": 1}
    assert_flagged(chat(*messages), Code.WEIGHT_NOT_ASSISTANT, ERROR, f"messages[{index}].weight")


def test_weight_on_assistant_passes() -> None:
    result = assert_clean(chat(SYSTEM, USER, {**ASSISTANT, "weight": 1}))
    assert Code.WEIGHT_NOT_ASSISTANT not in codes(result)


@pytest.mark.parametrize("weight", [2, True, "1", -1, 0.5, None, [1]], ids=repr)
def test_invalid_weight(weight: Any) -> None:
    item, _ = assert_flagged(
        chat(SYSTEM, USER, {**ASSISTANT, "weight": weight}), Code.INVALID_WEIGHT, ERROR, "messages[2].weight"
    )
    assert repr(weight) in item.message


@pytest.mark.parametrize("weight", [0, 1])
def test_valid_weights_pass(weight: int) -> None:
    first = {"role": "assistant", "content": "Let me think.", "weight": weight}
    result = assert_clean(chat(SYSTEM, USER, first, {"role": "user", "content": "And?"}, ASSISTANT))
    assert result.facts is not None
    assert result.facts.weight_zero_turns == (1 if weight == 0 else 0)


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([SYSTEM, USER], id="no-assistant"),
        pytest.param([SYSTEM, USER, {**ASSISTANT, "weight": 0}], id="only-weight-zero"),
        pytest.param(
            [SYSTEM, USER, {**ASSISTANT, "weight": 0}, USER, {"role": "assistant", "content": "Yes.", "weight": 0}],
            id="all-weight-zero",
        ),
    ],
)
def test_no_trainable_assistant(messages: list[Any]) -> None:
    assert_flagged(chat(*messages), Code.NO_TRAINABLE_ASSISTANT, ERROR, "messages")


def test_one_trainable_turn_is_enough() -> None:
    result = check(chat(SYSTEM, USER, {**ASSISTANT, "weight": 0}, USER, {**ASSISTANT, "weight": 1}))
    assert result.findings == []
    assert result.facts is not None
    assert result.facts.assistant_turns == 2
    assert result.facts.weight_zero_turns == 1


@pytest.mark.parametrize(
    ("message", "location"),
    [
        pytest.param({"role": "assistant", "tool_calls": {}}, "messages[2].tool_calls", id="not-a-list"),
        pytest.param({"role": "assistant", "tool_calls": []}, "messages[2].tool_calls", id="empty"),
        pytest.param({"role": "assistant", "tool_calls": ["call"]}, "messages[2].tool_calls[0]", id="call-not-object"),
        pytest.param(
            {"role": "assistant", "tool_calls": [{**TOOL_CALL, "id": ""}]}, "messages[2].tool_calls[0].id", id="no-id"
        ),
        pytest.param(
            {"role": "assistant", "tool_calls": [{**TOOL_CALL, "type": "code"}]},
            "messages[2].tool_calls[0].type",
            id="bad-type",
        ),
        pytest.param(
            {"role": "assistant", "tool_calls": [{**TOOL_CALL, "function": "lookup"}]},
            "messages[2].tool_calls[0].function",
            id="function-not-object",
        ),
        pytest.param(
            {"role": "assistant", "tool_calls": [{**TOOL_CALL, "function": {"arguments": "{}"}}]},
            "messages[2].tool_calls[0].function.name",
            id="function-without-name",
        ),
        pytest.param(
            {"role": "assistant", "tool_calls": [{**TOOL_CALL, "function": {"name": "f", "arguments": {"a": 1}}}]},
            "messages[2].tool_calls[0].function.arguments",
            id="arguments-not-string",
        ),
        pytest.param(
            {"role": "user", "content": "hi", "tool_calls": [TOOL_CALL]}, "messages[2].tool_calls", id="on-user"
        ),
        pytest.param(
            {"role": "assistant", "function_call": {"name": "f"}},
            "messages[2].function_call.arguments",
            id="legacy-function-call",
        ),
    ],
)
def test_invalid_tool_calls(message: dict[str, Any], location: str) -> None:
    reply = {"role": "tool", "tool_call_id": "call_1", "content": "Oslo"}
    assert_flagged(chat(SYSTEM, USER, message, reply, ASSISTANT), Code.INVALID_TOOL_CALLS, ERROR, location)


def test_valid_legacy_function_call_passes() -> None:
    call = {"role": "assistant", "function_call": {"name": "lookup", "arguments": "{}"}}
    result = check(
        chat(
            SYSTEM,
            USER,
            call,
            {"role": "function", "name": "lookup", "content": "Oslo"},
            ASSISTANT,
            functions=[{"name": "lookup", "parameters": {}}],
        )
    )
    assert result.findings == []


def test_tool_missing_call_id() -> None:
    call = {"role": "assistant", "tool_calls": [TOOL_CALL]}
    assert_flagged(
        chat(SYSTEM, USER, call, {"role": "tool", "content": "Oslo"}, ASSISTANT),
        Code.TOOL_MISSING_CALL_ID,
        ERROR,
        "messages[3]",
    )


def test_tool_with_call_id_passes() -> None:
    call = {"role": "assistant", "tool_calls": [TOOL_CALL]}
    assert_absent(
        chat(SYSTEM, USER, call, {"role": "tool", "tool_call_id": "call_1", "content": "Oslo"}, ASSISTANT),
        Code.TOOL_MISSING_CALL_ID,
    )


@pytest.mark.parametrize(
    ("extra", "location"),
    [
        pytest.param({"tools": {"name": "lookup"}}, "tools", id="tools-not-list"),
        pytest.param({"tools": [{"type": "function"}]}, "tools[0]", id="tool-without-function"),
        pytest.param({"tools": [TOOLS[0], {"type": "function", "function": {}}]}, "tools[1]", id="function-no-name"),
        pytest.param({"tools": ["lookup"]}, "tools[0]", id="tool-not-object"),
        pytest.param({"functions": "lookup"}, "functions", id="functions-not-list"),
        pytest.param({"functions": [{"parameters": {}}]}, "functions[0]", id="legacy-function-no-name"),
    ],
)
def test_invalid_tools(extra: dict[str, Any], location: str) -> None:
    assert_flagged(chat(**extra), Code.INVALID_TOOLS, ERROR, location)


def test_valid_tools_pass() -> None:
    assert_clean(chat(tools=TOOLS))


def test_unrecognized_example_key_is_a_warning_and_keeps_the_example() -> None:
    item, result = assert_flagged(chat(metadata={"source": "crm"}), Code.UNRECOGNIZED_EXAMPLE_KEY, WARNING, "metadata")
    assert result.facts is not None
    assert "metadata" in item.message


def test_known_example_keys_pass() -> None:
    assert_absent(chat(tools=TOOLS, parallel_tool_calls=True), Code.UNRECOGNIZED_EXAMPLE_KEY)


# --------------------------------------------------------------------------------------------------------------
# Quality warnings
# --------------------------------------------------------------------------------------------------------------


def test_no_system_message() -> None:
    _, result = assert_flagged(chat(USER, ASSISTANT), Code.NO_SYSTEM_MESSAGE, WARNING, "messages")
    assert codes(result) == {Code.NO_SYSTEM_MESSAGE}
    assert result.facts is not None


@pytest.mark.parametrize("role", ["system", "developer"])
def test_system_or_developer_message_passes(role: str) -> None:
    assert_clean(chat({"role": role, "content": "Be brief."}, USER, ASSISTANT))


def test_no_user_message() -> None:
    _, result = assert_flagged(chat(SYSTEM, ASSISTANT), Code.NO_USER_MESSAGE, WARNING, "messages")
    assert result.facts is not None


def test_user_message_passes() -> None:
    assert_absent(chat(), Code.NO_USER_MESSAGE)


def test_last_not_assistant() -> None:
    _, result = assert_flagged(
        chat(SYSTEM, USER, ASSISTANT, {"role": "user", "content": "Thanks"}),
        Code.LAST_NOT_ASSISTANT,
        WARNING,
        "messages[3]",
    )
    assert result.facts is not None


def test_last_assistant_passes() -> None:
    assert_absent(chat(SYSTEM, USER, ASSISTANT, USER, ASSISTANT), Code.LAST_NOT_ASSISTANT)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({"role": "assistant", "content": ""}, id="empty"),
        pytest.param({"role": "assistant", "content": " \n\t "}, id="whitespace"),
        pytest.param({"role": "assistant", "content": "", "name": "bot"}, id="empty-slow-path"),
    ],
)
def test_empty_assistant_reply(reply: dict[str, Any]) -> None:
    _, result = assert_flagged(chat(SYSTEM, USER, reply), Code.EMPTY_ASSISTANT_REPLY, WARNING, "messages[2].content")
    assert result.facts is not None


def test_non_empty_assistant_reply_passes() -> None:
    assert_absent(chat(SYSTEM, USER, {"role": "assistant", "content": "."}), Code.EMPTY_ASSISTANT_REPLY)


# --------------------------------------------------------------------------------------------------------------
# Sensitive data
# --------------------------------------------------------------------------------------------------------------

SENSITIVE = [
    pytest.param("email", "jane.doe+work@mail.example.com", id="email"),
    pytest.param("phone", "+44 20 7946 0958", id="phone-international"),
    pytest.param("phone", "(555) 123-4567", id="phone-us"),
    pytest.param("card_number", "4111 1111 1111 1111", id="card-luhn-valid"),
    pytest.param("card_number", "5500-0000-0000-0004", id="card-dashes"),
    pytest.param("national_id", "123-45-6789", id="us-ssn"),
    # HMRC's specimen "QQ 12 34 56 C" uses a prefix that is never issued and the pattern follows the allocation
    # rules (no D, F, I, Q, U, V first letter), so a well-formed, issuable prefix is used here.
    pytest.param("national_id", "AB 12 34 56 C", id="uk-ni-number"),
    pytest.param("ip_address", "192.168.10.25", id="ipv4"),
    pytest.param("secret", "sk-proj-" + "Ab3dEf6hIj" * 3, id="openai-key"),
    pytest.param("secret", "AKIA" + "IOSFODNN7EXAMPL3", id="aws-key"),
]


@pytest.mark.parametrize(("kind", "value"), SENSITIVE)
@pytest.mark.parametrize("index", [1, 2], ids=["in-user", "in-assistant"])
def test_sensitive_data(kind: str, value: str, index: int) -> None:
    content = f"Sure -- it is {value}, as you asked."
    messages = [SYSTEM, USER, ASSISTANT]
    messages[index] = {**messages[index], "content": content}
    item, result = assert_flagged(chat(*messages), Code.SENSITIVE_DATA, WARNING, f"messages[{index}].content")
    assert item.kind == kind
    assert item.span is not None
    start, end = item.span
    assert content[start:end] == value
    # The finding must not repeat the secret it warns about.
    assert value not in item.message
    assert value not in item.model_dump_json()
    assert result.facts is not None  # a warning: the example still counts


def test_sensitive_span_counts_characters_not_bytes() -> None:
    content = "Grüße — schreib an\nmax@beispiel.de bitte"
    item, _ = assert_flagged(
        chat(SYSTEM, {"role": "user", "content": content}, ASSISTANT),
        Code.SENSITIVE_DATA,
        WARNING,
        "messages[1].content",
    )
    start, end = item.span or (0, 0)
    assert content[start:end] == "max@beispiel.de"


def test_sensitive_data_in_content_part_and_two_kinds() -> None:
    text = "Mail ops@example.org or call +1 415 555 0132."
    parts = [{"type": "text", "text": "Hello."}, {"type": "text", "text": text}]
    result = check(chat(SYSTEM, {"role": "user", "content": parts}, ASSISTANT))
    found = findings_of(result, Code.SENSITIVE_DATA)
    assert [(f.kind, f.location) for f in found] == [
        ("email", "messages[1].content[1].text"),
        ("phone", "messages[1].content[1].text"),
    ]
    assert [text[f.span[0] : f.span[1]] for f in found if f.span] == ["ops@example.org", "+1 415 555 0132"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Card 4111 1111 1111 1112 was declined.", id="luhn-invalid-card"),
        pytest.param("Order 0000 0000 0000 0000 shipped.", id="all-zero-digits"),
        pytest.param("Version 1.2.3 released on 2024-05-01 at 10:30.", id="dates-and-versions"),
        pytest.param("SSN-like 000-12-3456 and 666-12-3456 are never issued.", id="invalid-ssn-area"),
        pytest.param("The sk-short key and AKIA123 are too short.", id="short-key-prefixes"),
        pytest.param("Write to the user at their address.", id="plain-text"),
    ],
)
def test_not_sensitive(text: str) -> None:
    result = check(chat(SYSTEM, {"role": "user", "content": text}, ASSISTANT))
    assert findings_of(result, Code.SENSITIVE_DATA) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Card: 4111 1111 1111 1111 12/26, CVV on the back.", id="followed-by-expiry"),
        pytest.param("Row: 123-45-6789 4111 1111 1111 1111", id="after-an-ssn"),
        pytest.param("Phone (555) 123-4567 4111 1111 1111 1111", id="after-a-phone"),
    ],
)
def test_card_number_next_to_other_digits_is_found(text: str) -> None:
    # find_sensitive takes the longest digit run the card pattern allows; when that run fails the Luhn check it
    # resumes after it, so a valid card that shares the run with neighbouring digits is never reported.
    result = check(chat(SYSTEM, {"role": "user", "content": text}, ASSISTANT))
    cards = [f for f in findings_of(result, Code.SENSITIVE_DATA) if f.kind == "card_number"]
    assert [text[f.span[0] : f.span[1]] for f in cards if f.span] == ["4111 1111 1111 1111"]


def test_structural_values_are_not_scanned() -> None:
    # An id that happens to look like an IP address is structure, not personal data.
    call = {**TOOL_CALL, "id": "10.0.0.1"}
    result = check(
        chat(
            SYSTEM,
            USER,
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "10.0.0.1", "content": "Oslo"},
            ASSISTANT,
        )
    )
    assert findings_of(result, Code.SENSITIVE_DATA) == []


# --------------------------------------------------------------------------------------------------------------
# Preference (DPO) data
# --------------------------------------------------------------------------------------------------------------


def test_valid_preference_example() -> None:
    result = assert_clean(preference())
    facts = result.facts
    assert facts is not None
    assert facts.format is DataFormat.PREFERENCE
    assert facts.trainable_from == 2
    assert [m["role"] for m in facts.messages] == ["system", "user", "assistant", "assistant"]


@pytest.mark.parametrize(
    ("example", "location"),
    [
        pytest.param(preference(input_messages="What is the capital?"), "input", id="input-not-object"),
        pytest.param(preference(input_messages=[SYSTEM, USER]), "input", id="input-a-list"),
        pytest.param(
            preference(preferred={"role": "assistant", "content": "Oslo."}), "preferred_output", id="output-not-list"
        ),
        pytest.param(preference(non_preferred=[]), "non_preferred_output", id="output-empty"),
        pytest.param(
            preference(non_preferred=[{"role": "user", "content": "Bergen"}]),
            "non_preferred_output",
            id="output-role-not-assistant",
        ),
        pytest.param(
            preference(input_messages={"messages": [SYSTEM, USER, ASSISTANT]}),
            "input.messages",
            id="input-not-ending-with-user",
        ),
    ],
)
def test_invalid_preference(example: dict[str, Any], location: str) -> None:
    assert_flagged(example, Code.INVALID_PREFERENCE, ERROR, location)


def test_preference_without_input_messages() -> None:
    assert_flagged(preference(input_messages={"tools": TOOLS}), Code.MISSING_MESSAGES, ERROR, "input")


def test_preference_input_with_non_object_message_does_not_raise() -> None:
    # Same roles[-1] IndexError as the chat case: input.messages whose only message is not an object.
    result = check(preference(input_messages={"messages": [1]}))
    assert [f.location for f in findings_of(result, Code.MESSAGE_NOT_OBJECT)] == ["input.messages[0]"]
    assert result.facts is None


def test_identical_preference() -> None:
    same = [{"role": "assistant", "content": "Oslo is the capital."}]
    _, result = assert_flagged(
        preference(preferred=same, non_preferred=same), Code.IDENTICAL_PREFERENCE, WARNING, "non_preferred_output"
    )
    assert result.facts is not None


def test_identical_preference_ignores_whitespace() -> None:
    preferred = [{"role": "assistant", "content": "Oslo is the capital."}]
    spaced = [{"role": "assistant", "content": "Oslo is  the capital. "}]
    assert_flagged(
        preference(preferred=preferred, non_preferred=spaced),
        Code.IDENTICAL_PREFERENCE,
        WARNING,
        "non_preferred_output",
    )


def test_different_preference_outputs_pass() -> None:
    assert_absent(preference(), Code.IDENTICAL_PREFERENCE)


def test_unrecognized_preference_keys() -> None:
    item, result = assert_flagged(
        preference(input_messages={"messages": [SYSTEM, USER], "extra": 1}),
        Code.UNRECOGNIZED_EXAMPLE_KEY,
        WARNING,
        "input.extra",
    )
    assert result.facts is not None
    assert "extra" in item.message


# --------------------------------------------------------------------------------------------------------------
# Whole files: validator-level rules
# --------------------------------------------------------------------------------------------------------------


def example(i: int, *, system: str = "You are a concise geography tutor.") -> dict[str, Any]:
    return chat(
        {"role": "system", "content": system},
        {"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"},
        {"role": "assistant", "content": f"It is {2 * i}."},
    )


def preference_example(i: int) -> dict[str, Any]:
    return preference(
        input_messages={"messages": [SYSTEM, {"role": "user", "content": f"Question {i}?"}]},
        preferred=[{"role": "assistant", "content": f"Answer {i}."}],
        non_preferred=[{"role": "assistant", "content": f"Maybe {i + 1}?"}],
    )


def write_jsonl(path: Path, lines: list[Any], *, newline: bytes = b"\n", prefix: bytes = b"") -> Path:
    body = newline.join(line if isinstance(line, bytes) else dumps(line) for line in lines)
    path.write_bytes(prefix + body + (newline if lines else b""))
    return path


def validate(path: Path, validation_path: Path | None = None, **kwargs: Any) -> ValidationReport:
    kwargs.setdefault("model", "gpt-4o-mini")
    kwargs.setdefault("workers", 1)
    return validate_to_report(path, validation_path, **kwargs)


def report_codes(report: ValidationReport) -> set[Code]:
    return {f.code for f in report.findings}


def test_clean_file_has_no_findings(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(50)]))
    assert report.findings == []
    assert (report.errors, report.warnings) == (0, 0)
    assert report.ok
    assert report.training.examples == 50
    assert report.training.format is DataFormat.CHAT


def test_bom_and_crlf_are_handled(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "train.jsonl", [example(i) for i in range(50)], newline=b"\r\n", prefix=b"\xef\xbb\xbf"
    )
    report = validate(path)
    assert report.findings == []
    assert report.training.examples == 50
    assert report.training.lines == 50
    assert report.training.invalid_lines == 0


def test_bom_only_at_the_start(tmp_path: Path) -> None:
    # A BOM in the middle of the file is not a BOM but junk before a line's JSON.
    lines = [dumps(example(i)) for i in range(51)]
    lines[3] = b"\xef\xbb\xbf" + lines[3]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    assert [(f.code, f.line) for f in report.findings] == [(Code.INVALID_JSON, 4)]


def test_duplicate_example_ignores_whitespace_and_names_the_earlier_line(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(12)]
    spaced = dumps(example(3)).replace(b'":', b'" : ').replace(b",", b", ").replace(b"{", b"{ ")
    assert spaced != dumps(example(3))
    lines.append(spaced)
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    found = findings_of(report, Code.DUPLICATE_EXAMPLE)
    assert [(f.line, f.severity, f.file) for f in found] == [(13, WARNING, DataFile.TRAINING)]
    assert "line 4" in found[0].message
    assert report.training.finding_counts.get("duplicate_example") == 1


def test_near_duplicate_is_not_a_duplicate(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(12)]
    changed = example(3)
    changed["messages"][2]["content"] += "!"
    lines.append(changed)
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    assert Code.DUPLICATE_EXAMPLE not in report_codes(report)


def test_train_validation_overlap(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(12)])
    valid = write_jsonl(tmp_path / "valid.jsonl", [example(100), example(5), example(101), example(100)])
    report = validate(train, valid)
    overlap = findings_of(report, Code.TRAIN_VALIDATION_OVERLAP)
    assert [(f.file, f.line, f.severity) for f in overlap] == [(DataFile.VALIDATION, 2, WARNING)]
    assert "line 6" in overlap[0].message
    # A repeat inside the validation file is a duplicate there, naming the validation line.
    duplicate = findings_of(report, Code.DUPLICATE_EXAMPLE)
    assert [(f.file, f.line) for f in duplicate] == [(DataFile.VALIDATION, 4)]
    assert "line 1" in duplicate[0].message
    assert report.validation is not None
    assert report.validation.examples == 4


def test_no_overlap_between_distinct_files(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(12)])
    valid = write_jsonl(tmp_path / "valid.jsonl", [example(i) for i in range(100, 104)])
    report = validate(train, valid)
    assert not report_codes(report) & {Code.TRAIN_VALIDATION_OVERLAP, Code.DUPLICATE_EXAMPLE}


def test_too_few_examples_for_a_cloud_model(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(9)]), model="gpt-4o-mini")
    found = findings_of(report, Code.TOO_FEW_EXAMPLES)
    assert [(f.severity, f.line) for f in found] == [(ERROR, None)]
    assert "at least 10" in found[0].message
    assert not report.ok


def test_finding_counts_include_file_level_findings(tmp_path: Path) -> None:
    # File-level findings (too_few_examples here) are emitted after a file's own pass; they must still be counted
    # in that file's finding_counts, which must agree with report.errors + report.warnings.
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(9)]), model="gpt-4o-mini")
    assert report.training.finding_counts == {"too_few_examples": 1}
    assert sum(report.training.finding_counts.values()) == report.errors + report.warnings


def test_invalid_lines_do_not_count_towards_the_minimum(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(9)] + [b"{not json"]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines), model="gpt-4o-mini")
    assert Code.TOO_FEW_EXAMPLES in report_codes(report)


def test_ten_examples_are_enough_but_few(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(10)]), model="gpt-4o-mini")
    assert Code.TOO_FEW_EXAMPLES not in report_codes(report)
    found = findings_of(report, Code.FEW_EXAMPLES)
    assert [(f.severity, f.line) for f in found] == [(WARNING, None)]
    assert report.ok


def test_few_examples_boundary(tmp_path: Path) -> None:
    report_49 = validate(write_jsonl(tmp_path / "a.jsonl", [example(i) for i in range(49)]))
    report_50 = validate(write_jsonl(tmp_path / "b.jsonl", [example(i) for i in range(50)]))
    assert Code.FEW_EXAMPLES in report_codes(report_49)
    assert Code.FEW_EXAMPLES not in report_codes(report_50)


def test_local_model_needs_only_one_example(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(1)]), model="SmolLM2-135M-Instruct")
    assert Code.TOO_FEW_EXAMPLES not in report_codes(report)
    assert Code.FEW_EXAMPLES in report_codes(report)


def test_blank_lines(tmp_path: Path) -> None:
    lines: list[Any] = [example(0), b"", example(1), b"  \t", *[example(i) for i in range(2, 12)]]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    found = findings_of(report, Code.BLANK_LINE)
    assert [(f.line, f.severity) for f in found] == [(2, WARNING), (4, WARNING)]
    assert report.training.blank_lines == 2
    assert report.training.examples == 12
    assert report.training.lines == 14


def test_no_blank_line_finding_without_blank_lines(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(12)]))
    assert Code.BLANK_LINE not in report_codes(report)
    assert report.training.blank_lines == 0


def _small_limit_card(limit: int = 50) -> Any:
    card = load_catalog().get("gpt-4o-mini")
    assert card is not None
    return card.model_copy(update={"training_context_limit": limit})


def test_too_many_tokens(tmp_path: Path) -> None:
    long_example = example(7)
    long_example["messages"][2]["content"] = "word " * 200
    lines: list[Any] = [example(i) for i in range(10)] + [long_example]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines), model=_small_limit_card(50), n_epochs=3)
    found = findings_of(report, Code.TOO_MANY_TOKENS)
    assert [(f.line, f.severity, f.location) for f in found] == [(11, ERROR, "messages")]
    assert "50" in found[0].message
    assert report.training.examples_over_limit == 1
    assert report.training.examples == 11  # still counted, but billed only up to the limit
    assert report.training_context_limit == 50


def test_no_too_many_tokens_under_the_limit(tmp_path: Path) -> None:
    report = validate(
        write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(10)]), model=_small_limit_card(50)
    )
    assert report.training.tokens_per_example is not None
    assert report.training.tokens_per_example.max <= 50
    assert Code.TOO_MANY_TOKENS not in report_codes(report)
    assert report.training.examples_over_limit == 0


def test_too_many_tokens_is_a_warning_when_tokens_are_estimated(tmp_path: Path) -> None:
    long_example = example(7)
    long_example["messages"][2]["content"] = "word " * 2000  # about 2.5k tokens by bytes/4, limit 1024
    lines: list[Any] = [example(i) for i in range(10)] + [long_example]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines), model="gpt2")
    assert not report.tokenizer.exact
    found = findings_of(report, Code.TOO_MANY_TOKENS)
    assert [(f.line, f.severity) for f in found] == [(11, WARNING)]
    assert "about" in found[0].message


def test_mixed_format_in_one_file(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(10)] + [preference_example(1), example(10)]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    found = findings_of(report, Code.MIXED_FORMAT)
    assert [(f.line, f.severity) for f in found] == [(11, ERROR)]
    assert report.training.format is DataFormat.CHAT
    assert report.training.examples == 11
    assert report.training.invalid_lines == 1


def test_mixed_format_between_files(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(10)])
    valid = write_jsonl(tmp_path / "valid.jsonl", [preference_example(i) for i in range(3)])
    report = validate(train, valid)
    found = findings_of(report, Code.MIXED_FORMAT)
    assert [(f.file, f.line) for f in found] == [(DataFile.VALIDATION, None)]


def test_single_format_is_not_mixed(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [preference_example(i) for i in range(12)]), model="gpt-4o")
    assert Code.MIXED_FORMAT not in report_codes(report)
    assert report.training.format is DataFormat.PREFERENCE


def test_method_not_supported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [preference_example(i) for i in range(12)])
    report = validate(path, model="gpt-3.5-turbo")
    found = findings_of(report, Code.METHOD_NOT_SUPPORTED)
    assert [(f.severity, f.line) for f in found] == [(ERROR, None)]
    assert "DPO" in found[0].message
    assert not report.ok


def test_preference_data_for_a_dpo_model_is_supported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [preference_example(i) for i in range(12)])
    report = validate(path, model="gpt-4o")
    assert Code.METHOD_NOT_SUPPORTED not in report_codes(report)
    assert report.errors == 0


def test_chat_data_is_supported_without_dpo(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(12)]), model="gpt-3.5-turbo")
    assert Code.METHOD_NOT_SUPPORTED not in report_codes(report)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"")
    report = validate(path)
    assert [(f.code, f.severity, f.line) for f in report.findings] == [(Code.EMPTY_FILE, ERROR, None)]
    assert "0 bytes" in report.findings[0].message


def test_file_of_blank_lines_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n \n\r\n")
    report = validate(path)
    assert findings_of(report, Code.EMPTY_FILE)
    assert Code.TOO_FEW_EXAMPLES not in report_codes(report)
    assert [f.line for f in findings_of(report, Code.BLANK_LINE)] == [1, 2, 3]


def test_non_empty_file_is_not_empty(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(1)]))
    assert Code.EMPTY_FILE not in report_codes(report)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\x01\x02binary\x00data\n", id="nul-bytes"),
        pytest.param((dumps(example(1)).decode() + "\n").encode("utf-16"), id="utf-16"),
    ],
)
def test_binary_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "train.bin"
    path.write_bytes(content)
    report = validate(path)
    assert [(f.code, f.severity, f.line) for f in report.findings] == [(Code.BINARY_FILE, ERROR, None)]
    assert report.training.examples == 0


def test_text_file_is_not_binary(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(1), b"not json"]))
    assert Code.BINARY_FILE not in report_codes(report)


@pytest.mark.parametrize("workers", [1, 2])
def test_line_too_long(tmp_path: Path, workers: int) -> None:
    size = 17 * 1024 * 1024
    overlong = b'{"messages": [{"role": "user", "content": "' + b"a" * size + b'"}]}'
    assert len(overlong) > MAX_LINE_BYTES
    lines: list[Any] = [example(0), overlong, b"{broken", *[example(i) for i in range(1, 11)]]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines), workers=workers)
    found = findings_of(report, Code.LINE_TOO_LONG)
    assert [(f.line, f.severity) for f in found] == [(2, ERROR)]
    assert "17.8 MB" in found[0].message
    # Line numbering stays aligned after the skipped line.
    assert [f.line for f in findings_of(report, Code.INVALID_JSON)] == [3]
    assert report.training.lines == 13
    assert report.training.examples == 11
    assert report.training.invalid_lines == 2


def test_overlong_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    body = b"\n".join(dumps(example(i)) for i in range(10))
    path.write_bytes(body + b"\n" + b"x" * (MAX_LINE_BYTES + 10))
    report = validate(path)
    assert [f.line for f in findings_of(report, Code.LINE_TOO_LONG)] == [11]
    assert report.training.examples == 10


@pytest.mark.parametrize(("extra", "code"), [(0, Code.MISSING_MESSAGES), (1, Code.LINE_TOO_LONG)])
def test_line_length_limit_boundary(tmp_path: Path, extra: int, code: Code) -> None:
    # A line of exactly MAX_LINE_BYTES is still parsed (here it holds a string where the messages list belongs);
    # one byte more and it is skipped unread.
    head, tail = b'{"messages": "', b'"}'
    line = head + b"a" * (MAX_LINE_BYTES - len(head) - len(tail) + extra) + tail
    assert len(line) == MAX_LINE_BYTES + extra
    report = validate(write_jsonl(tmp_path / "train.jsonl", [*[example(i) for i in range(10)], line]))
    assert [(f.code, f.line) for f in report.findings if f.line is not None] == [(code, 11)]


def test_gzip_file_gives_the_same_report(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(11)] + [b"{oops", example(2)]
    plain = write_jsonl(tmp_path / "train.jsonl", lines)
    packed = tmp_path / "train.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = validate(plain), validate(packed)
    assert [(f.code, f.line) for f in a.findings] == [(f.code, f.line) for f in b.findings]
    assert a.training.model_dump(exclude={"path"}) == b.training.model_dump(exclude={"path"})


def test_truncated_gzip_is_a_read_error(tmp_path: Path) -> None:
    lines: list[Any] = [example(i) for i in range(3000)]
    packed = gzip.compress(write_jsonl(tmp_path / "plain.jsonl", lines).read_bytes())
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    report = validate(path)
    found = findings_of(report, Code.READ_ERROR)
    assert [(f.severity, f.line) for f in found] == [(ERROR, None)]
    assert Code.EMPTY_FILE not in report_codes(report)
    assert 0 < report.training.lines < 3000  # what could be read was checked


def test_file_changed_while_reading(tmp_path: Path) -> None:
    path = _big_file(tmp_path)
    run = Validation(path, model="gpt-4o-mini", workers=1)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, Progress) and len(events) < 10 and event.bytes_read < event.bytes_total:
            with path.open("ab") as handle:  # another program appends while ftui reads
                handle.write(dumps(example(99_999)) + b"\n")
    changed = [e for e in events if isinstance(e, Finding) and e.code is Code.FILE_CHANGED]
    assert [(f.severity, f.line) for f in changed] == [(WARNING, None)]
    assert "size changed" in changed[0].message


def test_unchanged_file_is_not_reported_as_changed(tmp_path: Path) -> None:
    report = validate(_big_file(tmp_path))
    assert Code.FILE_CHANGED not in report_codes(report)


# --------------------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------------------


def _expected_tokens(messages: list[dict[str, Any]], count: Any) -> tuple[int, int]:
    """OpenAI's recipe: 3 per message + role + content, + 3 for the reply primer; trainable = weighted replies."""
    total = 3
    trainable = 0
    for message in messages:
        content_tokens = count(message["content"])
        total += 3 + count(message["role"]) + content_tokens
        if message["role"] == "assistant" and message.get("weight", 1) == 1:
            trainable += content_tokens
    return total, trainable


def test_statistics(tmp_path: Path) -> None:
    sys_a = {"role": "system", "content": "You are a concise geography tutor."}
    sys_a_spaced = {"role": "system", "content": "You  are a concise\ngeography tutor."}  # same prompt, respaced
    sys_b = {"role": "system", "content": "You answer in French."}
    examples = [
        [sys_a, {"role": "user", "content": "Capital of Norway?"}, {"role": "assistant", "content": "Oslo."}],
        [
            sys_b,
            {"role": "user", "content": "Capital of Peru?"},
            {"role": "assistant", "content": "Je réfléchis...", "weight": 0},
            {"role": "user", "content": "Alors?"},
            {"role": "assistant", "content": "Lima, la capitale du Pérou."},
        ],
        [
            {"role": "user", "content": "Capital of Chile?"},
            {"role": "assistant", "content": "Santiago."},
            {"role": "user", "content": "And of Bolivia?"},
            {"role": "assistant", "content": "Sucre (constitutional) and La Paz (seat of government)."},
        ],
        [sys_a_spaced, {"role": "user", "content": "Capital of Kenya?"}, {"role": "assistant", "content": "Nairobi."}],
    ]
    lines: list[Any] = [{"messages": m} for m in examples] + [b"{broken"]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines), model="gpt-4o-mini", n_epochs=2)

    count = load_counter("tiktoken:o200k_base").count
    expected = [_expected_tokens(m, count) for m in examples]
    totals = [t for t, _ in expected]
    stats = report.training
    assert report.tokenizer.exact
    assert report.tokenizer.name == "o200k_base"
    assert stats.lines == 5
    assert stats.examples == 4
    assert stats.invalid_lines == 1
    assert stats.total_tokens == sum(totals)
    assert stats.trainable_tokens == sum(t for _, t in expected)
    assert stats.tokens_per_example is not None
    assert stats.tokens_per_example.min == min(totals)
    assert stats.tokens_per_example.max == max(totals)
    assert stats.tokens_per_example.mean == round(sum(totals) / 4, 2)
    assert stats.trainable_tokens_per_example is not None
    assert stats.trainable_tokens_per_example.max == max(t for _, t in expected)
    assert stats.messages_per_example is not None
    assert (stats.messages_per_example.min, stats.messages_per_example.max) == (3, 5)
    assert stats.distinct_system_prompts == 2
    assert stats.multi_turn_examples == 2
    assert stats.multi_turn_share == 0.5
    assert stats.role_counts == {"system": 3, "user": 6, "assistant": 6}
    assert stats.weight_zero_turns == 1
    assert report.n_epochs == 2
    assert not report.n_epochs_auto
    limit = report.training_context_limit
    assert limit is not None
    assert report.billable_tokens == 2 * sum(min(limit, t) for t in totals)


def test_billable_tokens_cap_each_example_at_the_limit(tmp_path: Path) -> None:
    long_example = example(7)
    long_example["messages"][2]["content"] = "word " * 200
    examples = [example(i) for i in range(10)] + [long_example]
    report = validate(write_jsonl(tmp_path / "train.jsonl", examples), model=_small_limit_card(50), n_epochs=3)
    count = load_counter("tiktoken:o200k_base").count
    totals = [_expected_tokens(e["messages"], count)[0] for e in examples]
    assert max(totals) > 50
    assert report.training.total_tokens == sum(totals)
    assert report.billable_tokens == 3 * sum(min(50, t) for t in totals)


def test_auto_epochs(tmp_path: Path) -> None:
    report = validate(write_jsonl(tmp_path / "train.jsonl", [example(i) for i in range(10)]))
    assert report.n_epochs_auto
    assert report.n_epochs == 10  # 100 // 10 examples, so examples x epochs reaches 100
    assert report.billable_tokens == 10 * report.training.total_tokens


# --------------------------------------------------------------------------------------------------------------
# Parallel path
# --------------------------------------------------------------------------------------------------------------


def _parallel_fixture_lines() -> list[Any]:
    lines: list[Any] = []
    for i in range(1, 201):
        if i == 5:
            lines.append({"messages": [SYSTEM, USER, ASSISTANT]})
        elif i in (60, 199):
            lines.append(b'{"messages": [')
        elif i == 120:
            lines.append(b"")
        elif i == 150:
            lines.append(chat(SYSTEM, {"role": "bot", "content": "x"}, ASSISTANT))
        elif i == 170:
            lines.append(dumps({"messages": [SYSTEM, USER, ASSISTANT]}).replace(b",", b" , "))  # duplicate of 5
        elif i == 185:
            lines.append(chat(SYSTEM, {"role": "user", "content": "mail me: a.b@example.com"}, ASSISTANT))
        elif i == 190:
            lines.append(preference_example(1))
        elif i == 195:
            lines.append(chat(USER, {"role": "assistant", "content": "Ok.", "weight": 0}, ASSISTANT))
        else:
            lines.append(example(i, system=f"Prompt {i % 3}. " + "Be precise and brief. " * 8))
    return lines


def _comparable(report: ValidationReport) -> dict[str, Any]:
    return report.model_dump()


def test_parallel_path_gives_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", _parallel_fixture_lines())
    size = path.stat().st_size
    monkeypatch.setattr(validator, "PARALLEL_MIN_BYTES", 1024)
    monkeypatch.setattr(validator, "PARALLEL_CHUNK_BYTES", 4096)
    monkeypatch.setattr("ftui.dataset.reader.FIRST_BLOCK_BYTES", 2048)
    assert size > 10 * 4096

    calls: list[int] = []
    original = Validation._stream_parallel

    def spy(self: Validation, run: Any, ranges: list[tuple[int, int]]) -> Any:
        calls.append(len(ranges))
        return original(self, run, ranges)

    monkeypatch.setattr(Validation, "_stream_parallel", spy)

    sequential = validate(path, workers=1)
    assert calls == []
    parallel = validate(path, workers=2)
    assert calls and calls[0] > 5, "the parallel path was not taken"

    assert _comparable(parallel) == _comparable(sequential)
    # And the shared report is right, line numbers from late chunks included.
    where = [(f.code, f.line) for f in parallel.findings if f.line is not None]
    assert (Code.INVALID_JSON, 60) in where
    assert (Code.INVALID_JSON, 199) in where
    assert (Code.BLANK_LINE, 120) in where
    assert (Code.UNKNOWN_ROLE, 150) in where
    assert (Code.DUPLICATE_EXAMPLE, 170) in where
    assert (Code.SENSITIVE_DATA, 185) in where
    assert (Code.MIXED_FORMAT, 190) in where
    assert (Code.NO_SYSTEM_MESSAGE, 195) in where
    duplicate = findings_of(parallel, Code.DUPLICATE_EXAMPLE)
    assert "line 5" in duplicate[0].message
    assert parallel.training.lines == 200
    assert parallel.training.examples == 200 - 5  # 2 broken, 1 blank, 1 bad role, 1 mixed format


def test_parallel_path_with_validation_overlap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validator, "PARALLEL_MIN_BYTES", 1024)
    monkeypatch.setattr(validator, "PARALLEL_CHUNK_BYTES", 4096)
    monkeypatch.setattr("ftui.dataset.reader.FIRST_BLOCK_BYTES", 2048)
    train = write_jsonl(tmp_path / "train.jsonl", [example(i, system="Be brief. " * 20) for i in range(150)])
    valid = write_jsonl(tmp_path / "valid.jsonl", [example(i, system="Be brief. " * 20) for i in range(140, 160)])
    sequential = validate(train, valid, workers=1)
    parallel = validate(train, valid, workers=2)
    assert _comparable(parallel) == _comparable(sequential)
    overlap = findings_of(parallel, Code.TRAIN_VALIDATION_OVERLAP)
    assert [f.line for f in overlap] == list(range(1, 11))
    assert "line 141" in overlap[0].message


def test_parallel_path_lists_the_same_findings_when_one_code_is_frequent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each chunk sends back at most MAX_FINDINGS_PER_CHUNK_CODE (200) findings of a code, and the report keeps the
    # first MAX_FINDINGS_PER_CODE (1000) counted. workers=1 reads 1 MB blocks, workers>1 checks 4 MB ranges, so with
    # 150-800 findings of one code per MB the listed findings depend on the worker count. Scaled down here (16 KB
    # blocks, 64 KB ranges, same 1:4 ratio) so the file stays small.
    monkeypatch.setattr(validator, "PARALLEL_MIN_BYTES", 1024)
    monkeypatch.setattr(validator, "PARALLEL_CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr("ftui.dataset.reader.BLOCK_BYTES", 16 * 1024)
    lines = [chat({"role": "user", "content": f"Question {i} " + "pad " * 20}, ASSISTANT) for i in range(1500)]
    path = write_jsonl(tmp_path / "train.jsonl", lines)
    sequential = validate(path, workers=1)
    parallel = validate(path, workers=2)
    assert sequential.training.finding_counts == parallel.training.finding_counts == {"no_system_message": 1500}
    assert [(f.code, f.line) for f in parallel.findings] == [(f.code, f.line) for f in sequential.findings]
    assert parallel.findings_not_listed == sequential.findings_not_listed


# --------------------------------------------------------------------------------------------------------------
# Events: streaming findings, progress, cancellation
# --------------------------------------------------------------------------------------------------------------


def _big_file(tmp_path: Path, n: int = 3000, first: Any = None) -> Path:
    lines: list[Any] = [example(i) for i in range(n)]
    if first is not None:
        lines[0] = first
    path = write_jsonl(tmp_path / "train.jsonl", lines)
    assert path.stat().st_size > 3 * 64 * 1024
    return path


def test_finding_on_line_one_comes_before_progress_and_report(tmp_path: Path) -> None:
    path = _big_file(tmp_path, first=b"{not json")
    events = list(Validation(path, model="gpt-4o-mini", workers=1).events())
    first_finding = next(i for i, e in enumerate(events) if isinstance(e, Finding))
    item = events[first_finding]
    assert isinstance(item, Finding)
    assert (item.code, item.line) == (Code.INVALID_JSON, 1)
    first_progress = next(i for i, e in enumerate(events) if isinstance(e, Progress))
    assert first_finding < first_progress
    assert isinstance(events[-1], ValidationReport)
    assert sum(isinstance(e, ValidationReport) for e in events) == 1


def test_progress_increases_to_the_total(tmp_path: Path) -> None:
    path = _big_file(tmp_path)
    size = path.stat().st_size
    progress = [e for e in Validation(path, model="gpt-4o-mini", workers=1).events() if isinstance(e, Progress)]
    assert len(progress) >= 2
    read = [p.bytes_read for p in progress]
    assert read == sorted(read)
    assert read[0] < size
    assert read[-1] == size
    assert all(p.bytes_total == size for p in progress)
    assert progress[-1].fraction == 1.0
    assert all(p.file is DataFile.TRAINING for p in progress)


def test_cancel_stops_early(tmp_path: Path) -> None:
    path = _big_file(tmp_path, n=6000)
    run = Validation(path, model="gpt-4o-mini", workers=1)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, Progress) and not run.cancelled:
            run.cancel()
    report = events[-1]
    assert isinstance(report, ValidationReport)
    assert report.cancelled
    assert not report.ok
    assert 0 < report.training.lines < 6000
    progress = [e for e in events if isinstance(e, Progress)]
    # Only the first block was checked before the run noticed the cancel.
    assert progress[0].bytes_read < path.stat().st_size


# --------------------------------------------------------------------------------------------------------------
# Wording: counts of one in the singular; the clean hint named by each front end
# --------------------------------------------------------------------------------------------------------------


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    local = validate(write_jsonl(tmp_path / "local.jsonl", [example(1)]), model="SmolLM2-135M-Instruct")
    assert findings_of(local, Code.FEW_EXAMPLES)[0].message.startswith("1 training example. ")
    cloud = validate(write_jsonl(tmp_path / "cloud.jsonl", [example(1)]), model="gpt-4o-mini")
    assert findings_of(cloud, Code.TOO_FEW_EXAMPLES)[0].message.startswith("Only 1 valid training example; ")


def test_clean_hint_is_named_by_each_front_end(tmp_path: Path) -> None:
    from ftui.report import render_report

    mail = chat(SYSTEM, {"role": "user", "content": "Mail me at jane.doe@example.com"}, ASSISTANT)
    lines: list[Any] = [example(i) for i in range(12)] + [example(3), mail]
    report = validate(write_jsonl(tmp_path / "train.jsonl", lines))
    duplicate = findings_of(report, Code.DUPLICATE_EXAMPLE)[0]
    sensitive = findings_of(report, Code.SENSITIVE_DATA)[0]
    few = findings_of(report, Code.FEW_EXAMPLES)[0]
    # The message itself names no command: a front end adds its own name for cleaning.
    assert "ftui data clean" not in duplicate.message + sensitive.message
    assert sensitive.text("Clean (c)") == f"{sensitive.message} Clean (c) writes a copy with typed placeholders."
    assert duplicate.text("Clean (c)") == f"{duplicate.message} Clean (c) writes a copy without duplicates."
    assert few.clean_hint is None and few.text("Clean (c)") == few.message
    text = render_report(report)
    assert "'ftui data clean' writes a copy with typed placeholders." in text
    assert "'ftui data clean' writes a copy without duplicates." in text
