"""Backend profiles: the first-run setup, and F2 later to add, edit, test, switch or delete profiles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from ftui.client_types import BackendError, ConnectionCheck
from ftui.config import BackendKind, Profile, Settings
from ftui.tui.base import Call, FtuiScreen
from ftui.tui.widgets.profileform import ProfileForm

NEW = "+new"
KIND_SHORT: dict[BackendKind, str] = {
    BackendKind.LOCAL: "local engine",
    BackendKind.OPENAI: "OpenAI",
    BackendKind.AZURE: "Azure / Foundry",
    BackendKind.COMPATIBLE: "OpenAI-compatible",
}

HELP = """\
A **profile** says which backend ftui fine-tunes on and where its key comes from. The top bar shows the
profile in use.

- **Local engine**: built into ftui. Trains a small open model on this computer's CPU: no account, no network,
  no cost. A good first choice.
- **OpenAI**: OpenAI's hosted fine-tuning, billed to your OpenAI account. Needs an API key.
- **Azure OpenAI / Microsoft Foundry**: fine-tuning in your own Azure resource. Needs the resource endpoint and
  a key. Leave *API version* empty for the v1 API; give a date (e.g. `2025-04-01-preview`) for the classic API.
- **OpenAI-compatible endpoint**: any other service that speaks OpenAI's fine-tuning API.

**Keys** are masked and never shown again. A key you type is saved in your settings file, which only you can
read (mode 0600). If the key is in an environment variable (such as `$OPENAI_API_KEY`), choose *Use $…*: then
only the variable's name is saved and the key stays in your shell.

