"""Brush: a round, hard-edged brush; successive mouse points are joined by capsules so fast drags leave no gaps."""

from __future__ import annotations

from typing import Any, ClassVar

from pneumoviewer.editing.algorithms import Point, capsule_modifier, disc_modifier
from pneumoviewer.editing.document import MaskDocument, Mode
from pneumoviewer.editing.tools.base import MODE_OPTION, Tool, ToolOption

MIN_RADIUS = 1
MAX_RADIUS = 300


class BrushTool(Tool):
    """Paint (or, in remove mode, erase) a disc of `radius` px along the drag; one drag = one undo step."""

    name: ClassVar[str] = "brush"
    label: ClassVar[str] = "Brush"
    icon: ClassVar[str] = "brush"
    help: ClassVar[str] = (
        "Drag to paint the mask. [ and ] change the size; hold Shift (or pick Remove) to erase with the brush."
    )
    shortcut: ClassVar[str] = "B"
    drag: ClassVar[bool] = True
    options: ClassVar[tuple[ToolOption, ...]] = (
        ToolOption("radius", "Radius", "int", 20, MIN_RADIUS, MAX_RADIUS, help="Brush radius", suffix="px"),
        MODE_OPTION,
    )
    default_mode: ClassVar[str] = Mode.ADD.value
    size_option: ClassVar[str | None] = "radius"

    radius: int
    mode: str

    def __init__(self, radius: int = 20, mode: str | Mode | None = None, **kwargs: Any) -> None:
        super().__init__(radius=radius, mode=mode if mode is not None else self.default_mode, **kwargs)
        self._last: tuple[int, int] | None = None

    def press(self, doc: MaskDocument, point: Point) -> None:
        doc.begin_stroke(self.label)
        p = (round(point[0]), round(point[1]))
        self._last = p
        hit = disc_modifier(p, self.radius, doc.shape)
        if hit is not None:
            doc.apply(hit[0], hit[1], self.mode)

    def move(self, doc: MaskDocument, point: Point) -> None:
        p = (round(point[0]), round(point[1]))
        if self._last is None:  # a move without press (e.g. focus came back mid-drag): start here
            self.press(doc, p)
            return
        if p == self._last:
            return
        hit = capsule_modifier(self._last, p, self.radius, doc.shape)
        self._last = p
        if hit is not None:
            doc.apply(hit[0], hit[1], self.mode)

    def release(self, doc: MaskDocument) -> None:
        self._last = None
        doc.end_stroke()

    def cancel(self, doc: MaskDocument) -> None:
        self._last = None
        doc.cancel_stroke()
