"""Editing tools, one per file on :class:`Tool`; :data:`TOOLS` lists them in toolbar / number-key order."""

from __future__ import annotations

from pneumoviewer.editing.tools.base import Tool, ToolOption
from pneumoviewer.editing.tools.brush import BrushTool
from pneumoviewer.editing.tools.clear import ClearTool
from pneumoviewer.editing.tools.eraser import EraserTool
from pneumoviewer.editing.tools.fill import FillTool
from pneumoviewer.editing.tools.islands import IslandsTool
from pneumoviewer.editing.tools.lasso import LassoTool
from pneumoviewer.editing.tools.morphology import MorphologyTool
from pneumoviewer.editing.tools.polygon import PolygonTool

# Registry: name → class, in the order the toolbar shows them (number keys 1..8 follow this order).
TOOLS: dict[str, type[Tool]] = {
    cls.name: cls
    for cls in (BrushTool, EraserTool, FillTool, LassoTool, PolygonTool, IslandsTool, MorphologyTool, ClearTool)
}


def create_tool(name: str, **options: object) -> Tool:
    """A new tool by registry name with its options (unknown names raise KeyError)."""
    return TOOLS[name](**options)


__all__ = [
    "TOOLS",
    "BrushTool",
    "ClearTool",
    "EraserTool",
    "FillTool",
    "IslandsTool",
    "LassoTool",
    "MorphologyTool",
    "PolygonTool",
    "Tool",
    "ToolOption",
    "create_tool",
]
