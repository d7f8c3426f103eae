"""The shared vocabulary: image metadata, AI predictions, review statuses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageMeta:
    """Header facts of one DICOM image; never holds patient name or ID.

    These field names are a public interface (other parts and outside checks use them).
    """

    image_id: str  # SOPInstanceUID
    study_uid: str | None = None
    series_uid: str | None = None
    patient_age: int | None = None  # whole years
    patient_sex: str | None = None  # 'M', 'F', 'O' or None
    view_position: str | None = None  # 'PA', 'AP', 'LL', ...
    modality: str | None = None
    body_part: str | None = None
    rows: int = 0
    columns: int = 0
    bits_stored: int = 0
    photometric: str | None = None
    pixel_spacing: tuple[float, float] | None = None  # (row, col) mm
    transfer_syntax: str | None = None
    n_frames: int = 1
    # One of our own synthetic phantoms (the generator marks every file it writes); a phantom-trained model's
    # output only means something on these.
    synthetic_phantom: bool = False
    # Kept only so a split by patient is possible; never shown or logged unless the user opts in.
    patient_key: str | None = field(default=None, repr=False, compare=False)
    # SHA-256 (32 hex digits) of the file's bytes before the pixel data: which file content these facts came from.
    header_digest: str | None = field(default=None, repr=False, compare=False)


class ReviewStatus(str, enum.Enum):
    """Where a reviewer stands on one image."""

    UNREVIEWED = "unreviewed"
    ACCEPTED = "accepted"  # final mask = AI mask
    CORRECTED = "corrected"  # final mask edited by the reviewer
    NEGATIVE = "negative"  # final mask empty
    FLAGGED = "flagged"  # needs a second look; carries a comment


SYNTHETIC_NOTE = "synthetic training data — not for clinical use"


class MaskLayer(str, enum.Enum):
    """Which of an image's masks is meant: the model's, the reviewer's, or an imported one shown alongside."""

    ORIGINAL = "original"  # the AI result, never changed by the reviewer
    FINAL = "final"  # the reviewer's mask: what is exported and trained on
    REFERENCE = "reference"  # imported truth or another reader's masks, for agreement


@dataclass(frozen=True)
class SourceIdentity:
    """Which source file a reviewer's mask was drawn on, recorded with the mask so an export can refuse when the
    file at that place is now another image (replaced in place with size and mtime kept)."""

    sop_instance_uid: str
    content_hash: str  # opaque digest computed by the folder index (same function at record and check time)


@dataclass(frozen=True)
class ModelInfo:
    """Which model made a result; shown next to every AI output."""

    name: str
    version: str
    synthetic: bool = False  # trained on synthetic data: not for clinical use
    # identity of the bundle's files (None: unknown, e.g. a test engine); provenance, not part of equality
    sha256: str | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        """'name vX': the short name of the model (status bar, panel headings)."""
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        """`title` plus the synthetic-data warning when it applies: the one wording shown next to AI output."""
        return f"{self.title} ({SYNTHETIC_NOTE})" if self.synthetic else self.title


@dataclass
class Prediction:
    """One image's AI result, at the image's own size."""

    image_id: str
    probability: float  # P(pneumothorax) from the classifier
    mask: np.ndarray  # bool, (rows, columns) of the source image
    model: ModelInfo
    mask_probability: np.ndarray | None = None  # float32 map, optional
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    device: str = "CPU"


@dataclass(frozen=True)
class AiSummary:
    """What the review app keeps of one AI result for the whole folder: no mask (masks live in the review store)."""

    image_id: str
    probability: float
    model: ModelInfo
    mask_area: int | None = None  # mask pixels; None for a result read back from the store (not counted)
    device: str = "CPU"
    seconds: float | None = None  # time the model took, when measured in this session
    stored: bool = False  # read back from the review store (made in an earlier session)

    @classmethod
    def of(cls, prediction: Prediction) -> AiSummary:
        seconds = sum(prediction.timings.values()) if prediction.timings else None
        return cls(
            prediction.image_id,
            float(prediction.probability),
            prediction.model,
            int(np.count_nonzero(prediction.mask)) if prediction.mask is not None else 0,
            prediction.device,
            seconds,
        )


class Cancelled(Exception):
    """The user (or a closing window) cancelled a long job; callers stop quietly, nothing is half-written."""
