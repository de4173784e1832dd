"""What the validator reports: findings with stable codes, and the events a validation run yields."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# Findings of one code listed in a report; the rest are counted only.
MAX_FINDINGS_PER_CODE = 1000


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    # File-level problems.
    EMPTY_FILE = "empty_file"
    READ_ERROR = "read_error"
    BINARY_FILE = "binary_file"
    FILE_CHANGED = "file_changed"
    TOO_FEW_EXAMPLES = "too_few_examples"
    FEW_EXAMPLES = "few_examples"
    METHOD_NOT_SUPPORTED = "method_not_supported"
    # Line-level problems.
    BLANK_LINE = "blank_line"
    LINE_TOO_LONG = "line_too_long"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MIXED_FORMAT = "mixed_format"
    UNRECOGNIZED_EXAMPLE_KEY = "unrecognized_example_key"
    # Messages.
    MISSING_MESSAGES = "missing_messages"
    EMPTY_MESSAGES = "empty_messages"
    MESSAGE_NOT_OBJECT = "message_not_object"
    MISSING_ROLE = "missing_role"
    UNKNOWN_ROLE = "unknown_role"
    MISSING_CONTENT = "missing_content"
    INVALID_CONTENT = "invalid_content"
    UNRECOGNIZED_KEY = "unrecognized_key"
    WEIGHT_NOT_ASSISTANT = "weight_not_assistant"
    INVALID_WEIGHT = "invalid_weight"
    NO_TRAINABLE_ASSISTANT = "no_trainable_assistant"
    INVALID_TOOL_CALLS = "invalid_tool_calls"
    TOOL_MISSING_CALL_ID = "tool_missing_call_id"
    INVALID_TOOLS = "invalid_tools"
    INVALID_PREFERENCE = "invalid_preference"
    TOO_MANY_TOKENS = "too_many_tokens"
    # Quality warnings.
    NO_SYSTEM_MESSAGE = "no_system_message"
    NO_USER_MESSAGE = "no_user_message"
    LAST_NOT_ASSISTANT = "last_not_assistant"
    EMPTY_ASSISTANT_REPLY = "empty_assistant_reply"
    IDENTICAL_PREFERENCE = "identical_preference"
    DUPLICATE_EXAMPLE = "duplicate_example"
    SENSITIVE_DATA = "sensitive_data"
    TRAIN_VALIDATION_OVERLAP = "train_validation_overlap"


WARNING_CODES = frozenset(
    {
        Code.FILE_CHANGED,
        Code.FEW_EXAMPLES,
        Code.BLANK_LINE,
        Code.UNRECOGNIZED_EXAMPLE_KEY,
        Code.NO_SYSTEM_MESSAGE,
        Code.NO_USER_MESSAGE,
        Code.LAST_NOT_ASSISTANT,
        Code.EMPTY_ASSISTANT_REPLY,
        Code.IDENTICAL_PREFERENCE,
        Code.DUPLICATE_EXAMPLE,
        Code.SENSITIVE_DATA,
        Code.TRAIN_VALIDATION_OVERLAP,
    }
)


# What cleaning does about a finding of these codes. Each front end names its clean action before it (the CLI its
# command, the TUI its key), so a message never points at a command the user cannot type where they are.
CLEAN_HINTS: dict[Code, str] = {
    Code.SENSITIVE_DATA: "writes a copy with typed placeholders",
    Code.DUPLICATE_EXAMPLE: "writes a copy without duplicates",
}


def severity_of(code: Code) -> Severity:
    return Severity.WARNING if code in WARNING_CODES else Severity.ERROR


class DataFile(StrEnum):
    TRAINING = "training"
    VALIDATION = "validation"


class Finding(BaseModel):
    """One problem, pinned to a file, a line and a place inside that line."""

    model_config = ConfigDict(frozen=True)

    code: Code
    severity: Severity
    file: DataFile = DataFile.TRAINING
    line: int | None = None
    location: str | None = None
    message: str
    span: tuple[int, int] | None = None
    kind: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def clean_hint(self) -> str | None:
        """What cleaning the file does about this finding, to follow the name of the clean action; None if nothing."""
        return CLEAN_HINTS.get(self.code)

    def text(self, clean_action: str) -> str:
        """The message, with the clean hint after ``clean_action`` (how the caller names cleaning) where one applies:
        ``finding.text("'ftui data clean'")``."""
        hint = self.clean_hint
        return f"{self.message} {clean_action} {hint}." if hint else self.message

    def where(self) -> str:
        parts = [self.file.value]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.location:
            parts.append(self.location)
        return ", ".join(parts)


def finding(
    code: Code,
    message: str,
    *,
    line: int | None = None,
    location: str | None = None,
    span: tuple[int, int] | None = None,
    kind: str | None = None,
    file: DataFile = DataFile.TRAINING,
) -> Finding:
    return Finding(
        code=code,
        severity=severity_of(code),
        file=file,
        line=line,
        location=location,
        message=message,
        span=span,
        kind=kind,
    )


class Progress(BaseModel):
    """Bytes read of the file being validated."""

    model_config = ConfigDict(frozen=True)

    file: DataFile
    bytes_read: int
    bytes_total: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.bytes_total <= 0 else min(1.0, self.bytes_read / self.bytes_total)
