"""The data step, driven by keys and clicks: sample data, files with errors, edits on disk, split, bad paths."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fit import problems
from rich.console import Console
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent
from textual.worker import WorkerState

from ftui.dataset.findings import Code, finding
from ftui.dataset.fixes import sample_files
from ftui.tui.app import FtuiApp
from ftui.tui.dialogs.filepicker import FilePicker, PathSuggester
from ftui.tui.screens.data import DataScreen, ValidationBatch, ValidationFinished
from ftui.tui.widgets.chatview import ChatView, mask_secret, render_example
from ftui.tui.widgets.findings import FindingsList
from ftui.tui.widgets.stats import StatsPanel

_BUSY = (WorkerState.PENDING, WorkerState.RUNNING)

CHAT = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]
}
NO_ASSISTANT = {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]}


def run(app: FtuiApp, scenario: Callable[[Pilot], Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot: Pilot, limit_s: float = 60.0) -> None:
    """Wait until no worker is pending or running, except a directory tree's loader (it lives as long as the tree).

    Polls states rather than awaiting workers: a worker cancelled before it started would never finish.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        busy = [w for w in pilot.app.workers if w.state in _BUSY and w.group != "_loader"]
        if not busy:
            break
        await pilot.pause(0.05)
    await pilot.pause()


async def open_data(pilot: Pilot, model: str = "ftui-tiny-random") -> DataScreen:
    app: FtuiApp = pilot.app  # type: ignore[assignment]
    app.wizard.model = model
    screen = DataScreen()
    await app.push_screen(screen)
    await pilot.pause()
    return screen


async def choose_path(pilot: Pilot, slot_key: str, text: str) -> None:
    """Open the picker for a slot, switch to 'Type a path', type it and press Enter."""
    await pilot.press(slot_key)
    await pilot.pause()
    assert isinstance(pilot.app.screen, FilePicker)
    await pilot.press("ctrl+l", *text, "enter")
    await settle(pilot)


async def choose_sample(pilot: Pilot) -> None:
    await pilot.press("t")
    await pilot.pause()
    await pilot.press("ctrl+s")
    await pilot.pause()
    await pilot.click("#picker-sample")
    await settle(pilot)


def text_of(screen: Screen, selector: str) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(screen.query_one(selector, Static).content)
    return console.export_text()


def reason_of(screen: DataScreen) -> str:
    return text_of(screen, "#data-reason")


def _replies() -> list[dict[str, str]]:
    return [{"role": "assistant", "content": f"Reply {n}."} for n in range(8)]


def varied(count: int) -> list[dict]:
    """``count`` valid, distinct chat examples."""
    return [
        {"messages": [CHAT["messages"][0], {"role": "user", "content": f"Question {n}?"}, _replies()[n % 8]]}
        for n in range(count)
    ]


