"""Request and response bodies of the engine's API, in the OpenAI shapes (see OpenAI's OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Auto = Literal["auto"]


class SupervisedHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: Auto | int = Field(default="auto")
    learning_rate_multiplier: Auto | float = Field(default="auto")
    n_epochs: Auto | int = Field(default="auto")

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: Auto | int) -> Auto | int:
        if value != "auto" and not 1 <= value <= 256:
            raise ValueError("batch_size must be 'auto' or between 1 and 256")
        return value

    @field_validator("learning_rate_multiplier")
    @classmethod
    def _multiplier(cls, value: Auto | float) -> Auto | float:
        if value != "auto" and not 0 < value <= 10:
            raise ValueError("learning_rate_multiplier must be 'auto' or greater than 0 and at most 10")
        return value

    @field_validator("n_epochs")
    @classmethod
    def _epochs(cls, value: Auto | int) -> Auto | int:
        if value != "auto" and not 1 <= value <= 50:
            raise ValueError("n_epochs must be 'auto' or between 1 and 50")
        return value


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: SupervisedHyperparameters = SupervisedHyperparameters()


class MethodSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class CreateJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    hyperparameters: SupervisedHyperparameters | None = None  # deprecated in favour of method
    method: MethodSpec | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    suffix: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and (len(value) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in value.items())):
            raise ValueError("metadata holds at most 16 pairs, keys up to 64 and values up to 512 characters")
        return value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s][:4]

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def openai_list(data: list[Any], has_more: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if data and isinstance(data[0], dict) and "id" in data[0]:
        body["first_id"] = data[0]["id"]
        body["last_id"] = data[-1]["id"]
    return body


def error_body(message: str, *, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
