"""The mask layers on the canvas and which of them are drawn: AI, mine (the reviewer's), reference, and the
difference view (pixels the reviewer added to / removed from the AI mask, in their own colours).

One place decides visibility, so the M key, the per-layer toggles (legend check boxes and keys) and the difference
view never fight. Before any edit the reviewer's mask is an exact copy of the AI mask: then only the AI layer is
drawn (a teal copy on top would blend into a colour matching neither legend entry). The difference layers follow
every pixel change of a stroke (only the changed rectangle is recomputed); the agreement (Dice of the AI mask and
mine, `pneumoviewer.metrics.dice`) is recomputed after each finished step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from pneumoviewer.gui import theme
from pneumoviewer.gui.actions import set_checked_quietly
from pneumoviewer.gui.overlay import MaskOverlay
from pneumoviewer.gui.viewer import ImageViewer
from pneumoviewer.metrics import dice

#: The toggleable layers, with the action that toggles each (keys in gui/shortcuts.py).
LAYER_ACTIONS = {"ai": "layer_ai", "mine": "layer_mine", "reference": "reference_layer"}


@dataclass(frozen=True)
class Agreement:
    """The AI mask against the reviewer's mask on the image on screen."""

    dice: float
    added: int  # pixels the reviewer added to the AI mask
    removed: int  # pixels of the AI mask the reviewer removed

    def text(self) -> str:
        return f"AI vs mine: Dice {self.dice:.2f} · +{self.added:,} / −{self.removed:,} px"


class LayerController(QObject):
    """Owns the visibility of every mask layer (see module docstring)."""

    visibilityChanged = Signal(str, bool)  # layer name ('ai', 'mine', 'reference', 'difference'), shown
    agreementChanged = Signal(object)  # Agreement | None

    def __init__(self, viewer: ImageViewer, ai: MaskOverlay, mine: MaskOverlay, opacity: float, mode: str,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ai, self.mine = ai, mine
        self.reference = viewer.add_overlay("reference", theme.REFERENCE_MASK_COLOR, opacity=0.35, mode=mode, z=9)
        self.added = viewer.add_overlay("added", theme.ADDED_MASK_COLOR, opacity, mode, z=12)
        self.removed = viewer.add_overlay("removed", theme.REMOVED_MASK_COLOR, opacity, mode, z=12)
        self.shown = {"ai": True, "mine": True, "reference": True}
        self.all_shown = True
        self.difference = False
        self._same = False  # mine is still an exact copy of the AI mask
        self._actions: dict[str, QAction] = {}
        self.refresh()

    def bind(self, actions: dict[str, QAction]) -> None:
        """The registry's layer actions this controller mirrors."""
        self._actions = actions
        for name, action in LAYER_ACTIONS.items():
            set_checked_quietly(actions[action], self.shown[name])
        set_checked_quietly(actions["difference"], self.difference)

    def overlays(self) -> tuple[MaskOverlay, ...]:
        """Every layer (the overlay style applies to all of them)."""
        return self.ai, self.mine, self.reference, self.added, self.removed

    # ------------------------------------------------------------------------------------------------ toggles
    def set_all_shown(self, on: bool) -> None:
        """M: every layer off, or back to what the per-layer toggles say."""
        self.all_shown = bool(on)
        self._apply()

    def set_layer_shown(self, name: str, on: bool) -> None:
        self.shown[name] = bool(on)
        if name in LAYER_ACTIONS and LAYER_ACTIONS[name] in self._actions:
            set_checked_quietly(self._actions[LAYER_ACTIONS[name]], on)
        self.visibilityChanged.emit(name, bool(on))
        self._apply()

    def set_difference(self, on: bool) -> None:
        self.difference = bool(on)
        if "difference" in self._actions:
            set_checked_quietly(self._actions["difference"], on)
        self.visibilityChanged.emit("difference", self.difference)
        self.refresh()

    def set_reference(self, mask: np.ndarray | None) -> None:
        self.reference.set_mask(mask)
        self._apply()

    # ------------------------------------------------------------------------------------------------ state
    def _pair(self) -> tuple[np.ndarray, np.ndarray] | None:
        a, m = self.ai.mask, self.mine.mask
        if a is None or m is None or a.shape != m.shape:
            return None
        return a, m

    def refresh(self) -> None:
        """After the AI mask, the document or a history step changed: copy test, difference layers, agreement."""
        pair = self._pair()
        self._same = pair is not None and bool(np.array_equal(pair[0], pair[1]))
        if self.difference and pair is not None:
            a, m = pair
            self.added.set_mask(m & ~a)
            self.removed.set_mask(a & ~m)
        else:
            self.added.set_mask(None)
            self.removed.set_mask(None)
        self._apply()
        if pair is None:
            self.agreementChanged.emit(None)
        else:
            a, m = pair
            self.agreementChanged.emit(
                Agreement(dice(a, m), int(np.count_nonzero(m & ~a)), int(np.count_nonzero(a & ~m)))
            )

    def mask_changed(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """A stroke changed mine[r0:r1, c0:c1]: show it at once, and keep the difference layers in step."""
        if self._same:
            self._same = False
            self._apply()
        pair = self._pair()
        if not self.difference or pair is None or self.added.mask is None or self.removed.mask is None:
            return
        a, m = pair[0][r0:r1, c0:c1], pair[1][r0:r1, c0:c1]
        self.added.mask[r0:r1, c0:c1] = m & ~a
        self.removed.mask[r0:r1, c0:c1] = a & ~m
        self.added.update_rect(r0, r1, c0, c1)
        self.removed.update_rect(r0, r1, c0, c1)

    def _apply(self) -> None:
        on, diff = self.all_shown, self.difference
        self.ai.setVisible(on and self.shown["ai"] and not diff)
        self.mine.setVisible(on and self.shown["mine"] and not diff and not self._same)
        self.reference.setVisible(on and self.shown["reference"] and self.reference.mask is not None)
        self.added.setVisible(on and diff)
        self.removed.setVisible(on and diff)
