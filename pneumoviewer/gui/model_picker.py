"""AI ▸ Model…: every bundle on this machine, what it was trained on, how it scored, its model card.

The list comes from :func:`pneumoviewer.inference.catalog.find_bundles` (shipped and user bundles); a synthetic
bundle is marked as such in the list itself, so nobody picks the phantom-trained demo model for real films without
seeing it. Broken bundles are listed greyed with the reason and cannot be chosen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.inference.catalog import BundleEntry, find_bundles

_PATH_ROLE = Qt.ItemDataRole.UserRole


def _figures(entry: BundleEntry) -> str:
    parts = []
    for task, keys in (("classifier", ("auc", "accuracy")), ("segmenter", ("dice", "loss"))):
        v = entry.validation.get(task, {})
        shown = [f"{k} {float(v[k]):.3f}" for k in keys if isinstance(v.get(k), (int, float))]
        if shown:
            parts.append(f"{task}: " + ", ".join(shown))
    return "; ".join(parts) or "no validation figures in the manifest"


def list_text(entry: BundleEntry) -> str:
    """One list row: name and version, then what it was trained on (loud for synthetic bundles)."""
    if not entry.usable:
        return f"{entry.path.name} — cannot be used"
    assert entry.info is not None
    kind = "SYNTHETIC phantoms only" if entry.info.synthetic else "real radiographs"
    return f"{entry.info.name} {entry.info.version} — {kind} ({entry.origin})"


class ModelPickerDialog(QDialog):
    """Choose the bundle for the open folder; :meth:`chosen` is the bundle folder after ``accept()``."""

    bundle_chosen = Signal(str)

    def __init__(self, current: Path | None = None, bundles: list[BundleEntry] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("AI model")
        self.resize(880, 560)
        self._entries: dict[str, BundleEntry] = {}
        self.list = QListWidget()
        self.list.setObjectName("modelList")
        self.details = QLabel()
        self.details.setObjectName("modelDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.card = QTextBrowser()
        self.card.setObjectName("modelCard")
        self.card.setOpenExternalLinks(False)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.details)
        rl.addWidget(self.card, 1)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([300, 580])
        self.add_button = QPushButton("Add bundle folder…")
        self.add_button.clicked.connect(self._add_folder)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The model runs on every image of this folder; the choice is remembered per folder. "
                                "AI results support a reader's decisions; they are not a diagnosis."))
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self.list.currentItemChanged.connect(self._show)
        self._fill(bundles if bundles is not None else find_bundles(), current)

    def _fill(self, bundles: list[BundleEntry], current: Path | None) -> None:
        self.list.clear()
        self._entries.clear()
        select = None
        for entry in bundles:
            key = str(entry.path)
            self._entries[key] = entry
            item = QListWidgetItem(list_text(entry))
            item.setData(_PATH_ROLE, key)
            if not entry.usable:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(entry.error)
            elif entry.info is not None and entry.info.synthetic:
                item.setForeground(Qt.GlobalColor.darkYellow)
            self.list.addItem(item)
            if entry.usable and current is not None and Path(key).resolve() == Path(current).resolve():
                select = item
        if select is None:
            select = next((self.list.item(i) for i in range(self.list.count())
                           if self._entries[self.list.item(i).data(_PATH_ROLE)].usable), None)
        if select is not None:
            self.list.setCurrentItem(select)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(select is not None)

    def _show(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        entry = self._entries.get(item.data(_PATH_ROLE)) if item is not None else None
        if entry is None or entry.info is None:
            self.details.setText("")
            self.card.setPlainText("")
            return
        warn = ("<p style='color:#e0a030'><b>Trained on synthetic phantoms only: it has never seen a real "
                "radiograph. Not for clinical use.</b></p>") if entry.info.synthetic else (
                "<p>Trained on real radiographs. Research use only; not a diagnostic device.</p>")
        self.details.setText(
            f"<b>{entry.info.name}</b> {entry.info.version}<br>training data: {entry.training_data}<br>"
            f"validation: {_figures(entry)}<br>sha256 {entry.sha256[:16]}…<br>{entry.path}{warn}")
        self.card.setMarkdown(entry.card_text())

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model bundle folder")
        if folder:
            self.add_bundle(Path(folder))

    def add_bundle(self, folder: Path) -> None:
        """Add a bundle folder the user names (listed even when broken, with the reason) and select it."""
        current = [self._entries[self.list.item(i).data(_PATH_ROLE)] for i in range(self.list.count())]
        self._fill(find_bundles(extra=[folder]) if not any(e.path == folder for e in current) else current, folder)

    def chosen(self) -> Path | None:
        item = self.list.currentItem()
        if item is None or not self._entries[item.data(_PATH_ROLE)].usable:
            return None
        return Path(item.data(_PATH_ROLE))

    def accept(self) -> None:
        path = self.chosen()
        if path is None:
            return
        self.bundle_chosen.emit(str(path))
        super().accept()
