"""Mask editing: MaskDocument, undo history and tools (numpy + scikit-image only, no Qt)."""

from pneumoviewer.editing.algorithms import radius_mm, radius_px_from_mm
from pneumoviewer.editing.document import MaskDocument, Mode
from pneumoviewer.editing.history import Atom, History

__all__ = ["Atom", "History", "MaskDocument", "Mode", "radius_mm", "radius_px_from_mm"]
