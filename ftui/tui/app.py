"""The ftui application: one app factory used by the ``ftui`` command, the tests and the screenshot script."""

from __future__ import annotations

import dataclasses
import gc
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen

from ftui.catalog import METHOD_LABELS
from ftui.config import (
    BACKEND_LABELS,
    BackendKind,
    Profile,
    Settings,
    config_exists,
    config_path,
    load_settings,
    save_settings,
)
from ftui.options import HYPERPARAMETER_LABELS
from ftui.tui.state import WizardState

WizardStep = Literal["model", "data", "options", "review"]

if TYPE_CHECKING:  # the client layer imports the openai SDK: loaded by the first backend call, off the UI thread
    from openai.types.fine_tuning import FineTuningJob

    from ftui.client import Backend, BackendError
    from ftui.jobfile import CarriedFile
    from ftui.tui.base import Call, ThreadCalls


@dataclass(frozen=True)
class Clone:
    """A new wizard run made from an earlier job, and what of the job it carries."""

    job_id: str
    state: WizardState
    files: list[CarriedFile]
    # Whether the backend was asked which of the job's uploaded files it still has.
    files_checked: bool = True
    # Why the job's files could not be taken at all (settings that do not fit a job file), or None.
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None and all(carried.choice is not None for carried in self.files)

    def describe(self) -> str:
        """What was carried, in the words the wizard's steps use; what was not, and what to do next."""
        from ftui.tui.screens.review import value_text

        state = self.state
        parts = [f"model {state.model}"]
        if self.problem is not None:
            parts.append(f"no files ({self.problem}): choose them on the data step")
        else:
            parts.extend(carried.describe() for carried in self.files)
            if not any(carried.role == "validation" for carried in self.files):
                parts.append("no validation file")
        parts.append(METHOD_LABELS[state.method])
        values = state.hyperparameters.for_method(state.method)
        parts.extend(
            f"{label} {value_text(values[name])}" for name, label in HYPERPARAMETER_LABELS.items() if name in values
        )
        parts.append("seed generated at submit" if state.seed is None else f"seed {state.seed}")
        parts.append(f"suffix {state.suffix}" if state.suffix else "no suffix")
        unchecked = "" if self.files_checked else " (the backend did not say whether it still has the files)"
        return f"Cloned {self.job_id}: {', '.join(parts)}{unchecked}; change anything and submit."


def make_clone(job: FineTuningJob, on_backend: Mapping[str, str] | None, uploaded_from: Mapping[str, Path]) -> Clone:
    """A new run with ``job``'s settings and files (see ``carry_files``). Reads the disk: call off the UI thread."""
    from ftui.catalog import load_catalog
    from ftui.jobfile import JobFile, JobFileError, carry_files
    from ftui.options import JobOptions
    from ftui.tui.dialogs.filepicker import local_choice

    job_id = str(job.id)
    try:
        job_file = JobFile.from_job(job)
        state = WizardState.from_job_file(job_file)
    except JobFileError as error:
        # Settings a job file cannot hold as they are (an unknown method, no training file): clone what fits.
        options = JobOptions.from_job(job)
        return Clone(
            job_id, WizardState.from_options(options, load_catalog().get(options.model)), [], problem=str(error)
        )
    files = [
        dataclasses.replace(carried, choice=local_choice(carried.choice.path))
        if carried.choice is not None and carried.choice.path is not None
        else carried
        for carried in carry_files(job_file, on_backend, uploaded_from)
    ]
    chosen = {carried.role: carried.choice for carried in files}
    state.training, state.validation = chosen.get("training"), chosen.get("validation")
    return Clone(job_id, state, files, files_checked=on_backend is not None)


