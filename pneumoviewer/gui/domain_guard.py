"""The synthetic-model guard and the training-domain note (issue 10), in one place for every view that shows AI.

- A phantom-trained bundle on an image that is not one of our phantoms: a sticky banner over the viewer ("this
  model has never seen a real radiograph"), its probabilities grey (never red or bold) in the worklist and the
  details, no pre-filled reviewer mask (that decision is the session's, `ReviewSession.ai_prefills`), and A asks
  once per folder before it takes such a mask (the answer is kept in `Settings`).
- A real bundle on an image unlike its training data: "outside the model's training domain: why" in the details
  and the worklist row tooltip, and a "⚠" before the probability.

The facts come from the DICOM header only (`inference.domain`), so 12,000 worklist rows cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QVBoxLayout, QWidget

from pneumoviewer.core.types import ImageMeta, ModelInfo
from pneumoviewer.gui.settings import Settings
from pneumoviewer.inference.domain import SYNTHETIC_WARNING, outside_domain, synthetic_on_real
from pneumoviewer.review.session import ReviewSession

UNTRUSTED_COLOR = "#7d8590"  # the grey of a synthetic model's probability on a real film
BANNER_TEXT = (f"⚠ The AI model was trained on synthetic phantoms only: {SYNTHETIC_WARNING}. Its probabilities "
               "are shown grey and it does not pre-fill your mask. Choose a model trained on real radiographs in "
               "AI ▸ Model….")


@dataclass(frozen=True)
class Caveat:
    """Why an AI result on this image deserves less trust: `synthetic` (phantom model, real film) or outside."""

    text: str
    synthetic: bool


def ai_caveat(model: ModelInfo | None, meta: ImageMeta | None) -> Caveat | None:
    """The caveat of `model`'s output on the image `meta` describes, or None when there is none."""
    if synthetic_on_real(model, meta):
        return Caveat(SYNTHETIC_WARNING, synthetic=True)
    why = outside_domain(model, meta)
    return Caveat(why, synthetic=False) if why else None


def with_banner(viewer: QWidget, banner: QLabel) -> QWidget:
    """The viewer with the banner above it: the central widget of the window."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(banner)
    layout.addWidget(viewer, 1)
    return box


class DomainGuard(QObject):
    """The banner over the viewer and the once-per-folder question before A takes a synthetic model's mask."""

    def __init__(self, session: ReviewSession, settings: Settings, active_model: Callable[[], ModelInfo | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self._active_model = active_model
        self._parent = parent
        self.banner = QLabel(BANNER_TEXT)
        self.banner.setObjectName("domainBanner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setStyleSheet("QLabel#domainBanner { background: #5a3d0c; color: #ffd27a; padding: 6px; "
                                  "font-weight: bold; }")
        self.banner.setVisible(False)

    def refresh(self, *_: object) -> None:
        """Show the banner while the active bundle is phantom-trained and the image on screen is not a phantom."""
        current = self.session.current
        meta = self.session.meta(current) if current is not None else None
        self.banner.setVisible(synthetic_on_real(self._active_model(), meta))

    def confirm_accept(self, image_id: str) -> bool:
        """A on a synthetic model's mask of a real film: asks once per folder (Yes is remembered for the folder)."""
        summary = self.session.prediction(image_id)
        folder = self.session.folder
        if summary is None or folder is None or not synthetic_on_real(summary.model, self.session.meta(image_id)):
            return True
        if self.settings.synthetic_accept_confirmed(folder):
            return True
        answer = QMessageBox.question(
            self._parent, "Accept a synthetic model's mask?",
            f"{summary.model.title} was trained on synthetic phantoms: {SYNTHETIC_WARNING}.\n\nAccept its mask as "
            "your reviewed mask anyway? (Asked once for this folder.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.settings.set_synthetic_accept_confirmed(folder)
        return True
