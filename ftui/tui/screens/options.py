"""Step 3: advanced options. Each hyperparameter is auto or a value, checked as typed, with a live estimate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from ftui.catalog import METHOD_LABELS, Method, ModelCard, Provider, load_catalog
from ftui.config import provider_of
from ftui.options import (
    AUTO,
    FIELD_DETAIL,
    FIELD_HELP,
    SUFFIX_LIMITS,
    SUGGESTED_LR_MULTIPLIER,
    Hyperparameters,
    JobOptions,
    parse_seed,
)
from ftui.tui.base import FtuiScreen
from ftui.tui.widgets.estimate import EstimatePanel

HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
FIELDS = (*HYPERPARAMETERS, "seed", "suffix")


@dataclass(frozen=True)
class FieldSpec:
    label: str
    placeholder: str


FIELD_SPECS: dict[str, FieldSpec] = {
    "n_epochs": FieldSpec("Epochs", "auto · 1-50"),
    "batch_size": FieldSpec("Batch size", "auto · 1-256"),
    "learning_rate_multiplier": FieldSpec("LR multiplier", "auto · try 0.02-0.2"),
    "beta": FieldSpec("Beta (DPO)", "auto · above 0, up to 2"),
    "seed": FieldSpec("Seed", "generated at submit"),
    "suffix": FieldSpec("Suffix", "none"),
}

METHOD_HELP: dict[Method, str] = {
    Method.SUPERVISED: "Learns to answer like the assistant replies in your example conversations.",
    Method.DPO: "Learns from pairs of a preferred and a non-preferred reply to the same prompt.",
    Method.REINFORCEMENT: "Learns from a grader's scores of its own answers.",
}


def method_choices(card: ModelCard | None, provider: Provider) -> list[Method]:
    """The methods the card lists; without a card, what the backend can run (the local engine: supervised)."""
    if card is not None:
        return list(card.methods)
    if provider is Provider.LOCAL:
        return [Method.SUPERVISED]
    return [Method.SUPERVISED, Method.DPO]


def learning_rate_warning(value: object) -> str:
    """Why a multiplier outside the suggested range is risky; empty inside it or for auto."""
    low, high = SUGGESTED_LR_MULTIPLIER
    if value == AUTO or not isinstance(value, int | float):
        return ""
    if value > high:
        return (
            f"! {value:g} is above the suggested {low:g}-{high:g}: big updates can overfit or make training unstable."
        )
    if value < low:
        return f"! {value:g} is below the suggested {low:g}-{high:g}: the model may change very little from the base."
    return ""


def _detail_help() -> str:
    names = {name: FIELD_SPECS[name].label for name in FIELDS}
    return "\n\n".join(f"**{names[name]}** (`{name}`): {FIELD_DETAIL[name]}" for name in FIELDS)


class OptionsScreen(FtuiScreen):
    STEP = "options"
    HELP_TITLE = "Advanced options"
    HELP = f"""\
Set how the fine-tuning job trains. Every hyperparameter may stay **auto**: the backend then picks a value that
suits your data, which is the right choice for a first run. Type a number to override it; a blank box means auto.
Each value is checked as you type; a message under the field and the line beside the buttons say what is wrong.
`Continue` stays blocked until every field is valid.

The **estimate** on the right is worked out from the data check of step 2: the number of training steps
(examples ÷ batch size, rounded up, × epochs), the tokens trained on, the cost where the backend has a
price (the local engine is free) and roughly how long it takes. It needs a local training file.

**Method**: only the methods the chosen model supports are offered. Supervised fine-tuning learns from example
conversations; DPO from preferred and non-preferred replies (it adds *beta*).

{_detail_help()}

