"""Profiles and settings: validation, the TOML file on disk, and what never goes into it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from ftui.config import (
    BACKEND_HELP,
    BACKEND_LABELS,
    BackendKind,
    ConfigError,
    Profile,
    Settings,
    config_exists,
    config_path,
    env_defaults,
    load_settings,
    save_settings,
)

SECRET = "sk-test-0123456789abcdefSECRET"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "config.toml"


def openai_profile(**fields: object) -> Profile:
    return Profile.model_validate({"name": "work", "kind": "openai", "api_key_env": "OPENAI_API_KEY"} | fields)


# --- profiles and settings ---------------------------------------------------------------------------------


def test_every_backend_has_a_label_and_help() -> None:
    assert set(BACKEND_LABELS) == set(BACKEND_HELP) == set(BackendKind)
    assert "no account" in BACKEND_HELP[BackendKind.LOCAL] and "CPU" in BACKEND_HELP[BackendKind.LOCAL]


def test_defaults_have_one_local_profile() -> None:
    defaults = Settings()
    assert defaults.active_profile() == Profile(name="local", kind=BackendKind.LOCAL)
    assert defaults.bell and defaults.poll_seconds == 2.0


def test_resolved_api_key_prefers_the_typed_key_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert openai_profile().resolved_api_key() == SECRET
    assert openai_profile(api_key="typed").resolved_api_key() == "typed"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert openai_profile().resolved_api_key() is None


def test_describe_names_the_key_source_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert openai_profile().describe() == "OpenAI · key from $OPENAI_API_KEY"
    typed = openai_profile(api_key=SECRET, api_key_env=None)
    assert SECRET not in typed.describe() and SECRET not in repr(typed) and SECRET not in str(typed)
    azure = Profile(
        name="az", kind="azure", base_url="https://res.openai.azure.com", api_key_env="AZURE_OPENAI_API_KEY"
    )
    assert (
        azure.describe() == "Azure OpenAI / Microsoft Foundry · res.openai.azure.com · key from $AZURE_OPENAI_API_KEY"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "", "kind": "local"},
        {"name": "x" * 41, "kind": "local"},
        {"name": "two\nlines", "kind": "local"},
        {"name": "c", "kind": "compatible"},
        {"name": "c", "kind": "openai", "base_url": "api.openai.com"},
        {"name": "c", "kind": "openai", "api_key_env": "NOT A NAME"},
        {"name": "c", "kind": "mainframe"},
        {"name": "c", "kind": "openai", "colour": "blue"},
    ],
)
def test_invalid_profiles_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Profile.model_validate(fields)


def test_with_profile_adds_activates_and_renames() -> None:
    added = Settings().with_profile(openai_profile())
    assert [p.name for p in added.profiles] == ["local", "work"] and added.active == "work"
    quiet = Settings().with_profile(openai_profile(), activate=False)
    assert quiet.active == "local"
    renamed = added.with_profile(openai_profile(name="job"), replacing="work", activate=False)
    assert [p.name for p in renamed.profiles] == ["local", "job"] and renamed.active == "job"
    edited = added.with_profile(openai_profile(organization="org-1"))
    assert edited.get("work") is not None and edited.get("work").organization == "org-1" and len(edited.profiles) == 2
    with pytest.raises(ValueError, match="already exists"):
        added.with_profile(openai_profile(name="local"), replacing="work")


def test_without_profile_keeps_an_active_profile() -> None:
    both = Settings().with_profile(openai_profile())
    left = both.without_profile("work")
    assert [p.name for p in left.profiles] == ["local"] and left.active == "local"
    assert both.without_profile("missing") == both
    with pytest.raises(ValueError):
        left.without_profile("local")


def test_settings_refuse_duplicates_unknown_active_and_bad_poll() -> None:
    local = {"name": "local", "kind": "local"}
    for data in ({"profiles": [local, local]}, {"active": "gone"}, {"poll_seconds": 0.1}, {"poll_seconds": 61}):
        with pytest.raises(ValidationError):
            Settings.model_validate(data)


# --- the file ----------------------------------------------------------------------------------------------


def test_missing_file_gives_defaults(path: Path) -> None:
    assert not config_exists(path)
    assert load_settings(path) == Settings()


def test_round_trip_and_private_modes(path: Path) -> None:
    azure = Profile(
        name="azure prod",
        kind=BackendKind.AZURE,
        base_url="https://res.openai.azure.com",
        api_version="2025-04-01-preview",
        api_key=SecretStr(SECRET),
    )
    original = Settings(bell=False, poll_seconds=5).with_profile(openai_profile()).with_profile(azure)
    written = save_settings(original, path)
    assert written == path and config_exists(path)
    assert load_settings(path) == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"], "no temporary file left behind"


def test_a_key_from_the_environment_is_not_written(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    save_settings(Settings().with_profile(openai_profile()), path)
    content = path.read_bytes()
    assert SECRET.encode() not in content and b"OPENAI_API_KEY" in content
    assert load_settings(path).active_profile().resolved_api_key() == SECRET


def test_overwriting_keeps_the_file_private(path: Path) -> None:
    path.parent.mkdir(mode=0o755)
    path.write_text('active = "local"\n')
    path.chmod(0o644)
    save_settings(Settings(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_invalid_toml_names_the_file(path: Path) -> None:
    path.parent.mkdir()
    path.write_text("active = \n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "TOML" in str(caught.value)


def test_invalid_field_names_the_profile_and_field(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(
        'active = "local"\n\n[[profiles]]\nname = "local"\nkind = "local"\n\n'
        '[[profiles]]\nname = "work"\nkind = "openai"\napi_key_env = "not a name"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message and "profiles[1] (work).api_key_env" in message


def test_config_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FTUI_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config_path() == tmp_path / "elsewhere.toml"
    monkeypatch.delenv("FTUI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path().name == "config.toml" and config_path().parent.name == "ftui"


def test_env_defaults_give_variable_names_for_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    assert env_defaults(BackendKind.OPENAI) == {"api_key_env": "OPENAI_API_KEY"}
    assert env_defaults(BackendKind.AZURE) == {
        "base_url": "https://res.openai.azure.com",
        "api_key_env": "AZURE_OPENAI_API_KEY",
        "api_version": "2025-04-01-preview",
    }
    assert env_defaults(BackendKind.LOCAL) == {}


names = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s != ""
)
keys = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))


@settings(max_examples=60, deadline=None)
@given(name=names, key=keys, kind=st.sampled_from([BackendKind.OPENAI, BackendKind.AZURE, BackendKind.LOCAL]))
def test_any_valid_profile_survives_the_file(
    tmp_path_factory: pytest.TempPathFactory, name: str, key: str | None, kind: BackendKind
) -> None:
    path = tmp_path_factory.mktemp("prop") / "config.toml"
    profile = Profile(name=name, kind=kind, api_key=SecretStr(key) if key is not None else None)
    original = Settings().with_profile(profile) if name != "local" else Settings(profiles=[profile])
    save_settings(original, path)
    assert load_settings(path) == original
    assert os.stat(path).st_mode & 0o077 == 0
