"""Rules for one line of a fine-tuning file: structure, roles, weights, tool calls, preference pairs.

``inspect_line`` is pure: raw bytes in, findings plus the facts needed for statistics out. It never raises on any
input; the hypothesis tests hold it to that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import blake2b
from typing import Any

import orjson

from ftui.dataset.findings import Code, DataFile, Finding, Severity, severity_of
from ftui.dataset.sensitive import DESCRIPTIONS, STRUCTURAL_KEYS, find_sensitive, line_may_contain_sensitive
from ftui.dataset.tokens import CountMemo

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
CHAT_LINE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
PREFERENCE_LINE_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
PREFERENCE_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})

# Per-message overhead of OpenAI's published token-counting recipe, and the reply primer.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMER = 3


class DataFormat(StrEnum):
    CHAT = "chat"
    PREFERENCE = "preference"


@dataclass(slots=True)
class ExampleFacts:
    """What statistics and token counting need from a valid example."""

    format: DataFormat
    messages: list[dict[str, Any]]  # every message, in order; for preference data the outputs come last
    trainable_from: int | None  # preference data: index of the first output message; chat: None (role/weight decide)
    tools: Any
    roles: list[str]
    assistant_turns: int
    weight_zero_turns: int
    system_prompt: str | None
    dedupe_key: int


@dataclass(slots=True)
class LineResult:
    line: int
    findings: list[Finding] = field(default_factory=list)
    facts: ExampleFacts | None = None  # None when errors make the line unusable for training

    @property
    def has_error(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


class _Line:
    """Collects findings for one line."""

    __slots__ = ("data_file", "findings", "line")

    def __init__(self, line: int, data_file: DataFile) -> None:
        self.line = line
        self.data_file = data_file
        self.findings: list[Finding] = []

    def add(self, code: Code, message: str, location: str | None = None, **extra: Any) -> None:
        self.findings.append(
            Finding(
                code=code,
                severity=severity_of(code),
                file=self.data_file,
                line=self.line,
                location=location,
                message=message,
                **extra,
            )
        )

    @property
    def has_error(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _json_error_message(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    text = str(exc)
    if "recursion" in text.lower() or "depth" in text.lower():
        return "The JSON nests too deeply to be a training example. Each line must be one flat example object."
    if "utf-8" in text.lower():
        return "The line is not valid UTF-8 text. Re-save the file as UTF-8."
    position = getattr(exc, "pos", None)
    where = f" at character {position + 1}" if isinstance(position, int) else ""
    hint = (
        " The line ends early: it may have been cut off."
        if isinstance(position, int) and position >= len(raw.rstrip()) - 1
        else " Check quotes, commas and brackets; each line must hold exactly one JSON object."
    )
    return f"The line is not valid JSON ({exc.msg}{where}).{hint}"


def _utf8_error(raw: bytes) -> str | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"Byte {exc.start + 1} of the line is not valid UTF-8 (0x{raw[exc.start]:02x}). "
            "Fine-tuning files must be UTF-8: re-save the file with UTF-8 encoding."
        )
    return None


def content_text(content: Any) -> str:
    """The text of a message content: the string itself, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _check_content_parts(parts: list[Any], location: str, out: _Line) -> None:
    if not parts:
        out.add(
            Code.INVALID_CONTENT, "The content list is empty. Give at least one text part, or use a string.", location
        )
    for index, part in enumerate(parts):
        where = f"{location}[{index}]"
        if not isinstance(part, dict):
            out.add(Code.INVALID_CONTENT, f"A content part must be an object, not {_type_name(part)}.", where)
        elif part.get("type") not in CONTENT_PART_TYPES:
            out.add(
                Code.INVALID_CONTENT,
                f"Content part type {part.get('type')!r} is not recognised; use 'text' or 'image_url'.",
                f"{where}.type",
            )
        elif part["type"] == "text" and not isinstance(part.get("text"), str):
            out.add(Code.INVALID_CONTENT, "A text part needs a string 'text' field.", f"{where}.text")
        elif part["type"] == "image_url" and not (
            isinstance(part.get("image_url"), dict) and isinstance(part["image_url"].get("url"), str)
        ):
            out.add(Code.INVALID_CONTENT, "An image part needs 'image_url': {'url': ...}.", f"{where}.image_url")


