"""Line charts of a job's training metrics, drawn by plotext: loss and token accuracy against the step."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from textual.app import RenderResult
from textual_plotext import PlotextPlot

Points = list[tuple[float, float]]

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


class MetricChart(PlotextPlot):
    """One chart of several series; redrawn only when its points change."""

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
        self._rendered: tuple[tuple[object, ...], RenderResult] | None = None

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

    def render(self) -> RenderResult:
        # Building a plotext figure takes tens of milliseconds; the screen repaints far more often than the data
        # changes (a modal on top, a tab switch, a poll with no new points), so reuse the last rendering.
        key = (self._drawn, self.size, self.app.theme)
        if self._rendered is None or self._rendered[0] != key:
            self._rendered = (key, super().render())
        return self._rendered[1]
