"""View controls: window presets, overlay style and visibility, and the status-bar read-out under the cursor.

Each control writes its state to `Settings` and mirrors it into the other controls that show it (menu action,
metadata panel, toolbar combo) with their signals blocked, so no control calls another back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QInputDialog, QLabel, QWidget

from pneumoviewer.gui.actions import set_checked_quietly
from pneumoviewer.gui.layers import LayerController
from pneumoviewer.gui.metadata_panel import MetadataPanel
from pneumoviewer.gui.settings import Settings
from pneumoviewer.gui.viewer import DEFAULT_PRESETS, ImageViewer

#: What the preset box says when the window on screen is no preset (a right-drag, a histogram drag).
CUSTOM = "Custom"


def plain_number(value: float) -> str:
    """A window value as people write it: 15000, 127.5, 0.36 — never 1.5e+04 (a 15-bit CR has C 15000)."""
    text = f"{value:.{1 if abs(value) >= 100 else 4}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ViewControls(QObject):
    """Presets, overlays and cursor read-out for one viewer (see module docstring)."""

    def __init__(
        self,
        viewer: ImageViewer,
        metadata: MetadataPanel,
        settings: Settings,
        layers: LayerController,
        current_image: Callable[[], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.metadata = metadata
        self.settings = settings
        self.layers = layers
        self._current_image = current_image
        self._sticky_preset: str | None = None
        self.actions: dict[str, QAction] = {}
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Window/level preset (F2–F6); right-drag on the image for free W/L")
        self.preset_combo.addItems([*self.presets(), CUSTOM])
        self.preset_combo.setCurrentText(settings.last_wl_preset())
        self.preset_combo.activated.connect(lambda _i: self._on_preset_chosen(self.preset_combo.currentText()))
        self._cursor: tuple[float, float] | None = None
        self.pos_label, self.value_label, self.mm_label = QLabel(""), QLabel(""), QLabel("")
        self.wl_label, self.zoom_label = QLabel(""), QLabel("")
        self.disclaimer_label = QLabel("")
        self.disclaimer_label.setObjectName("disclaimer")
        viewer.cursorMoved.connect(self._on_cursor)
        viewer.cursorLeft.connect(self._clear_cursor)
        viewer.windowChanged.connect(self._on_window)
        viewer.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        viewer.invertedChanged.connect(lambda on: self._mirror("invert", on))
        metadata.overlayStyleChanged.connect(self.set_overlay_style)
        metadata.overlayVisibleChanged.connect(self.set_masks_visible)
        metadata.show_patient_identifiers = settings.show_patient_identifiers()
        metadata.set_overlay_style(settings.overlay_opacity(), settings.overlay_mode())

    def bind(self, actions: dict[str, QAction]) -> None:
        """The registry's actions this controls mirrors (masks, contour, invert, show_ids)."""
        self.actions = actions
        self._mirror("show_ids", self.settings.show_patient_identifiers())
        self._mirror("contour", self.settings.overlay_mode() == "contour")
        self.set_masks_visible(self.settings.overlay_visible())

    def status_widgets(self) -> tuple[QLabel, ...]:
        return self.pos_label, self.value_label, self.mm_label, self.wl_label, self.zoom_label

    def _mirror(self, name: str, on: bool) -> None:
        if name in self.actions:
            set_checked_quietly(self.actions[name], on)

    # ------------------------------------------------------------------------------------------------ presets
    def presets(self) -> dict[str, tuple[float, float]]:
        return self.settings.wl_presets(DEFAULT_PRESETS)

    def keeps_window(self) -> bool:
        """A chosen preset stays applied on the next image."""
        return self._sticky_preset is not None

    def after_image_shown(self) -> None:
        """Keep a chosen preset, and refresh the read-out under a cursor that did not move (J/K under the mouse)."""
        if self._sticky_preset is not None:
            self.viewer.apply_preset(self._sticky_preset, self.presets())
        if self._cursor is not None:
            self._on_cursor(*self._cursor)

    def _on_window(self, center: float, width: float) -> None:
        self.wl_label.setText(f"C {plain_number(center)}  W {plain_number(width)}")
        if self.viewer.data is not None:
            self.preset_combo.setCurrentText(self.viewer.matching_preset(self.presets()) or CUSTOM)

    def _on_preset_chosen(self, name: str) -> None:
        if name == CUSTOM:  # nothing to apply: show again what the image shows
            if self.viewer.data is not None:
                self.preset_combo.setCurrentText(self.viewer.matching_preset(self.presets()) or CUSTOM)
            return
        self.apply_preset(name)

    def apply_preset(self, name: str) -> None:
        self.viewer.apply_preset(name, self.presets())
        self._sticky_preset = None if name == "DICOM default" else name
        self.preset_combo.setCurrentText(name)
        self.settings.set_last_wl_preset(name)

    def save_window_preset(self, name: str | None = None) -> str | None:
        """Store the current window (in display units, so it fits every image) as a named preset."""
        if self.viewer.data is None:
            return None
        if name is None:
            name, ok = QInputDialog.getText(self.viewer, "Save window preset", "Preset name:")
            if not ok:
                return None
        name = name.strip()
        if not name or name == "Full range":
            return None
        center, width = self.viewer.display_window()
        self.settings.set_wl_preset(name, center, width)
        if self.preset_combo.findText(name) < 0:
            self.preset_combo.insertItem(self.preset_combo.findText(CUSTOM), name)
        self.apply_preset(name)
        return name

    def reset_view(self) -> None:
        self._sticky_preset = None
        self.preset_combo.setCurrentText("DICOM default")
        self.viewer.reset()

    # ------------------------------------------------------------------------------------------------ overlays
    def set_overlay_style(self, opacity: float, mode: str) -> None:
        for ov in self.layers.overlays():
            ov.set_style(opacity=opacity, mode=mode)
        self.metadata.set_overlay_style(opacity, mode)
        self._mirror("contour", mode == "contour")
        self.settings.set_overlay_opacity(opacity)
        self.settings.set_overlay_mode(mode)

    def set_contour(self, on: bool) -> None:
        self.set_overlay_style(self.metadata.overlay_style()[0], "contour" if on else "fill")

    def masks_visible(self) -> bool:
        return self.layers.all_shown

    def set_masks_visible(self, on: bool) -> None:
        self.layers.set_all_shown(bool(on))
        self._mirror("masks", bool(on))
        box = self.metadata.overlay_visible
        box.blockSignals(True)
        box.setChecked(bool(on))
        box.blockSignals(False)
        self.settings.set_overlay_visible(bool(on))

    def set_show_ids(self, on: bool) -> None:
        self.settings.set_show_patient_identifiers(on)
        self.metadata.show_patient_identifiers = on
        image = self._current_image()
        self.metadata.set_meta(getattr(image, "meta", None))

    # ------------------------------------------------------------------------------------------------ read-out
    def _on_cursor(self, row: float, col: float) -> None:
        image = self._current_image()
        if image is None:
            return
        self._cursor = (row, col)
        r, c = int(row), int(col)
        pixels = image.pixels  # type: ignore[attr-defined]
        self.pos_label.setText(f"x {c}  y {r}")
        if 0 <= r < pixels.shape[0] and 0 <= c < pixels.shape[1]:
            value = pixels[r, c]
            text = ", ".join(str(v) for v in np.ravel(value)) if np.ndim(value) else str(value)
            self.value_label.setText(f"value {text}")
        else:  # outside this image (the next one may be smaller): no stale value
            self.value_label.setText("")
        spacing = image.meta.pixel_spacing  # type: ignore[attr-defined]
        self.mm_label.setText(f"{row * spacing[0]:.1f}, {col * spacing[1]:.1f} mm" if spacing else "")

    def _clear_cursor(self) -> None:
        self._cursor = None
        for w in (self.pos_label, self.value_label, self.mm_label):
            w.setText("")