def _check_function(value: Any, location: str, out: _Line, code: Code) -> None:
    if not isinstance(value, dict):
        out.add(code, f"Expected an object with 'name' and 'arguments', found {_type_name(value)}.", location)
        return
    if not isinstance(value.get("name"), str) or not value["name"]:
        out.add(code, "The function call needs a non-empty string 'name'.", f"{location}.name")
    if not isinstance(value.get("arguments"), str):
        out.add(
            code,
            'The function call\'s \'arguments\' must be a JSON-encoded string (for example "{\\"city\\": \\"Oslo\\"}").',
            f"{location}.arguments",
        )


def _check_tool_calls(value: Any, location: str, out: _Line) -> None:
    if not isinstance(value, list) or not value:
        out.add(Code.INVALID_TOOL_CALLS, "'tool_calls' must be a non-empty list of tool calls.", location)
        return
    for index, call in enumerate(value):
        where = f"{location}[{index}]"
        if not isinstance(call, dict):
            out.add(Code.INVALID_TOOL_CALLS, f"A tool call must be an object, not {_type_name(call)}.", where)
            continue
        if not isinstance(call.get("id"), str) or not call["id"]:
            out.add(
                Code.INVALID_TOOL_CALLS,
                "Each tool call needs a string 'id' that the tool reply refers to.",
                f"{where}.id",
            )
        if call.get("type", "function") != "function":
            out.add(Code.INVALID_TOOL_CALLS, "A tool call's 'type' must be 'function'.", f"{where}.type")
        _check_function(call.get("function"), f"{where}.function", out, Code.INVALID_TOOL_CALLS)


def _check_tools(value: Any, location: str, out: _Line) -> None:
    if not isinstance(value, list):
        out.add(Code.INVALID_TOOLS, f"'{location}' must be a list of function definitions.", location)
        return
    for index, tool in enumerate(value):
        where = f"{location}[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            out.add(
                Code.INVALID_TOOLS,
                "Each tool must be {'type': 'function', 'function': {'name': ..., 'parameters': {...}}}.",
                where,
            )


@dataclass(slots=True)
class _Messages:
    """What the message loop learned, for the example-level checks and statistics."""

    roles: list[str] = field(default_factory=list)
    trainable_turns: int = 0
    assistant_turns: int = 0
    weight_zero_turns: int = 0
    system_prompt: str | None = None


# Messages of these keys and roles, with string content, take the fast path of _check_messages.
_SIMPLE_KEYS = frozenset({"role", "content", "weight"})
_SIMPLE_ROLES = frozenset({"system", "developer", "user", "assistant"})


def _check_message(message: Any, location: str, out: _Line, seen: _Messages, trainable_output: bool) -> None:
    """Every rule for one message; the slow path, taken when the message is anything but plain."""
    if not isinstance(message, dict):
        out.add(
            Code.MESSAGE_NOT_OBJECT,
            f"Each message must be an object with 'role' and 'content', not {_type_name(message)}.",
            location,
        )
        seen.roles.append("?")  # keeps roles aligned with message positions
        return
    role = message.get("role")
    if role is None:
        out.add(Code.MISSING_ROLE, "The message has no 'role'. Use system, user or assistant.", location)
    elif not isinstance(role, str) or role not in ROLES:
        out.add(
            Code.UNKNOWN_ROLE,
            f"Role {role!r} is not recognised. Use system, user, assistant or tool.",
            f"{location}.role",
        )
    for key in message:
        if key not in MESSAGE_KEYS:
            out.add(
                Code.UNRECOGNIZED_KEY,
                f"Key {key!r} is not part of a message. Allowed: role, content, name, weight, tool_calls, tool_call_id. Remove it.",
                f"{location}.{key}",
            )
    is_assistant = role == "assistant"
    has_calls = is_assistant and ("tool_calls" in message or "function_call" in message)
    content = message.get("content")
    if content is None:
        if not has_calls:
            out.add(
                Code.MISSING_CONTENT, "The message has no 'content'. Give its text as a string.", f"{location}.content"
            )
    elif isinstance(content, list):
        _check_content_parts(content, f"{location}.content", out)
    elif not isinstance(content, str):
        out.add(
            Code.INVALID_CONTENT,
            f"'content' must be a string or a list of content parts, not {_type_name(content)}.",
            f"{location}.content",
        )
    elif is_assistant and not content.strip() and not has_calls:
        _empty_reply(location, out)

    weight = message.get("weight", 1)
    if "weight" in message:
        if not is_assistant:
            out.add(
                Code.WEIGHT_NOT_ASSISTANT,
                f"'weight' only applies to assistant messages; remove it from this {role} message.",
                f"{location}.weight",
            )
        elif isinstance(weight, bool) or weight not in (0, 1):
            out.add(
                Code.INVALID_WEIGHT,
                f"'weight' must be 0 (skip this turn) or 1 (train on it), not {weight!r}.",
                f"{location}.weight",
            )
            weight = 1
    if "tool_calls" in message:
        if is_assistant:
            _check_tool_calls(message["tool_calls"], f"{location}.tool_calls", out)
        else:
            out.add(
                Code.INVALID_TOOL_CALLS, "Only assistant messages may carry 'tool_calls'.", f"{location}.tool_calls"
            )
    if "function_call" in message:
        _check_function(message["function_call"], f"{location}.function_call", out, Code.INVALID_TOOL_CALLS)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        out.add(
            Code.TOOL_MISSING_CALL_ID,
            "A tool message needs 'tool_call_id': the id of the assistant's tool call it answers.",
            location,
        )
    if "name" in message and not isinstance(message["name"], str):
        out.add(Code.UNRECOGNIZED_KEY, "'name' must be a string.", f"{location}.name")

    seen.roles.append(role if isinstance(role, str) else "?")
    if is_assistant:
        seen.assistant_turns += 1
        if weight == 0:
            seen.weight_zero_turns += 1
    if trainable_output or (is_assistant and weight != 0):
        seen.trainable_turns += 1
    if role == "system" and seen.system_prompt is None and isinstance(content, str):
        seen.system_prompt = content


