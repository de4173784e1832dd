"""Chat completions from a base model, optionally with a LoRA adapter merged in, on CPU.

A hand-written decoding loop over the model's KV cache gives what the API needs without ``generate``'s overheads:
stop strings that never leak into the output (also while streaming), per-request seeds, top-p sampling, greedy at
temperature 0, and exact token usage. The model lock is taken per forward pass, so an abandoned stream can never
hold it and two requests simply take turns.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel

from ftui.engine.chat import message_text, render

FinishReason = Literal["stop", "length"]
CACHE_SIZE = 2


class Sampling(TypedDict):
    """How a completion is sampled: the keyword arguments of ``ChatModel.complete`` and ``ChatModel.stream``."""

    temperature: float
    top_p: float
    max_tokens: int | None
    stop: Sequence[str] | str | None
    seed: int | None


class Completion(BaseModel):
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


class _Sampler:
    """Greedy at temperature 0, else temperature + top-p sampling from a seeded generator."""

    def __init__(self, temperature: float, top_p: float, seed: int | None) -> None:
        import torch

        self.temperature = temperature
        self.top_p = top_p
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    def __call__(self, logits: Any) -> int:
        import torch

        if self.temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            keep = cumulative - sorted_probs < self.top_p  # always keeps the most likely token
            sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
            choice = torch.multinomial(sorted_probs, 1, generator=self.generator)
            return int(order[choice])
        return int(torch.multinomial(probs, 1, generator=self.generator))


class CompletionStream:
    """Iterate for text chunks; afterwards ``completion`` (and ``finish_reason``) hold the result and usage."""

    def __init__(self, produce: Callable[[CompletionStream], Iterator[str]], prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion: Completion | None = None
        self._chunks = produce(self)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._chunks)

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.completion.finish_reason if self.completion else None

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class ChatModel:
    """A loaded chat model; ``complete`` and ``stream`` may be called from several threads."""

    def __init__(self, base_dir: Path, adapter_dir: Path | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ftui.engine.models import quiet_transformers

        self.base_dir = Path(base_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir else None
        self._lock = threading.Lock()
        with quiet_transformers():
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(self.base_dir))
            model: Any = AutoModelForCausalLM.from_pretrained(str(self.base_dir), dtype=torch.float32)
        if self.adapter_dir is not None:
            from peft import PeftModel

            # Merged weights generate at the base model's speed: no extra LoRA matmuls per token.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers API deprecated in v5
                model = PeftModel.from_pretrained(model, str(self.adapter_dir)).merge_and_unload()
        model.eval()
        self.model = model
        # transformers 5.x renamed ``past_key_values`` to ``cache``; pass whichever this version takes.
        parameters = inspect.signature(model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self.eos_ids = self._eos_ids()
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, list):
                ids.update(source)
        return ids

    def prompt_ids(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        plain = [{"role": str(m.get("role", "user")), "content": message_text(m.get("content"))} for m in messages]
        text = render(self.tokenizer, plain, generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:
            return DynamicCache()

    def _forward(self, ids: list[int], cache: Any) -> Any:
        """Logits of the next token after ``ids``; ``cache`` (a DynamicCache) grows in place."""
        import torch

        with self._lock, torch.inference_mode():
            output = self.model(
                input_ids=torch.tensor([ids], dtype=torch.long),
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_argument: cache},
            )
        return output.logits[0, -1]

    def _tokens(self, prompt: list[int], limit: int, sampler: _Sampler) -> Iterator[int]:
        """Sampled token ids, stopping after an end-of-turn token or ``limit`` tokens."""
        cache = self._new_cache()
        logits = self._forward(prompt, cache)
        for produced in range(limit):
            token = sampler(logits)
            yield token
            if token in self.eos_ids or produced + 1 == limit:
                return
            logits = self._forward([token], cache)

    def _generate(
        self,
        prompt: list[int],
        *,
        temperature: float,
        top_p: float,
        max_tokens: int | None,
        stop: Sequence[str],
        seed: int | None,
        stream: CompletionStream,
    ) -> Iterator[str]:
        room = max(0, self.context_length - len(prompt))
        limit = room if max_tokens is None else min(max_tokens, room)
        generated: list[int] = []
        ended = 0  # the end-of-turn token counts as generated, though it is not text
        emitted = 0
        finish: FinishReason = "length"
        text = ""
        if limit > 0:
            for token in self._tokens(prompt, limit, _Sampler(temperature, top_p, seed)):
                if token in self.eos_ids:
                    finish, ended = "stop", 1
                    break
                generated.append(token)
                text = self.tokenizer.decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                cut = min((i for i in (text.find(s, max(0, emitted - len(s))) for s in stop) if i >= 0), default=-1)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
                    break
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    continue
                safe = len(text) - _held_back(text, stop)
                if safe > emitted:
                    yield text[emitted:safe]
                    emitted = safe
        if len(text) > emitted:
            yield text[emitted:]
        stream.completion = Completion(
            text=text, finish_reason=finish, prompt_tokens=len(prompt), completion_tokens=len(generated) + ended
        )

    def stream(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | str | None = None,
        seed: int | None = None,
    ) -> CompletionStream:
        """Text chunks as they are generated; the joined chunks equal ``complete``'s text for the same seed."""
        stops = [s for s in ([stop] if isinstance(stop, str) else stop or []) if s]
        prompt = self.prompt_ids(messages)
        return CompletionStream(
            lambda stream: self._generate(
                prompt,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stops,
                seed=seed,
                stream=stream,
            ),
            len(prompt),
        )

    def complete(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | str | None = None,
        seed: int | None = None,
    ) -> Completion:
        stream = self.stream(
            messages, temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop=stop, seed=seed
        )
        for _ in stream:
            pass
        assert stream.completion is not None
        return stream.completion


_cache: OrderedDict[tuple[Path, Path | None], ChatModel] = OrderedDict()
_cache_lock = threading.Lock()


def get_chat_model(base_dir: Path, adapter_dir: Path | None = None) -> ChatModel:
    """A loaded ChatModel, shared; at most CACHE_SIZE stay loaded (least recently used goes first)."""
    key = (Path(base_dir).resolve(), Path(adapter_dir).resolve() if adapter_dir else None)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
        model = ChatModel(key[0], key[1])
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
