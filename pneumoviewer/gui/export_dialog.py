"""File ▸ Export… and File ▸ Import labels…: the GUI face of `pneumoviewer.review.export` / `import_csv`.

Export writes the reviewer's final masks as a SIIM CSV (train style: one row per connected component, ``-1`` for
negatives; or submission style: one merged row per image), optionally only reviewed images, plus PNG masks and DICOM
SEG objects, in a worker thread with a progress bar, through the same `review.export.export` as the CLI (the files
are byte-identical). Targets default outside the study folder; images that cannot be exported are listed.
Every queued autosave is flushed first, so the export has the last stroke. Import reads a SIIM CSV as the
starting final masks or as a reference layer; a malformed file is refused as a whole with a message
naming the file and line, and nothing is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.core.text import printable
from pneumoviewer.gui.shortcuts import key_sequences, tooltip
from pneumoviewer.gui.workers import TaskThread
from pneumoviewer.io.folder import FolderIndex
from pneumoviewer.review.export import ExportPlan, default_export_dir, export


def _path_row(edit: QLineEdit, pick: Callable[[], None]) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.clicked.connect(pick)
    row.addWidget(b)
    return row


class ExportDialog(QDialog):
    """Choose what to export; runs the export in a worker thread with a progress bar."""

    finished_export = Signal(object)  # the summary dict
    failed_export = Signal(str)

    def __init__(self, bridge: Any, index: FolderIndex | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export reviewed masks")
        self.setObjectName("export_dialog")
        self.bridge = bridge
        self.index = index
        self.thread: TaskThread | None = None
        self.summary: dict[str, Any] | None = None
        study = bridge.store.folder if bridge.store is not None and bridge.store.folder else Path.home()
        folder = default_export_dir(study)  # outside the study folder: the index never meets what we wrote
        self.csv_check = QCheckBox("SIIM CSV")
        self.csv_check.setChecked(True)
        self.csv_path = QLineEdit(str(Path(folder) / "reviewed-rle.csv"))
        self.style = QComboBox()
        self.style.addItem("Training (one row per lesion, -1 for negatives)", "train")
        self.style.addItem("Submission (one merged row per image)", "submission")
        self.only_reviewed = QCheckBox("Only reviewed images (accepted, corrected, negative)")
        self.only_reviewed.setChecked(True)
        self.png_check = QCheckBox("PNG masks")
        self.png_dir = QLineEdit(str(Path(folder) / "masks-png"))
        self.seg_check = QCheckBox("DICOM SEG")
        self.seg_dir = QLineEdit(str(Path(folder) / "masks-seg"))
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow(self.csv_check, _path_row(self.csv_path, self._pick_csv))
        form.addRow("CSV style", self.style)
        form.addRow(self.png_check, _path_row(self.png_dir, lambda: self._pick_dir(self.png_dir)))
        form.addRow(self.seg_check, _path_row(self.seg_dir, lambda: self._pick_dir(self.seg_dir)))
        form.addRow("", self.only_reviewed)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("export_start")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addWidget(self.buttons)

    def _pick_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", self.csv_path.text(), "CSV files (*.csv)")
        if path:
            self.csv_path.setText(path)

    def _pick_dir(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder", edit.text())
        if path:
            edit.setText(path)

    def start(self) -> None:
        """Flush the autosave queue, then export in a worker thread."""
        if self.thread is not None and self.thread.isRunning():
            return
        store = self.bridge.store
        if store is None:
            self._fail("No folder is open.")
            return
        csv = self.csv_path.text().strip() if self.csv_check.isChecked() else None
        png = self.png_dir.text().strip() if self.png_check.isChecked() else None
        seg = self.seg_dir.text().strip() if self.seg_check.isChecked() else None
        if not (csv or png or seg):
            self._fail("Choose at least one output (CSV, PNG or SEG).")
            return
        self.bridge.flush()
        plan = ExportPlan(csv=Path(csv) if csv else None, style=str(self.style.currentData()),
                          png=Path(png) if png else None, seg=Path(seg) if seg else None,
                          only_reviewed=self.only_reviewed.isChecked())
        index = self.index

        def job(progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> dict[str, Any]:
            results = export(store, plan, index, progress=progress, cancel=cancel)
            return {part: res.as_dict() for part, res in results.items()}

        self.export_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.result_label.setText("Exporting…")
        t = TaskThread(job, "export", self)
        t.progress.connect(self._on_progress)
        t.succeeded.connect(self._on_done)
        t.failed.connect(self._fail)
        self.thread = t
        t.start()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_done(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        lines = []
        for part in ("csv", "png", "seg"):
            if part in summary:
                s = summary[part]
                lines.append(f"{part.upper()}: {s['images']} images ({s['positives']} positive, {s['negatives']} "
                             f"negative), {s.get('rows', 0) if part == 'csv' else s['files']} "
                             f"{'rows' if part == 'csv' else 'files'}")
        for part, s in summary.items():
            for image_id, reason in list(s["skipped"].items())[:5]:
                lines.append(f"{part.upper()} skipped {printable(image_id)}: {printable(reason)}")
            if len(s["skipped"]) > 5:
                lines.append(f"{part.upper()} skipped {len(s['skipped']) - 5} more")
        self.result_label.setText("Done. " + "; ".join(lines))
        self.finished_export.emit(summary)

    def _fail(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.result_label.setText(f"Export failed: {message}")
        self.failed_export.emit(message)

    def done(self, r: int) -> None:
        if self.thread is not None and self.thread.isRunning():
            self.thread.wait()
        super().done(r)


class ExportController(QObject):
    """The File menu actions: Export… and Import labels…"""

    imported = Signal(object)  # ImportResult.as_dict()
    importFailed = Signal(str)

    def __init__(self, window: QMainWindow, bridge: Any) -> None:
        super().__init__(window)
        self.window = window
        self.bridge = bridge
        self.dialog: ExportDialog | None = None
        self.message_box: QMessageBox | None = None
        self._import_thread: TaskThread | None = None
        self.export_action = QAction("&Export Masks…", window)
        self.export_action.setObjectName("action_export")
        self.export_action.setShortcuts(key_sequences("export"))  # keys live in gui/shortcuts.py only
        self.export_action.setToolTip(tooltip("export"))
        self.export_action.triggered.connect(lambda _c=False: self.open_export())
        self.import_action = QAction("&Import Labels (CSV)…", window)
        self.import_action.setObjectName("action_import")
        self.import_action.setToolTip("Import a SIIM CSV as starting masks or as a reference layer")
        self.import_action.triggered.connect(lambda _c=False: self.import_labels())
        window.addAction(self.export_action)
        window.addAction(self.import_action)

    def _sizes(self) -> dict[str, tuple[int, int]]:
        index = self.bridge.index  # the session's folder index (None before a folder is indexed)
        return {im.meta.image_id: (int(im.meta.rows), int(im.meta.columns)) for im in (index.images if index else [])}

    def open_export(self) -> ExportDialog | None:
        if self.bridge.store is None:
            self._message("Export", "Open a folder first: the export writes that folder's reviewed masks.")
            return None
        self.dialog = ExportDialog(self.bridge, self.bridge.index, self.window)
        self.dialog.open()
        return self.dialog

    def _message(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("import_export_message")
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.message_box = box
        return box

    def import_labels(self, path: str | os.PathLike[str] | None = None, layer: str | None = None) -> None:
        """Import a SIIM CSV (asks for the file and the layer when not given); runs in a worker thread."""
        if self.bridge.store is None:
            self._message("Import labels", "Open a folder first: labels are imported into its review store.")
            return
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.window, "Import labels (SIIM CSV)", "", "CSV (*.csv);;All (*)")
            if not chosen:
                return
            path = chosen
        if layer is None:
            ask = QMessageBox(QMessageBox.Icon.Question, "Import labels",
                              f"Import {Path(path).name} as…", QMessageBox.StandardButton.Cancel, self.window)
            start = ask.addButton("Starting masks (to refine)", QMessageBox.ButtonRole.AcceptRole)
            ref = ask.addButton("Reference layer (compare)", QMessageBox.ButtonRole.AcceptRole)
            ask.exec()
            if ask.clickedButton() is start:
                layer = "final"
            elif ask.clickedButton() is ref:
                layer = "reference"
            else:
                return
        self.bridge.flush()
        store, sizes, csv_path, chosen_layer = self.bridge.store, self._sizes(), Path(path), layer

        def job(_progress: Callable[[int, int], None], _cancel: Callable[[], bool]) -> Any:
            from pneumoviewer.review.import_csv import import_csv

            return import_csv(store, csv_path, sizes, layer=chosen_layer)

        t = TaskThread(job, "import", self)
        t.succeeded.connect(lambda res: self._imported(res, csv_path, chosen_layer))
        t.failed.connect(lambda msg: self._import_failed(msg, csv_path))
        self._import_thread = t
        t.start()

    def _imported(self, result: Any, path: Path, layer: str) -> None:
        info = result.as_dict()
        self.bridge.after_import(layer)
        extra = f", {info['not_in_folder']} images not in this folder" if info["not_in_folder"] else ""
        what = "starting masks" if layer == "final" else "reference layer"
        self.window.statusBar().showMessage(f"Imported {path.name} as {what}: {info['images']} images{extra}", 8000)
        self.imported.emit(info)

    def _import_failed(self, message: str, path: Path) -> None:
        text = message if path.name in message else f"{path}: {message}"
        self._message("Could not import labels", f"Nothing was imported.\n\n{text}")
        self.importFailed.emit(text)

    def wait(self) -> None:
        """Join a running import/export (window close)."""
        for t in (self._import_thread, self.dialog.thread if self.dialog is not None else None):
            if t is not None and t.isRunning():
                t.wait()