def _empty_reply(location: str, out: _Line) -> None:
    out.add(
        Code.EMPTY_ASSISTANT_REPLY,
        "The assistant reply is empty, so the model learns to say nothing. Write the reply or drop the turn.",
        f"{location}.content",
    )


def _check_messages(
    messages: Any, location: str, out: _Line, seen: _Messages, *, trainable_output: bool = False
) -> bool:
    if not isinstance(messages, list):
        out.add(
            Code.MISSING_MESSAGES, f"'{location}' must be a list of messages, not {_type_name(messages)}.", location
        )
        return False
    if not messages:
        out.add(
            Code.EMPTY_MESSAGES, f"'{location}' is empty. Add at least a user message and an assistant reply.", location
        )
        return False
    roles = seen.roles
    for index, message in enumerate(messages):
        # Fast path: a plain message (role, string content, valid weight) needs no further checks.
        if type(message) is dict and message.keys() <= _SIMPLE_KEYS:
            role = message.get("role")
            content = message.get("content")
            weight = message.get("weight", 1)
            if (
                type(content) is str
                and type(role) is str
                and role in _SIMPLE_ROLES
                and type(weight) is int
                and (weight == 1 or weight == 0)
            ):
                if role == "assistant":
                    seen.assistant_turns += 1
                    if weight or trainable_output:
                        seen.trainable_turns += 1
                    else:
                        seen.weight_zero_turns += 1
                    if not content or content.isspace():
                        _empty_reply(f"{location}[{index}]", out)
                    roles.append(role)
                    continue
                if "weight" not in message:
                    if role == "system" and seen.system_prompt is None:
                        seen.system_prompt = content
                    if trainable_output:
                        seen.trainable_turns += 1
                    roles.append(role)
                    continue
        _check_message(message, f"{location}[{index}]", out, seen, trainable_output)
    return True


