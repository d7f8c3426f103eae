"""Islands: keep the largest component, remove those smaller than N px, or remove the clicked one."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import Point, keep_largest_island, remove_island_at, remove_small_islands
from pneumoviewer.editing.document import MaskDocument
from pneumoviewer.editing.tools.base import Tool, ToolOption, commit_whole

ISLAND_ACTIONS = ("keep_largest", "remove_small", "remove_clicked")


class IslandsTool(Tool):
    """Connected-component clean-up (8-connected, as SIIM instances), one undo step per click."""

    name: ClassVar[str] = "islands"
    label: ClassVar[str] = "Islands"
    icon: ClassVar[str] = "islands"
    help: ClassVar[str] = (
        "Keep largest: keep only the biggest region. Remove small: drop regions under the size. "
        "Remove clicked: click a region to delete it."
    )
    shortcut: ClassVar[str] = "I"
    options: ClassVar[tuple[ToolOption, ...]] = (
        ToolOption("action", "Action", "choice", "remove_clicked", choices=ISLAND_ACTIONS),
        ToolOption("min_size", "Minimum size", "int", 100, 1, 1_000_000, help="Remove small: keep ≥ this", suffix="px"),
    )

    action: str
    min_size: int

    @property
    def whole_mask(self) -> bool:  # type: ignore[override]
        return self.action != "remove_clicked"

    def _result(self, mask: np.ndarray, point: Point | None) -> np.ndarray | None:
        if self.action == "keep_largest":
            return keep_largest_island(mask)
        if self.action == "remove_small":
            return remove_small_islands(mask, self.min_size)
        if point is None:
            return None
        return remove_island_at(mask, point)

    def press(self, doc: MaskDocument, point: Point) -> None:
        self._run(doc, point)

    def apply(self, doc: MaskDocument) -> bool:
        return self._run(doc, None)

    def _run(self, doc: MaskDocument, point: Point | None) -> bool:
        self.message = ""
        mask = np.asarray(doc.mask)
        new = self._result(mask, point)
        if new is None or (self.action == "remove_clicked" and not _on_mask(mask, point)):
            self.message = "Click a region to remove it."
            return False
        changed = commit_whole(doc, new, f"Islands: {self.action.replace('_', ' ')}")
        if not changed:
            self.message = "Nothing to change."
        return changed


def _on_mask(mask: np.ndarray, point: Point | None) -> bool:
    if point is None:
        return False
    r, c = round(point[0]), round(point[1])
    return 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and bool(mask[r, c])
