"""One typed model configuration, shared by training (which writes it) and inference (which reads it).

The configuration lives in a bundle's ``manifest.json``; keeping it as one frozen dataclass means input sizes,
thresholds and labels are never re-typed as loose dict keys in two places (pneumoviewer/ARCHITECTURE.md; MONAI Label).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

TASKS: tuple[str, ...] = ("classifier", "segmenter")

#: How pixels reach the network; recorded in every manifest so a bundle states what it expects.
PREPROCESSING: dict[str, Any] = {
    "source": "display image: float32 [0,1] after modality LUT, VOI/window (else robust percentile), MONOCHROME1 "
    "inversion (pneumoviewer.io.dicom.load_image(...).display)",
    "resize": "square, bilinear with antialiasing (Pillow, mode F), aspect ratio not kept",
    "scale": "clipped to [0,1]",
    "channels": 1,
    "function": "pneumoviewer.inference.preprocess.preprocess_image",
}

REFERENCE_SIDE = 1024  # min-area thresholds are stated at SIIM's native 1024x1024


@dataclass(frozen=True)
class ModelConfig:
    """Input sizes, thresholds, labels and version of a classifier + segmenter pair.

    ``classifier_threshold`` gates the segmenter (below it the mask is empty), ``mask_threshold`` binarises the
    segmenter's probability map, and ``min_area_px_1024`` removes mask components smaller than that many pixels
    at 1024x1024 (scaled by pixel count for other image sizes).
    """

    name: str = "custom"
    version: str = "0.1.0"
    labels: tuple[str, ...] = ("pneumothorax",)
    classifier_size: int = 256
    segmenter_size: int = 256
    classifier_threshold: float = 0.5
    mask_threshold: float = 0.5
    min_area_px_1024: int = 256
    synthetic: bool = False
    preprocessing: Mapping[str, Any] = field(default_factory=lambda: dict(PREPROCESSING))

    def __post_init__(self) -> None:
        for attr in ("classifier_size", "segmenter_size"):
            v = getattr(self, attr)
            if not isinstance(v, int) or v < 32 or v % 32:
                raise ValueError(f"{attr} must be an integer multiple of 32 (>= 32), got {v!r}")
        for attr in ("classifier_threshold", "mask_threshold"):
            v = getattr(self, attr)
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{attr} must be within [0, 1], got {v!r}")
        if int(self.min_area_px_1024) < 0:
            raise ValueError(f"min_area_px_1024 must be >= 0, got {self.min_area_px_1024!r}")
        if not self.name or "/" in self.name:
            raise ValueError(f"bad model name {self.name!r}")

    def input_size(self, task: str) -> int:
        """The square input side of the classifier or the segmenter."""
        if task == "classifier":
            return self.classifier_size
        if task == "segmenter":
            return self.segmenter_size
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")

    def min_area_for(self, height: int, width: int) -> int:
        """Minimum component area in pixels for an image of this size (the 1024² figure scaled by pixel count)."""
        return round(self.min_area_px_1024 * (height * width) / float(REFERENCE_SIDE * REFERENCE_SIDE))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["preprocessing"] = dict(self.preprocessing)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build from a manifest's ``config`` object; unknown keys are an error so typos do not pass silently."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        kwargs = dict(data)
        if "labels" in kwargs:
            kwargs["labels"] = tuple(kwargs["labels"])
        for k in ("classifier_size", "segmenter_size", "min_area_px_1024"):
            if k in kwargs:
                kwargs[k] = int(kwargs[k])
        for k in ("classifier_threshold", "mask_threshold"):
            if k in kwargs:
                kwargs[k] = float(kwargs[k])
        if "synthetic" in kwargs:
            kwargs["synthetic"] = bool(kwargs["synthetic"])
        return cls(**kwargs)