def write_bad_file(path: Path) -> Path:
    """Five good lines, a cut-off line 6 (not valid JSON), line 7 without an assistant reply, eight good lines."""
    lines = [json.dumps(e) for e in varied(13)]
    lines[5:5] = ['{"messages": [{"role": "user", "content": "Hi"}', json.dumps(NO_ASSISTANT)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sample_dataset_shows_statistics_and_allows_continue(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        screen = await open_data(pilot)
        assert screen.check_action("continue", ()) is None
        assert "Choose a training file" in reason_of(screen)
        await choose_sample(pilot)
        training, validation = sample_files()
        assert app.wizard.training is not None and app.wizard.training.path == training
        assert app.wizard.validation is not None and app.wizard.validation.path == validation
        assert screen.report is not None and screen.report.errors == 0
        assert app.wizard.report is screen.report
        stats = text_of(screen, "#stats-body")
        assert "examples" in stats and "73" in stats and "18" in stats
        assert "Trained tokens" in stats and "Estimated token counts" in stats  # SmolLM2 is not prepared here
        assert screen.check_action("continue", ()) is True
        assert "Ready" in reason_of(screen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        from ftui.tui.screens.options import OptionsScreen

        assert isinstance(pilot.app.screen, OptionsScreen)

    run(app, scenario)


def test_errors_are_listed_by_line_shown_as_chat_and_block_continue(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        assert pilot.app.screen is screen
        report = screen.report
        assert report is not None and report.errors >= 2
        findings = screen.query_one(FindingsList)
        by_line = {(f.line, f.code) for f in findings.findings}
        assert (6, Code.INVALID_JSON) in by_line
        assert (7, Code.NO_TRAINABLE_ASSISTANT) in by_line
        assert screen.check_action("continue", ()) is None
        assert "errors" in reason_of(screen) and "block Continue" in reason_of(screen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert pilot.app.screen is screen  # blocked: still here

        # Select the line-7 finding: its example appears as a chat with the problem marked.
        index = next(i for i, f in enumerate(findings.findings) if f.line == 7)
        findings.options.focus()
        findings.options.highlighted = index
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_one("#data-detail", TabbedContent).active == "tab-example"
        header = text_of(screen, "#chat-header")
        body = text_of(screen, "#chat-body")
        assert "line 7" in header
        assert "system" in body and "user" in body and "Hi" in body

        # The invalid JSON line is shown raw, with the error position marked.
        findings.options.highlighted = next(i for i, f in enumerate(findings.findings) if f.line == 6)
        await settle(pilot)
        assert "⟦✗ here⟧" in text_of(screen, "#chat-body")

        # Clean writes a copy without the bad lines and switches to it; the input stays as it was.
        before = Path("bad.jsonl").read_bytes()
        await pilot.press("c")
        await settle(pilot)
        await settle(pilot)
        assert Path("bad.jsonl").read_bytes() == before
        assert screen.training is not None and screen.training.path == Path("bad.clean.jsonl").resolve()
        assert screen.report is not None and screen.report.errors == 0
        assert screen.check_action("continue", ()) is True

    run(app, scenario)


def test_file_edited_on_disk_is_checked_again(app: FtuiApp, write_jsonl) -> None:
    async def scenario(pilot: Pilot) -> None:
        path = write_jsonl(Path("data.jsonl"), [CHAT, NO_ASSISTANT])
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "data.jsonl")
        assert screen.report is not None and screen.report.errors >= 1
        write_jsonl(path, varied(9))
        for _ in range(40):  # the watch looks every second
            await asyncio.sleep(0.1)
            await settle(pilot)
            if screen.report is not None and screen.report.errors == 0:
                break
        assert screen.report is not None and screen.report.errors == 0
        assert screen.report.training.examples == 9
        assert screen.check_action("continue", ()) is True

    run(app, scenario)


def test_split_writes_new_files_and_leaves_the_input_alone(app: FtuiApp, write_jsonl) -> None:
    async def scenario(pilot: Pilot) -> None:
        examples = varied(24)
        source = write_jsonl(Path("mine.jsonl"), examples)
        before = source.read_bytes()
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "mine.jsonl")
        await pilot.press("s")
        await settle(pilot)
        await settle(pilot)
        assert source.read_bytes() == before
        train, validation = Path("mine.train.jsonl").resolve(), Path("mine.validation.jsonl").resolve()
        assert train.is_file() and validation.is_file()
        assert screen.training is not None and screen.training.path == train
        assert screen.validation is not None and screen.validation.path == validation
        assert screen.report is not None and screen.report.validation is not None
        assert screen.report.training.examples + screen.report.validation.examples == len(examples)
        # A second split never overwrites the first one's files.
        await pilot.press("x")
        await settle(pilot)
        assert screen.validation is None
        screen.training = screen.training.__class__(label="mine.jsonl", path=source.resolve())
        await pilot.press("s")
        await settle(pilot)
        await settle(pilot)
        assert Path("mine.train-2.jsonl").is_file() and Path("mine.validation-2.jsonl").is_file()

    run(app, scenario)


def test_missing_path_gives_a_message_and_changes_nothing(app: FtuiApp, write_jsonl) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_jsonl(Path("good.jsonl"), [CHAT] * 3)
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "good.jsonl")
        chosen = screen.training
        await choose_path(pilot, "t", "nope.jsonl")
        picker = pilot.app.screen
        assert isinstance(picker, FilePicker)
        message = text_of(picker, "#picker-path-message")
        assert "no such file" in message
        assert picker.query_one("#picker-path", Input).value == "nope.jsonl"  # the typed text is kept
        Path("folder").mkdir()
        await pilot.press(*(["backspace"] * 10), *"folder", "enter")
        await pilot.pause()
        assert "is a folder" in text_of(picker, "#picker-path-message")
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is screen and screen.training == chosen

    run(app, scenario)


def test_uploaded_file_is_not_checked_locally(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        training, _ = sample_files()
        backend = await asyncio.to_thread(app.connect)
        uploaded = await asyncio.to_thread(backend.upload_file, training)
        screen = await open_data(pilot)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert "checked by the service" in text_of(pilot.app.screen, "#picker-uploaded-status")
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.screen is screen
        assert app.wizard.training is not None and app.wizard.training.file_id == uploaded.id
        assert app.wizard.report is None
        assert "checked by the service" in text_of(screen, "#stats-body")
        assert screen.check_action("continue", ()) is True
        assert screen.check_action("split", ()) is None

    run(app, scenario)


def test_path_completion_lists_folders_and_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "support.jsonl").write_text("{}\n")
    (tmp_path / "datasets" / "notes.txt").write_text("x")
    suggest = PathSuggester().get_suggestion
    assert asyncio.run(suggest("data")) == "datasets/"
    assert asyncio.run(suggest("datasets/s")) == "datasets/support.jsonl"
    assert asyncio.run(suggest("datasets/n")) is None
    assert asyncio.run(suggest("missing/x")) is None


def test_secrets_are_masked_in_the_example() -> None:
    import orjson

    from ftui.dataset.line_rules import inspect_line

    raw = orjson.dumps(
        {
            "messages": [
                {"role": "user", "content": "Mail me at jane.doe@example.com please"},
                {"role": "assistant", "content": "Done.", "weight": 0},
                {"role": "assistant", "content": "OK."},
            ]
        }
    )
    finding = next(f for f in inspect_line(raw, 1).findings if f.code is Code.SENSITIVE_DATA)
    text = render_example(raw, finding).plain
    assert "jane.doe@example.com" not in text
    assert mask_secret("jane.doe@example.com") in text
    assert "not trained" in text and "the problem is here" in text
    assert ChatView  # rendered by the screen in the tests above


def test_batches_of_a_replaced_validation_run_are_dropped(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        report = screen.report
        assert report is not None and not screen.running
        findings = screen.query_one(FindingsList)
        listed = list(findings.findings)
        current = screen._run_number
        extra = finding(Code.INVALID_JSON, "from another run", line=99)

        # A run that was replaced (the file changed, another was chosen) still has messages in flight: dropped.
        screen.post_message(ValidationBatch(current - 1, [extra], None))
        screen.post_message(ValidationFinished(current - 1, report.model_copy(update={"errors": 0})))
        await pilot.pause()
        assert findings.findings == listed and screen.report is report

        # The current run's batches are shown.
        screen.post_message(ValidationBatch(current, [extra], None))
        await pilot.pause()
        assert findings.findings == [*listed, extra]

    run(app, scenario)


# -- by keyboard at 80x24: focus follows the work, every pane has a key ----------------------------------------------


def screen_lines(app: FtuiApp) -> list[str]:
    """The terminal's lines as the user sees them."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def test_after_a_pick_focus_is_on_the_findings_and_each_highlight_shows_its_example(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        findings = screen.query_one(FindingsList)
        assert screen.focused is findings.options
        assert findings.options.highlighted == 0
        assert screen.query_one("#data-detail", TabbedContent).active == "tab-example"
        assert findings.findings[0].where() in text_of(screen, "#chat-header")
        # Moving down shows the next finding's example, no Enter needed.
        line_6 = next(i for i, f in enumerate(findings.findings) if f.line == 6)
        await pilot.press(*["down"] * line_6)
        await settle(pilot)
        assert "training, line 6" in text_of(screen, "#chat-header")
        assert "⟦✗ here⟧" in text_of(screen, "#chat-body")

    run(app, scenario)


def test_a_file_without_findings_shows_its_statistics_and_first_example(app: FtuiApp, write_jsonl) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        write_jsonl(Path("good.jsonl"), varied(60))
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        await pilot.press("enter")  # the example pane comes to the front
        await settle(pilot)
        await choose_path(pilot, "t", "good.jsonl")
        assert screen.report is not None and screen.report.findings == []
        assert screen.query_one("#data-detail", TabbedContent).active == "tab-stats"
        assert screen.focused is screen.query_one(StatsPanel)
        await pilot.press("e")
        assert "first example" in text_of(screen, "#chat-header")
        assert "Question 0?" in text_of(screen, "#chat-body")
        assert "Select a finding" not in text_of(screen, "#chat-body")

    run(app, scenario)


def test_every_pane_has_a_key_and_a_palette_command(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        detail = screen.query_one("#data-detail", TabbedContent)
        await pilot.press("i")
        assert detail.active == "tab-stats" and screen.focused is screen.query_one(StatsPanel)
        await pilot.press("e")
        assert detail.active == "tab-example" and screen.focused is screen.query_one(ChatView)
        await pilot.press("f")
        assert screen.focused is screen.query_one(FindingsList).options
        # Each pane's title shows its key; the palette lists each pane.
        lines = "\n".join(screen_lines(app))
        assert "Findings f" in lines and "Statistics i" in lines and "Example e" in lines
        commands = {command.title: command.help for command in app.get_system_commands(screen)}
        assert {"Findings", "Statistics", "Example"} <= commands.keys()
        assert "(i)" in commands["Statistics"]

    run(app, scenario)


# -- at 80x24 every finding and the summary are said in full --------------------------------------------------------


def test_finding_rows_are_said_in_full_at_80x24(app: FtuiApp) -> None:
    async def scenario(pilot: Pilot) -> None:
        write_bad_file(Path("bad.jsonl"))
        await open_data(pilot)
        await choose_path(pilot, "t", "bad.jsonl")
        assert [p for p in problems(app) if "findings" in p] == []
        # The row's label wraps under itself: both its lines are on screen.
        lines = screen_lines(app)
        first = next(y for y, line in enumerate(lines) if "line 7    no assistant reply to" in line)
        assert "learn" in lines[first + 1]

    run(app, scenario)


def repeated_kinds(path: Path, write_jsonl) -> Path:
    """Forty good lines, then 30 duplicates, 5 lines not JSON, 3 e-mail addresses, 2 messages without content."""
    mail = [
        {"messages": [CHAT["messages"][0], {"role": "user", "content": f"Mail a{n}@example.com"}, _replies()[0]]}
        for n in range(3)
    ]
    no_content = {"messages": [CHAT["messages"][0], {"role": "user"}, _replies()[0]]}
    lines = [*varied(40), *[varied(2)[1]] * 30, *["{"] * 5, *mail, no_content, no_content]
    return write_jsonl(path, lines)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_findings_summary_fits(app: FtuiApp, write_jsonl, size: tuple[int, int]) -> None:
    async def scenario(pilot: Pilot) -> None:
        repeated_kinds(Path("kinds.jsonl"), write_jsonl)
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "kinds.jsonl")
        summary = screen.query_one("#findings-summary", Static)
        assert summary.content_region.height == summary.virtual_size.height  # nothing cut off below
        lines = screen_lines(app)
        # Each count per kind stands whole on one line.
        for item in (
            "✗ 7 errors  ! 33 warnings",
            "not valid JSON 5",
            "message without content 2",
            "duplicate example 30",
            "possible personal data 3",
        ):
            assert any(item in line for line in lines), item

    run(app, scenario, size)


# -- wording: singular counts, no ✗ beside zero errors, Clean named by its key --------------------------------------


def test_counts_of_one_and_the_clean_hint_at_80x24(app: FtuiApp, write_jsonl) -> None:
    async def scenario(pilot: Pilot) -> None:
        mail = {
            "messages": [CHAT["messages"][0], {"role": "user", "content": "Mail jane.doe@example.com"}, _replies()[0]]
        }
        write_jsonl(Path("warning.jsonl"), [*varied(60), mail])
        write_jsonl(Path("error.jsonl"), [*varied(60), "{"])
        screen = await open_data(pilot)
        await choose_path(pilot, "t", "warning.jsonl")
        assert screen.report is not None and (screen.report.errors, screen.report.warnings) == (0, 1)
        summary = "\n".join(line for line in screen_lines(app) if "warning" in line or "error" in line)
        assert "! 1 warning " in summary and "warnings" not in summary
        assert "✗" not in text_of(screen, "#findings-summary") and "0 errors" not in summary
        assert "1 warning to look at" in text_of(screen, "#status-text")
        assert "1 warning does not block" in reason_of(screen)
        header = text_of(screen, "#chat-header")
        assert "ftui data clean" not in header
        assert "Clean (c) writes a copy with typed placeholders." in " ".join(header.split())

        await choose_path(pilot, "t", "error.jsonl")
        assert screen.report is not None and (screen.report.errors, screen.report.warnings) == (1, 0)
        assert "1 error to fix" in text_of(screen, "#status-text")
        assert "1 error in the data blocks Continue: fix it," in " ".join(reason_of(screen).split())
        assert "!" not in text_of(screen, "#findings-summary")

    run(app, scenario)
