"""The dataset dashboard (View ▸ Dataset): the figures of `pneumoviewer report` as pyqtgraph plots, and the list
of images where AI and reviewer disagree most.

The widget only draws: it is fed a finished `DatasetStats` (computed off the GUI thread with
`review.dataset_stats.iter_dataset_stats`) through `set_stats`, and draws each figure from the same toolkit-neutral
`ChartSpec` the CLI renders to PNG, so the app and the report never show different numbers. Choosing a row of the
disagreement list emits `imageChosen(image_id)`; the window decides what opening it means.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.charts import ChartSpec
from pneumoviewer.review.dataset_stats import DatasetStats

__all__ = ["DatasetDashboard"]

DISAGREE_ROWS = 200  # the list is a worklist entry point, not a full table: the worst 200 are plenty
BACKGROUND = "#ffffff"  # the PNG figures' white page: the same colours read the same in both
INK = "#141414"


def _brush(colour: tuple[int, int, int]) -> pg.QtGui.QBrush:
    return pg.mkBrush(*colour)


class DatasetDashboard(QWidget):
    """A grid of dataset / model-QA plots beside the "AI and reviewer disagree most" list."""

    imageChosen = Signal(str)  # image id (SOPInstanceUID) of the row the user chose

    def __init__(self, parent: QWidget | None = None, columns: int = 3) -> None:
        super().__init__(parent)
        self.setObjectName("datasetDashboard")
        self._columns = max(1, columns)
        self._plots: dict[str, pg.PlotItem] = {}
        self._stats: DatasetStats | None = None

        self.summary = QLabel("No statistics yet.")
        self.summary.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.setMinimumSize(600, 400)

        self.disagree = QTableWidget(0, 2)
        self.disagree.setHorizontalHeaderLabels(["Image", "Score"])
        self.disagree.verticalHeader().setVisible(False)
        self.disagree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.disagree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.disagree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.disagree.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.disagree.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.disagree.setToolTip("Labelled images ranked by max(|label − AI probability|, 1 − Dice(AI, reviewer)); "
                                 "click one to open it")
        self.disagree.cellClicked.connect(self._chosen)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(QLabel("AI and reviewer disagree most"))
        side_layout.addWidget(self.disagree)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.graphics)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    # ------------------------------------------------------------------ public

    @property
    def stats(self) -> DatasetStats | None:
        return self._stats

    def plots(self) -> dict[str, pg.PlotItem]:
        """The plot of each figure, by `ChartSpec.key` (class_balance, roc, ...)."""
        return dict(self._plots)

    def set_stats(self, stats: DatasetStats) -> None:
        """Show `stats`: redraws every figure and the disagreement list (cheap: the numbers are precomputed)."""
        self._stats = stats
        self.graphics.clear()
        self._plots.clear()
        for i, spec in enumerate(stats.figures()):
            plot = self.graphics.addPlot(row=i // self._columns, col=i % self._columns)
            self._draw(plot, spec)
            self._plots[spec.key] = plot
        numbers = stats.to_dict(top=0)
        models = ", ".join(numbers["models"]) or "none"
        self.summary.setText(
            f"{numbers['images']} images · {numbers['labelled']} with a reviewer label "
            f"({numbers['labels_imported']} imported) · {numbers['ai_results']} AI results (models: {models}) · "
            f"AI labels at p ≥ {numbers['threshold']:g}" + ("" if stats.has_store else " · no reviews yet")
        )
        self._fill_disagreements(stats)

    # ------------------------------------------------------------------ drawing

    def _draw(self, plot: pg.PlotItem, spec: ChartSpec) -> None:
        title = spec.title if not spec.notes else f"{spec.title}<br><small>{' · '.join(spec.notes)}</small>"
        plot.setTitle(title, color=INK)
        plot.setMenuEnabled(False)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(INK)
            axis.setTextPen(INK)
            axis.enableAutoSIPrefix(False)  # counts and rates: "x0.001" on a category axis only confuses
        plot.setLabel("bottom", spec.xlabel)
        plot.setLabel("left", spec.ylabel)
        xlim, ylim = spec.limits()
        if spec.message is not None or not spec.series:
            plot.setXRange(0, 1, padding=0)
            plot.setYRange(0, 1, padding=0)
            text = pg.TextItem(spec.message or "no data", color=(120, 120, 120), anchor=(0.5, 0.5))
            text.setPos(0.5, 0.5)
            plot.addItem(text)
            plot.getViewBox().setMouseEnabled(False, False)
            return
        legend = plot.addLegend(offset=(-10, 10) if spec.legend.endswith("r") else (10, 10),
                                labelTextColor=INK, brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen(170, 170, 170))
        if spec.kind == "bars":
            plot.getAxis("bottom").setTicks([list(enumerate(spec.categories))])
        for series, (left, width) in zip(spec.series, spec.bar_geometry()):
            bars = pg.BarGraphItem(x0=left, width=width, height=series.y, brush=_brush(series.colour),
                                   pen=pg.mkPen(tuple(int(c * 0.7) for c in series.colour)), name=series.label)
            plot.addItem(bars)
        if spec.kind == "lines":
            for series in spec.series:
                if series.style == "points":
                    item = pg.ScatterPlotItem(series.x, series.y, size=11, brush=_brush(series.colour),
                                              pen=pg.mkPen(INK), name=series.label)
                else:
                    style = Qt.PenStyle.DashLine if series.style == "dashed" else Qt.PenStyle.SolidLine
                    item = pg.PlotDataItem(series.x, series.y, name=series.label,
                                           pen=pg.mkPen(series.colour, width=1 if series.style == "dashed" else 2.5,
                                                        style=style))
                plot.addItem(item)
        for x, label, colour in spec.vlines:
            line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine))
            plot.addItem(line)
            legend.addItem(pg.PlotDataItem(pen=line.pen), label)
        pad = 0.02 if spec.kind == "lines" else 0.0  # the ROC's operating point may sit on the frame
        plot.setXRange(*xlim, padding=pad)
        plot.setYRange(*ylim, padding=pad)

    def _fill_disagreements(self, stats: DatasetStats) -> None:
        worst = stats.disagree_most(limit=DISAGREE_ROWS)
        self.disagree.setRowCount(len(worst))
        for row, (image_id, score) in enumerate(worst):
            item = QTableWidgetItem(image_id)
            item.setData(Qt.ItemDataRole.UserRole, image_id)
            item.setToolTip(image_id)
            self.disagree.setItem(row, 0, item)
            value = QTableWidgetItem(f"{score:.2f}")
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.disagree.setItem(row, 1, value)

    def _chosen(self, row: int, _column: int) -> None:
        item = self.disagree.item(row, 0)
        if item is not None:
            self.imageChosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
