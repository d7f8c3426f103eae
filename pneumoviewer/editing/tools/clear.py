"""Clear: empty the whole mask in one undoable step."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import Point, bbox_of
from pneumoviewer.editing.document import MaskDocument, Mode
from pneumoviewer.editing.tools.base import Tool


class ClearTool(Tool):
    """Remove every mask pixel (undoable)."""

    name: ClassVar[str] = "clear"
    label: ClassVar[str] = "Clear"
    icon: ClassVar[str] = "clear"
    help: ClassVar[str] = "Click the image (or Apply) to clear the whole mask. Ctrl+Z brings it back."
    shortcut: ClassVar[str] = "C"
    whole_mask: ClassVar[bool] = True

    def press(self, doc: MaskDocument, point: Point) -> None:
        self.apply(doc)

    def apply(self, doc: MaskDocument) -> bool:
        box = bbox_of(np.asarray(doc.mask))
        if box is None:
            self.message = "The mask is already empty."
            return False
        self.message = ""
        r0, r1, c0, c1 = box
        doc.begin_stroke(self.label)
        doc.apply(np.ones((r1 - r0, c1 - c0), dtype=bool), box, Mode.REMOVE)
        doc.end_stroke()
        return True