`Ctrl+R` sets every hyperparameter and the seed back to auto; the suffix is kept.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+n", "continue", "Continue", id="options.continue", tooltip="Store these options and review the job"
        ),
        Binding("escape", "back", "Back", id="options.back", tooltip="Back to the data step (valid values are kept)"),
        Binding(
            "ctrl+r", "reset", "Reset to auto", id="options.reset", tooltip="Hyperparameters and seed back to auto"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, object] = {}
        self.errors: dict[str, str] = {}
        self.problems: list[str] = []
        self.method = Method.SUPERVISED

    # -- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        wizard = self.ftui.wizard
        choices = method_choices(self._card(), self._provider())
        self.method = wizard.method if wizard.method in choices else choices[0]
        fields = VerticalScroll(classes="pane", id="options-fields")
        fields.border_title = "Advanced options"
        estimate_pane = VerticalScroll(classes="pane", id="options-estimate")
        estimate_pane.border_title = "Estimate"
        with Horizontal(classes="body columns"):
            with fields:
                yield from self._method_row(choices)
                for name in FIELDS:
                    yield from self._field_row(name)
            with estimate_pane:
                yield EstimatePanel(id="estimate")
        with Horizontal(classes="actions"):
            yield Static("", classes="reason", id="options-reason")
            yield Button("Back", id="options-back")
            yield Button("Continue", variant="primary", id="options-continue")

    def _method_row(self, choices: list[Method]) -> ComposeResult:
        with Horizontal(classes="option-row", id="row-method"):
            yield Label("Method", classes="option-label")
            if len(choices) == 1:
                yield Static(METHOD_LABELS[self.method], id="method-only")
            else:
                options = [(METHOD_LABELS[method], method) for method in choices]
                yield Select(options, value=self.method, allow_blank=False, compact=True, id="method")
        only = " The only method offered for this model here." if len(choices) == 1 else ""
        yield Static(METHOD_HELP[self.method] + only, classes="option-help", id="help-method")
        yield Static("", classes="option-message error-text", id="message-method")

    def _field_row(self, name: str) -> ComposeResult:
        spec = FIELD_SPECS[name]
        with Horizontal(classes="option-row", id=f"row-{name}"):
            yield Label(spec.label, classes="option-label")
            yield Input(self._initial_text(name), placeholder=spec.placeholder, compact=True, id=f"input-{name}")
        yield Static(self._help_line(name), classes="option-help", id=f"help-{name}")
        yield Static("", classes="option-message", id=f"message-{name}")

    def _initial_text(self, name: str) -> str:
        wizard = self.ftui.wizard
        if name == "seed":
            return "" if wizard.seed is None else str(wizard.seed)
        if name == "suffix":
            return wizard.suffix or ""
        value = getattr(wizard.hyperparameters, name)
        return "" if value == AUTO else f"{value:g}" if isinstance(value, float) else str(value)

    def _help_line(self, name: str) -> str:
        if name == "suffix":
            limit = SUFFIX_LIMITS[self._provider()]
            return f"{FIELD_HELP[name]} Up to {limit} characters on this backend."
        return FIELD_HELP[name]

    def on_mount(self) -> None:
        for name in FIELDS:
            self._check_field(name, self.query_one(f"#input-{name}", Input).value)
        self._refresh()

    # -- the wizard's choices -----------------------------------------------------------------------------------

    def _provider(self) -> Provider:
        return provider_of(self.ftui.profile.kind)

    def _card(self) -> ModelCard | None:
        wizard = self.ftui.wizard
        if wizard.card is not None:
            return wizard.card
        return load_catalog().get(wizard.model) if wizard.model else None

    # -- checking as typed --------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("input-")
        if name in FIELDS:
            self._check_field(name, event.value)
            self._refresh()
            message = self.query_one(f"#message-{name}", Static)
            if message.display and event.input.has_focus:
                # The message under the field being typed in is brought into view with it.
                self.call_after_refresh(message.scroll_visible, animate=False)

    @on(Select.Changed, "#method")
    def _method_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, Method):
            self.method = event.value
            self.query_one("#help-method", Static).update(METHOD_HELP[self.method])
            self._refresh()

    def _check_field(self, name: str, text: str) -> None:
        label = FIELD_SPECS[name].label
        try:
            if name in HYPERPARAMETERS:
                self.values[name] = Hyperparameters.parse_field(name, text, label)
            elif name == "seed":
                self.values[name] = parse_seed(text, label)
            else:
                self.values[name] = text.strip() or None
        except ValueError as exc:
            self.values.pop(name, None)
            self.errors[name] = str(exc)
        else:
            self.errors.pop(name, None)

    def _hyperparameters(self) -> Hyperparameters:
        values = {name: self.values.get(name, AUTO) for name in HYPERPARAMETERS}
        if self.method is not Method.DPO:
            values["beta"] = AUTO  # kept in its box, but only DPO sends it
        return Hyperparameters.model_validate(values)

    def active_errors(self) -> dict[str, str]:
        """The fields that do not parse, less beta while the method does not use it."""
        return {name: error for name, error in self.errors.items() if name != "beta" or self.method is Method.DPO}

    def current_options(self) -> JobOptions | None:
        """The options as typed; None while a field does not parse."""
        return None if self.active_errors() else self._options_so_far()

    def _options_so_far(self) -> JobOptions:
        """The options with every field that does not parse left at auto, to check the others."""
        return JobOptions(
            model=self.ftui.wizard.model or "unknown",
            method=self.method,
            hyperparameters=self._hyperparameters(),
            seed=self.values.get("seed"),  # type: ignore[arg-type]
            suffix=self.values.get("suffix"),  # type: ignore[arg-type]
        )

    def _refresh(self) -> None:
        options = self.current_options()
        self.problems = self._options_so_far().validate_for(self._provider(), self._card())
        suffix_problems = [p for p in self.problems if p.startswith("The suffix")]
        other_problems = [p for p in self.problems if p not in suffix_problems]
        for name in FIELDS:
            self._show_message(name, suffix_problems if name == "suffix" else [])
        dpo = self.method is Method.DPO
        self.query_one("#row-beta").display = dpo
        self.query_one("#help-beta").display = dpo
        if not dpo:
            self.query_one("#message-beta").display = False
        self._set_message("method", "\n".join(f"✗ {p}" for p in other_problems), "error-text")
        if options is not None:
            kind = self.ftui.profile.kind
            self.query_one(EstimatePanel).show(self.ftui.wizard.estimate(options, kind), kind)
        self._show_reason()
        self.refresh_bindings()

    def _show_message(self, name: str, problems: list[str]) -> None:
        if name in self.errors:
            self._set_message(name, f"✗ {self.errors[name]}", "error-text")
        elif problems:
            self._set_message(name, "\n".join(f"✗ {p}" for p in problems), "error-text")
        elif name == "learning_rate_multiplier":
            self._set_message(name, learning_rate_warning(self.values.get(name)), "warning-text")
        else:
            self._set_message(name, "", "")

    def _set_message(self, name: str, text: str, style: str) -> None:
        message = self.query_one(f"#message-{name}", Static)
        message.set_classes(f"option-message {style}".strip())
        message.update(text)
        message.display = bool(text)

    def blocked_reason(self) -> str:
        """Why Continue is unavailable, in full (the field's own message may be scrolled out of view); empty when
        it is available."""
        errors = self.active_errors()
        wrong = [name for name in FIELDS if name in errors]
        if wrong:
            others = [FIELD_SPECS[name].label for name in wrong[1:]]
            also = f"; fix {', '.join(others)} too" if others else ""
            return f"✗ {errors[wrong[0]]}{also}"
        if self.problems:
            return f"✗ {self.problems[0]}"
        return ""

    def _show_reason(self) -> None:
        reason = self.blocked_reason()
        self.query_one("#options-reason", Static).update(reason or "✓ Options are valid")
        self.query_one("#options-reason", Static).set_class(not reason, "ok-text")
        self.query_one("#options-continue", Button).disabled = bool(reason)

    # -- actions ------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue" and self.is_mounted and self.blocked_reason():
            return None
        return True

    def _store(self) -> None:
        """Keep every valid value in the wizard; a field that does not parse keeps its previous value."""
        wizard = self.ftui.wizard
        hyperparameters = wizard.hyperparameters.model_dump()
        for name in HYPERPARAMETERS:
            if name not in self.errors:
                hyperparameters[name] = self.values.get(name, AUTO)
        if self.method is not Method.DPO:
            hyperparameters["beta"] = AUTO
        wizard.hyperparameters = Hyperparameters(**hyperparameters)
        wizard.method = self.method
        if "seed" not in self.errors:
            wizard.seed = self.values.get("seed")  # type: ignore[assignment]
        wizard.suffix = self.values.get("suffix")  # type: ignore[assignment]

    def action_continue(self) -> None:
        if self.blocked_reason():
            self.notify(self.blocked_reason(), severity="warning")
            return
        self._store()
        self.ftui.open_step("review")

    def action_back(self) -> None:
        self._store()
        self.app.pop_screen()

    def action_reset(self) -> None:
        for name in (*HYPERPARAMETERS, "seed"):
            self.query_one(f"#input-{name}", Input).value = ""
        self.notify("Hyperparameters and seed are back to auto; the suffix is kept.")

    @on(Button.Pressed, "#options-continue")
    def _continue_pressed(self) -> None:
        self.action_continue()

    @on(Button.Pressed, "#options-back")
    def _back_pressed(self) -> None:
        self.action_back()
