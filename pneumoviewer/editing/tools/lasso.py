"""Lasso: drag around an area; on release the closed outline is added to the mask or cut out of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pneumoviewer.editing.algorithms import Point
from pneumoviewer.editing.document import MaskDocument
from pneumoviewer.editing.tools.base import MODE_OPTION, Tool, ToolOption, fill_outline


class LassoTool(Tool):
    """Collect outline points on press/move; on release fill the closed outline (add) or cut it out (remove).

    The mask changes only on release, so the GUI draws :meth:`preview` as a closed line while dragging.
    Points closer than ``min_spacing`` px to the previous one are skipped (a lasso on a 3000² image stays small).
    """

    name: ClassVar[str] = "lasso"
    label: ClassVar[str] = "Lasso"
    icon: ClassVar[str] = "lasso"
    help: ClassVar[str] = "Drag around an area and release to fill it (or cut it out in Remove mode)."
    shortcut: ClassVar[str] = "L"
    drag: ClassVar[bool] = True
    options: ClassVar[tuple[ToolOption, ...]] = (MODE_OPTION,)
    min_spacing: ClassVar[float] = 1.0

    mode: str

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.points: list[tuple[float, float]] = []

    def preview(self) -> tuple[Sequence[Point], bool]:
        return self.points, True

    def press(self, doc: MaskDocument, point: Point) -> None:
        self.points = [(float(point[0]), float(point[1]))]

    def move(self, doc: MaskDocument, point: Point) -> None:
        if not self.points:
            self.press(doc, point)
            return
        lr, lc = self.points[-1]
        if (point[0] - lr) ** 2 + (point[1] - lc) ** 2 >= self.min_spacing**2:
            self.points.append((float(point[0]), float(point[1])))

    def release(self, doc: MaskDocument) -> None:
        points, self.points = self.points, []
        self.message = ""
        if not fill_outline(doc, points, self.mode, self.label):
            self.message = "Draw an outline around an area (at least three points)."

    def cancel(self, doc: MaskDocument) -> None:
        self.points = []

