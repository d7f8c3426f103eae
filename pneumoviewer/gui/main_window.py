"""The review app's main window: worklist (left), image canvas (centre), facts + AI + overlay controls (right).

`MainWindow()` builds with no arguments and loads nothing until asked (`open_folder`, `open_demo`). It owns every
worker thread (scan / demo generation, image decoder, AI inference) and stops and joins them on close.

Signals tests and integrators can wait on: `scanFinished(n_images, n_failed)`, `imageShown(image_id)`,
`imagePainted(image_id)`, `predictionArrived(image_id, probability)`, `inferenceIdle()`, `modelReady(device)`,
`modelFailed(message)`, `statusChanged(image_id, status)`, `demoReady(folder)`.

For the editing integrator: `viewer.set_tool_handler(handler)` (press/move/release in image (row, col)),
`ai_overlay` / `review_overlay` (`MaskOverlay.set_mask(mask)` keeps a reference; `update_rect(r0, r1, c0, c1)`
repaints a rectangle), `current_image_id()`, `current_image()`, `prediction(image_id)`, `set_status_store(store)`
(e.g. a `pneumoviewer.review.ReviewStore`), and the `imageShown` signal to load the reviewer's mask per image.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QWidget,
)

from pneumoviewer.core.paths import default_model_dir, source_root, user_data_dir
from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.gui import theme
from pneumoviewer.gui.metadata_panel import SYNTHETIC_NOTE, MetadataPanel, model_label
from pneumoviewer.gui.review_bridge import install as install_review
from pneumoviewer.gui.settings import Settings
from pneumoviewer.gui.shortcuts import BY_ACTION, ShortcutsDialog, key_sequences, tooltip
from pneumoviewer.gui.status_store import MemoryStatusStore, StatusStore
from pneumoviewer.gui.viewer import DEFAULT_PRESETS, ImageViewer
from pneumoviewer.gui.workers import ImageLoader, InferenceWorker, LoadedImage, TaskThread, load_for_display
from pneumoviewer.gui.worklist import WorklistModel, WorklistPanel, WorklistRow

DEMO_IMAGES = 24
DEMO_SIZE = 1024
DEMO_SEED = 0
DEMO_POSITIVE_RATE = 0.35
CACHE_IMAGES = 10  # decoded images kept for instant stepping back and forth
PREFETCH_AHEAD = 2
AI_PRIORITY_AHEAD = 3

PRESET_ACTIONS = {
    "preset_default": "DICOM default",
    "preset_lung": "Lung",
    "preset_bone": "Bone",
    "preset_contrast": "High contrast",
    "preset_full": "Full range",
}


_LIVE_WINDOWS: weakref.WeakSet[MainWindow] = weakref.WeakSet()


@atexit.register
def _shutdown_live_windows() -> None:
    """A window never closed (a script, a test) must not leave threads for the interpreter to destroy mid-run."""
    for window in list(_LIVE_WINDOWS):
        with contextlib.suppress(RuntimeError):  # RuntimeError: the C++ side is already gone
            window.shutdown()


def demo_folder() -> Path:
    """Where the demo studies are: shipped next to the package if present, else generated into user data."""
    shipped = source_root() / "demo"
    if (shipped / ".complete").is_file():
        return shipped
    return user_data_dir() / "demo"


def demo_ready(folder: Path) -> bool:
    return (folder / ".complete").is_file()


def generate_demo(folder: Path, progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Path:
    """Write the demo phantom studies (deterministic) and mark them complete; cancellable between images."""
    from pneumoviewer.phantom import generate_dataset

    def step(done: int, total: int) -> None:
        if cancel():
            raise InterruptedError("demo generation cancelled")
        progress(done, total)

    folder.mkdir(parents=True, exist_ok=True)
    generate_dataset(
        folder, DEMO_IMAGES, seed=DEMO_SEED, size=DEMO_SIZE, positive_rate=DEMO_POSITIVE_RATE, progress=step
    )
    (folder / ".complete").write_text(f"n={DEMO_IMAGES} size={DEMO_SIZE} seed={DEMO_SEED}\n", encoding="utf-8")
    return folder


def _scan(folder: Path) -> Callable[[Callable[[int, int], None], Callable[[], bool]], Any]:
    """Index the folder, then decode its first image in the same thread (cold start: one hand-off fewer)."""

    def run(progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Any:
        from pneumoviewer.io.folder import scan_folder

        index = scan_folder(folder, progress=progress, cancel=cancel)
        first = None
        if index.images and not cancel():
            try:
                first = load_for_display(index.images[0].path)
            except Exception:  # shown (with its error) through the normal loader path
                first = None
        return index, first

    return run


class MainWindow(QMainWindow):
    """PneumoViewer's main window (see the module docstring for signals and integration points)."""

    folderOpened = Signal(str)
    scanFinished = Signal(int, int)
    scanFailed = Signal(str)
    imageShown = Signal(str)
    imagePainted = Signal(str)
    predictionArrived = Signal(str, float)
    predictionFailed = Signal(str, str)
    inferenceIdle = Signal()
    inferenceCancelled = Signal()
    modelReady = Signal(str)
    modelFailed = Signal(str)
    statusChanged = Signal(str, str)
    demoReady = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        bundle_dir: str | os.PathLike[str] | None = None,
        inference_mode: str | None = None,
        run_ai: bool = True,
        engine_factory: Callable[[str | None], Any] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.bundle_dir = Path(bundle_dir) if bundle_dir is not None else default_model_dir()
        self.inference_mode = inference_mode or self.settings.inference_mode()
        self.run_ai = run_ai
        self._engine_factory = engine_factory

        self.folder: Path | None = None
        self.index: Any = None
        self._paths: dict[str, Path] = {}
        self._cache: OrderedDict[str, LoadedImage] = OrderedDict()
        self._predictions: dict[str, Prediction] = {}
        self._ai_errors: dict[str, str] = {}
        self._current: str | None = None
        self._shown: str | None = None
        self._sticky_preset: str | None = None
        self._status_store: StatusStore = MemoryStatusStore()
        self._model: ModelInfo | None = None
        self._device: str | None = None
        self._scan_thread: TaskThread | None = None
        self._demo_thread: TaskThread | None = None
        self._inference: InferenceWorker | None = None
        self._closing = False
        self.timings: dict[str, float] = {}  # e.g. last 'navigate→painted' seconds (benchmarks read these)
        self._nav_t0: float | None = None
        self._ai_queued = False  # this folder's images were handed to the AI worker
        self._prefetch_soon: str | None = None

        self.setWindowTitle("PneumoViewer")
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.resize(1500, 950)

        # --- centre: canvas + overlays
        self.viewer = ImageViewer(self)
        self.setCentralWidget(self.viewer)
        opacity, mode = self.settings.overlay_opacity(), self.settings.overlay_mode()
        self.ai_overlay = self.viewer.add_overlay(
            "ai", self.settings.overlay_color("ai", theme.AI_MASK_COLOR), opacity, mode, z=10
        )
        self.review_overlay = self.viewer.add_overlay(
            "review", self.settings.overlay_color("review", theme.REVIEW_MASK_COLOR), opacity, mode, z=11
        )

        # --- left: worklist
        self.worklist_model = WorklistModel(self._status_of, self)
        self.worklist = WorklistPanel(self.worklist_model, self)
        self._worklist_dock = self._dock("Worklist", self.worklist, Qt.DockWidgetArea.LeftDockWidgetArea, 430)

        # --- right: metadata, AI, overlay controls
        self.metadata = MetadataPanel(self)
        self.metadata.show_patient_identifiers = self.settings.show_patient_identifiers()
        self.metadata.set_overlay_style(opacity, mode)
        self.metadata.overlay_visible.setChecked(self.settings.overlay_visible())
        scroll = QScrollArea()
        scroll.setWidget(self.metadata)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self._info_dock = self._dock("Details", scroll, Qt.DockWidgetArea.RightDockWidgetArea, 290)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_statusbar()
        self._connect()
        self._set_masks_visible(self.settings.overlay_visible())
        self._show_model_state()
        self.review = install_review(self)  # mask editing, tool dock, review store, export/import (issue 6)
        self._restore_layout()

        self.loader = ImageLoader(parent=self)  # started with the first folder: an unused window holds no thread
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        _LIVE_WINDOWS.add(self)

    # ================================================================================================================
    # construction helpers
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, width: int) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.split()[0].lower()}")
        dock.setWidget(widget)
        feature = QDockWidget.DockWidgetFeature
        dock.setFeatures(feature.DockWidgetMovable | feature.DockWidgetFloatable | feature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        return dock

    def _action(
        self, name: str, text: str, slot: Callable[..., Any], icon: str | None = None, checkable: bool = False
    ) -> QAction:
        act = QAction(text, self)
        act.setObjectName(f"action_{name}")
        if name in BY_ACTION:
            act.setShortcuts(key_sequences(name))
            act.setToolTip(tooltip(name, text.replace("…", "").replace("&", "")))
        if icon:
            act.setIcon(theme.icon(icon))
        act.setCheckable(checkable)
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _checked=False: slot())
        self.addAction(act)
        self.actions_by_name[name] = act
        return act

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        a = self._action
        a("open", "&Open Folder…", self.choose_folder, "open")
        a("open_demo", "Open &Demo Studies", self.open_demo)
        a("quit", "&Quit", self.close)
        a("next", "&Next Image", self.next_image, "next")
        a("previous", "&Previous Image", self.previous_image, "prev")
        a("accept", "&Accept AI", self.accept_ai, "accept")
        a("negative", "Mark &Negative", self.mark_negative, "negative")
        a("flag", "&Flag", self.flag, "flag")
        a("triage", "&Triage: Sort by AI Probability", self.worklist.sort_by_probability, "triage")
        a("search", "&Search ImageId", self._focus_search)
        a("fit", "&Fit to Window", self.viewer.fit, "fit")
        a("one_to_one", "&1:1 Pixels", self.viewer.one_to_one, "one_to_one")
        a("zoom_in", "Zoom &In", lambda: self.viewer.zoom_by(1.25))
        a("zoom_out", "Zoom &Out", lambda: self.viewer.zoom_by(0.8))
        a("invert", "&Invert", self.viewer.set_inverted, "invert", checkable=True)
        a("reset", "&Reset View", self.reset_view, "reset")
        for name, preset in PRESET_ACTIONS.items():
            a(name, f"Window: {preset}", lambda p=preset: self.apply_preset(p))
        a("save_preset", "&Save Current Window as Preset…", self.save_window_preset)
        a("masks", "Show &Masks", self._set_masks_visible, "mask", checkable=True)
        a("contour", "&Contour Overlay", self._set_contour, checkable=True)
        a("run_ai", "&Run AI on Folder", self.start_inference, "ai")
        a("cancel_ai", "&Stop AI", self.cancel_inference, "stop")
        a("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "keyboard")
        a("about", "&About PneumoViewer", self._about)
        a("show_ids", "Show Patient &Key (identifier)", self._set_show_ids, checkable=True)
        self.actions_by_name["show_ids"].setChecked(self.settings.show_patient_identifiers())
        self.actions_by_name["contour"].setChecked(self.settings.overlay_mode() == "contour")
        self.actions_by_name["cancel_ai"].setEnabled(False)

    def _build_menus(self) -> None:
        act = self.actions_by_name
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(act["open"])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(act["open_demo"])
        file_menu.addSeparator()
        file_menu.addAction(act["quit"])
        view = mb.addMenu("&View")
        for name in ("fit", "one_to_one", "zoom_in", "zoom_out", None, "invert", "reset"):
            view.addSeparator() if name is None else view.addAction(act[name])
        presets = view.addMenu("Window &Presets")
        for name in PRESET_ACTIONS:
            presets.addAction(act[name])
        presets.addSeparator()
        presets.addAction(act["save_preset"])
        view.addSeparator()
        view.addAction(act["masks"])
        view.addAction(act["contour"])
        view.addSeparator()
        view.addAction(self._worklist_dock.toggleViewAction())
        view.addAction(self._info_dock.toggleViewAction())
        view.addSeparator()
        view.addAction(act["show_ids"])
        review = mb.addMenu("&Review")
        for name in ("next", "previous", None, "accept", "negative", "flag", None, "triage", "search"):
            review.addSeparator() if name is None else review.addAction(act[name])
        ai = mb.addMenu("&AI")
        ai.addAction(act["run_ai"])
        ai.addAction(act["cancel_ai"])
        help_menu = mb.addMenu("&Help")
        help_menu.addAction(act["shortcuts"])
        help_menu.addAction(act["about"])

    def _build_toolbar(self) -> None:
        act = self.actions_by_name
        tb = QToolBar("Tools", self)
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        for name in ("open", None, "previous", "next", None, "fit", "one_to_one", "invert", "reset"):
            tb.addSeparator() if name is None else tb.addAction(act[name])
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Window/level preset (F2–F6); right-drag on the image for free W/L")
        self.preset_combo.addItems(list(self._presets()))
        self.preset_combo.setCurrentText(self.settings.last_wl_preset())
        self.preset_combo.activated.connect(lambda _i: self.apply_preset(self.preset_combo.currentText()))
        tb.addWidget(self.preset_combo)
        tb.addSeparator()
        tb.addAction(act["masks"])
        tb.addSeparator()
        tb.addAction(act["triage"])
        for name in ("accept", "negative", "flag"):
            tb.addAction(act[name])
        tb.addSeparator()
        tb.addAction(act["run_ai"])
        tb.addAction(act["cancel_ai"])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.disclaimer_label = QLabel("")
        self.disclaimer_label.setObjectName("disclaimer")
        tb.addWidget(self.disclaimer_label)
        tb.addAction(act["shortcuts"])
        self.toolbar = tb

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.pos_label = QLabel("")
        self.value_label = QLabel("")
        self.mm_label = QLabel("")
        self.wl_label = QLabel("")
        self.zoom_label = QLabel("")
        for w in (self.pos_label, self.value_label, self.mm_label, self.wl_label, self.zoom_label):
            sb.addWidget(w)
        self.task_progress = QProgressBar()
        self.task_progress.setFixedWidth(160)
        self.task_progress.setVisible(False)
        self.ai_progress = QProgressBar()
        self.ai_progress.setFixedWidth(140)
        self.ai_progress.setFormat("AI %v/%m")
        self.ai_progress.setVisible(False)
        self.ai_stop = QToolButton()
        self.ai_stop.setDefaultAction(self.actions_by_name["cancel_ai"])
        self.ai_stop.setVisible(False)
        self.device_label = QLabel("AI: no model")
        self.device_label.setToolTip("Model and device the AI runs on")
        sb.addPermanentWidget(self.task_progress)
        sb.addPermanentWidget(self.ai_progress)
        sb.addPermanentWidget(self.ai_stop)
        sb.addPermanentWidget(self.device_label)

    def _connect(self) -> None:
        self.worklist.currentImageChanged.connect(self.show_image)
        self.viewer.cursorMoved.connect(self._on_cursor)
        self.viewer.cursorLeft.connect(self._clear_cursor)
        self.viewer.windowChanged.connect(self._on_window)
        self.viewer.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.viewer.imagePainted.connect(self._on_painted)
        self.viewer.invertedChanged.connect(self._sync_invert_action)
        self.metadata.overlayStyleChanged.connect(self.set_overlay_style)
        self.metadata.overlayVisibleChanged.connect(self._set_masks_visible)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    # ================================================================================================================
    # folders
    def choose_folder(self) -> None:
        start = self.settings.last_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM studies", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | os.PathLike[str]) -> None:
        """Scan `folder` in the background; the worklist fills when the scan finishes (`scanFinished`)."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            QMessageBox.warning(self, "Open folder", f"{path} is not a folder.")
            return
        self._stop_scan()
        self._reset_folder_state()
        if not self.loader.isRunning() and not self._closing:
            self.loader.start()
        self.folder = path
        self.settings.add_recent_folder(str(path))
        self.setWindowTitle(f"PneumoViewer — {path.name}")
        self.viewer.clear(f"Indexing {path} …")
        self.worklist.progress.setVisible(True)
        self.worklist.progress.setRange(0, 0)
        self.worklist.progress.setFormat("Indexing %v/%m")
        if self.run_ai and self.inference_mode == "process":
            # spawning the child briefly holds this process (fork/exec): do it now, while the user waits for the
            # index anyway, not after the first image when they are reading; it loads TensorFlow at low priority
            self._ensure_worker()
        thread = TaskThread(_scan(path), name="scan", parent=self)
        thread.progress.connect(self._on_scan_progress)
        # a result queued by a scan that was replaced meanwhile must not fill the new folder's worklist
        thread.succeeded.connect(lambda res, t=thread: self._on_scan_done(res) if t is self._scan_thread else None)
        thread.failed.connect(lambda msg, t=thread: self._on_scan_failed(msg) if t is self._scan_thread else None)
        thread.cancelled.connect(lambda: self.worklist.progress.setVisible(False))
        self._scan_thread = thread
        thread.start()
        self.folderOpened.emit(str(path))

    def open_demo(self) -> None:
        """Open the demo studies, generating them first (background, with progress) on the first run."""
        folder = demo_folder()
        if demo_ready(folder):
            self.open_folder(folder)
            return
        if self._demo_thread is not None and self._demo_thread.isRunning():
            return
        self.viewer.clear("Preparing the demo studies (first run only)…")
        self.task_progress.setVisible(True)
        self.task_progress.setRange(0, DEMO_IMAGES)
        self.task_progress.setFormat("Demo %v/%m")
        thread = TaskThread(lambda progress, cancel: generate_demo(folder, progress, cancel), "demo", self)
        thread.progress.connect(self._on_demo_progress)
        thread.succeeded.connect(self._on_demo_done)
        thread.failed.connect(lambda msg: self._task_failed("Could not create the demo studies", msg))
        self._demo_thread = thread
        thread.start()

    def _on_demo_progress(self, done: int, total: int) -> None:
        self.task_progress.setRange(0, total)
        self.task_progress.setValue(done)
        self.viewer.set_placeholder(f"Preparing the demo studies (first run only)… {done}/{total}")

    def _on_demo_done(self, folder: Any) -> None:
        self.task_progress.setVisible(False)
        self.demoReady.emit(str(folder))
        self.open_folder(folder)

    def _task_failed(self, what: str, message: str) -> None:
        self.task_progress.setVisible(False)
        self.viewer.clear(f"{what}: {message}")
        self.statusBar().showMessage(f"{what}: {message}", 10000)

    def _on_scan_progress(self, done: int, total: int) -> None:
        bar = self.worklist.progress
        bar.setRange(0, max(total, 1))
        bar.setValue(done)

    def _on_scan_failed(self, message: str) -> None:
        self.worklist.progress.setVisible(False)
        self.viewer.clear(f"Could not index {self.folder}: {message}")
        self.scanFailed.emit(message)

    def _on_scan_done(self, result: Any) -> None:
        index, first = result
        self.worklist.progress.setVisible(False)
        self.index = index
        rows = [WorklistRow(path=Path(im.path), meta=im.meta) for im in index.images]
        rows += [WorklistRow(path=Path(f.path), reason=f.reason) for f in index.failures]
        self._paths = {im.meta.image_id: Path(im.path) for im in index.images}
        if first is not None:
            self._cache[first.image_id] = first
        self.worklist_model.set_rows(rows)
        n, failed = len(index.images), len(index.failures)
        if n == 0:
            msg = f"No readable DICOM images in {self.folder}"
            self.viewer.clear(msg + (f" ({failed} files could not be read)" if failed else ""))
        else:
            self.worklist.step(+1)  # select (and show) the first image
        self.statusBar().showMessage(f"{n} images indexed" + (f", {failed} unreadable" if failed else ""), 5000)
        self.scanFinished.emit(n, failed)

    def _reset_folder_state(self) -> None:
        self.loader.clear()
        self._cache.clear()
        self._predictions.clear()
        self._ai_errors.clear()
        self._current = None
        self._shown = None
        self._ai_queued = False
        self._paths = {}
        self.index = None
        self.worklist_model.clear()
        self.metadata.set_meta(None)
        self.metadata.set_prediction(None, pending="")
        if self._inference is not None:
            self._inference.forget()
        self.ai_progress.setVisible(False)
        close = getattr(self._status_store, "close", None)
        if isinstance(self._status_store, MemoryStatusStore) and callable(close):
            close()

    def _stop_scan(self) -> None:
        if self._scan_thread is not None:
            self._scan_thread.stop()
            self._scan_thread = None

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_folders()
        for folder in recent:
            act = self.recent_menu.addAction(folder)
            act.triggered.connect(lambda _c=False, f=folder: self.open_folder(f))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self.settings.clear_recent_folders)
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # drag and drop a folder (or a file: its folder)
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = self._dropped_folder(event.mimeData())
        if folder is not None:
            event.acceptProposedAction()
            self.open_folder(folder)

    @staticmethod
    def _dropped_folder(mime: Any) -> Path | None:
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

    # ================================================================================================================
    # images
    def current_image_id(self) -> str | None:
        return self._current

    def current_image(self) -> Any:
        """The DicomImage on screen (or None)."""
        item = self._cache.get(self._shown) if self._shown else None
        return item.image if item is not None else None

    def loaded_image(self, image_id: str) -> LoadedImage | None:
        return self._cache.get(image_id)

    def image_ids(self) -> list[str]:
        """Image ids in worklist order as shown (sorted/filtered)."""
        return self.worklist.visible_image_ids()

    def next_image(self) -> None:
        self._nav_t0 = time.perf_counter()
        self.worklist.step(+1)

    def previous_image(self) -> None:
        self._nav_t0 = time.perf_counter()
        self.worklist.step(-1)

    def select_image(self, image_id: str) -> bool:
        """Select in the worklist (which shows it)."""
        return self.worklist.select_image(image_id)

    def show_image(self, image_id: str) -> None:
        """Show `image_id` now if decoded (prefetched), else as soon as the decoder delivers it."""
        if image_id not in self._paths:
            return
        if self._nav_t0 is None:
            self._nav_t0 = time.perf_counter()
        self._current = image_id
        item = self._cache.get(image_id)
        if item is not None:
            self._cache.move_to_end(image_id)
            self._display(item)
        else:
            self.statusBar().showMessage("Loading…", 2000)
            self.loader.request(image_id, self._paths[image_id], urgent=True)
        if item is not None:
            self._prefetch_soon = image_id  # decode the neighbours once this image is painted, not during the paint
        if self._inference is not None:
            ahead = self._neighbours(image_id, AI_PRIORITY_AHEAD)
            self._inference.prioritize([image_id, *ahead])

    def _neighbours(self, image_id: str, n: int) -> list[str]:
        return self.worklist.neighbour_ids(image_id, n)[0]

    def _prefetch_around(self, image_id: str) -> None:
        ahead, behind = self.worklist.neighbour_ids(image_id, PREFETCH_AHEAD, 1)
        for other in (*ahead, *behind):
            if other not in self._cache:
                self.loader.request(other, self._paths[other])

    def _on_loaded(self, image_id: str, item: LoadedImage) -> None:
        if image_id not in self._paths:
            return  # a previous folder's image
        self._cache[image_id] = item
        self._cache.move_to_end(image_id)
        keep = {self._current, *self._neighbours(self._current or "", PREFETCH_AHEAD)}
        while len(self._cache) > CACHE_IMAGES:
            victim = next((k for k in self._cache if k not in keep), None)
            if victim is None:
                break
            del self._cache[victim]
        if image_id == self._current and self._shown != image_id:
            self._prefetch_soon = image_id
            self._display(item)

    def _on_load_failed(self, image_id: str, message: str) -> None:
        if image_id == self._current:
            self.viewer.clear(f"Could not display this image:\n{message}")
            self.metadata.set_meta(None)
            self.statusBar().showMessage(f"Could not read {self._paths.get(image_id, image_id)}: {message}", 10000)

    def _display(self, item: LoadedImage) -> None:
        keep_window = self._sticky_preset is not None
        self.viewer.set_image(item.image, item.data, item.window, item.monochrome1, keep_window=keep_window)
        if self._sticky_preset is not None:
            self.viewer.apply_preset(self._sticky_preset, self._presets())
        self._shown = item.image_id
        self.metadata.set_meta(item.image.meta)
        self._show_prediction(item.image_id)  # set_image cleared every overlay; the review bridge refills its own
        self.imageShown.emit(item.image_id)

    def _on_painted(self) -> None:
        if self._shown is None:
            return
        if self._prefetch_soon is not None:
            QTimer.singleShot(0, lambda image_id=self._prefetch_soon: self._prefetch_around(image_id))
            self._prefetch_soon = None
        if self._nav_t0 is not None:
            self.timings["navigate_to_painted_s"] = time.perf_counter() - self._nav_t0
            self._nav_t0 = None
        self.imagePainted.emit(self._shown)
        if self.run_ai and not self._ai_queued and self._paths:
            self._ai_queued = True
            QTimer.singleShot(0, self.start_inference)  # after the first image is on screen, not before

    # ================================================================================================================
    # viewer controls
    def _presets(self) -> dict[str, tuple[float, float]]:
        return self.settings.wl_presets(DEFAULT_PRESETS)

    def apply_preset(self, name: str) -> None:
        self.viewer.apply_preset(name, self._presets())
        self._sticky_preset = None if name == "DICOM default" else name
        self.preset_combo.setCurrentText(name)
        self.settings.set_last_wl_preset(name)

    def save_window_preset(self, name: str | None = None) -> str | None:
        """Store the current window (in display units, so it fits every image) as a named preset."""
        if self.viewer.data is None:
            return None
        if name is None:
            name, ok = QInputDialog.getText(self, "Save window preset", "Preset name:")
            if not ok:
                return None
        name = name.strip()
        if not name or name == "Full range":
            return None
        center, width = self.viewer.display_window()
        self.settings.set_wl_preset(name, center, width)
        if self.preset_combo.findText(name) < 0:
            self.preset_combo.addItem(name)
        self.apply_preset(name)
        return name

    def reset_view(self) -> None:
        self._sticky_preset = None
        self.preset_combo.setCurrentText("DICOM default")
        self.viewer.reset()

    def _sync_invert_action(self, on: bool) -> None:
        act = self.actions_by_name["invert"]
        act.blockSignals(True)
        act.setChecked(on)
        act.blockSignals(False)

    def _on_window(self, center: float, width: float) -> None:
        self.wl_label.setText(f"C {center:.4g}  W {width:.4g}")

    def _on_cursor(self, row: float, col: float) -> None:
        item = self._cache.get(self._shown) if self._shown else None
        if item is None:
            return
        r, c = int(row), int(col)
        pixels = item.image.pixels
        self.pos_label.setText(f"x {c}  y {r}")
        if r < pixels.shape[0] and c < pixels.shape[1]:
            value = pixels[r, c]
            text = ", ".join(str(v) for v in np.ravel(value)) if np.ndim(value) else str(value)
            self.value_label.setText(f"value {text}")
        spacing = item.image.meta.pixel_spacing
        if spacing:
            self.mm_label.setText(f"{row * spacing[0]:.1f}, {col * spacing[1]:.1f} mm")
        else:
            self.mm_label.setText("")

    def _clear_cursor(self) -> None:
        for w in (self.pos_label, self.value_label, self.mm_label):
            w.setText("")

    # overlays
    def set_overlay_style(self, opacity: float, mode: str) -> None:
        for ov in (self.ai_overlay, self.review_overlay):
            ov.set_style(opacity=opacity, mode=mode)
        self.metadata.set_overlay_style(opacity, mode)
        act = self.actions_by_name["contour"]
        act.blockSignals(True)
        act.setChecked(mode == "contour")
        act.blockSignals(False)
        self.settings.set_overlay_opacity(opacity)
        self.settings.set_overlay_mode(mode)

    def _set_contour(self, on: bool) -> None:
        self.set_overlay_style(self.metadata.overlay_style()[0], "contour" if on else "fill")

    def masks_visible(self) -> bool:
        return self.ai_overlay.isVisible()

    def _set_masks_visible(self, on: bool) -> None:
        for ov in (self.ai_overlay, self.review_overlay):
            ov.setVisible(bool(on))
        for w in (self.actions_by_name["masks"], self.metadata.overlay_visible):
            w.blockSignals(True)
            w.setChecked(bool(on))
            w.blockSignals(False)
        self.settings.set_overlay_visible(bool(on))

    def toggle_masks(self) -> None:
        self._set_masks_visible(not self.masks_visible())

    # ================================================================================================================
    # review statuses
    def set_status_store(self, store: StatusStore) -> None:
        """Swap the status source (e.g. a `pneumoviewer.review.ReviewStore` for the opened folder)."""
        self._status_store = store
        self.worklist_model.set_status_source(self._status_of)

    @property
    def status_store(self) -> StatusStore:
        return self._status_store

    def _status_of(self, image_id: str) -> ReviewStatus:
        return self._status_store.status(image_id)

    def status(self, image_id: str) -> ReviewStatus:
        return self._status_of(image_id)

    def set_status(self, status: ReviewStatus, image_id: str | None = None) -> None:
        image_id = image_id or self._current
        if image_id is None:
            return
        self._status_store.set_status(image_id, status)
        self.worklist_model.status_changed(image_id)
        self.statusBar().showMessage(f"{status.value}", 1500)
        self.statusChanged.emit(image_id, status.value)

    def accept_ai(self) -> None:
        if getattr(self, "review", None) is not None:  # final mask = AI mask, in the editor and the store
            self.review.bridge.accept_ai()
            return
        if self._current is not None and self._current not in self._predictions:
            self.statusBar().showMessage("No AI result for this image yet", 3000)
            return
        self.set_status(ReviewStatus.ACCEPTED)

    def mark_negative(self) -> None:
        if getattr(self, "review", None) is not None:  # final mask = empty, in the editor and the store
            self.review.bridge.mark_negative()
            return
        self.set_status(ReviewStatus.NEGATIVE)

    def flag(self) -> None:
        if getattr(self, "review", None) is not None:
            self.review.bridge.flag()
            return
        self.set_status(ReviewStatus.FLAGGED)

    def _focus_search(self) -> None:
        self._worklist_dock.show()
        self.worklist.search.setFocus()
        self.worklist.search.selectAll()

    # ================================================================================================================
    # AI
    def has_model(self) -> bool:
        return self._engine_factory is not None or (self.bundle_dir / "manifest.json").is_file()

    def _ensure_worker(self) -> None:
        """Start the inference worker once (its process loads TensorFlow while the folder is being indexed)."""
        if self._inference is not None or self._closing or not self.has_model():
            return
        worker = InferenceWorker(self.bundle_dir, self.inference_mode, self._engine_factory, parent=self)
        worker.modelInfo.connect(self._on_model_info)
        worker.ready.connect(self._on_model_ready)
        worker.fatal.connect(self._on_model_failed)
        worker.result.connect(self._on_prediction)
        worker.error.connect(self._on_prediction_error)
        worker.progress.connect(self._on_ai_progress)
        worker.idle.connect(self._on_ai_idle)
        worker.cancelled.connect(self._on_ai_cancelled)
        self._inference = worker
        self.device_label.setText("AI: starting…")
        worker.start()

    def start_inference(self) -> None:
        """Start the worker (once) and queue every image without a result, the one on screen first."""
        if self._closing or not self._paths:
            return
        if not self.has_model():
            self._show_model_state()
            return
        self._ensure_worker()
        assert self._inference is not None
        ids = [i for i in self.worklist.visible_image_ids() if i not in self._predictions]
        ids += [i for i in self._paths if i not in self._predictions and i not in ids]
        self._inference.enqueue((i, self._paths[i]) for i in ids)
        if self._current:
            self._inference.prioritize([self._current, *self._neighbours(self._current, AI_PRIORITY_AHEAD)])
        pending = self._inference.pending()
        if pending:
            self.ai_progress.setRange(0, len(self._predictions) + len(self._ai_errors) + pending)
            self.ai_progress.setValue(len(self._predictions) + len(self._ai_errors))
            self.ai_progress.setVisible(True)
            self.ai_stop.setVisible(True)
            self.actions_by_name["cancel_ai"].setEnabled(True)

    def cancel_inference(self) -> None:
        """Stop AI for the rest of the folder (the image in progress finishes); Run AI resumes."""
        if self._inference is not None:
            self._inference.cancel()
        self.actions_by_name["cancel_ai"].setEnabled(False)
        self.ai_stop.setVisible(False)
        self.statusBar().showMessage("AI stopped for the remaining images (AI ▸ Run AI resumes)", 4000)

    @property
    def inference_worker(self) -> InferenceWorker | None:
        return self._inference

    def prediction(self, image_id: str) -> Prediction | None:
        return self._predictions.get(image_id)

    def model_info(self) -> ModelInfo | None:
        return self._model

    def _show_model_state(self) -> None:
        if not self.has_model():
            self.device_label.setText("AI: no model")
            self.device_label.setToolTip(f"No model bundle at {self.bundle_dir}; images can be reviewed without AI")
            self.metadata.set_model(None, state="no model")
            self.metadata.set_prediction(None, pending="no model")
            for name in ("run_ai", "cancel_ai"):
                self.actions_by_name[name].setEnabled(False)

    def _on_model_info(self, info: ModelInfo) -> None:
        self._model = info
        self.metadata.set_model(info, state="loading…")
        self.device_label.setText(f"AI: {info.name} v{info.version} · loading…")
        self.disclaimer_label.setText(f"AI model: {SYNTHETIC_NOTE}" if info.synthetic else "")

    def _on_model_ready(self, device: str) -> None:
        self._device = device
        info = self._model
        label = f"{info.name} v{info.version}" if info else "model"
        self.device_label.setText(f"AI: {label} · {device}")
        self.device_label.setToolTip(model_label(info) if info else "")
        self.metadata.set_model(info, device=device)
        self.modelReady.emit(device)

    def _on_model_failed(self, message: str) -> None:
        self.device_label.setText("AI: no model")
        self.device_label.setToolTip(message)
        self.metadata.set_model(None, state=f"no model — {message}")
        self.ai_progress.setVisible(False)
        self.ai_stop.setVisible(False)
        self.statusBar().showMessage(f"AI unavailable: {message}", 10000)
        self.modelFailed.emit(message)

    def _on_prediction(self, prediction: Prediction) -> None:
        image_id = prediction.image_id
        if image_id not in self._paths:
            return  # a result for the previous folder, finished after the switch
        prediction.mask_probability = None  # the map is not shown; keep memory bounded on large folders
        if prediction.mask is not None:
            prediction.mask = np.ascontiguousarray(prediction.mask, dtype=bool)
        self._predictions[image_id] = prediction
        self._ai_errors.pop(image_id, None)
        self.worklist_model.set_probability(image_id, float(prediction.probability), model_label(prediction.model))
        if image_id == self._shown:
            self._show_prediction(image_id)
        self.predictionArrived.emit(image_id, float(prediction.probability))

    def _on_prediction_error(self, image_id: str, message: str) -> None:
        if image_id not in self._paths:
            return
        self._ai_errors[image_id] = message
        self.worklist_model.set_ai_error(image_id, message)
        if image_id == self._shown:
            self._show_prediction(image_id)
        self.predictionFailed.emit(image_id, message)

    def _on_ai_progress(self, done: int, total: int) -> None:
        self.ai_progress.setRange(0, max(total, 1))
        self.ai_progress.setValue(done)
        self.worklist.update_summary()

    def _on_ai_idle(self) -> None:
        self.ai_progress.setVisible(False)
        self.ai_stop.setVisible(False)
        self.actions_by_name["cancel_ai"].setEnabled(False)
        self.worklist.update_summary()
        self.inferenceIdle.emit()

    def _on_ai_cancelled(self) -> None:
        self.ai_progress.setVisible(False)
        self.ai_stop.setVisible(False)
        self.inferenceCancelled.emit()

    def _show_prediction(self, image_id: str) -> None:
        pred = self._predictions.get(image_id)
        if pred is not None:
            self.metadata.set_prediction(pred)
            self.metadata.set_model(pred.model, device=pred.device)
            item = self._cache.get(image_id)
            mask = pred.mask
            if item is not None and mask is not None and mask.shape != item.data.shape[:2]:
                mask = None  # never draw a mask on an image of another size
            self.ai_overlay.set_mask(mask)
        elif image_id in self._ai_errors:
            self.metadata.set_ai_error(self._ai_errors[image_id])
            self.ai_overlay.set_mask(None)
        else:
            pending = "no model" if not self.has_model() else "waiting for AI…"
            if self._inference is None and self.has_model() and not self.run_ai:
                pending = "AI not run (AI ▸ Run AI)"
            self.metadata.set_prediction(None, pending=pending)
            self.ai_overlay.set_mask(None)

    # ================================================================================================================
    # misc
    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def _about(self) -> None:
        from pneumoviewer import __version__

        QMessageBox.about(
            self,
            "About PneumoViewer",
            f"<b>PneumoViewer {__version__}</b><br>Chest X-ray pneumothorax review with AI triage.<br><br>"
            "Supports a reader's decisions; does not diagnose. The bundled demo model is trained on synthetic "
            "phantom images only and is not for clinical use.",
        )

    def _set_show_ids(self, on: bool) -> None:
        self.settings.set_show_patient_identifiers(on)
        self.metadata.show_patient_identifiers = on
        item = self._cache.get(self._shown) if self._shown else None
        self.metadata.set_meta(item.image.meta if item else None)

    def save_layout(self) -> None:
        self.settings.set_window_layout(QByteArray(self.saveGeometry()), QByteArray(self.saveState()))
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop and join every worker (idempotent); called on close."""
        if self._closing:
            return
        self._closing = True
        if self._demo_thread is not None:
            self._demo_thread.stop()
        self._stop_scan()
        if self._inference is not None:
            self._inference.stop()
        self.loader.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)
