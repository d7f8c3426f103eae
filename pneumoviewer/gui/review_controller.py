"""The review session on screen: the image's facts, AI result, reviewer mask and reference layer; A / N / F keys.

Decisions live in `pneumoviewer.review.ReviewSession`; this controller only shows them and forwards the keys.
`SessionSignals` turns the session's events into Qt signals (events from the writer thread arrive queued on the
GUI thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from pneumoviewer.gui.domain_guard import ai_caveat
from pneumoviewer.gui.editing_controller import EditingController
from pneumoviewer.gui.layers import LayerController
from pneumoviewer.gui.metadata_panel import MetadataPanel
from pneumoviewer.gui.navigation import Navigator
from pneumoviewer.gui.worklist import WorklistModel
from pneumoviewer.review.session import (
    AiFailed,
    AiModelChanged,
    DocumentReplaced,
    Event,
    IndexChanged,
    LabelsImported,
    PredictionAdded,
    ReviewSession,
    Saved,
    SaveFailed,
    StatusChanged,
    StoreFailed,
    StoreOpened,
)


class SessionSignals(QObject):
    """The session's events as signals (one per kind), safe to emit from the writer thread."""

    indexChanged = Signal(int)  # images: the folder index is set (the session knows every image's header)
    storeOpened = Signal(str, bool, str)  # store path, read-only, why (or what was repaired)
    storeFailed = Signal(str)  # message
    statusChanged = Signal(str, str)  # image_id, status value
    predictionAdded = Signal(object)  # AiSummary
    aiModelChanged = Signal()  # another model is in use: the session holds its results
    aiFailed = Signal(str, str)
    documentReplaced = Signal(str)
    labelsImported = Signal(str)  # layer
    saved = Signal(str, str)  # image_id, kind — a write is durable
    saveFailed = Signal(str)

    def __init__(self, session: ReviewSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        session.subscribe(self._emit)

    def _emit(self, event: Event) -> None:
        match event:
            case StoreOpened(path, read_only, message):
                self.storeOpened.emit(str(path), read_only, message)
            case IndexChanged(n_images, _predictions):
                self.indexChanged.emit(n_images)
            case StoreFailed(_folder, message):
                self.storeFailed.emit(message)
            case StatusChanged(image_id, status, _comment):
                self.statusChanged.emit(image_id, status.value)
            case PredictionAdded(summary):
                self.predictionAdded.emit(summary)
            case AiModelChanged():
                self.aiModelChanged.emit()
            case AiFailed(image_id, message):
                self.aiFailed.emit(image_id, message)
            case DocumentReplaced(image_id, _doc):
                self.documentReplaced.emit(image_id)
            case LabelsImported(layer):
                self.labelsImported.emit(layer)
            case Saved(image_id, kind):
                self.saved.emit(image_id, kind)
            case SaveFailed(message):
                self.saveFailed.emit(message)


class ReviewController(QObject):
    """Shows the session's state for the image on screen and forwards the review keys (see module docstring)."""

    def __init__(
        self,
        session: ReviewSession,
        signals: SessionSignals,
        nav: Navigator,
        editor: EditingController,
        worklist_model: WorklistModel,
        metadata: MetadataPanel,
        layers: LayerController,
        message: Callable[[str, int], None],
        ai_pending: Callable[[], str],
        confirm_accept: Callable[[str], bool] = lambda _image_id: True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.signals = signals
        self.nav = nav
        self.editor = editor
        self.worklist_model = worklist_model
        self.metadata = metadata
        self.layers = layers
        self.ai_overlay = layers.ai
        self._message = message
        self._ai_pending = ai_pending
        self._confirm_accept = confirm_accept
        self._parent = parent
        self.ask_comment: Callable[[str], str | None] = self._ask_comment_dialog
        self.auto_advance = True
        worklist_model.set_status_source(session.status, session.comment, session.review_history)
        nav.imageShown.connect(self.show)
        nav.loadFailed.connect(lambda _i, msg: (self.metadata.set_meta(None), message(f"Could not read: {msg}", 10000)))
        signals.statusChanged.connect(self._on_status)
        signals.saved.connect(lambda image_id, _kind: self._show_record(image_id))
        metadata.editCommentRequested.connect(self.edit_comment)
        signals.predictionAdded.connect(self._on_prediction)
        signals.aiModelChanged.connect(self._on_ai_model)
        signals.aiFailed.connect(self._on_ai_error)
        signals.documentReplaced.connect(self._on_document_replaced)
        signals.labelsImported.connect(self._on_import)
        signals.storeFailed.connect(lambda m: message(f"Review store unavailable ({m}); edits are NOT saved", 15000))
        signals.saveFailed.connect(self._on_save_failed)
        self._save_box: QMessageBox | None = None

    def _on_save_failed(self, text: str) -> None:
        """A write the disk refused: the change is kept (in order) by the store; say so where it cannot be missed
        and offer a retry. One dialog at a time (a full disk refuses every stroke); never a blocking exec()."""
        self._message(f"NOT SAVED: {text}", 0)
        if self._save_box is not None:
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Review not saved",
                          f"{text}\n\nYour changes are kept in memory, in order, and nothing is dropped. Free some "
                          "disk space (or fix the folder's permissions), then press Retry. Closing the window "
                          "asks again while changes are unsaved.", parent=self._parent)
        retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)

        def done(_result: int) -> None:
            self._save_box = None
            if box.clickedButton() is retry:
                self.session.retry_unsaved()

        box.finished.connect(done)
        self._save_box = box
        box.open()

    # ------------------------------------------------------------------------------------------------ showing
    def show(self, image_id: str) -> None:
        """The viewer now holds `image_id`: facts, AI result, the reviewer's document, the reference layer."""
        image = self.nav.current_image()
        self.metadata.set_meta(image.meta if image is not None else None)
        self.show_prediction(image_id)
        self._load_document(image_id)
        self._show_reference(image_id)
        self._show_record(image_id)

    def _show_record(self, image_id: str) -> None:
        """The review record in the details (after each durable save, so the journal has the change)."""
        if image_id == self.nav.shown:
            self.metadata.set_record(self.session.review_history(image_id))

    def show_prediction(self, image_id: str) -> None:
        summary = self.session.prediction(image_id)
        error = self.session.ai_error(image_id)
        if summary is not None:
            self.metadata.set_prediction(summary, caveat=ai_caveat(summary.model, self.session.meta(image_id)))
            self.metadata.set_model(summary.model, device=summary.device)
            mask = self.session.ai_mask(image_id)
            data = self.nav.viewer.data
            if mask is not None and data is not None and mask.shape != data.shape[:2]:
                mask = None  # never draw a mask on an image of another size
            self.ai_overlay.set_mask(mask)
        elif error is not None:
            self.metadata.set_ai_error(error)
            self.ai_overlay.set_mask(None)
        else:
            self.metadata.set_prediction(None, pending=self._ai_pending())
            self.ai_overlay.set_mask(None)
        self.layers.refresh()

    def _load_document(self, image_id: str) -> None:
        data = self.nav.viewer.data
        doc = self.session.document(image_id)
        if doc is None or data is None or doc.shape != tuple(data.shape[:2]):
            self.editor.set_document(None)
            return
        image = self.nav.current_image()
        self.editor.set_document(doc, getattr(getattr(image, "meta", None), "pixel_spacing", None))

    def _show_reference(self, image_id: str) -> None:
        ref = self.session.reference_mask(image_id)
        data = self.nav.viewer.data
        fits = ref is not None and data is not None and ref.shape == tuple(data.shape[:2])
        self.layers.set_reference(ref if fits else None)

    # ------------------------------------------------------------------------------------------------ events
    def _on_status(self, image_id: str, status: str) -> None:
        self.worklist_model.status_changed(image_id)
        self._message(status, 1500)
        self._show_record(image_id)

    def _on_prediction(self, summary: Any) -> None:
        self.worklist_model.set_probability(summary.image_id, summary.probability, summary.model)
        if summary.image_id == self.nav.shown:
            self.show_prediction(summary.image_id)

    def _on_ai_model(self) -> None:
        """AI ▸ Model… switched: every row shows the new model's result (or none yet), and so does the image."""
        self.worklist_model.set_predictions(self.session.predictions())
        if self.nav.shown is not None:
            self.show_prediction(self.nav.shown)

    def _on_ai_error(self, image_id: str, message: str) -> None:
        self.worklist_model.set_ai_error(image_id, message)
        if image_id == self.nav.shown:
            self.show_prediction(image_id)

    def _on_document_replaced(self, image_id: str) -> None:
        if image_id == self.nav.shown:
            self._load_document(image_id)

    def _on_import(self, _layer: str) -> None:
        for row in self.worklist_model.rows():
            if row.meta is not None:
                self.worklist_model.status_changed(row.meta.image_id)
        if self.nav.shown is not None:
            self._load_document(self.nav.shown)
            self._show_reference(self.nav.shown)

    # ------------------------------------------------------------------------------------------------ keys
    def set_auto_advance(self, on: bool) -> None:
        """Review ▸ Auto-advance: after a decision (A / N / F) the next image of the worklist opens."""
        self.auto_advance = bool(on)

    def _decided(self, done: bool) -> bool:
        if done and self.auto_advance:
            self.nav.step(+1)
        return done

    def accept_ai(self) -> bool:
        """A: the final mask is the AI mask (refused, with a note, when there is no AI result yet)."""
        image_id = self.session.current
        if image_id is None:
            return False
        if self.session.prediction(image_id) is not None and not self._confirm_accept(image_id):
            self._message("Not accepted: the AI mask was not taken", 3000)
            return False
        if not self.session.accept_ai():
            self._message("No AI result for this image yet", 3000)
            return False
        self._message("Accepted the AI result", 2000)
        return self._decided(True)

    def mark_negative(self) -> bool:
        """N: no pneumothorax — the final mask is empty."""
        done = self.session.mark_negative()
        if done:
            self._message("Marked negative", 2000)
        return self._decided(done)

    def flag(self, comment: str | None = None) -> bool:
        """F: flag for a second look at once (keyboard-first; keeps an existing comment)."""
        done = self.session.flag(comment=comment)
        if done:
            self._message("Flagged" + (f": {comment}" if comment else ""), 3000)
        return self._decided(done)

    def flag_with_comment(self) -> bool:
        """Shift+F: flag and say why (asks for the comment; Cancel flags nothing)."""
        image_id = self.session.current
        if image_id is None:
            return False
        comment = self.ask_comment(image_id)
        return False if comment is None else self.flag(comment)

    def clear_flag(self) -> bool:
        done = self.session.clear_flag()
        if done:
            self._message("Flag cleared", 2000)
        return done

    def edit_comment(self) -> bool:
        """Details ▸ Edit comment…: change the comment of the image on screen (its status stays)."""
        image_id = self.session.current
        if image_id is None or not self.session.writable:
            return False
        comment = self.ask_comment(image_id)
        if comment is None or not self.session.set_comment(comment, image_id):
            return False
        self._message("Comment saved" if comment.strip() else "Comment removed", 2000)
        return True

    def _ask_comment_dialog(self, image_id: str) -> str | None:
        previous = self.session.comment(image_id) or ""
        text, ok = QInputDialog.getText(self._parent, "Review comment", "Comment (why):", text=previous)
        return text if ok else None
