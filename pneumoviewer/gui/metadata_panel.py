"""Right-hand panel: image facts, the AI result (always with the model that made it) and overlay controls.

Patient identifiers are never shown unless the user turns them on (Settings ▸ show patient identifiers); even then
only the pseudonymous patient key that the header reader keeps is shown, never a name.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.core.types import SYNTHETIC_NOTE, AiSummary, ImageMeta, ModelInfo
from pneumoviewer.gui.domain_guard import UNTRUSTED_COLOR, Caveat
from pneumoviewer.gui.theme import (
    ADDED_MASK_COLOR,
    AI_MASK_COLOR,
    REFERENCE_MASK_COLOR,
    REMOVED_MASK_COLOR,
    REVIEW_MASK_COLOR,
)

_TRANSFER_SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (8-bit)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}


#: The clickable legend: layer name, text, colour (the difference entry shows both of its colours in its text).
LEGEND = (
    ("ai", "AI mask (Alt+1)", AI_MASK_COLOR),
    ("mine", "my mask (Alt+2)", REVIEW_MASK_COLOR),
    ("reference", "reference (Alt+3)", REFERENCE_MASK_COLOR),
    ("difference", "difference (D)", ADDED_MASK_COLOR),
)


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _dash(value: Any) -> str:
    return "—" if value in (None, "") else str(value)


def record_lines(history: Any, last: int = 6) -> list[str]:
    """The review record as lines of text (`review.session.ReviewHistory`): who changed it last and when, then its
    last `last` status changes (oldest first, with how many came before), then the comment. The details panel and
    the worklist's row tooltip both show it, so they never word it differently."""
    lines = []
    changes = history.changes
    if history.updated is not None and changes:
        lines.append(f"Last change: {_when(history.updated)} by {_dash(history.reviewer)}")
    if len(changes) > last:
        lines.append(f"… {len(changes) - last} earlier changes")
    lines += [f"{_when(c.time)} · {c.status.value} · {_dash(c.reviewer)}" for c in changes[-last:]]
    return lines or ["not reviewed yet"]


