"""Smooth: open, close, dilate or erode the mask by N px with a disc — under a dragged brush, or everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import MORPHOLOGY_OPERATIONS, Point, morphology, morphology_along
from pneumoviewer.editing.document import MaskDocument, Mode
from pneumoviewer.editing.tools.base import Tool, ToolOption, commit_whole


class MorphologyTool(Tool):
    """Open (remove specks, smooth), close (fill gaps), dilate (grow), erode (shrink).

    A drag smooths only the area under the brush (radius :attr:`size`), one undo step per drag; the rest of the mask
    is untouched. A click without a drag does nothing (a stray click must not reshape the whole lesion): the whole
    mask is the Apply button's job.
    """

    name: ClassVar[str] = "morphology"
    label: ClassVar[str] = "Smooth"
    icon: ClassVar[str] = "smooth"
    help: ClassVar[str] = (
        "Drag along the mask's edge to open, close, dilate or erode it under the brush; Apply does the whole mask."
    )
    shortcut: ClassVar[str] = "M"
    drag: ClassVar[bool] = True
    whole_mask: ClassVar[bool] = True
    options: ClassVar[tuple[ToolOption, ...]] = (
        ToolOption("operation", "Operation", "choice", "close", choices=MORPHOLOGY_OPERATIONS),
        ToolOption("radius", "Radius", "int", 3, 1, 100, help="Disc radius of the operation", suffix="px"),
        ToolOption("size", "Brush", "int", 25, 2, 300, help="Radius of the area a drag smooths", suffix="px"),
    )
    min_spacing: ClassVar[float] = 1.0
    size_option: ClassVar[str | None] = "size"

    operation: str
    radius: int
    size: int

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._path: list[tuple[float, float]] = []

    @property
    def step_label(self) -> str:
        """The undo step says what was done ("close 3 px"): short enough not to be elided on the Undo button."""
        return f"{self.operation} {self.radius} px"

    def preview(self) -> tuple[Sequence[Point], bool]:
        return self._path, False

    def press(self, doc: MaskDocument, point: Point) -> None:
        self._path = [(float(point[0]), float(point[1]))]

    def move(self, doc: MaskDocument, point: Point) -> None:
        if not self._path:
            self.press(doc, point)
            return
        lr, lc = self._path[-1]
        if (point[0] - lr) ** 2 + (point[1] - lc) ** 2 >= self.min_spacing**2:
            self._path.append((float(point[0]), float(point[1])))

    def release(self, doc: MaskDocument) -> None:
        path, self._path = self._path, []
        self.message = ""
        if len(path) < 2:
            self.message = "Drag along the mask's edge to smooth it there; Apply smooths the whole mask."
            return
        hit = morphology_along(np.asarray(doc.mask), path, self.size, self.operation, self.radius)
        if hit is None:
            self.message = "Nothing to smooth under the brush."
            return
        doc.begin_stroke(self.step_label)
        doc.apply(hit[0], hit[1], Mode.SET)
        doc.end_stroke()

    def cancel(self, doc: MaskDocument) -> None:
        self._path = []

    def apply(self, doc: MaskDocument) -> bool:
        self.message = ""
        new = morphology(np.asarray(doc.mask), self.operation, self.radius)
        changed = commit_whole(doc, new, self.step_label)
        if not changed:
            self.message = "Nothing to change."
        return changed
