"""The form for one backend profile: the backend kind, then only the fields that kind needs.

Keys are typed into a masked field and never put back on screen: editing a profile with a saved key leaves
the field empty, and an empty field keeps the saved key.
"""

from __future__ import annotations

import os

from pydantic import SecretStr, ValidationError
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from ftui.config import BACKEND_HELP, BACKEND_LABELS, BackendKind, Profile, env_defaults

# Which optional fields each backend kind shows.
FIELDS: dict[BackendKind, tuple[str, ...]] = {
    BackendKind.LOCAL: (),
    BackendKind.OPENAI: ("base_url", "api_key", "organization"),
    BackendKind.AZURE: ("base_url", "api_key", "api_version"),
    BackendKind.COMPATIBLE: ("base_url", "api_key"),
}

BASE_URL_LABELS: dict[BackendKind, str] = {
    BackendKind.OPENAI: "Base URL (optional)",
    BackendKind.AZURE: "Endpoint",
    BackendKind.COMPATIBLE: "Base URL",
}
BASE_URL_HELP: dict[BackendKind, str] = {
    BackendKind.OPENAI: "Leave empty for api.openai.com.",
    BackendKind.AZURE: "Your resource: https://<resource>.openai.azure.com (or a Foundry …services.ai.azure.com).",
    BackendKind.COMPATIBLE: "The service's OpenAI-style URL, usually ending in /v1.",
}
API_VERSION_HELP = (
    "Leave empty for the v1 API (…/openai/v1, no version to pick). Give a date such as 2025-04-01-preview "
    "only for the classic API, which needs an api-version on every request."
)
LOCAL_NOTE = "Nothing else to fill in."


class KindButton(RadioButton):
    """A radio button whose mark is visible without colour (NO_COLOR terminals): filled when chosen."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button


class MarkedCheckbox(Checkbox):
    """A checkbox that shows its tick as a character, not only as a colour."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button


