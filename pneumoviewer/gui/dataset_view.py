"""View ▸ Dataset…: the dataset dashboard in a dock, its statistics computed off the GUI thread (issue 14).

`show()` docks a `DatasetDashboard` (the first time) and starts one `dataset-stats` thread over the session's index
metas and store (`review.dataset_stats.dataset_stats`: every step is a cancel point). The finished statistics
reach the dashboard on the GUI thread. A folder change or the window closing stops (joins) the thread first, so
it never reads a store that is being closed; choosing a row of "AI and reviewer disagree most" opens that image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow

from pneumoviewer.gui.dataset_dashboard import DatasetDashboard
from pneumoviewer.gui.workers import TaskThread
from pneumoviewer.review.dataset_stats import DatasetStats, dataset_stats
from pneumoviewer.review.session import ReviewSession


def _compute(metas: list[Any], store: Any, threshold: float) -> Callable[..., DatasetStats]:
    """The thread's task; a cancel raises `StatsCancelled`, which the thread reports as cancelled."""
    return lambda progress, cancel: dataset_stats(metas, store, threshold, progress=progress, cancel=cancel)


class DatasetController(QObject):
    """Owns the dashboard dock and the statistics thread (see the module docstring)."""

    statsReady = Signal(object)  # DatasetStats, shown

    def __init__(self, session: ReviewSession, window: QMainWindow, open_image: Callable[[str], Any],
                 message: Callable[[str, int], None], threshold: Callable[[], float]) -> None:
        """`threshold()`: the probability at which the AI label is positive (the active bundle's classifier's)."""
        super().__init__(window)
        self.session = session
        self._threshold = threshold
        self.window = window
        self._message = message
        self.dashboard = DatasetDashboard()
        self.dashboard.imageChosen.connect(open_image)
        self.dock: QDockWidget | None = None
        self._thread: TaskThread | None = None

    def show(self) -> None:
        """Dock the dashboard (floating-capable, closable) and compute the open folder's statistics."""
        if self.dock is None:
            dock = QDockWidget("Dataset", self.window)
            dock.setObjectName("dock_dataset")
            dock.setWidget(self.dashboard)
            self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            self.dock = dock
        self.dock.show()
        self.dock.raise_()
        self.refresh()

    def refresh(self) -> None:
        """(Re)compute in the background; a run in progress is stopped first."""
        self.stop()
        index = self.session.index
        if index is None:
            self.dashboard.summary.setText("Open a folder to see its statistics.")
            return
        self.session.flush()  # the reviewer's last decisions are in the figures
        self.dashboard.summary.setText("Computing the statistics…")
        thread = TaskThread(_compute([im.meta for im in index.images], self.session.store, self._threshold()),
                            name="dataset-stats", parent=self)
        thread.progress.connect(lambda d, t: self.dashboard.summary.setText(f"Computing the statistics… {d}/{t}"))
        thread.succeeded.connect(lambda stats, t=thread: self._done(stats) if t is self._thread else None)
        thread.failed.connect(lambda msg: self._message(f"Dataset statistics failed: {msg}", 8000))
        self._thread = thread
        thread.start()

    def _done(self, stats: DatasetStats) -> None:
        self.dashboard.set_stats(stats)
        self.statsReady.emit(stats)

    def stop(self) -> None:
        """Cancel and join the statistics thread (folder change, window close)."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
