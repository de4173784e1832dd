"""Step 1 of the wizard: choose the base model, from the catalog merged with what the backend offers now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, Static

from ftui.availability import Entry, Mark, merge
from ftui.catalog import METHOD_LABELS, TASK_LABELS, Catalog, Method, Provider, Task, load_catalog
from ftui.client_types import BackendError, LiveModel
from ftui.config import BACKEND_LABELS, provider_of
from ftui.tui.base import FtuiScreen
from ftui.tui.widgets.modelcard import card_text, format_tokens, methods_short

if TYPE_CHECKING:  # the first screen does not wait for the openai SDK; the backend call loads it
    from ftui.client import Backend

ALL = "all"
MARK_STYLES: dict[Mark, str] = {Mark.AVAILABLE: "green", Mark.UNAVAILABLE: "red", Mark.UNKNOWN: "yellow"}

HELP = """\
Pick the **base model** to fine-tune. The list joins ftui's built-in model cards with the models the active
backend reports right now.

- **Task** filters by what the model can be fine-tuned for (chat completion, classification, translation…).
- **Method** filters by training method: *supervised* (SFT: learn from example answers), *DPO* (learn from
  preferred vs. rejected answers), *reinforcement* (RFT: learn from a grader's scores).
- **Search** matches names, publishers, families and languages as you type.

The first column says whether this backend can train the model: `✓` fine-tunable here, `✗` not on this
backend (the card says why, for example an OpenAI model while the local engine is active — press `F2` to
switch profile), `?` not known yet (the backend has not answered). Models the backend reports without a
catalog card are listed too.

The card on the right shows capabilities, pretraining data, known limitations and biases, languages, context
length and price. Facts marked *(unconfirmed)* could not be checked against a public source.

`Enter` (or `Ctrl+N`, or a second click) continues with the highlighted model to the data step.
"""


class CatalogScreen(FtuiScreen):
    STEP = "model"
    HELP = HELP
    HELP_TITLE = "Choose a base model"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "continue", "Continue", id="catalog.continue", tooltip="Continue with the highlighted model"),
        Binding("slash", "search", "Search", id="catalog.search", tooltip="Type to filter the models"),
        Binding(
            "ctrl+t",
            "task_filter",
            "Task filter",
            id="catalog.task_filter",
            tooltip="Open the list of fine-tuning tasks",
        ),
        Binding(
            "f5", "refresh", "Refresh", id="catalog.refresh", tooltip="Ask the backend again which models it offers"
        ),
        # Shown only while the search box has the focus (check_action).
        Binding(
            "escape", "leave_search", "Model list", id="catalog.leave_search", tooltip="Leave the search for the list"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.catalog: Catalog = load_catalog()
        self.live: list[LiveModel] | None = None
        self.live_error: str | None = None
        self.backend_label = ""
        self.provider: Provider | None = None
        self.entries: list[Entry] = []
        self.shown: list[Entry] = []
        self._queried_profile: object = None
        # A model chosen before (a cloned run): highlighted once the backend has said what it offers.
        self._preselect: str | None = None
        self._applied_filters: tuple[Task | None, Method | None, str] | None = None
        self._card_of: str | None = None  # the model whose card is shown: another one starts at its top

    # -- layout -------------------------------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(classes="body"):
            with Horizontal(id="filters"):
                yield Select(_task_options(), value=self._initial_task(), allow_blank=False, id="task")
                yield Select(_method_options(), value=ALL, allow_blank=False, id="method")
                yield Input(placeholder="Search models…", id="search")
            with Horizontal(classes="columns"):
                with Vertical(id="models-pane", classes="pane"):
                    yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
                    yield Static("", id="live-status", classes="hint")
                with VerticalScroll(id="card-pane", classes="pane"):
                    yield Static("", id="card")
        with Horizontal(classes="actions"):
            yield Static("", id="reason", classes="reason")
            yield Button("Continue", variant="primary", id="continue")

    def _initial_task(self) -> str:
        task = self.ftui.wizard.task
        return str(task) if task is not None else ALL

    def on_mount(self) -> None:
        self.query_one("#models-pane").border_title = "Models"
        self.query_one("#card-pane").border_title = "Model card"
        table = self.query_one("#models", DataTable)
        table.add_column(" ", key="mark", width=1)
        table.add_column("Model", key="name")
        table.add_column("Context", key="context")
        table.add_column("Methods", key="methods")
        table.add_column("Publisher", key="publisher")
        self._show_run()
        # Connecting loads the openai SDK, whose import would hold up the first paint.
        self._queried_profile = self.ftui.profile
        self.ftui.call_after_first_paint(self.query_live)

    def begin_run(self) -> None:
        """Start the model step over for a new wizard run: its filters, its chosen model, a fresh look at the backend."""
        self.query_one("#task", Select).value = self._initial_task()
        self.query_one("#method", Select).value = ALL
        self.query_one("#search", Input).value = ""
        self._show_run()
        self.query_live()

    def _show_run(self) -> None:
        """Fill the table for the wizard's run, with the model it chose (if any) highlighted once the backend answers."""
        self._preselect = self.ftui.wizard.model
        self._adopt_profile()
        self._rebuild()
        self.query_one("#card-pane", VerticalScroll).scroll_home(animate=False, immediate=True)
        self.query_one("#models", DataTable).focus()

    def on_screen_resume(self) -> None:
        if self._queried_profile != self.ftui.profile:
            self._adopt_profile()
            self._rebuild()
            self.query_live()

    # -- live models --------------------------------------------------------------------------------------------

    def _adopt_profile(self) -> None:
        profile = self.ftui.profile
        self.backend_label = BACKEND_LABELS[profile.kind]
        self.provider = provider_of(profile.kind)
        self.live, self.live_error = None, None

    @property
    def live_settled(self) -> bool:
        """The backend has answered (with its models or an error) for the current profile."""
        return self.live is not None or self.live_error is not None

    def query_live(self) -> None:
        self._queried_profile = self.ftui.profile
        self.live, self.live_error = None, None
        self._show_live_status()
        self.call_backend(self._fetch, done=self._got_live, failed=self._live_failed, group="live", exclusive=True)

    @staticmethod
    def _fetch(backend: Backend) -> tuple[Provider, list[LiveModel]]:
        return backend.provider, backend.list_models()

    def _got_live(self, result: tuple[Provider, list[LiveModel]]) -> None:
        self.provider, self.live = result
        self._rebuild()

    def _live_failed(self, error: BackendError) -> None:
        self.live_error = f"{error.message} {error.hint}".strip()
        self._rebuild()

    def _show_live_status(self) -> None:
        """What the backend said, counted over the models the filters show."""
        self.query_one("#live-status", Static).update(self.live_status())

    def live_status(self) -> str:
        label = self.backend_label
        if self.live_error is not None:
            return f"✗ {label} did not answer"
        if self.live is None:
            return f"… checking what {label} offers…"
        usable = sum(1 for entry in self.entries if entry.availability.mark is Mark.AVAILABLE)
        shown = sum(1 for entry in self.shown if entry.availability.mark is Mark.AVAILABLE)
        if shown == usable:
            return f"✓ {label}: {usable} fine-tunable here"
        return f"✓ {label}: {shown} of {usable} fine-tunable here match the filters"

    def _merged(self) -> list[Entry]:
        return merge(
            self.catalog,
            provider=self.provider,
            backend_label=self.backend_label,
            live=self.live,
            error=self.live_error,
        )

    # -- the list -----------------------------------------------------------------------------------------------

    def _filters(self) -> tuple[Task | None, Method | None, str]:
        task = self.query_one("#task", Select).value
        method = self.query_one("#method", Select).value
        text = self.query_one("#search", Input).value
        return (
            Task(task) if isinstance(task, str) and task != ALL else None,
            Method(method) if isinstance(method, str) and method != ALL else None,
            text,
        )

    def _rebuild(self) -> None:
        """Refill the table from the filters, keeping the highlighted model (or the wizard's choice) in view."""
        self.entries = self._merged()
        self._applied_filters = self._filters()
        task, method, text = self._applied_filters
        matching = [entry for entry in self.entries if entry.matches(task=task, method=method, text=text)]
        # What this backend can train first; the rest stay visible, marked, with the reason on their card.
        self.shown = sorted(matching, key=lambda entry: not entry.availability.usable)
        table = self.query_one("#models", DataTable)
        keep = self._highlighted_id()
        if self._preselect and self._index_of(self._preselect) is not None:
            keep = self._preselect
        table.clear()
        for entry in self.shown:
            table.add_row(*_row(entry), key=entry.model_id)
        self._move_cursor(keep)
        if self.live is not None or self.live_error:
            self._preselect = None
        self._show_live_status()
        self._show_card()

    def _move_cursor(self, model_id: str | None) -> None:
        table = self.query_one("#models", DataTable)
        if not self.shown:
            return
        index = self._index_of(model_id)
        if index is None:
            index = next((i for i, e in enumerate(self.shown) if e.availability.usable), 0)
        table.move_cursor(row=index, scroll=True)

    def _index_of(self, model_id: str | None) -> int | None:
        if not model_id:
            return None
        card = self.catalog.get(model_id)
        for index, entry in enumerate(self.shown):
            if entry.model_id == model_id or (card is not None and entry.card is card):
                return index
        return None

    def _highlighted_id(self) -> str | None:
        entry = self.highlighted()
        return entry.model_id if entry else None

    def highlighted(self) -> Entry | None:
        table = self.query_one("#models", DataTable)
        if not self.shown or table.row_count == 0:
            return None
        row = table.cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def _show_card(self) -> None:
        entry = self.highlighted()
        card = self.query_one("#card", Static)
        if entry is None:
            card.update(self._empty_text())
        else:
            card.update(card_text(entry, self.backend_label, problem=self.live_error))
        shown_id = entry.model_id if entry is not None else None
        if shown_id != self._card_of:
            self._card_of = shown_id
            self.query_one("#card-pane", VerticalScroll).scroll_home(animate=False, immediate=True)
        self._show_reason(entry)
        self.refresh_bindings()

    def _empty_text(self) -> Text:
        task, method, text = self._filters()
        parts = [TASK_LABELS[task] if task else "", METHOD_LABELS[method] if method else "", repr(text) if text else ""]
        wanted = ", ".join(part for part in parts if part)
        return Text.assemble(
            f"No model matches {wanted}.\n\nChoose ",
            ("All tasks", "italic"),
            " or ",
            ("Any method", "italic"),
            ", or clear the search.",
        )

    def _show_reason(self, entry: Entry | None) -> None:
        reason = self.query_one("#reason", Static)
        if entry is None:
            reason.update("No model matches the filters.")
        elif entry.availability.usable:
            reason.update(Text(f"Enter: continue with {entry.name}", style="bold"))
        else:
            reason.update(f"✗ {entry.availability.reason}")

    @on(Select.Changed)
    @on(Input.Changed, "#search")
    def _filters_changed(self) -> None:
        # Each Select reports its first value once mounted, after the table was already filled with it.
        if self.is_mounted and self._filters() != self._applied_filters:
            self._rebuild()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._show_card()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.choose()

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.query_one("#models", DataTable).focus()

    @on(Button.Pressed, "#continue")
    def _continue_pressed(self) -> None:
        self.choose()

    # -- actions ------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":
            entry = self.highlighted()
            return True if entry is not None and entry.availability.usable else None
        if action == "leave_search":
            return self.is_mounted and self.query_one("#search", Input).has_focus
        return True

    def action_continue(self) -> None:
        self.choose()

    def choose(self) -> None:
        """Take the highlighted model into the wizard and go to the data step; refuse one this backend cannot train."""
        entry = self.highlighted()
        if entry is None:
            self.notify("No model matches the filters.", severity="warning")
            return
        if not entry.availability.usable:
            self.notify(entry.availability.reason, title=f"✗ {entry.name} cannot be fine-tuned here", severity="error")
            return
        wizard = self.ftui.wizard
        task, method, _ = self._filters()
        wizard.model = entry.model_id
        wizard.card = entry.card
        wizard.task = task if task in entry.tasks else entry.tasks[0]
        if method is not None:
            wizard.method = method
        elif entry.methods and wizard.method not in entry.methods:
            wizard.method = entry.methods[0]
        self.ftui.open_step("data")

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_task_filter(self) -> None:
        task = self.query_one("#task", Select)
        task.focus()
        task.expanded = True

    def action_leave_search(self) -> None:
        self.query_one("#models", DataTable).focus()

    def action_refresh(self) -> None:
        self.query_live()


def _task_options() -> list[tuple[str, str]]:
    return [("All tasks", ALL), *((label, str(task)) for task, label in TASK_LABELS.items())]


def _method_options() -> list[tuple[str, str]]:
    return [("Any method", ALL), *((label, str(method)) for method, label in METHOD_LABELS.items())]


def _row(entry: Entry) -> tuple[Text, str, str, str, str]:
    mark = entry.availability.mark
    context = entry.card.context_window if entry.card else None
    return (
        Text(str(mark), style=MARK_STYLES[mark]),
        entry.name,
        format_tokens(context),
        methods_short(entry),
        entry.publisher,
    )