class ProfileForm(Vertical):
    """Edits one profile; ``candidate()`` builds it or says, in words, what is missing."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = BackendKind.LOCAL
        self.editing: Profile | None = None
        self.taken_names: set[str] = set()
        self._name_touched = False

    def compose(self) -> ComposeResult:
        yield Label("Backend", classes="section-title")
        with RadioSet(id="kind"):
            for kind in BackendKind:
                yield KindButton(BACKEND_LABELS[kind], id=f"kind-{kind}")
        yield Static("", id="kind-help", classes="hint")
        with Horizontal(classes="field", id="field-name"):
            yield Label("Profile name")
            yield Input(id="name", max_length=40)
        with Horizontal(classes="field", id="field-base_url"):
            yield Label("Base URL", id="base_url-label")
            yield Input(id="base_url", placeholder="https://…")
        yield Static("", id="base_url-help", classes="help")
        yield MarkedCheckbox("", id="use-env")
        yield Static("", id="env-note", classes="help")
        with Horizontal(classes="field", id="field-api_key"):
            yield Label("API key")
            yield Input(id="api_key", password=True)
        with Horizontal(classes="field", id="field-api_version"):
            yield Label("API version (optional)")
            yield Input(id="api_version", placeholder="empty: v1 API")
        yield Static(API_VERSION_HELP, id="api_version-help", classes="help")
        with Horizontal(classes="field", id="field-organization"):
            yield Label("Organization (optional)")
            yield Input(id="organization", placeholder="org-…")

    # -- filling in -------------------------------------------------------------------------------------------

    def load(self, profile: Profile | None, *, kind: BackendKind = BackendKind.LOCAL) -> None:
        """Show ``profile`` for editing, or an empty form for a new profile of ``kind``."""
        self.editing = profile
        self.kind = profile.kind if profile else kind
        self._name_touched = profile is not None
        self._set("name", profile.name if profile else self._suggested_name(self.kind))
        self._set("base_url", (profile.base_url if profile else None) or "")
        self._set("api_version", (profile.api_version if profile else None) or "")
        self._set("organization", (profile.organization if profile else None) or "")
        self._set("api_key", "")
        if profile is None:
            self._apply_env_defaults()
        self.query_one(f"#kind-{self.kind}", RadioButton).value = True
        self._show_kind()

    def _set(self, field: str, value: str) -> None:
        self.query_one(f"#{field}", Input).value = value

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _suggested_name(self, kind: BackendKind) -> str:
        base = str(kind)
        name, number = base, 2
        while name in self.taken_names:
            name, number = f"{base}-{number}", number + 1
        return name

    def _apply_env_defaults(self) -> None:
        for field, value in env_defaults(self.kind).items():
            if field != "api_key_env" and not self._value(field):
                self._set(field, value)

    def _env_variable(self) -> str | None:
        """The variable a key can come from: the profile's own, else the conventional one set in this shell."""
        if self.editing is not None and self.editing.kind is self.kind and self.editing.api_key_env:
            return self.editing.api_key_env
        return env_defaults(self.kind).get("api_key_env")

    def _show_kind(self) -> None:
        kind, fields = self.kind, FIELDS[self.kind]
        self.query_one("#kind-help", Static).update(
            BACKEND_HELP[kind] + ("\n" + LOCAL_NOTE if kind is BackendKind.LOCAL else "")
        )
        for field in ("base_url", "api_key", "api_version", "organization"):
            self.query_one(f"#field-{field}").display = field in fields
        for help_id in ("base_url-help", "api_version-help"):
            self.query_one(f"#{help_id}").display = help_id.removesuffix("-help") in fields
        if "base_url" in fields:
            self.query_one("#base_url-label", Label).update(BASE_URL_LABELS[kind])
            self.query_one("#base_url-help", Static).update(BASE_URL_HELP[kind])
        self._show_key_source()

    def _show_key_source(self) -> None:
        variable = self._env_variable() if "api_key" in FIELDS[self.kind] else None
        checkbox = self.query_one("#use-env", Checkbox)
        checkbox.display = variable is not None
        note = self.query_one("#env-note", Static)
        if variable is None:
            checkbox.value = False
            note.display = False
        else:
            is_set = bool(os.environ.get(variable))
            checkbox.label = f"Use ${variable}" + ("" if is_set else " (not set in this shell)")
            checkbox.value = self._prefers_env(variable)
            note.display = True
        self._show_key_field()

    def _prefers_env(self, variable: str) -> bool:
        if self.editing is not None and self.editing.kind is self.kind:
            return self.editing.api_key_env == variable and self.editing.api_key is None
        return bool(os.environ.get(variable))

    def _show_key_field(self) -> None:
        checkbox = self.query_one("#use-env", Checkbox)
        use_env = checkbox.display and checkbox.value
        key_input = self.query_one("#api_key", Input)
        key_input.disabled = bool(use_env)
        note = self.query_one("#env-note", Static)
        variable = self._env_variable()
        if use_env:
            note.update(f"The key stays in ${variable}; only the variable's name is saved.")
        elif note.display:
            note.update("Or type a key below: it is saved in your private settings file (readable only by you).")
        key_input.placeholder = self._key_placeholder()

    def _key_placeholder(self) -> str:
        if self.editing is not None and self.editing.kind is self.kind and self.editing.api_key is not None:
            return "saved key kept — type to replace"
        return "optional" if self.kind is BackendKind.COMPATIBLE else "sk-…"

    @on(RadioSet.Changed, "#kind")
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        pressed = event.pressed.id or ""
        kind = BackendKind(pressed.removeprefix("kind-"))
        if kind is self.kind:
            return
        self.kind = kind
        if not self._name_touched:
            self._set("name", self._suggested_name(kind))
            self._name_touched = False
        if self.editing is None:
            self._apply_env_defaults()
        self._show_kind()

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        if event.input.has_focus:
            self._name_touched = True

    @on(Checkbox.Changed, "#use-env")
    def _env_toggled(self) -> None:
        self._show_key_field()

    # -- reading back -----------------------------------------------------------------------------------------

    def candidate(self) -> Profile:
        """The profile as filled in. Raises ValueError with a message to show when something is missing or wrong."""
        kind, fields = self.kind, FIELDS[self.kind]
        name = self._value("name")
        if not name:
            raise ValueError("Give the profile a name.")
        if name in self.taken_names and (self.editing is None or name != self.editing.name):
            raise ValueError(f"A profile named '{name}' already exists: choose another name.")
        base_url = self._value("base_url") if "base_url" in fields else ""
        if kind in (BackendKind.AZURE, BackendKind.COMPATIBLE) and not base_url:
            raise ValueError(f"Enter the {BASE_URL_LABELS[kind].lower()}: {BASE_URL_HELP[kind]}")
        values: dict[str, object] = {
            "name": name,
            "kind": kind,
            "base_url": base_url or None,
            "api_version": (self._value("api_version") or None) if "api_version" in fields else None,
            "organization": (self._value("organization") or None) if "organization" in fields else None,
        }
        if "api_key" in fields:
            values.update(self._key_fields())
        try:
            return Profile.model_validate(values)
        except ValidationError as exc:
            raise ValueError(_first_message(exc)) from None

    def _key_fields(self) -> dict[str, object]:
        checkbox = self.query_one("#use-env", Checkbox)
        if checkbox.display and checkbox.value:
            return {"api_key_env": self._env_variable()}
        typed = self.query_one("#api_key", Input).value.strip()
        if typed:
            return {"api_key": SecretStr(typed)}
        if self.editing is not None and self.editing.kind is self.kind and self.editing.api_key is not None:
            return {"api_key": self.editing.api_key}
        if self.kind is BackendKind.COMPATIBLE:
            return {}
        variable = env_defaults(self.kind).get("api_key_env") or _conventional_variable(self.kind)
        raise ValueError(f"Type the API key, or set ${variable} in this shell and choose it.")


def _conventional_variable(kind: BackendKind) -> str:
    return "AZURE_OPENAI_API_KEY" if kind is BackendKind.AZURE else "OPENAI_API_KEY"


def _first_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {message}" if field else message
