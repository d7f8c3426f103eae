"""Opening folders: the background scan (and the demo studies, generated on first run), then the worklist.

`open_folder` opens the folder's review store in the session at once and indexes the folder in a thread, which also
decodes the first image (cold start: one hand-off fewer). When the index is ready the session gets it, the worklist
fills (with the AI probabilities the store kept from earlier sessions) and the reviewer lands where they left off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QProgressBar, QWidget

from pneumoviewer.core.paths import source_root, user_data_dir
from pneumoviewer.core.types import Cancelled
from pneumoviewer.gui.navigation import Navigator
from pneumoviewer.gui.settings import Settings
from pneumoviewer.gui.workers import TaskThread, load_for_display
from pneumoviewer.gui.worklist import WorklistModel, WorklistPanel, WorklistRow
from pneumoviewer.review.session import ReviewSession

DEMO_IMAGES = 24
DEMO_SIZE = 1024
DEMO_SEED = 0
DEMO_POSITIVE_RATE = 0.35
# what `.complete` says; demo studies written by an older generator (without the phantom mark, which the
# synthetic-model guard reads) do not match it and are regenerated in place (same UIDs, so reviews are kept)
DEMO_STAMP = f"n={DEMO_IMAGES} size={DEMO_SIZE} seed={DEMO_SEED} phantom-mark=1\n"


def demo_folder() -> Path:
    """Where the demo studies are: shipped next to the package if present, else generated into user data."""
    shipped = source_root() / "demo"
    if (shipped / ".complete").is_file():
        return shipped
    return user_data_dir() / "demo"


def demo_ready(folder: Path) -> bool:
    try:
        return (folder / ".complete").read_text(encoding="utf-8") == DEMO_STAMP
    except OSError:
        return False


def generate_demo(folder: Path, progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Path:
    """Write the demo phantom studies (deterministic) and mark them complete; cancellable between images."""
    from pneumoviewer.phantom import generate_dataset

    def step(done: int, total: int) -> None:
        if cancel():
            raise Cancelled("demo generation cancelled")
        progress(done, total)

    folder.mkdir(parents=True, exist_ok=True)
    generate_dataset(
        folder, DEMO_IMAGES, seed=DEMO_SEED, size=DEMO_SIZE, positive_rate=DEMO_POSITIVE_RATE, progress=step
    )
    (folder / ".complete").write_text(DEMO_STAMP, encoding="utf-8")
    return folder


def _scan(folder: Path) -> Callable[[Callable[[int, int], None], Callable[[], bool]], Any]:
    """Index the folder, then decode its first image in the same thread."""

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


class FolderController(QObject):
    """Opens folders and the demo; owns the scan and demo threads (stopped on close)."""

    folderOpened = Signal(str)
    folderClosing = Signal()  # the session is about to close the open folder (threads reading it stop first)
    scanFinished = Signal(int, int)  # images, unreadable files
    scanFailed = Signal(str)
    demoReady = Signal(str)

    def __init__(
        self,
        session: ReviewSession,
        nav: Navigator,
        worklist: WorklistPanel,
        worklist_model: WorklistModel,
        settings: Settings,
        task_progress: QProgressBar,
        message: Callable[[str, int], None],
        on_open: Callable[[Path], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.nav = nav
        self.worklist = worklist
        self.worklist_model = worklist_model
        self.settings = settings
        self.task_progress = task_progress
        self._message = message
        self._on_open = on_open
        self._parent = parent
        self.folder: Path | None = None
        self._scan_thread: TaskThread | None = None
        self.demo_thread: TaskThread | None = None

    def choose_folder(self) -> None:
        start = self.settings.last_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self._parent, "Open a folder of DICOM studies", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | os.PathLike[str]) -> None:
        """Scan `folder` in the background; the worklist fills when the scan finishes (`scanFinished`)."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            QMessageBox.warning(self._parent, "Open folder", f"{path} is not a folder.")
            return
        self._stop_scan()
        self.folderClosing.emit()
        self.worklist_model.clear()
        self.nav.start()
        self.session.open_folder(path)
        self.folder = path
        self.settings.add_recent_folder(str(path))
        self.nav.viewer.clear(f"Indexing {path} …")
        bar = self.worklist.progress
        bar.setVisible(True)
        bar.setRange(0, 0)
        bar.setFormat("Indexing %v/%m")
        self._on_open(path)
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
        if self.demo_thread is not None and self.demo_thread.isRunning():
            return
        self.nav.viewer.clear("Preparing the demo studies (first run only)…")
        self.task_progress.setVisible(True)
        self.task_progress.setRange(0, DEMO_IMAGES)
        self.task_progress.setFormat("Demo %v/%m")
        thread = TaskThread(lambda progress, cancel: generate_demo(folder, progress, cancel), "demo", self)
        thread.progress.connect(self._on_demo_progress)
        thread.succeeded.connect(self._on_demo_done)
        thread.failed.connect(self._on_demo_failed)
        self.demo_thread = thread
        thread.start()

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = self.settings.recent_folders()
        for folder in recent:
            act = menu.addAction(folder)
            act.triggered.connect(lambda _c=False, f=folder: self.open_folder(f))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear", self.settings.clear_recent_folders)
        else:
            menu.addAction("(none)").setEnabled(False)

    def stop(self) -> None:
        """Stop and join the scan and demo threads (window close)."""
        if self.demo_thread is not None:
            self.demo_thread.stop()
        self._stop_scan()

    # ------------------------------------------------------------------------------------------------ threads
    def _stop_scan(self) -> None:
        if self._scan_thread is not None:
            self._scan_thread.stop()
            self._scan_thread = None

    def _on_demo_progress(self, done: int, total: int) -> None:
        self.task_progress.setRange(0, total)
        self.task_progress.setValue(done)
        self.nav.viewer.set_placeholder(f"Preparing the demo studies (first run only)… {done}/{total}")

    def _on_demo_done(self, folder: Any) -> None:
        self.task_progress.setVisible(False)
        self.demoReady.emit(str(folder))
        self.open_folder(folder)

    def _on_demo_failed(self, message: str) -> None:
        self.task_progress.setVisible(False)
        self.nav.viewer.clear(f"Could not create the demo studies: {message}")
        self._message(f"Could not create the demo studies: {message}", 10000)

    def _on_scan_progress(self, done: int, total: int) -> None:
        self.worklist.progress.setRange(0, max(total, 1))
        self.worklist.progress.setValue(done)

    def _on_scan_failed(self, message: str) -> None:
        self.worklist.progress.setVisible(False)
        self.nav.viewer.clear(f"Could not index {self.folder}: {message}")
        self.scanFailed.emit(message)

    def _on_scan_done(self, result: Any) -> None:
        index, first = result
        self.worklist.progress.setVisible(False)
        self.session.set_index(index)
        stored = self.session.predictions()
        rows = []
        for im in index.images:
            row = WorklistRow(path=Path(im.path), meta=im.meta)
            s = stored.get(im.meta.image_id)
            if s is not None:  # a reopened folder shows the last session's probabilities until the AI reruns
                row.probability, row.model_label, row.model = s.probability, s.model.label, s.model
            rows.append(row)
        rows += [WorklistRow(path=Path(f.path), reason=f.reason) for f in index.failures]
        self.nav.seed(first)
        self.worklist_model.set_rows(rows)
        n, failed = len(index.images), len(index.failures)
        if n == 0:
            msg = f"No readable DICOM images in {self.folder}"
            self.nav.viewer.clear(msg + (f" ({failed} files could not be read)" if failed else ""))
        else:
            saved = self.session.take_saved_position()
            if saved is None or not self.worklist.select_image(saved):
                self.worklist.step(+1)  # select (and show) the first image
        self._message(f"{n} images indexed" + (f", {failed} unreadable" if failed else ""), 5000)
        self.scanFinished.emit(n, failed)
