"""Plain dataclasses and enums shared by every layer (no Qt, no TensorFlow)."""

from pneumoviewer.core.types import ImageMeta, Prediction, ReviewStatus

__all__ = ["ImageMeta", "Prediction", "ReviewStatus"]
