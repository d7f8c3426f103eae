"""The dataset dashboard draws the report's figures from a stats object and opens a disagreement by click."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.gui.dataset_dashboard import DatasetDashboard
from pneumoviewer.io.folder import scan_folder
from pneumoviewer.review.dataset_stats import DatasetStats, dataset_stats
from pneumoviewer.review.store import ReviewStore


@pytest.fixture
def stats(phantom_dataset, tmp_path: Path) -> DatasetStats:
    """12 phantoms; AI results for 6 (p = 0.1 … 0.9), of which 2 accepted, 1 marked negative, 1 corrected."""
    index = scan_folder(phantom_dataset.root)
    ids = sorted(img.image_id for img in index.images)
    model = ModelInfo("demo", "1.0.0", synthetic=True)
    with ReviewStore(tmp_path / "review.sqlite") as store:
        for image_id, p in zip(ids[:6], (0.1, 0.3, 0.55, 0.7, 0.8, 0.9)):
            mask = np.zeros((256, 256), dtype=bool)
            if p >= 0.5:
                mask[50:90, 40:80] = True
            store.set_ai_result(Prediction(image_id, p, mask, model))
        store.accept_ai(ids[4])  # positive, Dice 1
        store.accept_ai(ids[5])
        store.mark_negative(ids[2])  # AI 0.55 with a mask: Dice 0, disagreement 1.0
        corrected = np.zeros((256, 256), dtype=bool)
        corrected[50:90, 60:100] = True  # half of the AI box
        store.set_final_mask(ids[3], corrected)
        return dataset_stats([img.meta for img in index.images], store, 0.5)


def _items(plot: pg.PlotItem, kind: type) -> list:
    return [item for item in plot.items if isinstance(item, kind)]


def test_dashboard_draws_every_figure(qtbot, stats: DatasetStats) -> None:
    dash = DatasetDashboard()
    qtbot.addWidget(dash)
    dash.set_stats(stats)
    plots = dash.plots()
    assert set(plots) == {spec.key for spec in stats.figures()}
    # class balance: reviewer labels and AI labels, 3 categories each, heights as counted
    bars = _items(plots["class_balance"], pg.BarGraphItem)
    assert len(bars) == 2
    assert [list(b.opts["height"]) for b in bars] == [[3, 1, 8], [4, 2, 6]]
    # sex by label: positive, negative, unlabelled series, summing to the 12 images
    sex = _items(plots["sex_by_label"], pg.BarGraphItem)
    assert len(sex) == 3 and sum(float(np.sum(b.opts["height"])) for b in sex) == 12
    # ROC: chance + curve lines and the operating point
    assert len(_items(plots["roc"], pg.PlotDataItem)) == 2
    assert len(_items(plots["roc"], pg.ScatterPlotItem)) == 1
    # probability histogram: two classes and the threshold line
    assert len(_items(plots["probability_histogram"], pg.BarGraphItem)) == 2
    assert [line.value() for line in _items(plots["probability_histogram"], pg.InfiniteLine)] == [0.5]
    # Dice by status: accepted, corrected, negative
    assert len(_items(plots["dice_by_status"], pg.BarGraphItem)) == 3
    assert "12 images" in dash.summary.text() and "4 with a reviewer label" in dash.summary.text()


def test_clicking_a_disagreement_emits_its_image(qtbot, stats: DatasetStats) -> None:
    dash = DatasetDashboard()
    qtbot.addWidget(dash)
    dash.set_stats(stats)
    dash.resize(1400, 900)
    dash.show()
    qtbot.waitExposed(dash)
    worst = stats.disagree_most()
    table = dash.disagree
    assert table.rowCount() == len(worst) == 4
    assert [table.item(r, 0).text() for r in range(4)] == [i for i, _ in worst]
    assert table.item(0, 1).text() == "1.00"
    row = 1
    rect = table.visualItemRect(table.item(row, 0))
    with qtbot.waitSignal(dash.imageChosen, timeout=2000) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [worst[row][0]]


def test_folder_without_reviews_says_so(qtbot, phantom_dataset) -> None:
    index = scan_folder(phantom_dataset.root)
    dash = DatasetDashboard()
    qtbot.addWidget(dash)
    dash.set_stats(dataset_stats([img.meta for img in index.images], None, 0.5))
    roc = dash.plots()["roc"]
    texts = [item.toPlainText() for item in _items(roc, pg.TextItem)]
    assert texts == ["no reviews yet"]
    assert not _items(roc, pg.PlotDataItem)
    assert dash.disagree.rowCount() == 0 and "no reviews yet" in dash.summary.text()
