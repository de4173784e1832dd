"""The metric charts: plotext's coloured canvas becomes the same cells and colours rich would decode."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual_plotext.plot import Plot

from ftui.jobs import MetricPoint
from ftui.tui.widgets.charts import ANSI_RESET, MetricChart, ansi_to_strips, loss_series

CONSOLE = Console(width=200, color_system="truecolor")


def rich_cells(line: str) -> list[tuple[str, Style]]:
    """Each cell of an ANSI line as rich decodes it: the reference the fast path must match."""
    text = Text.from_ansi(line)
    return [(char, text.get_style_at_offset(CONSOLE, index)) for index, char in enumerate(text.plain)]


def strip_cells(strip: Strip) -> list[tuple[str, Style]]:
    return [(char, segment.style or Style.null()) for segment in strip for char in segment.text]


def plot_canvas(width: int, height: int) -> str:
    plot = Plot()
    plot.plotsize(width, height)
    plot._set_size(width, height)
    plot.title("Loss")
    plot.plot([1, 2, 3, 4], [2.0, 1.4, 1.1, 0.9], label="train", marker="•")
    plot.plot([2, 4], [1.8, 1.3], label="validation", marker="x")
    return plot.build()


def test_a_plotext_canvas_becomes_the_cells_rich_would_show() -> None:
    canvas = plot_canvas(60, 16)
    strips = ansi_to_strips(canvas, 60)
    lines = canvas.splitlines()
    assert len(strips) == len(lines) == 16
    for strip, line in zip(strips, lines, strict=True):
        assert strip.cell_length == 60
        assert strip_cells(strip) == rich_cells(line)
    assert any("•" in strip.text for strip in strips)


SGR = st.sampled_from(["\x1b[1m", "\x1b[38;5;9m", "\x1b[48;2;10;20;30m", "\x1b[38;2;200;100;0m", "\x1b[4m"])
RUN = st.tuples(st.lists(SGR, max_size=3), st.text(alphabet="ab •─│", min_size=1, max_size=6), st.booleans())


@given(st.lists(RUN, min_size=1, max_size=8))
def test_runs_of_codes_and_resets_decode_like_rich(runs: list[tuple[list[str], str, bool]]) -> None:
    line = "".join("".join(codes) + text + (ANSI_RESET if reset else "") for codes, text, reset in runs)
    width = sum(len(text) for _, text, _ in runs)
    (strip,) = ansi_to_strips(line, width)
    assert strip_cells(strip) == rich_cells(line)


def test_a_short_line_is_padded_to_the_width() -> None:
    (strip,) = ansi_to_strips("ab", 5)
    assert strip.cell_length == 5
    assert next(iter(strip)) == Segment("ab", Style.null())


class OneChart(App[None]):
    def compose(self) -> ComposeResult:
        yield MetricChart("Loss", select=loss_series, id="chart")


def test_the_chart_draws_its_points_and_reuses_the_drawing_until_they_change() -> None:
    async def scenario() -> None:
        app = OneChart()
        async with app.run_test(size=(60, 20)) as pilot:
            chart = app.query_one(MetricChart)
            await pilot.pause()
            assert "No data yet" in "".join(strip.text for strip in chart._strips())
            points = [MetricPoint(step=step, train_loss=2.0 / step) for step in range(1, 6)]
            assert chart.show_metrics(points)
            await pilot.pause()
            drawn = chart._strips()
            text = "".join(strip.text for strip in drawn)
            assert "•" in text and "train" in text
            assert chart._strips() is drawn, "a repaint with the same points reuses the strips"
            assert not chart.show_metrics(points)

    asyncio.run(scenario())