class FtuiApp(App[None]):
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        f"styles/{name}.tcss"
        for name in ("app", "setup", "catalog", "data", "options", "review", "jobs", "dashboard", "playground")
    ]
    TITLE = "ftui"
    SUB_TITLE = "fine-tuning wizard"

    # F1 help lists these, in this order, with their tooltips; the command palette shows the tooltips too.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="help", tooltip="What this screen is for, and its keys"),
        # Textual's own palette key, declared here so that help lists it; the description is the footer's label.
        Binding(
            "ctrl+p",
            "command_palette",
            "palette",
            id="command_palette",
            tooltip="Every action, searchable",
            show=False,
            priority=True,
        ),
        # Shown in F1 help and the command palette; the footer keeps its room for the screen's own keys.
        Binding(
            "f2", "profiles", "Profiles", id="profiles", tooltip="Backend profiles: add, edit or switch", show=False
        ),
        Binding("f3", "jobs", "Jobs", id="jobs", tooltip="Every fine-tuning job on the active backend"),
        Binding(
            "f4",
            "new_run",
            "New fine-tune",
            id="new_run",
            tooltip="Start a new fine-tune at the model step",
            show=False,
        ),
        Binding("ctrl+q", "quit", "Quit", id="quit", tooltip="Quit ftui", priority=True, show=False),
    ]

    def __init__(self, *, settings_path: Path | None = None, start_local: bool = True) -> None:
        super().__init__()
        self.settings_path = settings_path or config_path()
        self.first_run = not config_exists(self.settings_path)
        self.settings: Settings = load_settings(self.settings_path)
        self.start_local = start_local
        self.wizard = WizardState()
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()
        self._painted = False
        self._after_first_paint: list[Callable[[], object]] = []
        # Local files this session uploaded, by the id the backend gave them: a clone of their job can fall back
        # on them when the backend no longer has the upload.
        self.uploaded_from: dict[str, Path] = {}

    # -- profiles and the backend ---------------------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self.settings.active_profile()

    @property
    def profile_label(self) -> str:
        profile = self.profile
        if profile.kind is BackendKind.LOCAL and not profile.base_url:
            return f"{profile.name} · {BACKEND_LABELS[profile.kind]}"
        return f"{profile.name} · {profile.host()}"

    def connect(self) -> Backend:
        """The backend of the active profile, connected on first use. Call from a worker thread only."""
        from ftui.client import Backend

        with self._backend_lock:
            if self._backend is None or self._backend.profile != self.profile:
                if self._backend is not None:
                    self._backend.close()
                self._backend = Backend.from_profile(self.profile, start_local=self.start_local)
                _exempt_from_gc()  # the openai SDK and its dependencies are loaded now
            return self._backend

    def save_settings(self, settings: Settings) -> None:
        """Keep and persist new settings; a changed active profile reconnects on the next call."""
        save_settings(settings, self.settings_path)
        self.settings = settings
        self.first_run = False
        for screen in self.screen_stack:
            for bar in screen.query("TopBar"):
                bar.refresh_profile()  # type: ignore[attr-defined]

    def backend_error_text(self, error: BackendError) -> str:
        return f"{error.message}\n{error.hint}" if error.hint else error.message

    # -- the first frame, and the garbage collector ----------------------------------------------------------

    def call_after_first_paint(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the first frame is on the terminal (soon, if it already is).

        Work that starts earlier in a thread, such as importing the openai SDK to connect, competes with the
        first paint for the interpreter and holds it up.
        """
        if self._painted:
            self.call_later(callback)
        else:
            self._after_first_paint.append(callback)

    def post_display_hook(self) -> None:
        # Textual calls this after every display, also after one it skipped because a batch of updates
        # (the startup's compose and mount) was still open; only the frame after the batch reaches the terminal.
        if self._painted or self._batch_count:
            return
        self._painted = True
        _exempt_from_gc()
        for callback in self._after_first_paint:
            self.call_later(callback)
        self._after_first_paint.clear()

    def on_unmount(self) -> None:
        # Hand what was exempted back to the collector, so a process that runs the app again (the tests) can free
        # this one's reference cycles.
        gc.unfreeze()

    # -- navigation ---------------------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        # The model step is the first screen itself, not pushed over an empty default one: composing, styling and
        # drawing a screen nobody sees cost 120-150 ms of the cold start.
        from ftui.tui.screens.catalog import CatalogScreen

        return CatalogScreen()

    def on_mount(self) -> None:
        if self.first_run:
            self.action_profiles()

    def action_help(self) -> None:
        from ftui.tui.screens.help import HelpScreen, global_keys, screen_keys

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title = _help_title(screen)
        self.push_screen(
            HelpScreen(title, getattr(screen, "HELP", ""), screen_keys(screen), global_keys(self.BINDINGS))
        )

    def action_profiles(self) -> None:
        from ftui.tui.screens.setup import SetupScreen

        if not isinstance(self.screen, SetupScreen):
            self.push_screen(SetupScreen(first_run=self.first_run))

    def action_jobs(self) -> None:
        from ftui.tui.screens.jobs import JobsScreen

        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen())

    def action_new_run(self) -> None:
        self.start_wizard(WizardState())

    def start_wizard(self, state: WizardState) -> None:
        """Begin a wizard run (fresh, or cloned from a job) at the model step, dropping screens above it."""
        from ftui.tui.screens.catalog import CatalogScreen

        self.wizard = state
        self.pop_to_first_screen()
        catalog = self.screen_stack[0]
        assert isinstance(catalog, CatalogScreen)
        catalog.begin_run()

    def clone_job(self, screen: ThreadCalls, job: FineTuningJob) -> None:
        """Start a new wizard run with ``job``'s settings and files, once the backend has said (in ``screen``'s
        thread) which of its uploaded files it still has; then say what the run carried."""
        uploaded_from = dict(self.uploaded_from)

        def prepare(call: Call[None]) -> Clone:
            try:
                on_backend: dict[str, str] | None = {item.id: item.filename for item in call.backend().list_files()}
            except Exception:  # not answering is no reason not to clone: the ids are carried unchecked, and said so
                on_backend = None
            return make_clone(job, on_backend, uploaded_from)

        screen.call_in_thread(prepare, done=self.start_clone, group="clone", exclusive=True, description="clone")

    def start_clone(self, clone: Clone) -> None:
        """Begin the run cloned from a job at the model step, and say what it carried and what it could not."""
        self.start_wizard(clone.state)
        self.notify(
            clone.describe(),
            title="Cloned" if clone.complete else "Cloned, with files to choose again",
            severity="information" if clone.complete else "warning",
            timeout=15,
        )

    def pop_to_first_screen(self) -> None:
        """Drop every screen above the first one (the model step of the current run)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()

    # -- navigation: screens ask the app for the next screen; they never import one another ------------------------

    def step_is_open(self, step: WizardStep) -> bool:
        return any(getattr(screen, "STEP", None) == step for screen in self.screen_stack)

    def open_step(self, step: WizardStep, *, replace_current: bool = False) -> None:
        """Go to a wizard step of this run: back to it where it is open, else opened on top of (or instead of) the
        current screen."""
        for index in range(len(self.screen_stack) - 1, -1, -1):
            if getattr(self.screen_stack[index], "STEP", None) == step:
                while self.screen is not self.screen_stack[index]:
                    self.pop_screen()
                return
        if replace_current:
            self.switch_screen(_step_screen(step))
        else:
            self.push_screen(_step_screen(step))

    def open_playground(self, model: str, base: str, *, training_path: Path | None = None) -> None:
        from ftui.tui.screens.playground import PlaygroundScreen

        self.push_screen(PlaygroundScreen(model, base, system_prompt=None, training_path=training_path))

    def open_dashboard(self, job_id: str) -> None:
        from ftui.tui.screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(job_id))

    def show_submitted_job(self, job_id: str) -> None:
        """After submit: leave the wizard's steps, and open the jobs list with the new job's dashboard on top."""
        from ftui.tui.screens.jobs import JobsScreen

        self.pop_to_first_screen()
        self.push_screen(JobsScreen())
        self.open_dashboard(job_id)

    # -- command palette: every binding of the current screen and the app, searchable -------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or not binding.description or binding.description in seen:
                continue
            # ftui's own keys all carry a tooltip; Textual's widget keys (cursor moves, scrolling) do not.
            if binding.action == "command_palette" or not binding.tooltip:
                continue
            seen.add(binding.description)
            keys = binding.key_display or binding.key
            yield SystemCommand(binding.description, f"{binding.tooltip} ({keys})", _runner(self, active.node, binding))
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)
        if "Quit" not in seen:
            yield SystemCommand("Quit", "Quit ftui", self.action_quit)


