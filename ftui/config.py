"""Settings and backend profiles, kept in one TOML file in the user's config folder.

A profile names a backend (the local engine, OpenAI, Azure OpenAI / Microsoft Foundry or another
OpenAI-compatible endpoint) and where its key comes from. A key the user typed is stored in the file,
which is written with mode 0600; a key read from an environment variable is stored only as the
variable's name.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import platformdirs
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, model_validator

from ftui.catalog import Provider
from ftui.fsutil import atomic_writer

CONFIG_ENV = "FTUI_CONFIG"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_PROFILE = "local"
FILE_HEADER = "# ftui settings. Private to you (mode 0600): a key typed into a profile is kept here.\n\n"


class BackendKind(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"
    AZURE = "azure"
    COMPATIBLE = "compatible"


BACKEND_LABELS: dict[BackendKind, str] = {
    BackendKind.LOCAL: "Local engine",
    BackendKind.OPENAI: "OpenAI",
    BackendKind.AZURE: "Azure OpenAI / Microsoft Foundry",
    BackendKind.COMPATIBLE: "OpenAI-compatible endpoint",
}

# Whose rules (model cards, limits, prices) a backend kind follows. An OpenAI-compatible server is held to
# OpenAI's: the closest published ones.
_PROVIDERS: dict[BackendKind, Provider] = {
    BackendKind.LOCAL: Provider.LOCAL,
    BackendKind.OPENAI: Provider.OPENAI,
    BackendKind.AZURE: Provider.AZURE,
    BackendKind.COMPATIBLE: Provider.OPENAI,
}


def provider_of(kind: BackendKind) -> Provider:
    """The catalog provider whose models and rules a backend of this kind follows."""
    return _PROVIDERS[kind]


BACKEND_HELP: dict[BackendKind, str] = {
    BackendKind.LOCAL: (
        "The engine built into ftui. It needs no account and no network, and costs nothing: it trains a small "
        "open model on this computer's CPU. Good for learning the workflow and for private data."
    ),
    BackendKind.OPENAI: (
        "OpenAI's hosted fine-tuning service. It needs an OpenAI API key from platform.openai.com. "
        "Training and using the fine-tuned model are billed to your OpenAI account per token."
    ),
    BackendKind.AZURE: (
        "Fine-tuning in your own Azure OpenAI or Microsoft Foundry resource. It needs the resource endpoint "
        "(https://<resource>.openai.azure.com) and one of its API keys. Training, and hosting a deployed model, "
        "are billed to your Azure subscription."
    ),
    BackendKind.COMPATIBLE: (
        "Any other service that speaks OpenAI's fine-tuning API. It needs the service's base URL "
        "(ending in /v1) and usually an API key. Costs depend on the service."
    ),
}

# No control characters: names are shown in one-line lists and status bars.
ProfileName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")
]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ConfigError(Exception):
    """The config file cannot be read or is invalid; the message names the file and what is wrong."""


class Profile(BaseModel):
    """One backend the user can fine-tune on. Never shows its key: see ``describe``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ProfileName
    kind: BackendKind
    base_url: str | None = None
    api_version: str | None = None
    api_key: SecretStr | None = None
    api_key_env: EnvVarName | None = None
    organization: str | None = None

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Profile:
        if self.base_url is not None and urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with http:// or https://, not {self.base_url!r}")
        if self.kind is BackendKind.COMPATIBLE and not self.base_url:
            raise ValueError("an OpenAI-compatible profile needs base_url (the service's URL ending in /v1)")
        return self

    def resolved_api_key(self) -> str | None:
        """The key typed into the profile, else the value of its environment variable now (None when unset)."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None

    def key_source(self) -> str:
        """Where the key comes from, in words, for messages and hints. Never the key."""
        if self.api_key is not None:
            return "the key saved in this profile"
        if self.api_key_env:
            return f"${self.api_key_env}"
        return "the engine's token" if self.kind is BackendKind.LOCAL else "no key set"

    def host(self) -> str:
        """The host name this profile talks to, for labels and messages."""
        if self.base_url:
            return urlsplit(self.base_url).netloc or self.base_url
        if self.kind is BackendKind.OPENAI:
            return urlsplit(OPENAI_DEFAULT_BASE_URL).netloc
        return "this computer"

    def describe(self) -> str:
        """One line for lists, e.g. "OpenAI · key from $OPENAI_API_KEY"."""
        parts = [BACKEND_LABELS[self.kind]]
        if self.kind is BackendKind.LOCAL:
            parts.append(self.host() if self.base_url else "on this computer, started when needed")
            return " · ".join(parts)
        if self.base_url:
            parts.append(self.host())
        if self.api_version:
            parts.append(f"api-version {self.api_version}")
        if self.api_key is not None:
            parts.append("key saved in profile")
        elif self.api_key_env:
            parts.append(f"key from ${self.api_key_env}")
        else:
            parts.append("no key set")
        return " · ".join(parts)


def _default_profiles() -> list[Profile]:
    return [Profile(name=LOCAL_PROFILE, kind=BackendKind.LOCAL)]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    active: str = LOCAL_PROFILE
    bell: bool = True
    poll_seconds: float = Field(default=2.0, ge=0.5, le=60)
    profiles: list[Profile] = Field(default_factory=_default_profiles, min_length=1)

    @model_validator(mode="after")
    def _check_profiles(self) -> Settings:
        names = [profile.name for profile in self.profiles]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"profile names must be unique; repeated: {', '.join(duplicates)}")
        if self.active not in names:
            raise ValueError(f"active profile {self.active!r} is not one of the profiles ({', '.join(names)})")
        return self

    def get(self, name: str) -> Profile | None:
        return next((profile for profile in self.profiles if profile.name == name), None)

    def active_profile(self) -> Profile:
        profile = self.get(self.active)
        assert profile is not None, "validated: active names a profile"
        return profile

    def with_profile(self, profile: Profile, *, activate: bool = True, replacing: str | None = None) -> Settings:
        """A copy with ``profile`` added, or put in place of ``replacing`` (an edit, possibly a rename).

        Adding a profile under an existing name replaces that profile; renaming onto another profile's name is refused.
        """
        old = replacing if replacing is not None else profile.name
        if profile.name != old and self.get(profile.name) is not None:
            raise ValueError(f"A profile named {profile.name!r} already exists.")
        profiles = list(self.profiles)
        names = [p.name for p in profiles]
        if old in names:
            profiles[names.index(old)] = profile
        else:
            profiles.append(profile)
        active = profile.name if activate or self.active == old else self.active
        return Settings.model_validate({**self._fields(), "profiles": profiles, "active": active})

    def without_profile(self, name: str) -> Settings:
        """A copy without the profile ``name``. The last profile cannot go; if the active one goes, the first remains active."""
        if self.get(name) is None:
            return self
        profiles = [p for p in self.profiles if p.name != name]
        if not profiles:
            raise ValueError("At least one profile must remain.")
        active = self.active if self.active != name else profiles[0].name
        return Settings.model_validate({**self._fields(), "profiles": profiles, "active": active})

    def _fields(self) -> dict[str, Any]:
        return {"bell": self.bell, "poll_seconds": self.poll_seconds}


def config_path() -> Path:
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_config_dir("ftui")) / "config.toml"


def config_exists(path: Path | None = None) -> bool:
    return (path or config_path()).is_file()


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings; defaults when the file does not exist yet."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix or delete the file.") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_validation_summary(exc, data)}") from None


def _validation_summary(exc: ValidationError, data: dict[str, Any]) -> str:
    problems = [f"{_location(error['loc'], data)}: {error['msg']}" for error in exc.errors()]
    return "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")


def _location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """'profiles[1] (work).api_key_env' style: the TOML path, with the profile's name when it has one."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            if text.startswith("profiles["):
                name = _profile_name(data, part)
                text += f" ({name})" if name else ""
        else:
            text += f".{part}" if text else part
    return text or "settings"


