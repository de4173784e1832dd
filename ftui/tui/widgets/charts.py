"""Line charts of a job's training metrics, drawn by plotext: loss and token accuracy against the step."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot

Points = list[tuple[float, float]]
ANSI_RESET = "\x1b[0m"
# plotext writes each run of like-coloured cells as its colour codes, the characters, then a reset.
_ANSI_RUN = re.compile(r"((?:\x1b\[[0-9;]*m)*)([^\x1b]*)")

# Each series has its own marker, so the lines can be told apart without colour.
MARKERS: dict[str, str] = {
    "train": "•",
    "validation": "x",
    "full validation": "◆",
}


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
        y_range: tuple[float, float] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.y_range = y_range
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
        plt.clear_data()
        plt.title(self.title if self.series else f"{self.title} · {self.empty_text}")
        plt.xlabel("step")
        if self.y_range is not None:
            plt.ylim(*self.y_range)
        for label, points in self.series.items():
            steps = [step for step, _ in points]
            values = [value for _, value in points]
            plt.plot(steps, values, label=label, marker=MARKERS.get(label, "•"))
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
            self._rendered = (key, ansi_to_strips(self._build_canvas(), self.size.width, base))
        return self._rendered[1]

    def _build_canvas(self) -> str:
        """What ``PlotextPlot.render`` builds, before it decodes it into rich Text."""
        width, height = self.size
        plot = self.plt
        plot.plotsize(width, height)
        plot._set_size(width, height)  # as PlotextPlot does: plotsize alone does not resize every part
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return plot.build()
