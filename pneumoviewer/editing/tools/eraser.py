"""Eraser: the brush in remove mode, as its own tool so it has its own key and size."""

from __future__ import annotations

from typing import ClassVar

from pneumoviewer.editing.document import Mode
from pneumoviewer.editing.tools.brush import BrushTool


class EraserTool(BrushTool):
    """Erase a disc of `radius` px along the drag; one drag = one undo step."""

    name: ClassVar[str] = "eraser"
    label: ClassVar[str] = "Eraser"
    icon: ClassVar[str] = "eraser"
    help: ClassVar[str] = "Drag to erase the mask. [ and ] change the size."
    shortcut: ClassVar[str] = "E"
    default_mode: ClassVar[str] = Mode.REMOVE.value
