"""Polygon: click vertex by vertex; Enter, a double-click or a click on the first vertex closes and fills it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pneumoviewer.editing.algorithms import Point
from pneumoviewer.editing.document import MaskDocument
from pneumoviewer.editing.tools.base import MODE_OPTION, Tool, ToolOption, fill_outline


class PolygonTool(Tool):
    """A straight-edged outline placed click by click, for a pleural line followed point by point.

    A click adds a vertex (holding the button and dragging moves the new vertex before it is let go). While the
    polygon is open (:attr:`pending`) the GUI draws the vertices and a rubber band from the last one to the mouse
    (:meth:`hover`, :meth:`preview`). :meth:`back` (Backspace) removes the last vertex, :meth:`finish` (Enter,
    double-click, or a click within :attr:`snap_radius` of the first vertex) fills it as one undo step "Polygon"
    (cut out in Remove mode), :meth:`cancel` (Esc) drops it. The mask changes only when the polygon is closed.
    """

    name: ClassVar[str] = "polygon"
    label: ClassVar[str] = "Polygon"
    icon: ClassVar[str] = "polygon"
    help: ClassVar[str] = (
        "Click to place vertices; Backspace removes the last one. Enter, a double-click or a click on the first "
        "vertex closes and fills the polygon (cuts it out in Remove mode); Esc drops it."
    )
    shortcut: ClassVar[str] = "P"
    drag: ClassVar[bool] = True
    options: ClassVar[tuple[ToolOption, ...]] = (MODE_OPTION,)

    mode: str

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.vertices: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None

    @property
    def pending(self) -> bool:
        return bool(self.vertices)

    def preview(self) -> tuple[Sequence[Point], bool]:
        if self._cursor is None or not self.vertices:
            return self.vertices, False
        return [*self.vertices, self._cursor], False

    def handles(self) -> Sequence[Point]:
        return self.vertices

    def hover(self, point: Point) -> None:
        self._cursor = (float(point[0]), float(point[1]))

    def press(self, doc: MaskDocument, point: Point) -> None:
        self.message = ""
        p = (float(point[0]), float(point[1]))
        if len(self.vertices) >= 3 and self.snap_radius > 0:
            r0, c0 = self.vertices[0]
            if (p[0] - r0) ** 2 + (p[1] - c0) ** 2 <= self.snap_radius**2:
                self.finish(doc)
                return
        self.vertices.append(p)
        self._cursor = p

    def move(self, doc: MaskDocument, point: Point) -> None:
        """The button is still down after placing a vertex: the vertex follows the mouse."""
        if self.vertices:
            self.vertices[-1] = self._cursor = (float(point[0]), float(point[1]))

    def back(self) -> bool:
        if not self.vertices:
            return False
        self.vertices.pop()
        return True

    def finish(self, doc: MaskDocument) -> bool:
        if len(self.vertices) < 3:
            self.message = "A polygon needs at least three vertices."
            return False
        vertices, self.vertices = self.vertices, []
        if not fill_outline(doc, vertices, self.mode, self.label):
            self.message = "That polygon encloses no pixel."
        return True

    def cancel(self, doc: MaskDocument) -> None:
        self.vertices = []
