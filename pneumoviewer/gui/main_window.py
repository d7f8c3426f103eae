"""The review app's main window, a shell: docks, toolbar, menus, status bar, layout persistence, drop, close.

It builds nothing of the review itself. `pneumoviewer.app.build_window` (the composition root) makes the session,
the widgets and the controllers, and hands them in once with `assemble(parts)`; the window lays them out and, on
close, saves its layout and stops every part that owns a thread or a process (`WindowParts.shutdown`), in order.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QRect, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QToolBar,
    QWidget,
)

from pneumoviewer.gui.menus import build_menus, build_toolbar
from pneumoviewer.gui.settings import Settings
from pneumoviewer.gui.shortcuts import ShortcutsDialog

_LIVE_WINDOWS: weakref.WeakSet[MainWindow] = weakref.WeakSet()


@atexit.register
def _shutdown_live_windows() -> None:
    """A window never closed (a script, a test) must not leave threads for the interpreter to destroy mid-run."""
    for window in list(_LIVE_WINDOWS):
        with contextlib.suppress(RuntimeError):  # RuntimeError: the C++ side is already gone
            window.shutdown()


@dataclass
class WindowParts:
    """Everything the composition root made for one window (attributes for integrators and tests)."""

    session: Any  # pneumoviewer.review.ReviewSession
    signals: Any  # gui.review_controller.SessionSignals
    viewer: Any  # gui.viewer.ImageViewer
    ai_overlay: Any
    review_overlay: Any
    worklist: Any  # gui.worklist.WorklistPanel
    worklist_model: Any
    metadata: Any  # gui.metadata_panel.MetadataPanel
    view: Any  # gui.view_controls.ViewControls
    nav: Any  # gui.navigation.Navigator
    editor: Any  # gui.editing_controller.EditingController
    tool_panel: Any  # gui.tool_panel.ToolPanel
    ai: Any  # gui.ai_controller.AiController
    ai_status: Any  # gui.ai_controller.AiStatus
    review: Any  # gui.review_controller.ReviewController
    folders: Any  # gui.folders.FolderController
    exporter: Any  # gui.export_dialog.ExportController
    guard: Any = None  # gui.domain_guard.DomainGuard (the synthetic-model banner, A's question)
    dataset: Any = None  # gui.dataset_view.DatasetController (View ▸ Dataset…)
    layers: Any = None  # gui.layers.LayerController (AI / mine / reference / difference layers)
    central: QWidget | None = None  # the viewer with what sits above it (default: the viewer alone)
    actions: dict[str, QAction] = field(default_factory=dict)
    shutdown: list[Callable[[], None]] = field(default_factory=list)  # run in order on close


#: The first window's size where the screen has room (a saved layout replaces it from the second start on).
FIRST_WINDOW_SIZE = (1500, 950)


def first_window_geometry(available: QRect) -> QRect:
    """The first window, fitted to the screen's available area and centred on it.

    A 1366×768 laptop must not get a 1500×950 window with the right docks, the status bar and the model warning
    cut off: the window takes at most 96 % of the width and 92 % of the height (room for the title bar).
    """
    width = min(FIRST_WINDOW_SIZE[0], int(available.width() * 0.96))
    height = min(FIRST_WINDOW_SIZE[1], int(available.height() * 0.92))
    left = available.x() + (available.width() - width) // 2
    top = available.y() + (available.height() - height) // 2
    return QRect(left, top, width, height)


class MainWindow(QMainWindow):
    """The window shell (see the module docstring)."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.parts: WindowParts | None = None
        self._closing = False
        self.setWindowTitle(QGuiApplication.applicationDisplayName())
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(first_window_geometry(screen.availableGeometry()))
        else:
            self.resize(*FIRST_WINDOW_SIZE)
        self.task_progress = QProgressBar()
        self.task_progress.setFixedWidth(160)
        self.task_progress.setVisible(False)
        self.docks: dict[str, QDockWidget] = {}
        self.last_warning: QMessageBox | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)  # quit without a close event still saves everything queued
        _LIVE_WINDOWS.add(self)

    # ------------------------------------------------------------------------------------------------ assembly
    def assemble(self, parts: WindowParts) -> None:
        """Lay out the parts: canvas in the centre, worklist left, details and the mask tools right."""
        self.parts = parts
        self.setCentralWidget(parts.central or parts.viewer)
        self._dock("worklist", "Worklist", parts.worklist, Qt.DockWidgetArea.LeftDockWidgetArea, 430)
        scroll = QScrollArea()
        scroll.setWidget(parts.metadata)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self._dock("details", "Details", scroll, Qt.DockWidgetArea.RightDockWidgetArea, 290)
        self._dock("edit", "Edit mask", parts.tool_panel, Qt.DockWidgetArea.RightDockWidgetArea, 290)
        actions = {**parts.actions, **{f"dock_{k}": d.toggleViewAction() for k, d in self.docks.items()}}
        actions["export"], actions["import"] = parts.exporter.export_action, parts.exporter.import_action
        slots = build_menus(self.menuBar(), actions)
        recent = slots["recent"]
        recent.aboutToShow.connect(lambda: parts.folders.fill_recent_menu(recent))
        toolbar = QToolBar("Tools", self)
        toolbar.setObjectName("toolbar_main")
        toolbar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        widgets = {"presets": parts.view.preset_combo, "disclaimer": parts.view.disclaimer_label}
        build_toolbar(toolbar, actions, widgets)
        self.toolbar = toolbar
        sb = self.statusBar()
        for w in parts.view.status_widgets():
            sb.addWidget(w)
        for w in (self.task_progress, *parts.ai_status.widgets()):
            sb.addPermanentWidget(w)
        self._restore_layout()

    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea, width: int) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        feature = QDockWidget.DockWidgetFeature
        dock.setFeatures(feature.DockWidgetMovable | feature.DockWidgetFloatable | feature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        self.docks[key] = dock

    @property
    def index(self) -> Any:
        """The opened folder's index (the export dialog reads its source paths and sizes here)."""
        return self.parts.session.index if self.parts is not None else None

    def _confirm_unsaved(self) -> bool:
        """Changes the disk refused are never dropped silently: retry them, or the reviewer says to discard them."""
        assert self.parts is not None
        session = self.parts.session
        session.flush()
        while session.unsaved():
            answer = QMessageBox.warning(
                self, "Unsaved review changes",
                f"{session.unsaved()} change(s) could not be saved (the disk refused them). Retry now, or close and "
                "lose them?",
                QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Retry)
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.Discard:
                session.discard_unsaved()
                return True
            session.retry_unsaved()
            session.flush()
        return True

    # ------------------------------------------------------------------------------------------------ shell actions
    def message(self, text: str, ms: int = 3000) -> None:
        """A transient status-bar message."""
        self.statusBar().showMessage(text, ms)

    def warn(self, title: str, text: str) -> QMessageBox:
        """A non-blocking warning box (window-modal; tests can read it, users dismiss it)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.last_warning = box
        return box

    def set_folder_title(self, folder: Path) -> None:
        """"<folder> — PneumoViewer": the document first, the application last, once. Qt on X11, Wayland and Windows
        appends the display name to a title that does not already end with it ("PneumoViewer — demo — PneumoViewer"
        before), so the title ends with exactly that name."""
        self.setWindowTitle(f"{folder.name or folder} — {QGuiApplication.applicationDisplayName()}")

    def focus_search(self) -> None:
        assert self.parts is not None
        self.docks["worklist"].show()
        self.parts.worklist.search.setFocus()
        self.parts.worklist.search.selectAll()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def about(self) -> None:
        from pneumoviewer import __version__

        QMessageBox.about(
            self,
            "About PneumoViewer",
            f"<b>PneumoViewer {__version__}</b><br>Chest X-ray pneumothorax review with AI triage.<br><br>"
            "Supports a reader's decisions; does not diagnose. The bundled demo model is trained on synthetic "
            "phantom images only and is not for clinical use.",
        )

    # ------------------------------------------------------------------------------------------------ layout
    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def save_layout(self) -> None:
        self.settings.set_window_layout(QByteArray(self.saveGeometry()), QByteArray(self.saveState()))
        self.settings.sync()

    # ------------------------------------------------------------------------------------------------ drop a folder
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = self._dropped_folder(event.mimeData())
        if folder is not None and self.parts is not None:
            event.acceptProposedAction()
            self.parts.folders.open_folder(folder)

    @staticmethod
    def _dropped_folder(mime: Any) -> Path | None:
        """The folder of a dropped URL (a file: its folder)."""
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.is_dir():
                    return p
                if p.is_file():
                    return p.parent
        return None

    # ------------------------------------------------------------------------------------------------ close
    def shutdown(self) -> None:
        """Stop and join every worker and close the review store (idempotent); called on close and on quit."""
        if self._closing:
            return
        self._closing = True
        for step in self.parts.shutdown if self.parts is not None else ():
            step()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.parts is not None and not self._confirm_unsaved():
            event.ignore()
            return
        self.save_layout()
        if self.last_warning is not None:
            self.last_warning.close()  # a window-modal box must not outlive its window
        self.shutdown()
        super().closeEvent(event)