def _exempt_from_gc() -> None:
    """Leave everything alive now (modules, classes, the first screen) out of future garbage collections.

    A full collection walks every tracked object: with Textual, pydantic and the openai SDK loaded that took 40-120 ms
    here, now and then in the middle of a keystroke. What startup allocated lives as long as the app does.
    """
    gc.freeze()


def _runner(app: App[None], node: DOMNode, binding: Binding) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await app.run_action(binding.action, node)

    return run


def _help_title(screen: Screen[Any]) -> str:
    return getattr(screen, "HELP_TITLE", None) or type(screen).__name__.removesuffix("Screen")


def _step_screen(step: WizardStep) -> Screen[Any]:
    if step == "data":
        from ftui.tui.screens.data import DataScreen

        return DataScreen()
    if step == "options":
        from ftui.tui.screens.options import OptionsScreen

        return OptionsScreen()
    if step == "review":
        from ftui.tui.screens.review import ReviewScreen

        return ReviewScreen()
    from ftui.tui.screens.catalog import CatalogScreen

    return CatalogScreen()


def make_app(*, settings_path: Path | None = None, start_local: bool = True) -> FtuiApp:
    """The application as ``ftui`` runs it; tests pass a settings file of their own."""
    return FtuiApp(settings_path=settings_path, start_local=start_local)