**Test connection** asks the backend for its models with what is in the form, without saving anything.
**Save & use** saves the profile and switches to it. Highlight a profile on the left to edit it; `Enter` on it
(or *Use*) switches to it without editing.
"""

FIRST_RUN_INTRO = (
    "Welcome to ftui. Choose where to fine-tune. The local engine is ready now: press Enter to save it and start."
)


class SetupScreen(FtuiScreen):
    HELP = HELP
    HELP_TITLE = "Backend profiles"

    BINDINGS: ClassVar[list[BindingType]] = [
        # Short descriptions, so that every key fits the footer at 80 columns; the tooltips (F1, palette) say more.
        Binding("ctrl+s", "save", "Save", id="setup_save", tooltip="Save this profile and switch to it"),
        Binding("ctrl+t", "test", "Test", id="setup_test", tooltip="Test the connection with the form's settings"),
        Binding("ctrl+n", "new", "New", id="setup_new", tooltip="Start an empty profile form"),
        Binding("ctrl+o", "use", "Use", id="setup_use", tooltip="Switch to the profile highlighted on the left"),
        Binding(
            "ctrl+r", "delete", "Delete", id="setup_delete", tooltip="Delete the highlighted profile (press twice)"
        ),
        Binding("escape", "close", "Back", id="setup_back", tooltip="Close the profiles screen"),
    ]

    def __init__(self, *, first_run: bool = False) -> None:
        super().__init__()
        self.first_run = first_run
        self._selected: str | None = None  # the profile in the form; None for a new one
        self._confirm_delete: str | None = None

    @property
    def settings(self) -> Settings:
        return self.ftui.settings

    # -- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(classes="body columns"):
            with Vertical(id="profiles-pane", classes="pane"):
                yield OptionList(id="profile-list")
                yield Button("New", id="new", compact=True)
                yield Button("Use", id="use", compact=True)
                yield Button("Delete", id="delete", compact=True)
                yield Static("", id="list-hint")
            with VerticalScroll(id="form-pane", classes="pane"):
                if self.first_run:
                    yield Static(FIRST_RUN_INTRO, id="intro")
                yield ProfileForm(id="form")
        with Horizontal(classes="actions"):
            yield Static("", id="status")
            yield Button("Test connection", id="test")
            yield Button("Save & use", variant="primary", id="save")

    def on_mount(self) -> None:
        self.query_one("#profiles-pane").border_title = "Profiles"
        self._fill_list(select=self.settings.active)
        self._edit(self.settings.active)
        if self.first_run:
            self.query_one("#save", Button).focus()
        else:
            self.query_one("#profile-list", OptionList).focus()

    # -- the list of profiles -----------------------------------------------------------------------------------

    def _fill_list(self, *, select: str | None) -> None:
        options = self.query_one("#profile-list", OptionList)
        options.clear_options()
        for profile in self.settings.profiles:
            options.add_option(Option(self._list_label(profile), id=profile.name))
        options.add_option(Option(Text("+ new profile", style="italic"), id=NEW))
        names = [profile.name for profile in self.settings.profiles]
        options.highlighted = names.index(select) if select in names else len(names)

    def _list_label(self, profile: Profile) -> Text:
        active = profile.name == self.settings.active
        text = Text("● " if active else "  ", style="bold" if active else "")
        text.append(profile.name, style="bold" if active else "")
        text.append(" (in use)" if active else "", style="italic")
        text.append(f"\n  {KIND_SHORT[profile.kind]}", style="dim")
        return text

    @on(OptionList.OptionHighlighted, "#profile-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        name = event.option.id
        self._edit(None if name == NEW else name)

    @on(OptionList.OptionSelected, "#profile-list")
    def _selected_option(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == NEW:
            self.query_one(ProfileForm).query_one("#kind").focus()
        else:
            self.action_use()

    def _edit(self, name: str | None) -> None:
        profile = self.settings.get(name) if name else None
        if name is not None and profile is None:
            return
        self._selected = name
        self._confirm_delete = None
        form = self.query_one(ProfileForm)
        form.taken_names = {p.name for p in self.settings.profiles}
        form.load(profile, kind=BackendKind.LOCAL)
        title = f"Profile '{name}'" if name else "New profile"
        self.query_one("#form-pane").border_title = title
        self._set_status("")
        self._refresh_list_actions()

    def _refresh_list_actions(self) -> None:
        """Enable Use and Delete only where they apply, and say why not."""
        can_use = self.check_action("use", ()) is True
        can_delete = self.check_action("delete", ()) is True
        self.query_one("#use", Button).disabled = not can_use
        self.query_one("#delete", Button).disabled = not can_delete
        reasons = []
        if self._selected is not None and self._selected == self.settings.active:
            reasons.append("This profile is in use.")
        if self._selected is not None and len(self.settings.profiles) < 2:
            reasons.append("The only profile cannot be deleted.")
        self.query_one("#list-hint", Static).update(" ".join(reasons))
        self.refresh_bindings()

    # -- status line --------------------------------------------------------------------------------------------

    def _set_status(self, text: str, style: str = "") -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_classes(style)

    def _show_problem(self, message: str) -> None:
        self._set_status(f"✗ {message}", "error-text")

    # -- actions ------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete":
            return None if self._selected is None or len(self.settings.profiles) < 2 else True
        if action == "use":
            return None if self._selected is None or self._selected == self.settings.active else True
        return True

    def action_test(self) -> None:
        try:
            candidate = self.query_one(ProfileForm).candidate()
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        self._set_status(f"… testing {candidate.describe()}…", "hint")
        start_local = self.ftui.start_local

        def check(call: Call[None]) -> ConnectionCheck:
            from ftui.client import Backend, describe_error  # loads the openai SDK, off the UI thread

            try:
                backend = Backend.from_profile(candidate, start_local=start_local)
                try:
                    return backend.check()
                finally:
                    backend.close()
            except Exception as exc:  # described with the candidate profile: its host in the text, its key never
                raise describe_error(exc, candidate) from None

        self.call_in_thread(check, done=self._tested, failed=self._test_failed, group="test", exclusive=True)

    def _tested(self, result: ConnectionCheck) -> None:
        self._set_status(f"✓ {result.detail}", "ok-text")

    def _test_failed(self, error: BackendError) -> None:
        hint = f"\n{error.hint}" if error.hint else ""
        self._set_status(f"✗ {error.message}{hint}", "error-text")

    def action_save(self) -> None:
        form = self.query_one(ProfileForm)
        try:
            profile = form.candidate()
            settings = self.settings.with_profile(profile, activate=True, replacing=self._selected)
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        self.ftui.save_settings(settings)
        if self.first_run:
            self.dismiss()
            return
        self.notify(f"Saved profile '{profile.name}'; it is now in use.", title="✓ Saved")
        self._fill_list(select=profile.name)
        self._edit(profile.name)
        self._set_status(f"✓ Saved '{profile.name}' and switched to it.", "ok-text")

    def action_use(self) -> None:
        profile = self.settings.get(self._selected or "")
        if profile is None:
            return
        self.ftui.save_settings(self.settings.with_profile(profile, activate=True, replacing=profile.name))
        self._fill_list(select=profile.name)
        self._set_status(f"✓ Now using '{profile.name}' ({profile.describe()}).", "ok-text")
        self._refresh_list_actions()

    def action_new(self) -> None:
        self._fill_list(select=None)
        self._edit(None)
        self.query_one(ProfileForm).query_one("#kind").focus()

    def action_delete(self) -> None:
        name = self._selected
        if name is None or len(self.settings.profiles) < 2:
            return
        if self._confirm_delete != name:
            self._confirm_delete = name
            self._set_status(f"! Delete profile '{name}'? Press Ctrl+R (or Delete) again to confirm.", "warning-text")
            return
        self.ftui.save_settings(self.settings.without_profile(name))
        self._fill_list(select=self.settings.active)
        self._edit(self.settings.active)
        self._set_status(f"✓ Deleted profile '{name}'.", "ok-text")

    def action_close(self) -> None:
        self.dismiss()

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        if event.button.id in ("test", "save", "new", "use", "delete"):
            await self.run_action(event.button.id)
