"""Smoothing / morphology: open, close, dilate or erode the whole mask by N px with a disc."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import MORPHOLOGY_OPERATIONS, Point, morphology
from pneumoviewer.editing.document import MaskDocument
from pneumoviewer.editing.tools.base import Tool, ToolOption, commit_whole


class MorphologyTool(Tool):
    """Open (remove specks, smooth), close (fill gaps), dilate (grow), erode (shrink); one undo step per click."""

    name: ClassVar[str] = "morphology"
    label: ClassVar[str] = "Smooth"
    icon: ClassVar[str] = "smooth"
    help: ClassVar[str] = "Click the image (or Apply) to open, close, dilate or erode the whole mask by the radius."
    shortcut: ClassVar[str] = "M"
    whole_mask: ClassVar[bool] = True
    options: ClassVar[tuple[ToolOption, ...]] = (
        ToolOption("operation", "Operation", "choice", "close", choices=MORPHOLOGY_OPERATIONS),
        ToolOption("radius", "Radius", "int", 3, 1, 100, help="Disc radius", suffix="px"),
    )

    operation: str
    radius: int

    def press(self, doc: MaskDocument, point: Point) -> None:
        self.apply(doc)

    def apply(self, doc: MaskDocument) -> bool:
        self.message = ""
        new = morphology(np.asarray(doc.mask), self.operation, self.radius)
        changed = commit_whole(doc, new, f"{self.operation} {self.radius} px")
        if not changed:
            self.message = "Nothing to change."
        return changed