def _scan_sensitive(obj: Any, location: str, out: _Line) -> None:
    """Exact scan of every message text in the example; only called when the raw-line screen hits."""
    if isinstance(obj, str):
        for span in find_sensitive(obj):
            out.add(
                Code.SENSITIVE_DATA,
                f"Characters {span.start + 1}-{span.end} look like {DESCRIPTIONS[span.kind]}. Remove or redact personal "
                "data before training.",
                location,
                span=(span.start, span.end),
                kind=span.kind.value,
            )
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            _scan_sensitive(item, f"{location}[{index}]", out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in STRUCTURAL_KEYS:
                _scan_sensitive(value, f"{location}.{key}" if location else key, out)


_WHITESPACE = b" \t\r\n"


def dedupe_key(raw: bytes) -> int:
    """A key equal for examples that differ only in whitespace (including escaped \\n, \\t, \\r in strings).

    A keyed digest rather than hash(): it must agree across worker processes.
    """
    if b"\\" in raw:
        raw = raw.replace(b"\\n", b"").replace(b"\\t", b"").replace(b"\\r", b"")
    return int.from_bytes(blake2b(raw.translate(None, _WHITESPACE), digest_size=8).digest(), "little")


def _chat_facts(obj: dict[str, Any], raw: bytes, out: _Line) -> ExampleFacts | None:
    if not obj.keys() <= CHAT_LINE_KEYS:
        for key in obj.keys() - CHAT_LINE_KEYS:
            out.add(
                Code.UNRECOGNIZED_EXAMPLE_KEY,
                f"Key {key!r} is not part of a chat example and is ignored or rejected by the service.",
                key,
            )
    if "tools" in obj:
        _check_tools(obj["tools"], "tools", out)
    if "functions" in obj:
        functions = obj["functions"]
        _check_tools([{"function": f} for f in functions] if isinstance(functions, list) else None, "functions", out)
    if "messages" not in obj:
        out.add(
            Code.MISSING_MESSAGES,
            'The line has no \'messages\' list. Each line needs {"messages": [{"role": ..., "content": ...}, ...]}.',
        )
        return None
    seen = _Messages()
    if not _check_messages(obj["messages"], "messages", out, seen):
        return None
    roles = seen.roles
    if seen.trainable_turns == 0:
        reason = "every assistant turn has weight 0" if seen.assistant_turns else "there is no assistant message"
        out.add(
            Code.NO_TRAINABLE_ASSISTANT,
            f"Nothing to learn from this example: {reason}. Add an assistant reply with weight 1.",
            "messages",
        )
    if "system" not in roles and "developer" not in roles:
        out.add(
            Code.NO_SYSTEM_MESSAGE,
            "No system message. A system prompt that matches the one you will use in production helps the model.",
            "messages",
        )
    if "user" not in roles:
        out.add(
            Code.NO_USER_MESSAGE,
            "No user message. Examples usually show the user's request the reply answers.",
            "messages",
        )
    if roles[-1] not in ("assistant", "?"):
        out.add(
            Code.LAST_NOT_ASSISTANT,
            f"The last message is from {roles[-1]!r}, so nothing after it is learned. End with the assistant reply.",
            f"messages[{len(roles) - 1}]",
        )
    if out.has_error:
        return None
    return _facts(DataFormat.CHAT, obj["messages"], None, obj.get("tools"), seen, raw)


def _preference_facts(obj: dict[str, Any], raw: bytes, out: _Line) -> ExampleFacts | None:
    for key in obj:
        if key not in PREFERENCE_LINE_KEYS:
            out.add(Code.UNRECOGNIZED_EXAMPLE_KEY, f"Key {key!r} is not part of a preference example.", key)
    seen = _Messages()
    prompt = obj.get("input")
    if not isinstance(prompt, dict):
        out.add(
            Code.INVALID_PREFERENCE,
            "'input' must be an object: {\"messages\": [...]} holding the conversation so far.",
            "input",
        )
    else:
        for key in prompt:
            if key not in PREFERENCE_INPUT_KEYS:
                out.add(
                    Code.UNRECOGNIZED_EXAMPLE_KEY, f"Key {key!r} is not part of a preference input.", f"input.{key}"
                )
        if "tools" in prompt:
            _check_tools(prompt["tools"], "input.tools", out)
        if "messages" not in prompt:
            out.add(Code.MISSING_MESSAGES, "'input' needs a 'messages' list with the conversation so far.", "input")
        elif _check_messages(prompt["messages"], "input.messages", out, seen) and seen.roles[-1] != "user":
            out.add(
                Code.INVALID_PREFERENCE,
                "The input should end with the user message that both outputs answer.",
                "input.messages",
            )
    outputs: list[list[Any]] = []
    for key in ("preferred_output", "non_preferred_output"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            out.add(Code.INVALID_PREFERENCE, f"'{key}' must be a list holding the assistant message.", key)
            continue
        output_seen = _Messages()
        _check_messages(value, key, out, output_seen, trainable_output=True)
        if any(role != "assistant" for role in output_seen.roles):
            out.add(Code.INVALID_PREFERENCE, f"'{key}' may only hold assistant messages.", key)
        seen.roles.extend(output_seen.roles)
        seen.assistant_turns += output_seen.assistant_turns
        outputs.append(value)
    if len(outputs) == 2 and dedupe_key(orjson.dumps(outputs[0])) == dedupe_key(orjson.dumps(outputs[1])):
        out.add(
            Code.IDENTICAL_PREFERENCE,
            "The preferred and non-preferred outputs are the same, so there is nothing to prefer.",
            "non_preferred_output",
        )
    if out.has_error or not isinstance(prompt, dict):  # a prompt that is not an object is an error already
        return None
    messages = [*prompt["messages"], *outputs[0], *outputs[1]]
    return _facts(DataFormat.PREFERENCE, messages, len(prompt["messages"]), prompt.get("tools"), seen, raw)


def _facts(
    format_: DataFormat, messages: list[Any], trainable_from: int | None, tools: Any, seen: _Messages, raw: bytes
) -> ExampleFacts:
    return ExampleFacts(
        format=format_,
        messages=messages,
        trainable_from=trainable_from,
        tools=tools,
        roles=seen.roles,
        assistant_turns=seen.assistant_turns,
        weight_zero_turns=seen.weight_zero_turns,
        system_prompt=seen.system_prompt,
        dedupe_key=dedupe_key(raw),
    )


def _tokens_of(value: Any, count: Callable[[str], int]) -> int:
    return count(value if isinstance(value, str) else orjson.dumps(value).decode())


# Roles whose content usually repeats from example to example, so its count is remembered.
_REPEATING_ROLES = frozenset({"system", "developer"})


def count_example_tokens(facts: ExampleFacts, count: Callable[[str], int], memo: CountMemo) -> tuple[int, int]:
    """(all tokens, trainable tokens) of one example by OpenAI's published recipe.

    Per message: 3 tokens, plus the tokens of its role, content, tool calls and name (+1 for a name); plus 3 for
    the reply primer. Counts of strings that recur across lines (roles, system prompts, names, tools) come from
    ``memo``.
    """
    remembered = memo.count
    messages = facts.messages
    total = TOKENS_PER_MESSAGE * len(messages) + TOKENS_REPLY_PRIMER
    trainable = 0
    trainable_from = facts.trainable_from
    for index, message in enumerate(messages):
        role = message["role"]
        total += remembered(role, count)
        content = message.get("content")
        if not content:
            tokens = 0
        elif type(content) is not str:
            tokens = count(content_text(content))
        elif role in _REPEATING_ROLES:
            tokens = remembered(content, count)
        else:
            tokens = count(content)
        if "tool_calls" in message or "function_call" in message:
            tokens += _tokens_of(message.get("tool_calls") or message.get("function_call"), count)
        name = message.get("name")
        if name:
            total += remembered(name, count) + TOKENS_PER_NAME
        total += tokens
        if index >= trainable_from if trainable_from is not None else role == "assistant" and message.get("weight", 1):
            trainable += tokens
    if facts.tools:
        total += remembered(orjson.dumps(facts.tools).decode(), count)
    return total, trainable


def detect_format(obj: Any) -> DataFormat | None:
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return DataFormat.CHAT
    if "input" in obj or "preferred_output" in obj or "non_preferred_output" in obj:
        return DataFormat.PREFERENCE
    return None


UNPARSEABLE = object()


def parse_line(raw: bytes, out: _Line) -> Any:
    """The JSON value of a line, or UNPARSEABLE after recording why it is unusable."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        utf8_problem = _utf8_error(raw)
        if utf8_problem:
            out.add(Code.NOT_UTF8, utf8_problem)
        else:
            out.add(Code.INVALID_JSON, _json_error_message(raw, exc))
        return UNPARSEABLE


def inspect_line(raw: bytes, line: int, data_file: DataFile = DataFile.TRAINING) -> LineResult:
    """Check one raw line (without its line ending)."""
    out = _Line(line, data_file)
    obj = parse_line(raw, out)
    if obj is UNPARSEABLE:
        return LineResult(line, out.findings)
    if not isinstance(obj, dict):
        out.add(
            Code.NOT_AN_OBJECT,
            f'The line is {_type_name(obj)}, but each line must be one JSON object: {{"messages": [...]}}.',
        )
        return LineResult(line, out.findings)
    if detect_format(obj) is DataFormat.PREFERENCE:
        facts = _preference_facts(obj, raw, out)
    else:
        facts = _chat_facts(obj, raw, out)
    if line_may_contain_sensitive(raw):
        _scan_sensitive(obj, "", out)
    return LineResult(line, out.findings, facts)