class MetadataPanel(QWidget):
    """Facts + AI result + overlay style controls."""

    overlayStyleChanged = Signal(float, str)  # opacity 0..1, 'fill' | 'contour'
    overlayVisibleChanged = Signal(bool)
    layerToggled = Signal(str, bool)  # legend entry ('ai', 'mine', 'reference', 'difference'), checked
    editCommentRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.show_patient_identifiers = False
        self._values: dict[str, QLabel] = {}

        facts = QGroupBox("Image")
        form = QFormLayout(facts)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in (
            "Age",
            "Sex",
            "View",
            "Modality",
            "Size",
            "Spacing",
            "Bits",
            "Photometric",
            "Transfer syntax",
            "Patient key",
        ):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self._values[key] = label
            form.addRow(key, label)
        self._patient_row_label = form.labelForField(self._values["Patient key"])
        self._set_patient_row_visible(False)

        ai = QGroupBox("AI result")
        ai_layout = QVBoxLayout(ai)
        self.probability = QLabel("—")
        self.probability.setObjectName("probability")
        self.probability.setToolTip("P(pneumothorax) from the classifier")
        self.ai_detail = QLabel("no model")
        self.ai_detail.setWordWrap(True)
        self.domain_note = QLabel("")
        self.domain_note.setObjectName("domainNote")
        self.domain_note.setWordWrap(True)
        self.domain_note.setStyleSheet("color: #f0a04a")
        self.domain_note.setVisible(False)
        self.model_name = QLabel("—")
        self.model_name.setWordWrap(True)
        self.disclaimer = QLabel("")
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        ai_layout.addWidget(self.probability)
        ai_layout.addWidget(self.ai_detail)
        ai_layout.addWidget(self.domain_note)
        self.agreement = QLabel("")
        self.agreement.setObjectName("agreement")
        self.agreement.setWordWrap(True)
        self.agreement.setToolTip("Dice of the AI mask and my mask on this image; pixels I added / removed")
        ai_layout.addWidget(self.agreement)
        ai_layout.addWidget(self.model_name)
        ai_layout.addWidget(self.disclaimer)

        record = QGroupBox("Review")
        record_layout = QVBoxLayout(record)
        self.record_text = QLabel("—")
        self.record_text.setObjectName("reviewRecord")
        self.record_text.setWordWrap(True)
        self.record_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.comment_text = QLabel("")
        self.comment_text.setObjectName("reviewComment")
        self.comment_text.setTextFormat(Qt.TextFormat.PlainText)  # a comment is shown as typed, never as markup
        self.comment_text.setWordWrap(True)
        self.edit_comment = QPushButton("Edit comment…")
        self.edit_comment.setToolTip("Write or change this image's comment (kept with its review, undoable)")
        self.edit_comment.clicked.connect(self.editCommentRequested)
        record_layout.addWidget(self.record_text)
        record_layout.addWidget(self.comment_text)
        record_layout.addWidget(self.edit_comment)

        ov = QGroupBox("Mask overlay")
        ov_layout = QVBoxLayout(ov)
        self.overlay_visible = QCheckBox("Show masks (M)")
        self.overlay_visible.setChecked(True)
        legend = QGridLayout()
        self.layer_boxes: dict[str, QCheckBox] = {}
        for i, (name, text, color) in enumerate(LEGEND):
            box = QCheckBox(text)
            box.setIcon(_swatch(color))
            box.setChecked(name != "difference")
            box.toggled.connect(lambda on, n=name: self.layerToggled.emit(n, on))
            self.layer_boxes[name] = box
            legend.addWidget(box, i // 2, i % 2)
        self.layer_boxes["difference"].setToolTip(
            f'<span style="color:{ADDED_MASK_COLOR}">■</span> pixels I added to the AI mask, '
            f'<span style="color:{REMOVED_MASK_COLOR}">■</span> pixels of the AI mask I removed'
        )
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setToolTip("Overlay opacity")
        self.fill = QRadioButton("Fill")
        self.contour = QRadioButton("Contour")
        self.fill.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.fill)
        self._mode_group.addButton(self.contour)
        self.contour.setToolTip("Outline only (C)")
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.fill)
        mode_row.addWidget(self.contour)
        mode_row.addStretch(1)
        op_row = QHBoxLayout()
        op_row.addWidget(QLabel("Opacity"))
        op_row.addWidget(self.opacity, 1)
        ov_layout.addWidget(self.overlay_visible)
        ov_layout.addLayout(legend)
        ov_layout.addLayout(op_row)
        ov_layout.addLayout(mode_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(ai)
        layout.addWidget(record)
        layout.addWidget(facts)
        layout.addWidget(ov)
        layout.addStretch(1)

        self.opacity.valueChanged.connect(self._emit_style)
        self.fill.toggled.connect(self._emit_style)
        self.overlay_visible.toggled.connect(self.overlayVisibleChanged)

    # -- overlay controls ------------------------------------------------------------------------------------------
    def overlay_style(self) -> tuple[float, str]:
        return self.opacity.value() / 100.0, "fill" if self.fill.isChecked() else "contour"

    def set_overlay_style(self, opacity: float, mode: str) -> None:
        """Update the controls without re-emitting (the caller already applied the style)."""
        for w in (self.opacity, self.fill, self.contour):
            w.blockSignals(True)
        self.opacity.setValue(round(opacity * 100))
        (self.fill if mode == "fill" else self.contour).setChecked(True)
        for w in (self.opacity, self.fill, self.contour):
            w.blockSignals(False)

    def _emit_style(self, *_: Any) -> None:
        self.overlayStyleChanged.emit(*self.overlay_style())

    def set_layer_checked(self, name: str, on: bool) -> None:
        """Mirror a layer's state (changed by its key or menu) without emitting `layerToggled` again."""
        box = self.layer_boxes[name]
        box.blockSignals(True)
        box.setChecked(bool(on))
        box.blockSignals(False)

    def set_agreement(self, agreement: Any) -> None:
        """`gui.layers.Agreement` of the image on screen, or None (no AI mask or no document)."""
        self.agreement.setText(agreement.text() if agreement is not None else "")

    def set_record(self, history: Any) -> None:
        """The review record (`review.session.ReviewHistory`, or None when no folder is open)."""
        if history is None:
            self.record_text.setText("—")
            self.comment_text.setText("")
            return
        self.record_text.setText("\n".join(record_lines(history)))
        self.comment_text.setText(f"Comment: {history.comment}" if history.comment else "No comment")

    # -- content -----------------------------------------------------------------------------------------------------
    def _set_patient_row_visible(self, on: bool) -> None:
        self._values["Patient key"].setVisible(on)
        if self._patient_row_label is not None:
            self._patient_row_label.setVisible(on)

    def value(self, key: str) -> str:
        return self._values[key].text()

    def set_meta(self, meta: ImageMeta | None) -> None:
        if meta is None:
            for label in self._values.values():
                label.setText("—")
            return
        v = self._values
        v["Age"].setText(_dash(meta.patient_age))
        v["Sex"].setText(_dash(meta.patient_sex))
        v["View"].setText(_dash(meta.view_position))
        v["Modality"].setText(_dash(meta.modality))
        v["Size"].setText(f"{meta.columns} × {meta.rows}" if meta.rows else "—")
        if meta.pixel_spacing:
            r, c = meta.pixel_spacing
            v["Spacing"].setText(f"{r:.3f} × {c:.3f} mm")
        else:
            v["Spacing"].setText("unknown")
        v["Bits"].setText(_dash(meta.bits_stored or None))
        v["Photometric"].setText(_dash(meta.photometric))
        ts = meta.transfer_syntax
        v["Transfer syntax"].setText(f"{_TRANSFER_SYNTAX_NAMES.get(ts, ts)}" if ts else "—")
        v["Transfer syntax"].setToolTip(ts or "")
        show = self.show_patient_identifiers
        self._set_patient_row_visible(show)
        v["Patient key"].setText(_dash(meta.patient_key) if show else "")

    def set_model(self, model: ModelInfo | None, device: str | None = None, state: str | None = None) -> None:
        """The model the worker runs (or 'no model')."""
        if model is None:
            self.model_name.setText(state or "no model")
            self.disclaimer.setText("")
            return
        text = f"Model: {model.title}"
        if device:
            text += f" · {device}"
        if state:
            text += f" · {state}"
        self.model_name.setText(text)
        self.disclaimer.setText(f"⚠ {SYNTHETIC_NOTE}" if model.synthetic else "Supports review; does not diagnose.")

    def set_prediction(self, prediction: AiSummary | None, pending: str = "waiting for AI…",
                       caveat: Caveat | None = None) -> None:
        """The AI result; with a `caveat` (issue 10) its phrase is shown, and a synthetic model's P is grey."""
        self.domain_note.setText(f"⚠ {caveat.text}" if caveat is not None else "")
        self.domain_note.setVisible(caveat is not None and prediction is not None)
        if prediction is None:
            self.probability.setText("—")
            self.probability.setStyleSheet("")
            self.ai_detail.setText(pending)
            return
        p = float(prediction.probability)
        colour = "#ff7a6b" if p >= 0.7 else "#f0a04a" if p >= 0.5 else "#8fa3b8"
        if caveat is not None and caveat.synthetic:
            colour = UNTRUSTED_COLOR
        self.probability.setText(f"P = {p:.2f}")
        self.probability.setStyleSheet(f"color: {colour}")
        area = prediction.mask_area
        if area is None:
            detail = "stored result (earlier session)"
        else:
            detail = f"mask: {area:,} px" if area else "mask: none"
        if prediction.seconds is not None:
            detail += f" · {1000.0 * prediction.seconds:.0f} ms on {prediction.device}"
        self.ai_detail.setText(detail)
        self.ai_detail.setToolTip(f"Made by {prediction.model.label}")

    def set_ai_error(self, message: str) -> None:
        self.domain_note.setVisible(False)
        self.probability.setText("AI error")
        self.probability.setStyleSheet("color: #ef6b6b")
        self.ai_detail.setText(message)
