"""Fill: click inside a hole to fill it (add), or click a region to clear it (remove)."""

from __future__ import annotations

from typing import ClassVar

from pneumoviewer.editing.algorithms import Point, region_at
from pneumoviewer.editing.document import MaskDocument, Mode
from pneumoviewer.editing.tools.base import MODE_OPTION, Tool, ToolOption


class FillTool(Tool):
    """Flood fill by click, one undo step.

    Add mode: a click on background fills the enclosed background region around it (a hole in the lesion or the
    inside of a drawn outline, 4-connected). If that region reaches the image border it is the outside, not a hole:
    nothing is filled and :attr:`message` says why (tick *Fill to border* to fill it anyway).
    Remove mode: a click on foreground removes the connected region under it (8-connected, like a lesion instance).
    """

    name: ClassVar[str] = "fill"
    label: ClassVar[str] = "Fill"
    icon: ClassVar[str] = "fill"
    help: ClassVar[str] = "Click inside an outline or hole to fill it; in Remove mode click a region to clear it."
    shortcut: ClassVar[str] = "F"
    options: ClassVar[tuple[ToolOption, ...]] = (
        MODE_OPTION,
        ToolOption(
            "allow_border",
            "Fill to border",
            "bool",
            False,
            help="Also fill a background region that reaches the image border",
        ),
    )

    mode: str
    allow_border: bool

    def press(self, doc: MaskDocument, point: Point) -> None:
        self.message = ""
        mask = doc.mask
        h, w = mask.shape
        r, c = round(point[0]), round(point[1])
        if not (0 <= r < h and 0 <= c < w):
            self.message = "Clicked outside the image."
            return
        if self.mode == Mode.ADD.value:
            if mask[r, c]:
                self.message = "Already part of the mask; click inside a hole or outline."
                return
            hit = region_at(mask, (r, c), 1, enclosed=not self.allow_border)
            if hit is None:
                self.message = "That area reaches the image border, so it is not a hole; nothing filled."
                return
        else:
            if not mask[r, c]:
                self.message = "Click on the mask to remove a region."
                return
            hit = region_at(mask, (r, c), 2)
            assert hit is not None  # on the image (checked above)
        doc.begin_stroke(self.label)
        doc.apply(hit[0], hit[1], self.mode)
        doc.end_stroke()