def _profile_name(data: dict[str, Any], index: int) -> str | None:
    profiles = data.get("profiles")
    if isinstance(profiles, list) and 0 <= index < len(profiles) and isinstance(profiles[index], dict):
        name = profiles[index].get("name")
        return name if isinstance(name, str) else None
    return None


def settings_to_toml(settings: Settings) -> str:
    """The file text. Keys read from environment variables are stored as the variable's name only."""
    data = settings.model_dump(mode="json", exclude_none=True, exclude={"profiles"})
    # One [[profiles]] table each (tomli_w would pick inline tables for short ones): easier to read and edit.
    tables = [f"\n[[profiles]]\n{tomli_w.dumps(_profile_table(profile))}" for profile in settings.profiles]
    return FILE_HEADER + tomli_w.dumps(data) + "".join(tables)


def _profile_table(profile: Profile) -> dict[str, Any]:
    table = profile.model_dump(mode="json", exclude_none=True, exclude={"api_key"})
    if profile.api_key is not None:
        table["api_key"] = profile.api_key.get_secret_value()
    return table


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically, private to the user (0600 file, 0700 folder) from the first byte."""
    path = path or config_path()
    _make_private_dir(path.parent)
    text = settings_to_toml(settings).encode("utf-8")
    # The temporary file is created 0600 (mkstemp), so no one else can read the key at any moment.
    with atomic_writer(path) as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    return path


def _make_private_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened; make it exact


def env_defaults(kind: BackendKind) -> dict[str, str]:
    """Profile fields suggested by the conventional environment variables set now. Keys as variable names only."""
    mapping = _ENV_FIELDS.get(kind, ())
    found: dict[str, str] = {}
    for variable, field in mapping:
        value = os.environ.get(variable)
        if value and field not in found:
            found[field] = variable if field == "api_key_env" else value
    return found


_ENV_FIELDS: dict[BackendKind, tuple[tuple[str, str], ...]] = {
    BackendKind.OPENAI: (
        ("OPENAI_API_KEY", "api_key_env"),
        ("OPENAI_BASE_URL", "base_url"),
        ("OPENAI_ORG_ID", "organization"),
    ),
    BackendKind.AZURE: (
        ("AZURE_OPENAI_ENDPOINT", "base_url"),
        ("AZURE_OPENAI_API_KEY", "api_key_env"),
        ("OPENAI_API_VERSION", "api_version"),
    ),
}
