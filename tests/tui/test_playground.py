"""The playground against the real local engine: a fine-tuned tiny model and its base answer side by side."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.widgets import Input, TextArea

from ftui.client import Backend
from ftui.config import Settings
from ftui.dataset.fixes import sample_files
from ftui.tui.app import FtuiApp
from ftui.tui.screens.playground import PlaygroundScreen, first_system_prompt
from ftui.tui.widgets.chatpane import ChatPane

TINY = "ftui-tiny-random"


def trained_model(folder: Path) -> str:
    """A fine-tuned tiny model: one epoch on the head of the bundled sample, through the client layer."""
    backend = Backend.from_profile(Settings().active_profile())
    try:
        head = folder / "train.jsonl"
        head.write_bytes(b"".join(sample_files()[0].read_bytes().splitlines(keepends=True)[:8]))
        training = backend.upload_file(head).id
        hyperparameters = {"n_epochs": 1, "batch_size": 4}
        job = backend.create_job(
            {
                "model": TINY,
                "training_file": training,
                "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
                "seed": 3,
            }
        )
        deadline = time.monotonic() + 300
        while job.status not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.5)
            job = backend.retrieve_job(job.id)
        assert job.status == "succeeded", job.error
        return job.fine_tuned_model
    finally:
        backend.close()


def test_first_system_prompt_reads_the_training_data(tmp_path: Path) -> None:
    prompt = first_system_prompt(sample_files()[0])
    assert prompt and len(prompt) > 10
    broken = tmp_path / "broken.jsonl"
    broken.write_text('not json\n{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert first_system_prompt(broken) is None
    assert first_system_prompt(tmp_path / "missing.jsonl") is None


def test_both_models_stream_an_answer_to_the_same_prompt(app: FtuiApp, tmp_path: Path) -> None:
    model = trained_model(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = PlaygroundScreen(model, TINY, training_path=sample_files()[0])
            app.push_screen(screen)
            deadline = time.monotonic() + 120
            while not (screen.ready and screen.system_text):
                assert screen.deploy_error is None, screen.deploy_error
                assert time.monotonic() < deadline, "the model did not load"
                await pilot.pause(0.2)
            assert screen.system_text == first_system_prompt(sample_files()[0])
            prompt = screen.query_one("#play-prompt", Input)
            assert screen.focused is prompt  # keys go there (its Focus event may still be on its way)
            await pilot.press(*"Where is my parcel?")
            await pilot.press("enter")
            await pilot.pause(0.2)
            tuned, base = screen.query(ChatPane)
            assert tuned.model == model and base.model == TINY
            deadline = time.monotonic() + 120
            while screen.streaming:
                assert time.monotonic() < deadline, "the answers did not finish"
                await pilot.pause(0.2)
            for pane in (tuned, base):
                assert [m["role"] for m in pane.history] == ["user", "assistant"]
                assert pane.history[0]["content"] == "Where is my parcel?"
                assert pane.reply_text == "" or pane.history[1]["content"]
                assert "You: Where is my parcel?" in pane.transcript()
            assert prompt.value == ""
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert tuned.history == [] and base.history == []

    asyncio.run(scenario())


def test_a_long_system_prompt_wraps_between_words_and_scrolls(app: FtuiApp) -> None:
    """The sample's system prompt is 700 characters: at 80 columns it wraps over lines that end between words, and
    scrolls to its last word; nothing is cut off at the right edge."""
    prompt = first_system_prompt(sample_files()[0])
    assert prompt is not None
    words = set(prompt.split())

    def visible_lines(screen: PlaygroundScreen) -> list[str]:
        box = screen.query_one("#play-system", TextArea)
        region = box.scrollable_content_region
        lines = [strip.text for strip in screen._compositor.render_strips()]
        return [lines[y][region.x : region.right].strip() for y in range(region.y, region.bottom)]

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            # A model the engine does not have: it cannot load, and the system prompt is filled all the same.
            screen = PlaygroundScreen("ft:none:missing", TINY, training_path=sample_files()[0])
            await app.push_screen(screen)
            deadline = time.monotonic() + 60
            while not screen.system_text:
                assert time.monotonic() < deadline, "the system prompt was not read"
                await pilot.pause(0.1)
            await pilot.pause(0.3)
            shown = visible_lines(screen)
            assert len(shown) >= 3, shown
            for line in shown:
                assert line and all(word in words for word in line.split()), f"cut: {line!r}"
            box = screen.query_one("#play-system", TextArea)
            box.scroll_end(animate=False, immediate=True)
            await pilot.pause(0.2)
            assert visible_lines(screen)[-1].endswith(prompt.split()[-1])

    asyncio.run(scenario())
