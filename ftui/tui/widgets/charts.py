"""Line charts of a job's training metrics, drawn by plotext: loss and token accuracy against the step."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot

Points = list[tuple[float, float]]
ANSI_RESET = "\x1b[0m"
# plotext writes each run of like-coloured cells as its colour codes, the characters, then a reset.
_ANSI_RUN = re.compile(r"((?:\x1b\[[0-9;]*m)*)([^\x1b]*)")

# Each series has its own marker and colour, so the lines can be told apart with or without colour. The colours are
# from textual-plotext's sequence for light and dark themes alike.
MARKERS: dict[str, str] = {
    "train": "•",
    "validation": "x",
    "full validation": "◆",
}
COLOURS: dict[str, tuple[int, int, int]] = {
    "train": (0, 130, 200),
    "validation": (245, 130, 48),
    "full validation": (60, 180, 75),
}
# Drawn in this order, each over the ones before: the train line over the validation line, so the sparser validation
# marks never hide the train points where the lines cross; the full-validation points (one per epoch at most) on top.
DRAW_ORDER = ("validation", "train", "full validation")
# Cells a step label takes on the x axis, beside its digits: ticks are spaced so their labels never touch.
TICK_GAP = 3
# Room the y axis and the frame take from the plot's width (its labels, the axis and the two borders).
Y_AXIS_CELLS = 7
# Share of the values' range added above and below them, so no point sits on the frame.
Y_MARGIN = 0.1


def integer_ticks(first: float, last: float, cells: int) -> list[int]:
    """Whole steps between ``first`` and ``last``, as many as fit in ``cells`` with their labels apart: every
    1, 2 or 5 times a power of ten steps."""
    low, high = math.ceil(first), math.floor(last)
    if high < low:
        return []
    label = len(str(high)) + TICK_GAP
    fit = max(1, cells // label)
    spacing = 1
    while (high - low) // spacing + 1 > fit:
        spacing = _next_spacing(spacing)
    start = math.ceil(low / spacing) * spacing
    return list(range(start, high + 1, spacing)) or [low]


def _next_spacing(spacing: int) -> int:
    """1, 2, 5, 10, 20, 50, …: the next spacing after ``spacing``."""
    scale = int("1" + "0" * (len(str(spacing)) - 1))
    lead = spacing // scale
    return {1: 2, 2: 5}.get(lead, 10) * scale


def _draw_rank(label: str) -> int:
    return DRAW_ORDER.index(label) if label in DRAW_ORDER else len(DRAW_ORDER)


def fitted_range(
    values: Iterable[float], bounds: tuple[float | None, float | None] = (None, None)
) -> tuple[float, float] | None:
    """The y range that shows ``values`` with a margin above and below, kept within ``bounds``."""
    found = list(values)
    if not found:
        return None
    low, high = min(found), max(found)
    margin = (high - low) * Y_MARGIN or max(abs(high) * Y_MARGIN, 0.01)
    low, high = low - margin, high + margin
    floor, ceiling = bounds
    if floor is not None:
        low = max(low, floor)
    if ceiling is not None:
        high = min(high, ceiling)
    return low, high


def legend_lines(labels: Sequence[str], width: int) -> list[Text]:
    """ "• train  x validation ◆ full validation": each series' marker in its colour and its name, as many to a
    line as fit in ``width``; a series is never split across lines."""
    lines: list[Text] = []
    line = Text()
    for label in labels:
        item = Text()
        item.append(MARKERS.get(label, "•"), style=Style(color=Color.from_rgb(*COLOURS.get(label, (128, 128, 128)))))
        item.append(f" {label}")
        if line and line.cell_len + 2 + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line:
            line.append("  ")
        line.append_text(item)
    if line:
        lines.append(line)
    return lines


def _series(metrics: Iterable[Any], fields: Mapping[str, str]) -> dict[str, Points]:
    series: dict[str, Points] = {label: [] for label in fields}
    for point in metrics:
        for label, name in fields.items():
            value = getattr(point, name, None)
            if value is not None:
                series[label].append((point.step, float(value)))
    return {label: points for label, points in series.items() if points}


def loss_series(metrics: Iterable[Any]) -> dict[str, Points]:
    """Train, validation and full-validation loss by step, from ``JobTracker.metrics``."""
    return _series(metrics, {"train": "train_loss", "validation": "valid_loss", "full validation": "full_valid_loss"})


def accuracy_series(metrics: Iterable[Any]) -> dict[str, Points]:
    """Mean token accuracy by step, from ``JobTracker.metrics``."""
    return _series(
        metrics,
        {"train": "train_accuracy", "validation": "valid_accuracy", "full validation": "full_valid_accuracy"},
    )


@lru_cache(maxsize=256)
def _style_of(codes: str) -> Style:
    """The style that ANSI colour codes select (a plot uses a handful of them, so each is decoded once)."""
    spans = Text.from_ansi(f"{codes}x").spans
    style = spans[0].style if spans else Style.null()
    return style if isinstance(style, Style) else Style.parse(style)


def ansi_to_strips(canvas: str, width: int, base: Style | None = None) -> list[Strip]:
    """plotext's canvas (one ANSI-coloured line per row) as Textual strips of ``width`` cells, its colours over
    ``base`` (the widget's own style, for the cells plotext leaves uncoloured)."""
    strips = []
    for line in canvas.splitlines():
        segments = []
        codes_now = ""
        for codes, text in _ANSI_RUN.findall(line):
            if codes:
                after_reset = codes.rsplit(ANSI_RESET, 1)[-1]
                codes_now = after_reset if ANSI_RESET in codes else codes_now + after_reset
            if text:
                style = _style_of(codes_now)
                segments.append(Segment(text, base + style if base else style))
        strips.append(Strip(segments).adjust_cell_length(width, base))
    return strips


class MetricChart(PlotextPlot):
    """One chart of several series; redrawn only when its points change.

    The steps axis has whole-step ticks, the values axis fits the values shown (within ``bounds``), the train line
    is drawn over the validation line (``DRAW_ORDER``), and the legend has lines of its own under the plot, never
    over the data.

    Drawn through Textual's line API: plotext's coloured text becomes strips directly, about four times faster
    than decoding it into rich Text and laying that out again, which matters because a poll that brings new points
    redraws both charts while the operator may be typing.
    """

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(
        self,
        title: str,
        *,
        select: Callable[[Iterable[Any]], dict[str, Points]],
        empty_text: str = "No data yet.",
        bounds: tuple[float | None, float | None] = (None, None),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.bounds = bounds
        self.select = select
        self.empty_text = empty_text
        self.series: dict[str, Points] = {}
        self._drawn = 0  # bumped on every redraw; with size and theme, the key of the cached rendering
        self._rendered: tuple[tuple[object, ...], list[Strip]] | None = None

    def on_mount(self) -> None:
        self._draw()

    def show_metrics(self, metrics: Sequence[Any]) -> bool:
        """Plot ``metrics`` (MetricPoint values); True when something changed and the chart was redrawn."""
        series = self.select(metrics)
        if series == self.series:
            return False
        self.series = series
        self._draw()
        return True

    @property
    def point_count(self) -> int:
        return sum(len(points) for points in self.series.values())

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()  # data, limits and ticks: each drawing starts afresh
        plt.title(self.title if self.series else f"{self.title} · {self.empty_text}")
        plt.xlabel("step")
        y_range = fitted_range((value for points in self.series.values() for _, value in points), self.bounds)
        if y_range is not None:
            plt.ylim(*y_range)
        for label, points in sorted(self.series.items(), key=lambda item: _draw_rank(item[0])):
            steps = [step for step, _ in points]
            values = [value for _, value in points]
            plt.plot(steps, values, marker=MARKERS.get(label, "•"), color=COLOURS.get(label, (128, 128, 128)))
        self._drawn += 1
        self.refresh()

    def render_line(self, y: int) -> Strip:
        strips = self._strips()
        return strips[y] if y < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def _strips(self) -> list[Strip]:
        # Building a plotext figure takes milliseconds; the screen repaints far more often than the data changes
        # (a modal on top, a tab switch, a poll with no new points), so reuse the last rendering.
        base = self.rich_style
        key = (self._drawn, self.size, self.app.theme, base)
        if self._rendered is None or self._rendered[0] != key:
            width, height = self.size
            legend = legend_lines(list(self.series), width)[: max(0, height - 4)]
            strips = ansi_to_strips(self._build_canvas(width, height - len(legend)), width, base)
            console = self.app.console
            for line in legend:
                segments = [
                    Segment(segment.text, base + segment.style if base and segment.style else segment.style or base)
                    for segment in line.render(console, end="")
                ]
                strips.append(Strip(segments).adjust_cell_length(width, base))
            self._rendered = (key, strips)
        return self._rendered[1]

    def _build_canvas(self, width: int, height: int) -> str:
        """What ``PlotextPlot.render`` builds, before it decodes it into rich Text, with whole-step ticks."""
        plot = self.plt
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as PlotextPlot does: plotsize alone does not resize every part
        steps = [step for points in self.series.values() for step, _ in points]
        if steps:
            first, last = min(steps), max(steps)
            if first == last:  # one step alone gets a step of room either side
                plot.xlim(first - 1, last + 1)
            ticks = integer_ticks(first, last, width - Y_AXIS_CELLS)
            plot.xticks([float(tick) for tick in ticks], [str(tick) for tick in ticks])
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return plot.build()
