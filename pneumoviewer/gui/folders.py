"""Opening folders: the background scan (and the demo studies, generated on first run), then the worklist.

`open_folder` opens the folder's review store in the session at once and indexes the folder in a thread. The rows
stream in while the scan runs (issue 13: a 12,000-image folder shows its first image in a second or two, not after
the whole index): the scan thread hands each indexed image to a `Batches` relay, and the GUI thread takes them
at most every `SCAN_BATCH_MS` (at most `SCAN_BATCH_MAX` per turn), adds them to the session and appends them to the
worklist (with the AI probabilities the store kept from earlier sessions). The first image opens with the first
batch; the image the reviewer was on when the folder was last closed is opened when it arrives, unless the reviewer
has moved meanwhile (their choice wins). Unreadable files are listed at the end, when the scan is done, which only
completes the session's index (`ReviewSession.set_index`) and says how many were indexed.
"""

from __future__ import annotations

import gc
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
from pneumoviewer.gui.workers import Batches, CancelFn, ProgressFn, TaskThread
from pneumoviewer.gui.worklist import WorklistModel, WorklistPanel, WorklistRow
from pneumoviewer.review.session import ReviewSession

SCAN_BATCH_MS = 250  # streamed rows join the worklist at most this often (the first ones at once): each batch
# repaints the table (~20-50 ms of GUI thread), 4/s leaves the scan most of the GIL ...
SCAN_BATCH_MAX = 500  # ... and at most this many per turn of the event loop (~20-50 ms of GUI work)
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


def _scan(folder: Path, on_item: Callable[[Any], None]) -> Callable[[ProgressFn, CancelFn], Any]:
    """Index the folder, handing each image or failure to `on_item` as soon as it is known (any thread)."""

    def run(progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Any:
        from pneumoviewer.io.folder import scan_folder

        return scan_folder(folder, progress=progress, cancel=cancel, on_item=on_item)

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
        self._batches: Batches | None = None
        self._auto_selected: str | None = None  # the image opened for the reviewer (not chosen by them)
        self.demo_thread: TaskThread | None = None

    def choose_folder(self) -> None:
        start = self.settings.last_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self._parent, "Open a folder of DICOM studies", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | os.PathLike[str]) -> None:
        """Scan `folder` in the background; rows stream into the worklist, `scanFinished` when the index is done."""
        path = Path(folder).expanduser()
        if not path.is_dir():
            QMessageBox.warning(self._parent, "Open folder", f"{path} is not a folder.")
            return
        self._stop_scan()
        self.folderClosing.emit()
        self.worklist_model.clear()
        self.nav.start()
        self.session.open_folder(path)
        gc.unfreeze()  # the previous folder's objects are ordinary garbage again (see _index_done)
        self.folder = path
        self._auto_selected = None
        self.settings.add_recent_folder(str(path))
        self.nav.viewer.clear(f"Indexing {path} …")
        bar = self.worklist.progress
        bar.setVisible(True)
        bar.setRange(0, 0)
        bar.setFormat("Indexing %v/%m")
        self._on_open(path)
        # items and results queued by a scan that was replaced meanwhile must not reach the new folder's worklist
        batches = Batches(lambda items: self._on_items(items) if batches is self._batches else None,
                          SCAN_BATCH_MS, SCAN_BATCH_MAX, parent=self)
        thread = TaskThread(_scan(path, batches.put), name="scan", parent=self)
        thread.progress.connect(self._on_scan_progress)
        thread.succeeded.connect(lambda res, t=thread: self._on_scan_done(res) if t is self._scan_thread else None)
        thread.failed.connect(lambda msg, t=thread: self._on_scan_failed(msg) if t is self._scan_thread else None)
        thread.cancelled.connect(lambda: self.worklist.progress.setVisible(False))
        self._scan_thread, self._batches = thread, batches
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
        """Stop and join the scan and demo threads (window close); the folder's objects become collectable again."""
        if self.demo_thread is not None:
            self.demo_thread.stop()
        self._stop_scan()
        gc.unfreeze()

    # ------------------------------------------------------------------------------------------------ threads
    def _stop_scan(self) -> None:
        if self._scan_thread is not None:
            self._scan_thread.stop()
            self._scan_thread = None
        if self._batches is not None:
            self._batches.clear()
            self._batches.deleteLater()
            self._batches = None

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
        if self.nav.shown is None:
            self.nav.viewer.clear(f"Could not index {self.folder}: {message}")
        self._message(f"Could not index {self.folder}: {message}", 10000)
        self.scanFailed.emit(message)

    def _on_items(self, items: list[Any]) -> None:
        """A batch of the running scan: images join the session and the worklist; failures wait for the end."""
        images = [item for item in items if getattr(item, "meta", None) is not None]
        if not images:
            return
        self.session.add_images(images)
        rows = []
        for im in images:
            row = WorklistRow(path=Path(im.path), meta=im.meta)
            s = self.session.prediction(im.meta.image_id)
            if s is not None:  # a reopened folder shows the last session's probabilities until the AI reruns
                row.probability, row.model_label, row.model = s.probability, s.model.label, s.model
            rows.append(row)
        self.worklist_model.append_rows(rows)
        gc.freeze()  # as in _index_done: the rows so far stay out of the collector's full passes while more arrive
        self._open_start()

    def _open_start(self) -> None:
        """Open the image to start from: where the reviewer left off once it is indexed (unless they moved since),
        else the first image on screen as soon as there is one."""
        current = self.worklist.current_image_id()
        saved = self.session.take_saved_position()
        if saved is not None and saved != current and current == self._auto_selected:
            self._auto_selected = saved if self.worklist.select_image(saved) else self._auto_selected
        elif current is None:
            self._auto_selected = self.worklist.step(+1)

    def _on_scan_done(self, index: Any) -> None:
        batches = self._batches
        if batches is not None:
            batches.finish(lambda: self._index_done(index) if batches is self._batches else None)

    def _index_done(self, index: Any) -> None:
        """Every streamed image is listed: complete the session's index, list the failures, say how many."""
        self.worklist.progress.setVisible(False)
        self.session.set_index(index)
        # the folder's objects (a 12,000-image index: ~250,000) live until the folder closes: moved out of the cyclic
        # collector's sight, so that a full collection during an AI burst does not re-scan them on the GUI thread
        # (~130 ms at 12k); unfrozen when the next folder opens
        gc.freeze()
        self.worklist_model.append_rows(WorklistRow(path=Path(f.path), reason=f.reason) for f in index.failures)
        n, failed = len(index.images), len(index.failures)
        if n == 0:
            msg = f"No readable DICOM images in {self.folder}"
            self.nav.viewer.clear(msg + (f" ({failed} files could not be read)" if failed else ""))
        else:
            self._open_start()
        self._message(f"{n} images indexed" + (f", {failed} unreadable" if failed else ""), 5000)
        self.scanFinished.emit(n, failed)
