"""The metric charts: plotext's coloured canvas becomes the same cells and colours rich would decode."""

from __future__ import annotations

import asyncio

import pytest
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
from ftui.tui.widgets.charts import (
    ANSI_RESET,
    TICK_GAP,
    MetricChart,
    accuracy_series,
    ansi_to_strips,
    fitted_range,
    integer_ticks,
    loss_series,
)

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


# -- what the chart shows: whole-step ticks, a legend outside the plot, values fitted, every series visible ----------


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 200))
def test_step_ticks_are_whole_steps_in_range_with_room_for_their_labels(a: int, b: int, cells: int) -> None:
    first, last = min(a, b), max(a, b)
    ticks = integer_ticks(first + 0.5 if first < last else first, last, cells)
    assert ticks, (first, last, cells)
    assert all(isinstance(tick, int) for tick in ticks)
    assert ticks == sorted(set(ticks)) and first <= ticks[0] and ticks[-1] <= last
    assert len(ticks) == 1 or len(ticks) * (len(str(last)) + TICK_GAP) <= cells


def test_the_values_axis_fits_the_values_with_a_margin_within_bounds() -> None:
    low, high = fitted_range([0.30, 0.39, 0.35], (0.0, 1.0)) or (0.0, 0.0)
    assert 0.25 < low < 0.30 and 0.39 < high < 0.45
    assert fitted_range([0.2, 0.99], (0.0, 1.0)) == (pytest.approx(0.121), 1.0)
    low, high = fitted_range([2.0]) or (0.0, 0.0)
    assert low < 2.0 < high
    assert fitted_range([]) is None


class SizedChart(App[None]):
    def __init__(self, chart: MetricChart) -> None:
        super().__init__()
        self.chart = chart

    def compose(self) -> ComposeResult:
        yield self.chart


def chart_rows(chart: MetricChart, points: list[MetricPoint], size: tuple[int, int]) -> list[Strip]:
    async def scenario() -> list[Strip]:
        app = SizedChart(chart)
        async with app.run_test(size=size) as pilot:
            chart.show_metrics(points)
            await pilot.pause()
            return chart._strips()

    return asyncio.run(scenario())


def frame(rows: list[Strip]) -> tuple[int, int]:
    """Row indexes of the plot's top and bottom borders."""
    texts = [row.text for row in rows]
    top = next(index for index, text in enumerate(texts) if "┌" in text)
    bottom = next(index for index, text in enumerate(texts) if "└" in text)
    return top, bottom


# Token accuracy as a real run shows it: train on every step, validation every third, full validation at the end.
ACCURACY = [
    MetricPoint(
        step=step,
        train_accuracy=0.30 + 0.009 * step,
        valid_accuracy=0.36 - 0.004 * step if step % 3 == 0 else None,
        full_valid_accuracy=0.33 if step == 11 else None,
    )
    for step in range(1, 12)
]


@pytest.mark.parametrize("width", [39, 58])  # one of two charts side by side at 80 and 120 columns
def test_the_accuracy_chart_reads_at_a_glance(width: int) -> None:
    chart = MetricChart("Token accuracy", select=accuracy_series, bounds=(0.0, 1.0))
    rows = chart_rows(chart, ACCURACY, (width, 18))
    texts = [row.text for row in rows]
    top, bottom = frame(rows)
    # Whole steps under the x axis.
    ticks = texts[bottom + 1].split()
    assert len(ticks) >= 3 and all(tick.isdigit() for tick in ticks), ticks
    # The legend is below the plot, never inside it; each name with its marker.
    inside = "".join(texts[top : bottom + 1])
    assert not any(name in inside for name in ("train", "valid", "full"))
    legend = " ".join(texts[bottom + 2 :])
    assert "• train" in legend and "x validation" in legend and "◆ full validation" in legend
    # The values axis fits 0.30-0.40 instead of 0-1.
    labels = [float(text.split("┤")[0]) for text in texts[top:bottom] if "┤" in text]
    assert 0.2 < min(labels) <= 0.31 and 0.39 <= max(labels) < 0.5, labels
    # Every series shows, in its legend colour.
    plot = [(char, segment.style) for row in rows[top + 1 : bottom] for segment in row for char in segment.text]
    legend_cells = [(char, segment.style) for row in rows[bottom + 2 :] for segment in row for char in segment.text]
    for marker in ("•", "x", "◆"):
        colour = next(style.color for char, style in legend_cells if char == marker and style)
        assert any(char == marker and style and style.color == colour for char, style in plot), marker


def test_the_train_line_is_drawn_over_the_validation_line() -> None:
    same = [MetricPoint(step=step, train_loss=3.0 - 0.1 * step, valid_loss=3.0 - 0.1 * step) for step in range(1, 9)]
    rows = chart_rows(MetricChart("Loss", select=loss_series, bounds=(0.0, None)), same, (39, 16))
    top, bottom = frame(rows)
    plot = "".join(row.text[6:-1] for row in rows[top + 1 : bottom])
    assert "•" in plot and "x" not in plot


def test_one_step_gets_one_tick() -> None:
    rows = chart_rows(MetricChart("Loss", select=loss_series), [MetricPoint(step=1, train_loss=2.5)], (39, 14))
    _, bottom = frame(rows)
    assert rows[bottom + 1].text.split() == ["1"]
